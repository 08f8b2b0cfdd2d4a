"""The lab side of a campaign: queue, claims, reports and corrections, history, API tokens,
the per-night lab budget and operator approvals.

Every channel (``vitrify lab ...``, the REST API and web page of vitrify.intake, the Prefect
form of flows.experiment) calls these functions; they validate and store reports through
db.reports (the one validation path) inside :func:`run_write`, a short write transaction that
is serialised on SQLite (``BEGIN IMMEDIATE``) and retried when a concurrent writer wins a race
on PostgreSQL, so a report is either stored whole or refused with a reason.

The campaign never waits for the lab: each iteration it calls :func:`pending_lab_results`,
which moves its new experiment jobs towards the lab queue (operator approval, then the
night's budget) and returns the lab results that arrived since the previous call.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable, Sequence, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, or_, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlmodel import Session

from db.campaigns import set_status
from vitrify.settings import LabSettings, lab_settings  # noqa: F401  (the lab's guardrails)
from db.errors import AuthError, IngestError, InvalidRequest, LabError, NotAllowed, NotFound, NotSignedIn, RowError  # noqa: F401
from db.report_csv import LabImportResult, import_report_csv
from db.reports import Report, check_reports, write_reports
from db.models import (
    ApiToken,
    ApprovalStatus,
    Campaign,
    CampaignStatus,
    Job,
    JobKind,
    JobStatus,
    Measurement,
    OperatorApproval,
    Outcome,
    OutcomeSource,
    Proposal,
    TokenRole,
    utcnow,
)
from db.models import Composition as CompositionRow

T = TypeVar("T")

# --------------------------------------------------------------------------- policy


class LabPolicy(BaseModel):
    """Per-campaign lab guardrails (``Campaign.config["lab"]``); unset fields use LabSettings.

    A campaign's budget can only tighten the lab's: both limits apply.
    """

    model_config = ConfigDict(extra="forbid")

    budget_per_night: int | None = Field(default=None, ge=0)
    require_approval: bool | None = None


def campaign_policy(campaign: Campaign, settings: LabSettings | None = None) -> tuple[int | None, int | None, bool]:
    """(lab budget, campaign budget, approval required) for a campaign."""
    settings = settings or lab_settings()
    policy = LabPolicy.model_validate((campaign.config or {}).get("lab") or {})
    approval = settings.require_approval if policy.require_approval is None else policy.require_approval
    return settings.budget_per_night, policy.budget_per_night, approval


# --------------------------------------------------------------------------- errors


# --------------------------------------------------------------------------- transactions


def _is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, IntegrityError):
        return True
    if isinstance(exc, OperationalError):
        text_ = str(exc).lower()
        return "locked" in text_ or "busy" in text_ or "deadlock" in text_ or "could not serialize" in text_
    if isinstance(exc, DBAPIError):
        code = getattr(getattr(exc, "orig", None), "sqlstate", None)
        return code in ("40001", "40P01")
    return False


def run_write(engine: Engine, work: Callable[[Session], T], *, attempts: int = 5) -> T:
    """Run ``work(session)`` in one write transaction and commit it; roll back on any error.

    SQLite: ``BEGIN IMMEDIATE`` takes the write lock first (waiting up to the busy timeout), so
    checks and writes see the same data. PostgreSQL: a unique-constraint race (two reports of
    one job, two new rows for one composition) is retried; the retry re-runs every check and
    so refuses the loser with a clear conflict instead of a database error.
    """
    for attempt in range(attempts):
        session = Session(engine, expire_on_commit=False)
        try:
            if engine.dialect.name == "sqlite":
                session.connection().exec_driver_sql("BEGIN IMMEDIATE")
            result = work(session)
            session.commit()
            return result
        except (IngestError, LabError):
            session.rollback()
            raise
        except Exception as exc:
            session.rollback()
            if not _is_retryable(exc) or attempt == attempts - 1:
                if _is_retryable(exc):
                    raise IngestError([RowError(None, "report", "a concurrent write kept conflicting with this one; try again", "conflict")]) from exc
                raise
            time.sleep(0.02 * (attempt + 1) + secrets.randbelow(20) / 1000)
        finally:
            session.close()
    raise AssertionError("unreachable")


def read(engine: Engine, work: Callable[[Session], T]) -> T:
    with Session(engine, expire_on_commit=False) as session:
        return work(session)


def _aware(ts: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes: every timestamp vitrify stores is UTC."""
    if ts is None:
        return None
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=timezone.utc)


