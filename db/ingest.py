"""Ingestion: the one validation path for every way results arrive.

CSV data sets (``vitrify db import``), lab reports (CLI, CSV, REST, web page, Prefect
form) and worker results all end here. Validation happens before anything is written;
a batch with any bad row writes nothing (the whole file is rejected, with every error
listed by row and field), so nothing is ever half-written.

Lab reports: :func:`validate_report` checks one report on its own (composition, result,
route, units, ranges, Tg < Tx < Tl); :func:`check_reports` checks a batch against the
database and itself (unknown job, job not in the lab queue, second report for a job or a
sample id, contradictions, corrections of superseded revisions); :func:`write_reports`
stores it. :func:`record_report`, :func:`record_reports` and :func:`import_report_csv`
chain them; db.lab adds transactions, retries and channel provenance around them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from sqlalchemy import func, select, update
from sqlmodel import Session

from db.models import Composition as CompositionRow
from db.models import Dataset, FailureKind, Job, JobKind, JobStatus, Measurement, Outcome, OutcomeSource, utcnow
from discovery.composition import Composition, CompositionError, parse_composition
from discovery.vocabulary import ProcessingRoute, SynthesisResult, VocabularyError


@dataclass(frozen=True)
class RowError:
    row: int | None  # 1-based data row (header excluded); None for single reports
    field: str
    message: str
    code: str = "invalid"  # invalid | not_found | conflict (already reported, contradiction, race)

    def __str__(self) -> str:
        where = f"row {self.row}, " if self.row is not None else ""
        return f"{where}field '{self.field}': {self.message}"

    def as_dict(self) -> dict:
        return {"row": self.row, "field": self.field, "message": self.message, "code": self.code}


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
    # structure of simulated glasses (share of atoms in full <0,0,12,0> icosahedra)
    "icosahedral_fraction": {"unit": "fraction", "convert": {"fraction": 1.0, "%": 0.01}, "range": (-1e-12, 1.0)},
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

# Free-text fields: longest accepted value (characters).
TEXT_LIMITS = {"reporter": 100, "sample_id": 100, "notes": 4000, "reason": 1000}


@dataclass
class Report:
    """A synthesis outcome as a person reports it (CLI, CSV, REST, web form, Prefect form).

    ``job_id`` names the experiment job it answers (optional for ad-hoc samples);
    ``sample_id`` is the lab's own label for the sample. A correction names the outcome it
    corrects (``correction_of``) and says why (``reason``); it is a complete new report that
    supersedes the old one (the old revision is kept).
    """

    composition: str
    result: str
    method: str | None = None
    reporter: str | None = None
    job_id: Any = None
    notes: str | None = None
    normalize: bool = False
    measurements: dict[str, tuple[Any, str | None]] = field(default_factory=dict)
    sample_id: str | None = None
    correction_of: Any = None
    reason: str | None = None


@dataclass
class ValidatedReport:
    composition: Composition
    result: SynthesisResult
    route: ProcessingRoute
    measurements: list[tuple[str, float, str]]
    source: Report
    job_id: int | None = None
    correction_of: int | None = None
    sample_id: str | None = None
    reporter: str | None = None
    notes: str | None = None
    reason: str | None = None
    method_given: bool = True


def _positive_id(value: Any, name: str, row: int | None, errors: list[RowError]) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number: int | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    if number is None or number <= 0:
        errors.append(RowError(row, name, f"must be a positive whole number (got {value!r})"))
        return None
    return number


def _text(value: Any, name: str, row: int | None, errors: list[RowError]) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    if len(text) > TEXT_LIMITS[name]:
        errors.append(RowError(row, name, f"longer than {TEXT_LIMITS[name]} characters ({len(text)})"))
        return None
    if any(ord(c) < 32 and c not in "\t\n\r" for c in text):
        errors.append(RowError(row, name, "contains control characters"))
        return None
    return text


def validate_report(report: Report, *, row: int | None = None) -> ValidatedReport:
    """Check a report without touching the database; raises IngestError listing every problem."""
    errors: list[RowError] = []
    comp = result = route = None
    if not isinstance(report.normalize, bool):
        errors.append(RowError(row, "normalize", f"must be true or false (got {report.normalize!r})"))
    try:
        comp = parse_composition(report.composition, percent=True, normalize=report.normalize is True)
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
    job_id = _positive_id(report.job_id, "job_id", row, errors)
    correction_of = _positive_id(report.correction_of, "correction_of", row, errors)
    texts = {name: _text(getattr(report, name), name, row, errors) for name in TEXT_LIMITS}
    if correction_of is not None and not texts["reason"]:
        errors.append(RowError(row, "reason", f"a correction of outcome {correction_of} must say why (reason)"))
    measurements: list[tuple[str, float, str]] = []
    for quantity, value_unit in report.measurements.items():
        try:
            value, unit = value_unit
        except (TypeError, ValueError):
            errors.append(RowError(row, str(quantity), f"expected a value and a unit, got {value_unit!r}"))
            continue
        if value is None or value == "":
            if unit not in (None, ""):
                errors.append(RowError(row, quantity, f"a unit ({unit!r}) but no value"))
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
    if "Tx" in values and "Tl" in values and values["Tx"] >= values["Tl"]:
        errors.append(RowError(row, "Tx", f"Tx {values['Tx']:g} K must be below Tl {values['Tl']:g} K"))
    if result is SynthesisResult.SYNTHESIS_FAILED and measurements:
        errors.append(RowError(row, measurements[0][0], "a failed synthesis has no sample to measure; drop the measurements or fix the result"))
    if errors:
        raise IngestError(errors)
    method_given = report.method is not None and bool(str(report.method).strip())
    return ValidatedReport(
        comp, result, route, measurements, report, job_id=job_id, correction_of=correction_of,
        sample_id=texts["sample_id"], reporter=texts["reporter"], notes=texts["notes"], reason=texts["reason"],
        method_given=method_given,
    )


@dataclass
class _Plan:
    row: int | None
    valid: ValidatedReport
    job: Job | None
    old: Outcome | None  # the revision a correction supersedes
    sample_id: str | None
    requested: str | None  # canonical composition the job asked for
    requested_row: CompositionRow | None = None


def _load_by_id(session: Session, model, ids: set[int]) -> dict[int, Any]:
    found: dict[int, Any] = {}
    ids_list = sorted(ids)
    for start in range(0, len(ids_list), 900):
        for obj in session.exec(select(model).where(model.id.in_(ids_list[start : start + 900]))).scalars():
            found[obj.id] = obj
    return found


def _current_outcomes(session: Session, column, keys: set) -> dict[Any, Outcome]:
    found: dict[Any, Outcome] = {}
    keys_list = sorted(keys)
    for start in range(0, len(keys_list), 900):
        query = select(Outcome).where(column.in_(keys_list[start : start + 900]), Outcome.is_current == True)  # noqa: E712
        for obj in session.exec(query).scalars():
            found[getattr(obj, column.key)] = obj
    return found


def _when(ts) -> str:
    return ts.strftime("%Y-%m-%d %H:%M") if ts is not None else "?"


def _already(subject: str, field_name: str, row: int | None, old: Outcome, new: SynthesisResult) -> RowError:
    fix = f"if it was wrong, send a correction (correction_of={old.id}, with a reason)"
    if old.result == new.value:
        msg = (f"{subject} was already reported: outcome {old.id} ({old.result}, by {old.reporter or 'unknown'}, "
               f"{_when(old.created_at)}); a second report is refused - {fix}")
    else:
        msg = (f"contradicts the report for {subject}: outcome {old.id} says {old.result!r} "
               f"(by {old.reporter or 'unknown'}, {_when(old.created_at)}), this says {new.value!r} - {fix}")
    return RowError(row, field_name, msg, "conflict")


def _in_batch(subject: str, field_name: str, row: int | None, first_row: int | None, first: SynthesisResult, new: SynthesisResult) -> RowError:
    if first == new:
        msg = f"{subject} is reported twice in this batch (also row {first_row})"
    else:
        msg = f"contradicts row {first_row}: {subject} is reported {first.value!r} there and {new.value!r} here"
    return RowError(row, field_name, msg, "conflict")


def check_reports(
    session: Session, items: Sequence[tuple[int | None, Report]]
) -> tuple[list[_Plan], list[RowError]]:
    """Validate reports (alone and against the database and each other) without writing.

    Returns the write plans and every error found (by row and field).
    """
    errors: list[RowError] = []
    valid: list[tuple[int | None, ValidatedReport]] = []
    for row, rep in items:
        try:
            valid.append((row, validate_report(rep, row=row)))
        except IngestError as exc:
            errors.extend(exc.errors)
    corrected = _load_by_id(session, Outcome, {v.correction_of for _, v in valid if v.correction_of})
    job_ids = {v.job_id for _, v in valid if v.job_id} | {o.job_id for o in corrected.values() if o.job_id}
    jobs: dict[int, Job] = {}
    requested: dict[int, CompositionRow] = {}
    ids_list = sorted(job_ids)
    for start in range(0, len(ids_list), 900):  # each job with the composition it asked for
        query = select(Job, CompositionRow).join(CompositionRow, Job.composition_id == CompositionRow.id).where(
            Job.id.in_(ids_list[start : start + 900]))
        for job, comp in session.exec(query).all():
            jobs[job.id] = job
            requested[comp.id] = comp
    current_by_job = _current_outcomes(session, Outcome.job_id, set(jobs))
    sample_ids = {v.sample_id for _, v in valid if v.sample_id} | {o.sample_id for o in corrected.values() if o.sample_id}
    current_by_sample = _current_outcomes(session, Outcome.sample_id, sample_ids)

    plans: list[_Plan] = []
    seen_job: dict[int, tuple[int | None, SynthesisResult]] = {}
    seen_sample: dict[str, tuple[int | None, SynthesisResult]] = {}
    seen_correction: dict[int, int | None] = {}
    for row, v in valid:
        errs: list[RowError] = []
        old = None
        job = None
        if v.correction_of is not None:
            old = corrected.get(v.correction_of)
            if old is None:
                errs.append(RowError(row, "correction_of", f"no outcome with id {v.correction_of}", "not_found"))
            elif old.source != OutcomeSource.LAB.value:
                errs.append(RowError(row, "correction_of", f"outcome {old.id} is a {old.source} record, not a lab report; only lab reports can be corrected"))
            elif not old.is_current:
                newer = session.exec(select(Outcome.id).where(Outcome.supersedes_id == old.id)).scalars().first()
                errs.append(RowError(row, "correction_of", f"outcome {old.id} was already superseded by outcome {newer}; correct the current revision", "conflict"))
            elif v.correction_of in seen_correction:
                errs.append(RowError(row, "correction_of", f"outcome {old.id} is corrected twice in this batch (also row {seen_correction[v.correction_of]})", "conflict"))
            else:
                seen_correction[v.correction_of] = row
                if v.job_id is not None and v.job_id != old.job_id:
                    errs.append(RowError(row, "job_id", f"outcome {old.id} answers job {old.job_id}, not job {v.job_id}; a correction keeps its job"))
                job = jobs.get(old.job_id) if old.job_id else None
        elif v.job_id is not None:
            job = jobs.get(v.job_id)
            if job is None:
                errs.append(RowError(row, "job_id", f"no job with id {v.job_id}", "not_found"))
            elif job.kind != JobKind.EXPERIMENT.value:
                errs.append(RowError(row, "job_id", f"job {job.id} is a {job.kind} job, not a lab experiment"))
            elif job.id in current_by_job:
                errs.append(_already(f"job {job.id}", "job_id", row, current_by_job[job.id], v.result))
            elif job.id in seen_job:
                errs.append(_in_batch(f"job {job.id}", "job_id", row, *seen_job[job.id], v.result))
            elif job.status == JobStatus.AWAITING_APPROVAL.value:
                errs.append(RowError(row, "job_id", f"job {job.id} is awaiting operator approval; it is not in the lab queue yet"))
            elif job.status == JobStatus.CANCELLED.value:
                errs.append(RowError(row, "job_id", f"job {job.id} was cancelled; it is not in the lab queue"))
            elif job.status == JobStatus.QUEUED.value and job.released_at is None:
                errs.append(RowError(row, "job_id", f"job {job.id} is held back by the lab budget; it is not in the lab queue yet"))
            elif job.status not in (JobStatus.QUEUED.value, JobStatus.RUNNING.value):
                errs.append(RowError(row, "job_id", f"job {job.id} is {job.status}; it is not open for reports", "conflict"))
            else:
                seen_job[job.id] = (row, v.result)
        sample_id = v.sample_id or (old.sample_id if old is not None else None)
        if sample_id is not None and not errs:
            current = current_by_sample.get(sample_id)
            if current is not None and (old is None or current.id != old.id):
                errs.append(_already(f"sample {sample_id!r}", "sample_id", row, current, v.result))
            elif sample_id in seen_sample:
                errs.append(_in_batch(f"sample {sample_id!r}", "sample_id", row, *seen_sample[sample_id], v.result))
            else:
                seen_sample[sample_id] = (row, v.result)
        asked = requested.get(job.composition_id) if job is not None else None
        if asked is not None and not errs and not set(asked.fractions) & set(v.composition.elements):
            errs.append(RowError(row, "composition", f"{v.composition.canonical} shares no element with {asked.canonical}, "
                                 f"which job {job.id} asked for: wrong job id or composition?"))
        if errs:
            errors.extend(errs)
            continue
        plans.append(_Plan(row, v, job, old, sample_id, asked.canonical if asked is not None else None, asked))
    return plans, errors


def _settle_job(session: Session, job: Job, result: SynthesisResult, outcome: Outcome, now, *, correction: bool = False) -> None:
    """A reported experiment job is done; a failed synthesis re-queues the composition (no label).

    A correction that turns a failed synthesis into a result cancels the retry still queued.
    """
    was_failed = job.failure_kind == FailureKind.SYNTHESIS_FAILED.value
    job.finished_at = now
    if result is SynthesisResult.SYNTHESIS_FAILED:
        job.status = JobStatus.FAILED.value
        job.failure_kind = FailureKind.SYNTHESIS_FAILED.value
        job.error = f"synthesis failed (outcome {outcome.id})"
        if job.kind == JobKind.EXPERIMENT.value and not (correction and was_failed):
            tries = session.exec(
                select(func.count()).select_from(Job).where(
                    Job.kind == job.kind, Job.campaign_id == job.campaign_id, Job.composition_id == job.composition_id,
                    Job.processing == job.processing,
                )
            ).scalar_one()
            if tries < job.max_attempts:
                session.add(Job(
                    kind=job.kind, status=JobStatus.QUEUED.value, campaign_id=job.campaign_id, proposal_id=job.proposal_id,
                    composition_id=job.composition_id, processing=job.processing, max_attempts=job.max_attempts,
                    payload={**(job.payload or {}), "retry_of": job.id}, released_at=now, approval_id=job.approval_id,
                ))
    else:
        job.status = JobStatus.SUCCEEDED.value
        job.failure_kind = None
        job.error = None
        if correction and was_failed:
            for retry in session.exec(
                select(Job).where(Job.composition_id == job.composition_id, Job.status == JobStatus.QUEUED.value)
            ).scalars():
                if (retry.payload or {}).get("retry_of") == job.id:
                    retry.status = JobStatus.CANCELLED.value
                    retry.error = f"job {job.id} was corrected to {result.value} (outcome {outcome.id})"
                    retry.finished_at = now
                    session.add(retry)
    session.add(job)


def write_reports(
    session: Session,
    plans: Sequence[_Plan],
    *,
    source: str = OutcomeSource.LAB.value,
    provenance: dict | None = None,
    dataset_id: int | None = None,
) -> list[Outcome]:
    """Store checked plans (from :func:`check_reports`). Corrections flip the old revision's
    ``is_current`` only if it is still current (a concurrent correction makes this one fail)."""
    now = utcnow()
    comp_rows = {p.requested_row.canonical: p.requested_row for p in plans if p.requested_row is not None}
    others = [p.valid.composition for p in plans if p.valid.composition.canonical not in comp_rows]
    if others:  # made as asked (the usual case) needs no lookup
        comp_rows.update(get_or_create_compositions(session, others))
    for p in plans:
        if p.old is not None:
            done = session.execute(
                update(Outcome).where(Outcome.id == p.old.id, Outcome.is_current == True)  # noqa: E712
                .values(is_current=False).execution_options(synchronize_session=False)
            )
            if done.rowcount != 1:
                raise IngestError([RowError(p.row, "correction_of", f"outcome {p.old.id} was corrected by someone else meanwhile; "
                                            "look at its history and correct the current revision", "conflict")])
    outcomes = []
    for p in plans:
        v = p.valid
        if v.method_given or (p.job is None and p.old is None):
            processing = v.route.value
        else:  # route left out: the one the job asked for (or the corrected report's)
            processing = p.job.processing if p.job is not None else p.old.processing
        prov = {**(provenance or {}), "as_written": v.source.composition}
        if v.source.normalize:
            prov["normalized"] = True
        if p.requested is not None:
            prov["requested"] = p.requested
        if p.row is not None:
            prov["row"] = p.row
        outcomes.append(Outcome(
            composition_id=comp_rows[v.composition.canonical].id,
            job_id=p.job.id if p.job is not None else None,
            sample_id=p.sample_id,
            result=v.result.value,
            glass_label=v.result.glass_label,
            processing=processing,
            source=source,
            reporter=v.reporter,
            notes=v.notes,
            provenance=prov,
            dataset_id=dataset_id,
            revision=p.old.revision + 1 if p.old is not None else 1,
            supersedes_id=p.old.id if p.old is not None else None,
            reason=v.reason if p.old is not None else None,
            created_at=now,
        ))
    session.add_all(outcomes)
    session.flush()
    session.add_all([
        Measurement(outcome_id=o.id, quantity=q, value=value, unit=unit)
        for o, p in zip(outcomes, plans) for q, value, unit in p.valid.measurements
    ])
    for o, p in zip(outcomes, plans):
        if p.job is not None:
            _settle_job(session, p.job, p.valid.result, o, now, correction=p.old is not None)
    session.flush()
    return outcomes


def record_reports(
    session: Session,
    reports: Sequence[Report],
    *,
    rows: Sequence[int | None] | None = None,
    source: str = OutcomeSource.LAB.value,
    provenance: dict | None = None,
    dataset_id: int | None = None,
) -> list[Outcome]:
    """Validate and store a batch of reports: all of them, or (on any error) none."""
    if rows is None:
        rows = [None] if len(reports) == 1 else list(range(1, len(reports) + 1))
    plans, errors = check_reports(session, list(zip(rows, reports)))
    if errors:
        raise IngestError(errors)
    return write_reports(session, plans, source=source, provenance=provenance, dataset_id=dataset_id)


def record_report(
    session: Session, report: Report, *, source: str = OutcomeSource.LAB.value, provenance: dict | None = None
) -> Outcome:
    """Validate and store one report as an Outcome (+ Measurements). Writes nothing on error."""
    return record_reports(session, [report], rows=[None], source=source,
                          provenance=provenance if provenance is not None else {"channel": "report"})[0]


# --------------------------------------------------------------------------- lab CSV

_CSV_FIELDS = {
    "job_id": "job_id", "job": "job_id",
    "sample_id": "sample_id", "sample": "sample_id",
    "composition": "composition", "formula": "composition",
    "method": "method", "processing": "method", "route": "method",
    "result": "result", "outcome": "result",
    "normalize": "normalize", "normalise": "normalize",
    "reporter": "reporter",
    "notes": "notes", "note": "notes", "comment": "notes", "comments": "notes",
    "correction_of": "correction_of", "corrects": "correction_of",
    "reason": "reason",
}
_QUANTITY_ALIASES = {"e": "youngs_modulus", "young_s_modulus": "youngs_modulus", "d_max": "Dmax"}
_TRUE = {"1", "true", "yes", "y"}
_FALSE = {"0", "false", "no", "n", ""}


def _header_key(text: str) -> str:
    return re.sub(r"[^a-z0-9µ/^°]+", "_", str(text).strip().lower()).strip("_")


def _unit_key(unit: str) -> str:
    return _header_key(unit.replace("µ", "u").replace("°", "").replace("^", "").replace("/", "_"))


def _quantity_columns() -> dict[str, tuple[str, str, str | None]]:
    """Header key -> (kind, quantity, unit): kind 'value' (unit from the unit column or a
    suffix), 'unit' (the unit column) or 'value_in' (unit fixed by the suffix, e.g. tg_k)."""
    out: dict[str, tuple[str, str, str | None]] = {}
    names = {q.lower(): q for q in QUANTITIES} | _QUANTITY_ALIASES
    for key, q in names.items():
        out[key] = ("value", q, None)
        out[f"{key}_unit"] = ("unit", q, None)
        for unit in QUANTITIES[q]["convert"]:
            out.setdefault(f"{key}_{_unit_key(unit)}", ("value_in", q, unit))
    return out


LAB_CSV_COLUMNS = sorted(set(_CSV_FIELDS)) + sorted(_quantity_columns())


def parse_report_csv(text: str, *, default_reporter: str | None = None) -> tuple[list[tuple[int, Report]], list[RowError]]:
    """Lab report rows from CSV text: ``(row, Report)`` pairs and the structural errors found.

    Rows are numbered from 1 (the header is not counted). Column names are matched loosely
    (``Tg [K]`` = ``tg_k``); unknown columns are an error, so a typo in a header never
    silently drops a measurement. A bare quantity column needs a unit: ``tg_k``, ``tg_c`` or
    ``tg`` together with ``tg_unit``.
    """
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        return [], [RowError(None, "file", "the file is empty")]
    except csv.Error as exc:
        return [], [RowError(None, "file", f"not a CSV file: {exc}")]
    qcols = _quantity_columns()
    errors: list[RowError] = []
    columns: list[tuple[str, str, str | None] | None] = []
    seen: dict[tuple, str] = {}
    for raw in header:
        key = _header_key(raw)
        if not key:
            columns.append(None)
            continue
        if key in _CSV_FIELDS:
            spec = ("field", _CSV_FIELDS[key], None)
        elif key in qcols:
            spec = qcols[key]
        else:
            errors.append(RowError(None, raw, "unknown column; known columns: job_id, sample_id, composition, method, result, "
                                   "normalize, reporter, notes, correction_of, reason and measurements such as dmax_mm, tg_k, "
                                   "tx_k, tl_k, youngs_modulus_gpa (or tg + tg_unit)"))
            columns.append(None)
            continue
        ident = (spec[0] if spec[0] != "value_in" else "value", spec[1])
        if ident in seen:
            errors.append(RowError(None, raw, f"says the same as column {seen[ident]!r}"))
        seen[ident] = raw
        columns.append(spec)
    present = {(c[0], c[1]) for c in columns if c is not None}
    for required in ("composition", "result"):
        if ("field", required) not in present:
            errors.append(RowError(None, required, "required column missing from the header"))
    for kind, q in present:
        if kind == "value" and ("unit", q) not in present and q in QUANTITIES:
            errors.append(RowError(None, q, f"column {seen[('value', q)]!r} has no unit: name it like "
                                   f"{q.lower()}_{_unit_key(QUANTITIES[q]['unit'])} or add a {q.lower()}_unit column"))
        if kind == "unit" and ("value", q) not in present:
            errors.append(RowError(None, seen[("unit", q)], f"a unit column without a {q} column"))
    if errors:
        return [], errors
    out: list[tuple[int, Report]] = []
    try:
        for i, values in enumerate(reader, start=1):
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                errors.append(RowError(i, "row", f"has {len(values)} fields, the header has {len(header)}"))
                continue
            fields: dict[str, Any] = {}
            meas_values: dict[str, tuple[str, str | None]] = {}
            units: dict[str, str] = {}
            for spec, value in zip(columns, values):
                if spec is None:
                    continue
                kind, name, unit = spec
                value = value.strip()
                if kind == "field":
                    fields[name] = value or None
                elif kind == "unit":
                    units[name] = value
                elif kind == "value":
                    meas_values[name] = (value, None)
                else:
                    meas_values[name] = (value, unit)
            measurements = {
                q: (v, u if u is not None else units.get(q) or None)
                for q, (v, u) in meas_values.items()
                if v or (u is None and units.get(q))  # an empty cell is no measurement; a lone unit is an error
            }
            normalize_text = (fields.get("normalize") or "").lower()
            if normalize_text not in _TRUE | _FALSE:
                errors.append(RowError(i, "normalize", f"must be yes or no (got {fields['normalize']!r})"))
                continue
            out.append((i, Report(
                composition=fields.get("composition") or "",
                result=fields.get("result") or "",
                method=fields.get("method"),
                reporter=fields.get("reporter") or default_reporter,
                job_id=fields.get("job_id"),
                notes=fields.get("notes"),
                normalize=normalize_text in _TRUE,
                measurements=measurements,
                sample_id=fields.get("sample_id"),
                correction_of=fields.get("correction_of"),
                reason=fields.get("reason"),
            )))
    except csv.Error as exc:
        errors.append(RowError(reader.line_num, "row", f"unreadable CSV: {exc}"))
    if not out and not errors:
        errors.append(RowError(None, "file", "the file has no data rows"))
    return out, errors


@dataclass
class LabImportResult:
    path: str
    sha256: str
    rows: int
    outcome_ids: list[int] = field(default_factory=list)
    already_imported: bool = False


def import_report_csv(
    session: Session,
    path: Path | str,
    *,
    data: bytes | None = None,
    name: str | None = None,
    provenance: dict | None = None,
    default_reporter: str | None = None,
) -> LabImportResult:
    """Load a CSV of lab reports: every row is checked first; one bad row rejects the whole
    file (IngestError lists every problem by row and field) and nothing is written. The same
    file twice (same sha256) is recognised and not imported again."""
    path = Path(path)
    data = path.read_bytes() if data is None else data
    digest = hashlib.sha256(data).hexdigest()
    existing = session.exec(select(Dataset).where(Dataset.sha256 == digest)).scalar_one_or_none()
    if existing is not None:
        return LabImportResult(str(path), digest, existing.rows, already_imported=True)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError([RowError(None, "file", f"not UTF-8 text: {exc}")]) from None
    items, errors = parse_report_csv(text, default_reporter=default_reporter)
    plans, check_errors = check_reports(session, items) if items else ([], [])
    errors = sorted(errors + check_errors, key=lambda e: (e.row is not None, e.row or 0))
    if errors:
        raise IngestError(errors, context=path.name)
    dataset = Dataset(name=name or f"lab reports {path.name}", sha256=digest, path=str(path), rows=len(plans))
    session.add(dataset)
    session.flush()
    prov = {**(provenance or {}), "channel": (provenance or {}).get("channel", "csv"), "file": path.name, "sha256": digest}
    outcomes = write_reports(session, plans, provenance=prov, dataset_id=dataset.id)
    return LabImportResult(str(path), digest, len(plans), [o.id for o in outcomes])


def record_job_outcome(
    session: Session,
    job: Job,
    *,
    result: SynthesisResult,
    source: str,
    provenance: dict,
    fidelity: str = "experiment",
    measurements: Iterable[tuple[str, float, str]] = (),
    labelled: bool = True,
) -> Outcome:
    """Store a worker's answer to a job exactly once: a second call returns the first outcome.

    ``labelled=False`` stores no glass label (simulated glasses: every MD quench vitrifies).
    """
    existing = session.exec(
        select(Outcome).where(Outcome.job_id == job.id, Outcome.is_current == True)  # noqa: E712
    ).scalar_one_or_none()
    if existing is not None:
        return existing
    outcome = Outcome(
        composition_id=job.composition_id,
        job_id=job.id,
        result=result.value,
        glass_label=result.glass_label if labelled else None,
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
