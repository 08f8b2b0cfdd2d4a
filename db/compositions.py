"""Composition rows: one per canonical formula, created on first use."""

from __future__ import annotations

from typing import Iterable

from sqlalchemy import select
from sqlmodel import Session

from db.models import Composition as CompositionRow
from discovery.composition import Composition


def get_or_create_compositions(session: Session, compositions: Iterable[Composition]) -> dict[str, CompositionRow]:
    """Rows for the given compositions keyed by canonical name, inserting the missing ones."""
    wanted: dict[str, Composition] = {c.canonical: c for c in compositions}
    found: dict[str, CompositionRow] = {}
    names = list(wanted)
    for start in range(0, len(names), 900):  # stay under SQLite's bound-parameter limit
        chunk = names[start : start + 900]
        for row in session.exec(select(CompositionRow).where(CompositionRow.canonical.in_(chunk))).scalars():
            found[row.canonical] = row
    missing = [
        CompositionRow(canonical=name, system=c.system, n_components=c.n_components, fractions=c.as_dict())
        for name, c in wanted.items()
        if name not in found
    ]
    if missing:
        session.add_all(missing)
        session.flush()
        found.update({row.canonical: row for row in missing})
    return found