def _iso(ts: datetime | None) -> str | None:
    ts = _aware(ts)
    return ts.isoformat(timespec="seconds") if ts is not None else None


# --------------------------------------------------------------------------- tokens

TOKEN_PREFIX = "vit_"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_token(session: Session, *, name: str, role: str, created_by: str | None = None) -> tuple[ApiToken, str]:
    """A new token; returns the row and the secret, which is not stored and cannot be shown again."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise InvalidRequest("a token needs a name (who holds it), at most 100 characters")
    try:
        role = TokenRole(str(role).strip().lower()).value
    except ValueError:
        raise InvalidRequest(f"unknown role {role!r}; roles: {', '.join(r.value for r in TokenRole)}") from None
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(name=name, role=role, token_hash=hash_secret(secret), prefix=secret[:10], created_by=created_by)
    session.add(token)
    session.flush()
    return token, secret


def authenticate(session: Session, secret: str | None) -> ApiToken | None:
    """The live token with this secret, or None. Compares sha256 digests in constant time."""
    if not secret or not isinstance(secret, str) or len(secret) > 200:
        return None
    digest = hash_secret(secret.strip())
    token = session.exec(select(ApiToken).where(ApiToken.token_hash == digest)).scalar_one_or_none()
    if token is None or not hmac.compare_digest(token.token_hash, digest) or token.revoked_at is not None:
        return None
    return token


def authenticate_engine(engine: Engine, secret: str | None) -> ApiToken | None:
    """:func:`authenticate` in its own short session; notes when the token was last used (at most every 5 min)."""
    token = read(engine, lambda s: authenticate(s, secret))
    if token is not None:
        last = _aware(token.last_used_at)
        if last is None or utcnow() - last > timedelta(minutes=5):
            try:
                with Session(engine) as s:
                    s.execute(update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=utcnow()))
                    s.commit()
            except OperationalError:
                pass  # bookkeeping only: never fail a request for it
    return token


def require_role(token: ApiToken | None, role: TokenRole | str) -> ApiToken:
    role = TokenRole(role)
    if token is None:
        raise NotSignedIn("this needs an API token (Authorization: Bearer <token>); create one with `vitrify token create`")
    if TokenRole(token.role).level < role.level:
        raise NotAllowed(f"token {token.name!r} has role {token.role}; this needs {role.value}")
    return token


def list_tokens(session: Session, *, include_revoked: bool = False) -> list[dict]:
    query = select(ApiToken).order_by(ApiToken.id)
    if not include_revoked:
        query = query.where(ApiToken.revoked_at.is_(None))
    return [token_info(t) for t in session.exec(query).scalars()]


def token_info(token: ApiToken) -> dict:
    return {
        "id": token.id, "name": token.name, "role": token.role, "prefix": token.prefix,
        "created_at": _iso(token.created_at), "created_by": token.created_by,
        "revoked_at": _iso(token.revoked_at), "last_used_at": _iso(token.last_used_at),
    }


def revoke_token(session: Session, token_id: int) -> dict:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"no token with id {token_id}")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.add(token)
        session.flush()
    return token_info(token)


# --------------------------------------------------------------------------- the lab night and budget


def night_window(now: datetime | None = None, settings: LabSettings | None = None) -> tuple[datetime, datetime]:
    """The lab night containing ``now``: [night_starts_hour, the same hour a day later), in UTC."""
    settings = settings or lab_settings()
    zone = ZoneInfo(settings.timezone)
    local = (_aware(now) or utcnow()).astimezone(zone)
    start = local.replace(hour=settings.night_starts_hour, minute=0, second=0, microsecond=0)
    if local < start:
        start -= timedelta(days=1)
    end = start + timedelta(days=1)
    return start.astimezone(timezone.utc), end.astimezone(timezone.utc)


def _released_between(session: Session, start: datetime, end: datetime, campaign_id: int | None = None) -> int:
    query = select(func.count()).select_from(Job).where(
        Job.kind == JobKind.EXPERIMENT.value, Job.released_at >= start, Job.released_at < end,
    )
    if campaign_id is not None:
        query = query.where(Job.campaign_id == campaign_id)
    return session.exec(query).scalar_one()


def budget_status(session: Session, campaign: Campaign | None = None, *, now: datetime | None = None) -> dict:
    settings = lab_settings()
    start, end = night_window(now, settings)
    used = _released_between(session, start, end)
    out = {
        "night_start": _iso(start), "night_end": _iso(end), "limit": settings.budget_per_night, "used": used,
        "remaining": None if settings.budget_per_night is None else max(0, settings.budget_per_night - used),
    }
    if campaign is not None:
        _, campaign_limit, approval = campaign_policy(campaign, settings)
        c_used = _released_between(session, start, end, campaign.id)
        out["campaign"] = {
            "id": campaign.id, "limit": campaign_limit, "used": c_used, "require_approval": approval,
            "remaining": None if campaign_limit is None else max(0, campaign_limit - c_used),
        }
    return out


def _lock_releases(session: Session) -> None:
    """Serialise budget accounting between processes (SQLite already is, via BEGIN IMMEDIATE)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(764521)"))


