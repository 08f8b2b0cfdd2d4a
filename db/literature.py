"""Seeding a database with the shipped literature table (discovery.literature).

Every record becomes one literature Outcome (its label meaning, route and the sets that
report it in the provenance) and every measured property one Measurement of that outcome.
The table is one Dataset row whose sha256 covers the shipped files and the table's
format, so seeding is idempotent and a new vitrify version with new data replaces the old
table: the earlier shipped literature outcomes stay in the database, no longer current.

Inserts use SQLAlchemy Core in chunks (about 30,000 rows in a second or two) inside the
caller's transaction: the table lands whole or not at all.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from sqlalchemy import insert, select, update
from sqlmodel import Session

from db.models import Composition as CompositionRow
from db.models import Dataset, Measurement, Outcome, OutcomeSource, utcnow
from discovery.composition import Composition
from discovery.literature import (
    DEFAULT_SOURCES,
    OUTCOME_RESULT,
    QUANTITIES,
    SOURCES,
    LiteratureTable,
    load_literature,
    source_sha256,
)

#: Bumped when the table's records change for the same files (a reader or dedup rule).
TABLE_FORMAT = "vitrify-literature/1"
DATASET_NAME = "vitrify literature table"
#: sha256 of files that earlier vitrify versions imported as their shipped literature.
EARLIER_SHIPPED = {"d52b0b85411de459c091a09dfe6cb78c1af1a7e764ab4c660909f582cb7f0b55"}  # Sun 2017 v2 binaries
_CHUNK = 2000


@dataclass
class SeedReport:
    dataset_id: int
    already_seeded: bool
    outcomes: int = 0
    measurements: int = 0
    compositions_created: int = 0
    superseded: int = 0


def table_digest(sources=DEFAULT_SOURCES) -> str:
    return hashlib.sha256(f"{TABLE_FORMAT}\n{source_sha256(sources)}".encode()).hexdigest()


def _citation(sources) -> str:
    return "; ".join(f"{SOURCES[k].name}: {SOURCES[k].citation}" for k in sources)


def _compositions(session: Session, table: LiteratureTable) -> tuple[dict[str, int], int]:
    """Composition ids by canonical name, inserting the missing ones (Core, chunked)."""
    wanted: dict[str, tuple] = dict(zip(table.records["composition"], table.records["fractions"]))
    ids: dict[str, int] = {}
    names = list(wanted)
    for start in range(0, len(names), 900):  # SQLite's bound-parameter limit
        chunk = names[start : start + 900]
        ids.update(session.exec(select(CompositionRow.canonical, CompositionRow.id)
                                .where(CompositionRow.canonical.in_(chunk))).all())
    missing = []
    for name in names:
        if name not in ids:
            comp = Composition(wanted[name])
            missing.append({"canonical": name, "system": comp.system, "n_components": comp.n_components,
                            "fractions": comp.as_dict()})
    for start in range(0, len(missing), _CHUNK):
        rows = session.execute(insert(CompositionRow).returning(CompositionRow.canonical, CompositionRow.id,
                                                                sort_by_parameter_order=True),
                               missing[start : start + _CHUNK]).all()
        ids.update(dict(rows))
    return ids, len(missing)


def seed_literature(session: Session, table: LiteratureTable | None = None) -> SeedReport:
    """Put the literature table into the database (no-op if this version is already there)."""
    sources = table.sources if table is not None else DEFAULT_SOURCES
    digest = table_digest(sources)
    existing = session.exec(select(Dataset).where(Dataset.sha256 == digest)).scalars().first()
    if existing is not None:
        return SeedReport(existing.id, True)
    table = table if table is not None else load_literature(tuple(sources))
    records = table.records
    dataset = Dataset(name=DATASET_NAME, sha256=digest, path="discovery/data/literature", rows=len(records),
                      citation=_citation(sources))
    session.add(dataset)
    session.flush()
    superseded = _retire_earlier(session, dataset.id)
    comp_ids, created = _compositions(session, table)
    rows = []
    for rec in records.itertuples(index=False):
        result = OUTCOME_RESULT[rec.outcome]
        rows.append({
            "composition_id": comp_ids[rec.composition], "result": result.value, "glass_label": int(rec.label),
            "processing": rec.route, "source": OutcomeSource.LITERATURE.value, "fidelity": "experiment",
            "dataset_id": dataset.id, "revision": 1, "is_current": True, "created_at": utcnow(),
            "provenance": {"table": TABLE_FORMAT, "outcome": rec.outcome, "sources": rec.sources.split("+"),
                           "reports": int(rec.n_reports), "rows": rec.rows},
        })
    outcome_ids: list[int] = []
    for start in range(0, len(rows), _CHUNK):
        outcome_ids += session.execute(insert(Outcome).returning(Outcome.id, sort_by_parameter_order=True),
                                       rows[start : start + _CHUNK]).scalars().all()
    measurements = []
    columns = {q: records[q].to_numpy(dtype=float) for q in QUANTITIES}
    for i, outcome_id in enumerate(outcome_ids):
        for quantity, unit in QUANTITIES.items():
            value = columns[quantity][i]
            if math.isfinite(value):
                measurements.append({"outcome_id": outcome_id, "quantity": quantity, "value": float(value),
                                     "unit": unit})
    for start in range(0, len(measurements), _CHUNK):
        session.execute(insert(Measurement), measurements[start : start + _CHUNK])
    session.flush()
    return SeedReport(dataset.id, False, len(outcome_ids), len(measurements), created, superseded)


def _retire_earlier(session: Session, keep_dataset_id: int) -> int:
    """Earlier shipped literature (an older table, or the Sun binaries earlier versions
    imported) stops being current: the new table contains it."""
    old = session.exec(select(Dataset.id).where(
        Dataset.id != keep_dataset_id,
        (Dataset.name == DATASET_NAME) | Dataset.sha256.in_(sorted(EARLIER_SHIPPED)))).scalars().all()
    if not old:
        return 0
    result = session.execute(
        update(Outcome)
        .where(Outcome.dataset_id.in_(old), Outcome.source == OutcomeSource.LITERATURE.value,
               Outcome.is_current == True)  # noqa: E712
        .values(is_current=False, reason="superseded by the shipped literature table")
    )
    return int(result.rowcount or 0)
