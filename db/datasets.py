"""Labelled CSV data sets (``vitrify db import``): validated whole, then stored as literature outcomes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlmodel import Session

from db.compositions import get_or_create_compositions
from db.errors import IngestError, RowError
from db.models import Composition as CompositionRow
from db.models import Dataset, Outcome, OutcomeSource
from discovery.labelled_csv import LabelledRow, read_labelled_csv


@dataclass
class ImportReport:
    path: str
    sha256: str
    rows: int
    outcomes_created: int
    compositions_created: int
    already_imported: bool = False
    glass: int = 0
    not_glass: int = 0



def _parse_labelled_rows(text: str) -> list[LabelledRow]:
    rows, problems = read_labelled_csv(text)
    if problems:
        raise IngestError([RowError(p.row, p.field, p.message) for p in problems])
    return rows


def _count_compositions(session: Session) -> int:
    return session.exec(select(func.count()).select_from(CompositionRow)).scalar_one()



def import_labelled_csv(
    session: Session, path: Path | str, *, name: str | None = None, citation: str | None = None
) -> ImportReport:
    """Load a ``formula, gfa[, processing, system]`` CSV as literature outcomes.

    Every row becomes its own Outcome: conflicting reports of one composition are kept
    side by side, never merged. Re-importing the same file (same sha256) is a no-op.
    A file with any bad row raises :class:`IngestError` and writes nothing.
    """
    path = Path(path)
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    existing = session.exec(select(Dataset).where(Dataset.sha256 == digest)).scalar_one_or_none()
    if existing is not None:
        return ImportReport(str(path), digest, existing.rows, 0, 0, already_imported=True)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError([RowError(None, "file", f"not UTF-8 text: {exc}")]) from None
    rows = _parse_labelled_rows(text)
    dataset = Dataset(name=name or path.name, sha256=digest, path=str(path), rows=len(rows), citation=citation)
    session.add(dataset)
    before = _count_compositions(session)
    comp_rows = get_or_create_compositions(session, (r.composition for r in rows))
    session.flush()
    outcomes = [
        Outcome(
            composition_id=comp_rows[r.composition.canonical].id,
            result=r.result.value,
            glass_label=r.result.glass_label,
            processing=r.route.value,
            source=OutcomeSource.LITERATURE.value,
            dataset_id=dataset.id,
            provenance={"file": path.name, "sha256": digest, "row": r.row, **({"system": "-".join(r.system)} if r.system else {})},
        )
        for r in rows
    ]
    session.add_all(outcomes)
    session.flush()
    after = _count_compositions(session)
    glass = sum(1 for r in rows if r.result.glass_label == 1)
    return ImportReport(str(path), digest, len(rows), len(outcomes), after - before, glass=glass, not_glass=len(rows) - glass)