def release_jobs(session: Session, campaign: Campaign | None = None, *, now: datetime | None = None) -> int:
    """Release held experiment jobs (queued, not yet in the lab queue) within tonight's budget.

    Oldest first; a campaign's own limit applies to its jobs. Returns how many were released.
    """
    _lock_releases(session)
    settings = lab_settings()
    now = _aware(now) or utcnow()
    start, end = night_window(now, settings)
    query = select(Job).where(
        Job.kind == JobKind.EXPERIMENT.value, Job.status == JobStatus.QUEUED.value, Job.released_at.is_(None)
    ).order_by(Job.id)
    if campaign is not None:
        query = query.where(Job.campaign_id == campaign.id)
    held = session.exec(query).scalars().all()
    if not held:
        return 0
    room = None if settings.budget_per_night is None else settings.budget_per_night - _released_between(session, start, end)
    campaign_room: dict[int | None, int | None] = {}
    needs_approval: dict[int | None, bool] = {}
    released = 0
    for job in held:
        if room is not None and room <= 0:
            break
        if job.campaign_id not in campaign_room:
            c = session.get(Campaign, job.campaign_id) if job.campaign_id is not None else None
            _, limit, approval = campaign_policy(c, settings) if c is not None else (None, None, False)
            needs_approval[job.campaign_id] = approval
            campaign_room[job.campaign_id] = None if limit is None else limit - _released_between(session, start, end, job.campaign_id)
        if needs_approval[job.campaign_id] and job.approval_id is None:
            continue  # not yet put before an operator (request_approvals does that)
        c_room = campaign_room[job.campaign_id]
        if c_room is not None and c_room <= 0:
            continue
        job.released_at = now
        session.add(job)
        released += 1
        if room is not None:
            room -= 1
        if c_room is not None:
            campaign_room[job.campaign_id] = c_room - 1
    session.flush()
    return released


# --------------------------------------------------------------------------- approvals


def request_approvals(session: Session, campaign: Campaign) -> OperatorApproval | None:
    """Put the campaign's new experiment jobs (never released, never approved) in front of an
    operator when its policy requires it. Returns the new approval request, if any."""
    _, _, approval_required = campaign_policy(campaign)
    if not approval_required:
        return None
    fresh = session.exec(
        select(Job).where(
            Job.campaign_id == campaign.id, Job.kind == JobKind.EXPERIMENT.value, Job.status == JobStatus.QUEUED.value,
            Job.released_at.is_(None), Job.approval_id.is_(None),
        ).order_by(Job.id)
    ).scalars().all()
    if not fresh:
        return None
    approval = OperatorApproval(campaign_id=campaign.id, n_jobs=len(fresh))
    session.add(approval)
    session.flush()
    for job in fresh:
        job.status = JobStatus.AWAITING_APPROVAL.value
        job.approval_id = approval.id
        session.add(job)
    session.flush()
    return approval


def approval_info(session: Session, approval: OperatorApproval, *, with_jobs: bool = True) -> dict:
    out = {
        "id": approval.id, "campaign_id": approval.campaign_id, "status": approval.status, "n_jobs": approval.n_jobs,
        "requested_at": _iso(approval.requested_at), "decided_at": _iso(approval.decided_at),
        "decided_by": approval.decided_by, "note": approval.note,
    }
    if with_jobs:
        jobs = session.exec(select(Job).where(Job.approval_id == approval.id).order_by(Job.id)).scalars().all()
        out["jobs"] = _job_rows(session, jobs)
    return out


def list_approvals(session: Session, *, status: str | None = ApprovalStatus.PENDING.value) -> list[dict]:
    query = select(OperatorApproval).order_by(OperatorApproval.id)
    if status:
        query = query.where(OperatorApproval.status == status)
    return [approval_info(session, a) for a in session.exec(query).scalars()]


