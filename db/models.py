"""The tables. Enumerated values are stored as plain strings (portable across SQLite and
PostgreSQL, and simple to migrate); the Python enums below are the vocabulary.

Relationships (foreign keys): Proposal -> Campaign, Composition, ModelVersion;
Job -> Campaign, Proposal, Composition, OperatorApproval; Outcome -> Composition, Job,
Dataset, Outcome (the revision it supersedes); Measurement -> Outcome;
OperatorApproval -> Campaign. ApiToken stands alone (only a hash of each secret is stored).
"""

from __future__ import annotations

from datetime import datetime, timezone
from enum import Enum
from typing import Any, Optional

from sqlalchemy import JSON, Column, DateTime, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def aware_utc(ts: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes: every timestamp vitrify stores is UTC."""
    if ts is None:
        return None
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=timezone.utc)


def iso_utc(ts: datetime | None) -> str | None:
    ts = aware_utc(ts)
    return ts.isoformat(timespec="seconds") if ts is not None else None


def _ts(**kwargs: Any) -> Any:
    return Field(default_factory=utcnow, sa_type=DateTime(timezone=True), **kwargs)


def _ts_optional() -> Any:
    return Field(default=None, sa_type=DateTime(timezone=True))


def _json(default_factory=dict) -> Any:
    return Field(default_factory=default_factory, sa_column=Column(JSON, nullable=False))


class CampaignStatus(str, Enum):
    CREATED = "created"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    STOPPED = "stopped"


class JobKind(str, Enum):
    REPLAY = "replay"
    SIMULATION = "simulation"
    EXPERIMENT = "experiment"


class JobStatus(str, Enum):
    """``queued`` experiment jobs reach the lab queue only once released (``Job.released_at``):
    until then they are held by the per-night lab budget. ``awaiting approval`` jobs wait for an
    operator (db.lab); ``running`` = claimed by lab staff (or taken by a worker)."""

    AWAITING_APPROVAL = "awaiting approval"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class FailureKind(str, Enum):
    """Why a job ended without a label. Distinct from a crystalline result (a negative label)."""

    NO_DATA = "no data"  # replay oracle has no record of the composition
    SYNTHESIS_FAILED = "synthesis failed"  # lab could not make/measure it: re-queue, not a label
    SIMULATION_CRASHED = "simulation crashed"  # feasibility signal
    NOT_SIMULABLE = "not simulable"  # no interatomic potential covers the composition
    WORKER_DIED = "worker died"
    ERROR = "error"


class OutcomeSource(str, Enum):
    LITERATURE = "literature"
    LAB = "lab"
    SIMULATION = "simulation"
    REPLAY = "replay"


class Campaign(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = Field(index=True)
    status: str = Field(default=CampaignStatus.CREATED.value, index=True)
    config: dict = _json()
    iterations_planned: int = 0
    iterations_done: int = 0
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    finished_at: Optional[datetime] = _ts_optional()
    prefect_flow_run_id: Optional[str] = None
    summary: dict = _json()
    lab_seen_outcome_id: int = Field(
        default=0, sa_column_kwargs={"server_default": "0"},
        description="last lab outcome id the campaign has been told about (db.lab.pending_lab_results)",
    )
    campaign_file: Optional[dict] = Field(
        default=None, sa_column=Column(JSON, nullable=True),
        description="the campaign file it was started from: name, path, sha256, exact text, parsed document",
    )


class Composition(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    canonical: str = Field(unique=True, index=True, description="Al5Cu50Zr45: sorted elements, at.%")
    system: str = Field(index=True, description="Chemical system, e.g. Al-Cu-Zr")
    n_components: int
    fractions: dict = _json()


class Dataset(SQLModel, table=True):
    """One imported file: what it was, its hash (re-imports are recognised) and its citation."""

    id: Optional[int] = Field(default=None, primary_key=True)
    name: str
    sha256: str = Field(unique=True, index=True)
    path: str
    rows: int
    citation: Optional[str] = None
    imported_at: datetime = _ts()


class ModelVersion(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    kind: str = Field(index=True, description="e.g. gfa-svm, gfa-ensemble, modulus-ensemble")
    created_at: datetime = _ts()
    hyperparameters: dict = _json()
    metrics: dict = _json()
    train_size: int
    train_hash: str = Field(description="sha256 of the training set (compositions, routes, labels)")
    artifact: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    artifact_sha256: str
    environment: dict = _json()
    campaign_id: Optional[int] = Field(default=None, foreign_key="campaign.id", index=True)
    iteration: Optional[int] = None
    # lineage (db.registry): the version this one was refitted from, why (which new
    # measurements), and its training set by source
    parent_id: Optional[int] = Field(default=None, index=True)  # a ModelVersion.id
    trigger: Optional[dict] = Field(default=None, sa_column=Column(JSON, nullable=True))
    training_set: Optional[dict] = Field(default=None, sa_column=Column(JSON, nullable=True))


class Proposal(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("campaign_id", "composition_id", name="uq_proposal_campaign_composition"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    iteration: int
    rank: int
    composition_id: int = Field(foreign_key="composition.id", index=True)
    processing: str
    p_gfa: float = Field(description="Signed distance to the SVM hyperplane (Sun 2017)")
    glass_probability: Optional[float] = None
    uncertainty: Optional[float] = None
    modulus_gpa: Optional[float] = None
    modulus_uncertainty_gpa: Optional[float] = None
    acquisition: Optional[float] = None
    predictions: Optional[dict] = Field(
        default=None, sa_column=Column(JSON, nullable=True),
        description="each objective's predicted property {name: {mean, std}} and p_feasible (constraints)",
    )
    destination: str = Field(description="job kind the proposal was sent to")
    model_version_id: int = Field(foreign_key="modelversion.id", index=True)
    created_at: datetime = _ts()


class Job(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    kind: str = Field(index=True)
    status: str = Field(default=JobStatus.QUEUED.value, index=True)
    campaign_id: Optional[int] = Field(default=None, foreign_key="campaign.id", index=True)
    proposal_id: Optional[int] = Field(default=None, foreign_key="proposal.id", index=True)
    composition_id: int = Field(foreign_key="composition.id", index=True)
    processing: str
    attempts: int = 0
    max_attempts: int = 3
    failure_kind: Optional[str] = None
    error: Optional[str] = None
    payload: dict = _json()
    created_at: datetime = _ts()
    started_at: Optional[datetime] = _ts_optional()
    finished_at: Optional[datetime] = _ts_optional()
    # experiment jobs (db.lab): when the job entered the lab queue (NULL = held back by the
    # night's budget or an approval), who claimed it, and the approval it waited for
    released_at: Optional[datetime] = Field(default=None, sa_type=DateTime(timezone=True), index=True)
    claimed_by: Optional[str] = None
    approval_id: Optional[int] = Field(default=None, foreign_key="operatorapproval.id", index=True)


class Outcome(SQLModel, table=True):
    """A result: a literature record, a replayed record, a lab report or a simulation.

    Append-only: a correction is a new row with ``supersedes_id`` pointing at the old one
    (which then has ``is_current = False``). A job has at most one outcome per revision,
    which makes ingestion idempotent.
    """

    __table_args__ = (
        UniqueConstraint("job_id", "revision", name="uq_outcome_job_revision"),
        UniqueConstraint("sample_id", "revision", name="uq_outcome_sample_revision"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    composition_id: int = Field(foreign_key="composition.id", index=True)
    job_id: Optional[int] = Field(default=None, foreign_key="job.id", index=True)
    sample_id: Optional[str] = Field(default=None, index=True, description="the lab's own sample label")
    result: str = Field(description="amorphous | partially crystalline | crystalline | synthesis failed")
    glass_label: Optional[int] = Field(default=None, description="1 glass, 0 not, NULL no label")
    processing: str
    source: str = Field(index=True)
    fidelity: str = Field(default="experiment", description="experiment | md")
    reporter: Optional[str] = None
    provenance: dict = _json()
    dataset_id: Optional[int] = Field(default=None, foreign_key="dataset.id", index=True)
    notes: Optional[str] = None
    revision: int = 1
    supersedes_id: Optional[int] = Field(default=None, foreign_key="outcome.id")
    is_current: bool = Field(default=True, index=True)
    reason: Optional[str] = Field(default=None, description="why this revision was made")
    created_at: datetime = _ts()


class Measurement(SQLModel, table=True):
    """A measured (or simulated) property of an outcome, with its unit."""

    id: Optional[int] = Field(default=None, primary_key=True)
    outcome_id: int = Field(foreign_key="outcome.id", index=True)
    quantity: str = Field(description="e.g. Dmax, Tg, Tx, Tl, youngs_modulus, density")
    value: float
    unit: str


class TokenRole(str, Enum):
    """What an API token may do; each role includes the ones before it."""

    REPORTER = "reporter"  # see the queue, claim jobs, report results and corrections
    OPERATOR = "operator"  # + approve or reject batches, start and stop campaigns
    ADMIN = "admin"  # + create, list and revoke tokens

    @property
    def level(self) -> int:
        return list(TokenRole).index(self)


class ApiToken(SQLModel, table=True):
    """An API token. Only ``sha256(secret)`` is stored; the secret is shown once, at creation."""

    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = Field(index=True, description="who holds it, e.g. ada")
    role: str
    token_hash: str = Field(unique=True, index=True, description="sha256 hex digest of the secret")
    prefix: str = Field(description="first characters of the secret, to recognise it in listings")
    created_at: datetime = _ts()
    created_by: Optional[str] = None
    revoked_at: Optional[datetime] = _ts_optional()
    last_used_at: Optional[datetime] = _ts_optional()


class ApprovalStatus(str, Enum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class OperatorApproval(SQLModel, table=True):
    """A batch of experiment jobs waiting for (or given) an operator's go before the lab sees it."""

    id: Optional[int] = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    status: str = Field(default=ApprovalStatus.PENDING.value, index=True)
    n_jobs: int = 0
    requested_at: datetime = _ts()
    decided_at: Optional[datetime] = _ts_optional()
    decided_by: Optional[str] = None
    note: Optional[str] = None
