"""Ingestion: the one validation path for every way results arrive.

CSV data sets (``vitrify db import``), lab reports (CLI, CSV, REST, web page, Prefect
form) and worker results all end here. Validation happens before anything is written;
a batch with any bad row writes nothing (the whole file is rejected, with every error
listed by row and field), so nothing is ever half-written.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from sqlalchemy import func, select
from sqlmodel import Session

from db.models import Composition as CompositionRow
from db.models import Dataset, Job, JobStatus, Measurement, Outcome, OutcomeSource, utcnow
from discovery.composition import Composition, CompositionError, parse_composition
from discovery.vocabulary import ProcessingRoute, SynthesisResult, VocabularyError


@dataclass(frozen=True)
class RowError:
    row: int | None  # 1-based data row (header excluded); None for single reports
    field: str
    message: str

    def __str__(self) -> str:
        where = f"row {self.row}, " if self.row is not None else ""
        return f"{where}field '{self.field}': {self.message}"


class IngestError(ValueError):
    """Raised with every problem found; nothing has been written when it is raised."""

    def __init__(self, errors: list[RowError], context: str = ""):
        self.errors = errors
        head = f"{context}: " if context else ""
        lines = "\n".join(f"  {e}" for e in errors[:50])
        more = f"\n  ... and {len(errors) - 50} more" if len(errors) > 50 else ""
        super().__init__(f"{head}{len(errors)} error(s), nothing was written\n{lines}{more}")


# Quantities a report or data set may carry: canonical unit and accepted units with
# converters to it; plausible range in the canonical unit (inclusive upper bounds).
QUANTITIES: dict[str, dict[str, Any]] = {
    "Dmax": {"unit": "mm", "convert": {"mm": 1.0, "cm": 10.0, "um": 1e-3, "µm": 1e-3}, "range": (0.0, 100.0)},
    "Tg": {"unit": "K", "convert": {"K": 1.0, "C": "C", "°C": "C"}, "range": (0.0, 4000.0)},
    "Tx": {"unit": "K", "convert": {"K": 1.0, "C": "C", "°C": "C"}, "range": (0.0, 4000.0)},
    "Tl": {"unit": "K", "convert": {"K": 1.0, "C": "C", "°C": "C"}, "range": (0.0, 5000.0)},
    "youngs_modulus": {"unit": "GPa", "convert": {"GPa": 1.0, "MPa": 1e-3}, "range": (0.0, 400.0)},
    "shear_modulus": {"unit": "GPa", "convert": {"GPa": 1.0, "MPa": 1e-3}, "range": (0.0, 300.0)},
    "bulk_modulus": {"unit": "GPa", "convert": {"GPa": 1.0, "MPa": 1e-3}, "range": (0.0, 500.0)},
    "density": {"unit": "g/cm3", "convert": {"g/cm3": 1.0, "g/cm^3": 1.0, "kg/m3": 1e-3}, "range": (0.0, 25.0)},
}


def convert_measurement(quantity: str, value: Any, unit: str | None, *, row: int | None = None) -> tuple[float, str]:
    """Validate one measurement and return it in the canonical unit."""
    spec = QUANTITIES.get(quantity)
    if spec is None:
        raise IngestError([RowError(row, quantity, f"unknown quantity; known: {', '.join(QUANTITIES)}")])
    unit = spec["unit"] if unit in (None, "") else str(unit).strip()
    factor = spec["convert"].get(unit)
    if factor is None:
        raise IngestError([RowError(row, quantity, f"unknown unit {unit!r}; accepted: {', '.join(spec['convert'])}")])
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise IngestError([RowError(row, quantity, f"not a number: {value!r}")]) from None
    if not math.isfinite(number):
        raise IngestError([RowError(row, quantity, f"not a finite number: {value!r}")])
    number = number + 273.15 if factor == "C" else number * factor
    low, high = spec["range"]
    if not (low < number <= high):
        raise IngestError([RowError(row, quantity, f"{number:g} {spec['unit']} is outside the plausible range ({low:g}, {high:g}]")])
    return number, spec["unit"]


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


# --------------------------------------------------------------------------- data sets


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


# --------------------------------------------------------------------------- reports


@dataclass
class Report:
    """A synthesis outcome as a person reports it (CLI, CSV, REST, web form, Prefect form)."""

    composition: str
    result: str
    method: str | None = None
    reporter: str | None = None
    job_id: int | None = None
    notes: str | None = None
    normalize: bool = False
    measurements: dict[str, tuple[Any, str | None]] = field(default_factory=dict)


@dataclass
class ValidatedReport:
    composition: Composition
    result: SynthesisResult
    route: ProcessingRoute
    measurements: list[tuple[str, float, str]]
    source: Report


def validate_report(report: Report, *, row: int | None = None) -> ValidatedReport:
    """Check a report without touching the database; raises IngestError listing every problem."""
    errors: list[RowError] = []
    comp = result = route = None
    try:
        comp = parse_composition(report.composition, percent=True, normalize=report.normalize)
    except CompositionError as exc:
        errors.append(RowError(row, "composition", exc.reason + f" (got {report.composition!r})"))
    try:
        result = SynthesisResult.parse(report.result)
    except VocabularyError as exc:
        errors.append(RowError(row, exc.field, exc.reason))
    try:
        route = ProcessingRoute.parse(report.method, field="method")
    except VocabularyError as exc:
        errors.append(RowError(row, exc.field, exc.reason))
    measurements: list[tuple[str, float, str]] = []
    for quantity, (value, unit) in report.measurements.items():
        if value is None or value == "":
            continue
        try:
            number, canonical_unit = convert_measurement(quantity, value, unit, row=row)
            measurements.append((quantity, number, canonical_unit))
        except IngestError as exc:
            errors.extend(exc.errors)
    values = {q: v for q, v, _ in measurements}
    if "Tg" in values and "Tl" in values and values["Tg"] >= values["Tl"]:
        errors.append(RowError(row, "Tg", f"Tg {values['Tg']:g} K must be below Tl {values['Tl']:g} K"))
    if "Tg" in values and "Tx" in values and values["Tx"] <= values["Tg"]:
        errors.append(RowError(row, "Tx", f"Tx {values['Tx']:g} K must be above Tg {values['Tg']:g} K"))
    if errors:
        raise IngestError(errors)
    return ValidatedReport(comp, result, route, measurements, report)


def record_report(session: Session, report: Report, *, source: str = OutcomeSource.LAB.value) -> Outcome:
    """Validate and store one report as an Outcome (+ Measurements). Writes nothing on error."""
    valid = validate_report(report)
    job = None
    if report.job_id is not None:
        job = session.get(Job, report.job_id)
        if job is None:
            raise IngestError([RowError(None, "job_id", f"no job with id {report.job_id}")])
    comp_row = get_or_create_compositions(session, [valid.composition])[valid.composition.canonical]
    outcome = Outcome(
        composition_id=comp_row.id,
        job_id=job.id if job else None,
        result=valid.result.value,
        glass_label=valid.result.glass_label,
        processing=valid.route.value,
        source=source,
        reporter=report.reporter,
        notes=report.notes,
        provenance={"channel": "report", "as_written": report.composition},
    )
    session.add(outcome)
    session.flush()
    for quantity, value, unit in valid.measurements:
        session.add(Measurement(outcome_id=outcome.id, quantity=quantity, value=value, unit=unit))
    if job is not None:
        job.status = JobStatus.SUCCEEDED.value
        job.finished_at = utcnow()
        session.add(job)
    session.flush()
    return outcome


def record_job_outcome(
    session: Session,
    job: Job,
    *,
    result: SynthesisResult,
    source: str,
    provenance: dict,
    fidelity: str = "experiment",
    measurements: Iterable[tuple[str, float, str]] = (),
) -> Outcome:
    """Store a worker's answer to a job exactly once: a second call returns the first outcome."""
    existing = session.exec(
        select(Outcome).where(Outcome.job_id == job.id, Outcome.is_current == True)  # noqa: E712
    ).scalar_one_or_none()
    if existing is not None:
        return existing
    outcome = Outcome(
        composition_id=job.composition_id,
        job_id=job.id,
        result=result.value,
        glass_label=result.glass_label,
        processing=job.processing,
        source=source,
        fidelity=fidelity,
        provenance=provenance,
    )
    session.add(outcome)
    session.flush()
    for quantity, value, unit in measurements:
        session.add(Measurement(outcome_id=outcome.id, quantity=quantity, value=value, unit=unit))
    return outcome