def decide_approval(session: Session, approval_id: int, *, approve: bool, token: ApiToken, note: str | None = None) -> dict:
    """An operator approves (jobs go on to the budget and the lab queue) or rejects (jobs cancelled) a batch."""
    require_role(token, TokenRole.OPERATOR)
    approval = session.get(OperatorApproval, approval_id)
    if approval is None:
        raise NotFound(f"no approval request with id {approval_id}")
    if approval.status != ApprovalStatus.PENDING.value:
        raise LabError(f"approval {approval_id} was already {approval.status} by {approval.decided_by} at {_iso(approval.decided_at)}")
    now = utcnow()
    approval.status = (ApprovalStatus.APPROVED if approve else ApprovalStatus.REJECTED).value
    approval.decided_at = now
    approval.decided_by = token.name
    approval.note = (note or "").strip()[:1000] or None
    session.add(approval)
    jobs = session.exec(
        select(Job).where(Job.approval_id == approval.id, Job.status == JobStatus.AWAITING_APPROVAL.value)
    ).scalars().all()
    for job in jobs:
        if approve:
            job.status = JobStatus.QUEUED.value
        else:
            job.status = JobStatus.CANCELLED.value
            job.finished_at = now
            job.error = f"batch rejected by {token.name}" + (f": {approval.note}" if approval.note else "")
        session.add(job)
    session.flush()
    if approve:
        campaign = session.get(Campaign, approval.campaign_id)
        release_jobs(session, campaign)
    return approval_info(session, approval)


# --------------------------------------------------------------------------- the queue


def job_state(job: Job) -> str:
    """The lab's view of a job's status."""
    if job.status == JobStatus.QUEUED.value:
        return "in lab queue" if job.released_at is not None else "held (lab budget)"
    if job.status == JobStatus.RUNNING.value:
        return f"claimed by {job.claimed_by}" if job.claimed_by else "running"
    if job.status == JobStatus.SUCCEEDED.value:
        return "reported"
    if job.status == JobStatus.FAILED.value and job.failure_kind:
        return job.failure_kind
    return job.status


def _job_rows(session: Session, jobs: Sequence[Job]) -> list[dict]:
    if not jobs:
        return []
    comp_ids = {j.composition_id for j in jobs}
    comps = {c.id: c.canonical for c in session.exec(select(CompositionRow).where(CompositionRow.id.in_(comp_ids))).scalars()}
    prop_ids = {j.proposal_id for j in jobs if j.proposal_id is not None}
    props = {p.id: p for p in session.exec(select(Proposal).where(Proposal.id.in_(prop_ids))).scalars()} if prop_ids else {}
    camp_ids = {j.campaign_id for j in jobs if j.campaign_id is not None}
    camps = {c.id: c.name for c in session.exec(select(Campaign).where(Campaign.id.in_(camp_ids))).scalars()} if camp_ids else {}
    rows = []
    for j in jobs:
        p = props.get(j.proposal_id)
        rows.append({
            "job_id": j.id, "composition": comps.get(j.composition_id), "processing": j.processing, "status": j.status,
            "state": job_state(j), "claimed_by": j.claimed_by, "campaign_id": j.campaign_id,
            "campaign": camps.get(j.campaign_id), "iteration": p.iteration if p else None, "rank": p.rank if p else None,
            "glass_probability": round(p.glass_probability, 3) if p and p.glass_probability is not None else None,
            "predicted": _predicted(p), "p_feasible": (p.predictions or {}).get("p_feasible") if p else None,
            "released_at": _iso(j.released_at), "claimed_at": _iso(j.started_at) if j.claimed_by else None,
            "retry_of": (j.payload or {}).get("retry_of"), "approval_id": j.approval_id,
            "requested_at": _iso(j.created_at), "uncertainty": round(p.uncertainty, 3) if p and p.uncertainty is not None else None,
            "acquisition": round(p.acquisition, 4) if p and p.acquisition is not None else None, "why": _why(p),
        })
    return rows


def _why(p: Proposal | None) -> str:
    """Why the campaign picked this composition, in a phrase (requested by hand: no proposal)."""
    if p is None:
        return "requested by hand"
    text = f"iteration {p.iteration}, pick {p.rank}"
    return text + (f" (score {p.acquisition:.3g})" if p.acquisition is not None else "")


def recent_reports(session: Session, limit: int = 20) -> list[dict]:
    """The latest lab reports (current revisions of experiment outcomes), newest first: the page's done list."""
    rows = session.exec(
        select(Outcome).where(Outcome.source == OutcomeSource.LAB.value, Outcome.is_current == True)  # noqa: E712
        .order_by(Outcome.id.desc()).limit(limit)
    ).scalars().all()
    return outcome_rows(session, rows)


