"""Labelled CSV data sets (``vitrify db import``): validated whole, then stored as literature outcomes."""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlmodel import Session

from db.compositions import get_or_create_compositions
from db.errors import IngestError, RowError
from db.models import Composition as CompositionRow
from db.models import Dataset, Outcome, OutcomeSource
from discovery.composition import Composition, CompositionError, parse_composition
from discovery.vocabulary import ProcessingRoute, SynthesisResult, VocabularyError


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



@dataclass
class _ParsedRow:
    composition: Composition
    result: SynthesisResult
    route: ProcessingRoute
    system: str | None
    row: int



def _parse_labelled_rows(text: str) -> list[_ParsedRow]:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or []) if h is not None]
    missing = [c for c in ("formula",) if c not in header]
    if "gfa" not in header and "phase" not in header:
        missing.append("gfa")
    if missing:
        raise IngestError([RowError(None, c, "required column missing from the header") for c in missing])
    errors: list[RowError] = []
    parsed: list[_ParsedRow] = []
    for i, raw in enumerate(reader, start=1):
        rec = {(k or "").strip(): (v.strip() if isinstance(v, str) else v) for k, v in raw.items()}
        if None in raw:  # more fields than header columns
            errors.append(RowError(i, "formula", f"row has {len(header) + len(raw[None])} fields, header has {len(header)}"))
            continue
        absent = [c for c in ("formula", "gfa" if "gfa" in header else "phase") if rec.get(c) in (None, "")]
        if absent:
            errors.append(RowError(i, absent[0], "value missing (empty field or truncated line)"))
            continue
        try:
            comp = parse_composition(rec["formula"], field="formula")
        except CompositionError as exc:
            errors.append(RowError(i, "formula", exc.reason + f" (got {rec['formula']!r})"))
            continue
        try:
            if rec.get("phase"):
                result = SynthesisResult.parse(rec["phase"], field="phase")
            else:
                if rec["gfa"] not in ("0", "1", "0.0", "1.0", "True", "False", "true", "false"):
                    raise VocabularyError(f"gfa must be 1 or 0, got {rec['gfa']!r}", field="gfa")
                result = SynthesisResult.from_label(1 if rec["gfa"] in ("1", "1.0", "True", "true") else 0)
            route = ProcessingRoute.parse(rec.get("processing"), field="processing")
        except VocabularyError as exc:
            errors.append(RowError(i, exc.field, exc.reason))
            continue
        parsed.append(_ParsedRow(comp, result, route, rec.get("system") or None, i))
    if errors:
        raise IngestError(errors)
    if not parsed:
        raise IngestError([RowError(None, "formula", "the file has no data rows")])
    return parsed



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
            provenance={"file": path.name, "sha256": digest, "row": r.row, **({"system": r.system} if r.system else {})},
        )
        for r in rows
    ]
    session.add_all(outcomes)
    session.flush()
    after = _count_compositions(session)
    glass = sum(1 for r in rows if r.result.glass_label == 1)
    return ImportReport(str(path), digest, len(rows), len(outcomes), after - before, glass=glass, not_glass=len(rows) - glass)
