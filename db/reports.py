"""Lab reports: the one validation path for every way a synthesis result arrives.

Reports come from the CLI, a CSV (db.report_csv), REST, the web page and the Prefect form,
and all end here. Validation happens before anything is written; a batch with any bad row
writes nothing (the whole batch is rejected, with every error listed by row and field), so
nothing is ever half-written.

Lab reports: :func:`validate_report` checks one report on its own (composition, result,
route, units, ranges, Tg < Tx < Tl); :func:`check_reports` checks a batch against the
database and itself (unknown job, job not in the lab queue, second report for a job or a
sample id, contradictions, corrections of superseded revisions); :func:`write_reports`
stores it. :func:`record_report`, :func:`record_reports` and :func:`import_report_csv`
chain them (the CSV format lives in db.report_csv); db.lab adds transactions, retries and channel provenance around them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from sqlalchemy import select, update
from sqlmodel import Session

from db.compositions import get_or_create_compositions
from db.errors import IngestError, RowError
from db.jobs import settle_reported_job
from db.measurements import convert_measurement
from db.models import Composition as CompositionRow
from db.models import Job, JobKind, JobStatus, Measurement, Outcome, OutcomeSource, utcnow
from discovery.composition import Composition, CompositionError, parse_composition
from discovery.vocabulary import ProcessingRoute, SynthesisResult, VocabularyError
from vitrify.settings import MAX_ID


# --------------------------------------------------------------------------- data sets


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
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value.strip()) <= 12:
        number = int(value.strip())
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        number = MAX_ID + 1  # too long to be an id (and to convert cheaply)
    if number is None or number <= 0:
        shown = value if not isinstance(value, str) or len(value) <= 40 else value[:40] + "..."
        errors.append(RowError(row, name, f"must be a positive whole number (got {shown!r})"))
        return None
    if number > MAX_ID:
        errors.append(RowError(row, name, f"no such id: ids go up to {MAX_ID}", "not_found"))
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
        shown = report.composition if not isinstance(report.composition, str) or len(report.composition) <= 80 \
            else report.composition[:40] + "..."
        errors.append(RowError(row, "composition", exc.reason + f" (got {shown!r})"))
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
            settle_reported_job(session, p.job, p.valid.result, o, now, correction=p.old is not None)
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