def _predicted(proposal: Proposal | None) -> dict:
    """The properties predicted for a proposal, beyond P(glass): {name: {"mean", "std"}}."""
    if proposal is None:
        return {}
    out = {k: v for k, v in (proposal.predictions or {}).items() if isinstance(v, dict) and k not in ("glass", "p_gfa")}
    if "youngs_modulus_gpa" not in out and proposal.modulus_gpa is not None:
        out["youngs_modulus_gpa"] = {"mean": proposal.modulus_gpa, "std": proposal.modulus_uncertainty_gpa}
    return out


def lab_queue(session: Session, *, everything: bool = False, campaign_id: int | None = None, limit: int = 1000) -> list[dict]:
    """Experiment jobs in the lab queue (released, not yet reported: free or claimed).

    ``everything`` adds jobs still held by the budget or awaiting approval.
    """
    query = select(Job).where(Job.kind == JobKind.EXPERIMENT.value)
    if everything:
        query = query.where(Job.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value, JobStatus.AWAITING_APPROVAL.value]))
    else:
        query = query.where(Job.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value]), Job.released_at.is_not(None))
    if campaign_id is not None:
        query = query.where(Job.campaign_id == campaign_id)
    jobs = session.exec(query.order_by(Job.id).limit(limit)).scalars().all()
    return _job_rows(session, jobs)


def job_detail(session: Session, job_id: int) -> dict:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"no job with id {job_id}")
    out = _job_rows(session, [job])[0]
    out.update(kind=job.kind, failure_kind=job.failure_kind, error=job.error, history=history(session, job_id=job_id))
    return out


def claim_job(session: Session, job_id: int, *, token: ApiToken, who: str | None = None) -> dict:
    """Mark a job in the lab queue as being made by ``who`` (default: the token's name)."""
    require_role(token, TokenRole.REPORTER)
    who = (who or token.name).strip()[:100]
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"no job with id {job_id}")
    if job.kind != JobKind.EXPERIMENT.value:
        raise InvalidRequest(f"job {job_id} is a {job.kind} job, not a lab experiment")
    if job.status == JobStatus.RUNNING.value:
        if job.claimed_by == who:
            return _job_rows(session, [job])[0]
        raise LabError(f"job {job_id} is already claimed by {job.claimed_by} (since {_iso(job.started_at)})")
    if job.status != JobStatus.QUEUED.value or job.released_at is None:
        raise LabError(f"job {job_id} is not in the lab queue ({job_state(job)})")
    done = session.execute(
        update(Job).where(Job.id == job_id, Job.status == JobStatus.QUEUED.value, Job.released_at.is_not(None))
        .values(status=JobStatus.RUNNING.value, claimed_by=who, started_at=utcnow(), attempts=Job.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:
        raise LabError(f"job {job_id} was claimed by someone else a moment ago")
    session.refresh(job)
    return _job_rows(session, [job])[0]


def claim_next(session: Session, *, token: ApiToken, who: str | None = None, campaign_id: int | None = None) -> dict | None:
    """Claim the oldest free job in the lab queue; None when the queue is empty.

    PostgreSQL: ``FOR UPDATE SKIP LOCKED`` hands concurrent claimers different jobs instead of
    making them queue up behind one row. SQLite: writers are serialised anyway.
    """
    require_role(token, TokenRole.REPORTER)
    for _ in range(20):
        query = select(Job.id).where(
            Job.kind == JobKind.EXPERIMENT.value, Job.status == JobStatus.QUEUED.value, Job.released_at.is_not(None)
        )
        if campaign_id is not None:
            query = query.where(Job.campaign_id == campaign_id)
        query = query.order_by(Job.id).limit(1)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        job_id = session.exec(query).scalars().first()
        if job_id is None:
            return None
        try:
            return claim_job(session, job_id, token=token, who=who)
        except LabError:
            continue
    raise LabError("the queue is too busy right now; try again")


def unclaim_job(session: Session, job_id: int, *, token: ApiToken) -> dict:
    """Put a claimed job back in the queue (its claimer, or an operator)."""
    require_role(token, TokenRole.REPORTER)
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"no job with id {job_id}")
    if job.status != JobStatus.RUNNING.value or job.kind != JobKind.EXPERIMENT.value:
        raise LabError(f"job {job_id} is not claimed ({job_state(job)})")
    if job.claimed_by != token.name and TokenRole(token.role).level < TokenRole.OPERATOR.level:
        raise NotAllowed(f"job {job_id} was claimed by {job.claimed_by}; only they or an operator can release it")
    job.status = JobStatus.QUEUED.value
    job.claimed_by = None
    job.started_at = None
    session.add(job)
    session.flush()
    return _job_rows(session, [job])[0]


# --------------------------------------------------------------------------- reports and history


def _channel_provenance(token: ApiToken, channel: str) -> dict:
    return {"channel": channel, "token": token.name, "token_id": token.id}


def _with_reporter(reports: Iterable[Report], token: ApiToken) -> list[Report]:
    out = []
    for r in reports:
        if not (r.reporter and str(r.reporter).strip()):
            r = Report(**{**asdict(r), "reporter": token.name})
        out.append(r)
    return out


def submit_reports(
    engine: Engine, reports: Sequence[Report], *, token: ApiToken | None, channel: str,
    rows: Sequence[int | None] | None = None,
) -> list[dict]:
    """Validate and store lab reports (a new report or a correction each) from any channel.

    All or nothing: IngestError lists every problem by row and field. The reporter defaults
    to the token's holder; the channel and token name go into the outcome's provenance.
    """
    token = require_role(token, TokenRole.REPORTER)
    reports = _with_reporter(reports, token)

    items = list(zip(rows if rows is not None else ([None] if len(reports) == 1 else range(1, len(reports) + 1)), reports))

    def work(session: Session) -> list[dict]:
        plans, errors = check_reports(session, items)  # = db.reports.record_reports, keeping the plans
        if errors:
            raise IngestError(errors)
        outcomes = write_reports(session, plans, provenance=_channel_provenance(token, channel))
        return [_outcome_row(o, p.valid.composition.canonical, {q: {"value": v, "unit": u} for q, v, u in p.valid.measurements})
                for o, p in zip(outcomes, plans)]

    return run_write(engine, work)


def submit_report(engine: Engine, report: Report, *, token: ApiToken | None, channel: str) -> dict:
    return submit_reports(engine, [report], token=token, channel=channel, rows=[None])[0]


def import_csv(
    engine: Engine, path, *, token: ApiToken | None, data: bytes | None = None, channel: str = "csv"
) -> LabImportResult:
    """Bulk import of a lab CSV: all rows or, if any row is bad, none (see db.report_csv.import_report_csv)."""
    token = require_role(token, TokenRole.REPORTER)
    return run_write(engine, lambda s: import_report_csv(
        s, path, data=data, provenance=_channel_provenance(token, channel), default_reporter=token.name
    ))


def outcome_rows(session: Session, outcomes: Sequence[Outcome]) -> list[dict]:
    if not outcomes:
        return []
    ids = [o.id for o in outcomes]
    meas: dict[int, dict] = {}
    for m in session.exec(select(Measurement).where(Measurement.outcome_id.in_(ids)).order_by(Measurement.id)).scalars():
        meas.setdefault(m.outcome_id, {})[m.quantity] = {"value": m.value, "unit": m.unit}
    comps = {c.id: c.canonical for c in session.exec(
        select(CompositionRow).where(CompositionRow.id.in_({o.composition_id for o in outcomes}))).scalars()}
    return [_outcome_row(o, comps.get(o.composition_id), meas.get(o.id, {})) for o in outcomes]


def _outcome_row(o: Outcome, canonical: str | None, measurements: dict) -> dict:
    return {
        "outcome_id": o.id, "job_id": o.job_id, "sample_id": o.sample_id, "composition": canonical,
        "result": o.result, "glass_label": o.glass_label, "processing": o.processing, "reporter": o.reporter,
        "notes": o.notes, "revision": o.revision, "supersedes_id": o.supersedes_id, "is_current": o.is_current,
        "reason": o.reason, "created_at": _iso(o.created_at), "source": o.source,
        "channel": (o.provenance or {}).get("channel"), "token": (o.provenance or {}).get("token"),
        "requested": (o.provenance or {}).get("requested"), "measurements": measurements,
    }


def history(
    session: Session, *, job_id: int | None = None, sample_id: str | None = None,
    outcome_id: int | None = None, composition: str | None = None,
) -> list[dict]:
    """Every revision (oldest first) of the reports for a job, a sample, an outcome's chain or a composition."""
    if outcome_id is not None:
        start = session.get(Outcome, outcome_id)
        if start is None:
            raise NotFound(f"no outcome with id {outcome_id}")
        chain = [start]
        while chain[0].supersedes_id is not None:
            chain.insert(0, session.get(Outcome, chain[0].supersedes_id))
        while True:
            nxt = session.exec(select(Outcome).where(Outcome.supersedes_id == chain[-1].id)).scalars().first()
            if nxt is None:
                break
            chain.append(nxt)
        return outcome_rows(session, chain)
    query = select(Outcome).where(Outcome.source == OutcomeSource.LAB.value)
    if job_id is not None:
        query = query.where(Outcome.job_id == job_id)
    if sample_id is not None:
        query = query.where(Outcome.sample_id == sample_id)
    if composition is not None:
        from discovery.composition import CompositionError, parse_composition

        try:
            canonical = parse_composition(composition, percent=False).canonical
        except CompositionError as exc:
            raise InvalidRequest(f"composition: {exc.reason}") from None
        query = query.join(CompositionRow, Outcome.composition_id == CompositionRow.id).where(CompositionRow.canonical == canonical)
    if job_id is None and sample_id is None and composition is None:
        raise InvalidRequest("say whose history: a job id, a sample id, an outcome id or a composition")
    return outcome_rows(session, session.exec(query.order_by(Outcome.id)).scalars().all())


# --------------------------------------------------------------------------- campaigns


@dataclass
class LabProgress:
    """What :func:`pending_lab_results` did and found, for one campaign."""

    campaign_id: int
    new_outcomes: list[dict] = field(default_factory=list)  # lab reports (and corrections) since the last call
    glasses: int = 0  # new current outcomes labelled glass
    released: int = 0  # jobs this call moved into the lab queue
    in_lab: int = 0  # in the lab queue, free or claimed
    held: int = 0  # waiting for tonight's (or a later night's) budget
    awaiting_approval: int = 0
    approval_id: int | None = None  # approval requested by this call
    budget: dict = field(default_factory=dict)
    stop_requested: bool = False

    @property
    def open(self) -> int:
        return self.in_lab + self.held + self.awaiting_approval


def pending_lab_results(campaign_id: int, *, engine: Engine | None = None) -> LabProgress:
    """Call once per campaign iteration; never waits for the lab.

    Sends the campaign's new experiment jobs on their way (operator approval if required,
    then tonight's budget), and returns the lab results that arrived since the previous
    call. Results need no further ingestion: they are current outcomes already, so the next
    retraining uses them. Runs in its own short write transaction: call it outside any open
    one (or use :func:`collect_lab_results` inside yours).
    """
    from db.session import get_engine

    return run_write(engine or get_engine(), lambda session: collect_lab_results(session, campaign_id))


def collect_lab_results(session: Session, campaign_id: int) -> LabProgress:
    """:func:`pending_lab_results` inside the caller's transaction."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"no campaign {campaign_id}")
    progress = LabProgress(campaign_id=campaign_id, stop_requested=campaign.status == CampaignStatus.STOPPED.value)
    if not progress.stop_requested:
        approval = request_approvals(session, campaign)
        progress.approval_id = approval.id if approval is not None else None
        progress.released = release_jobs(session, campaign)
    new = session.exec(
        select(Outcome).join(Job, Outcome.job_id == Job.id).where(
            Job.campaign_id == campaign_id, Job.kind == JobKind.EXPERIMENT.value,
            Outcome.source == OutcomeSource.LAB.value, Outcome.id > (campaign.lab_seen_outcome_id or 0),
        ).order_by(Outcome.id)
    ).scalars().all()
    progress.new_outcomes = outcome_rows(session, new)
    progress.glasses = sum(1 for o in new if o.is_current and o.glass_label == 1)
    if new:
        campaign.lab_seen_outcome_id = max(o.id for o in new)
        session.add(campaign)
    counts = dict(session.exec(
        select(Job.status, func.count()).where(
            Job.campaign_id == campaign_id, Job.kind == JobKind.EXPERIMENT.value,
            or_(Job.released_at.is_not(None), Job.status != JobStatus.QUEUED.value),
        ).group_by(Job.status)
    ).all())
    progress.in_lab = counts.get(JobStatus.QUEUED.value, 0) + counts.get(JobStatus.RUNNING.value, 0)
    progress.awaiting_approval = counts.get(JobStatus.AWAITING_APPROVAL.value, 0)
    progress.held = session.exec(
        select(func.count()).select_from(Job).where(
            Job.campaign_id == campaign_id, Job.kind == JobKind.EXPERIMENT.value,
            Job.status == JobStatus.QUEUED.value, Job.released_at.is_(None),
        )
    ).scalar_one()
    progress.budget = budget_status(session, campaign)
    session.flush()
    return progress


def unseen_lab_glasses(session: Session, campaign_id: int) -> int:
    """Glasses among the lab results the campaign has not been told about yet (the next
    :func:`pending_lab_results` reports them)."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        return 0
    return session.exec(
        select(func.count()).select_from(Outcome).join(Job, Outcome.job_id == Job.id).where(
            Job.campaign_id == campaign_id, Job.kind == JobKind.EXPERIMENT.value, Outcome.source == OutcomeSource.LAB.value,
            Outcome.id > (campaign.lab_seen_outcome_id or 0), Outcome.is_current == True,  # noqa: E712
            Outcome.glass_label == 1,
        )
    ).scalar_one()


def stop_campaign(session: Session, campaign_id: int, *, token: ApiToken) -> dict:
    """Ask a campaign to stop: no new work reaches the lab (held and unapproved jobs are
    cancelled); jobs already in the lab queue stay, and their reports are still stored."""
    require_role(token, TokenRole.OPERATOR)
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"no campaign {campaign_id}")
    now = utcnow()
    if campaign.status in (CampaignStatus.CREATED.value, CampaignStatus.RUNNING.value):
        set_status(session, campaign, CampaignStatus.STOPPED)
    cancelled = 0
    for job in session.exec(
        select(Job).where(
            Job.campaign_id == campaign_id, Job.kind == JobKind.EXPERIMENT.value,
            or_(Job.status == JobStatus.AWAITING_APPROVAL.value, (Job.status == JobStatus.QUEUED.value) & Job.released_at.is_(None)),
        )
    ).scalars():
        job.status = JobStatus.CANCELLED.value
        job.finished_at = now
        job.error = f"campaign stopped by {token.name}"
        session.add(job)
        cancelled += 1
    session.flush()
    return {"campaign_id": campaign_id, "status": campaign.status, "cancelled_jobs": cancelled, "stopped_by": token.name}


def mark_startable(engine: Engine, campaign_id: int, *, token: ApiToken) -> None:
    """An operator may start (resume) a campaign that is neither running nor finished: it is
    marked ``created`` for the run flows.launch starts."""
    require_role(token, TokenRole.OPERATOR)

    def check(session: Session) -> None:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            raise NotFound(f"no campaign {campaign_id}")
        if campaign.status == CampaignStatus.RUNNING.value:
            raise LabError(f"campaign {campaign_id} is already running")
        if campaign.status == CampaignStatus.FINISHED.value:
            raise LabError(f"campaign {campaign_id} has finished")
        set_status(session, campaign, CampaignStatus.CREATED)

    run_write(engine, check)


def request_experiments(
    session: Session, compositions: Sequence[str], *, token: ApiToken, processing: str | None = None,
    campaign_id: int | None = None,
) -> list[dict]:
    """Ask the lab for compositions by hand (outside a campaign's proposals): experiment jobs
    that go through the same budget as a campaign's (released now if tonight's budget allows)."""
    from db.compositions import get_or_create_compositions
    from discovery.composition import CompositionError, parse_composition
    from discovery.vocabulary import ProcessingRoute, VocabularyError

    require_role(token, TokenRole.OPERATOR)
    errors: list[RowError] = []
    parsed = []
    for i, text_ in enumerate(compositions, start=1):
        try:
            parsed.append(parse_composition(text_, percent=True))
        except CompositionError as exc:
            errors.append(RowError(i if len(compositions) > 1 else None, "composition", f"{exc.reason} (got {text_!r})"))
    try:
        route = ProcessingRoute.parse(processing, field="processing").value
    except VocabularyError as exc:
        errors.append(RowError(None, exc.field, exc.reason))
    if not compositions:
        errors.append(RowError(None, "composition", "no compositions given"))
    if errors:
        raise IngestError(errors)
    if campaign_id is not None and session.get(Campaign, campaign_id) is None:
        raise NotFound(f"no campaign {campaign_id}")
    rows = get_or_create_compositions(session, parsed)
    jobs = [
        Job(kind=JobKind.EXPERIMENT.value, status=JobStatus.QUEUED.value, campaign_id=campaign_id,
            composition_id=rows[c.canonical].id, processing=route, payload={"requested_by": token.name})
        for c in parsed
    ]
    session.add_all(jobs)
    session.flush()
    release_jobs(session)
    for job in jobs:
        session.refresh(job)
    return _job_rows(session, jobs)
