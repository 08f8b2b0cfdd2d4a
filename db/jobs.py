"""Jobs and their state machine: claimed by a worker, answered once, settled, re-queued.

Agents decide what to run; this module records it. A worker's answer becomes at most
one outcome per job (:func:`record_job_outcome` is idempotent), however often it is
delivered; a job that died is re-queued until its attempts run out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from sqlalchemy import func, select
from sqlmodel import Session

from db.measurements import convert_measurement
from db.models import Campaign, FailureKind, Job, JobKind, JobStatus, Measurement, Outcome, OutcomeSource, utcnow
from discovery.vocabulary import SynthesisResult


def settle_reported_job(session: Session, job: Job, result: SynthesisResult, outcome: Outcome, now, *, correction: bool = False) -> None:
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


def claim_jobs(session: Session, campaign: Campaign, kind: str) -> list[dict]:
    """Mark the campaign's queued jobs of ``kind`` running and return worker payloads.

    Jobs already marked running belong to a run that died (one flow run drives a
    campaign at a time), so they are re-attached: submitted again, and their answer is
    ingested once because ingestion is idempotent per job.
    """
    jobs = session.exec(
        select(Job)
        .where(
            Job.campaign_id == campaign.id,
            Job.kind == kind,
            Job.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value]),
        )
        .order_by(Job.id)
    ).scalars().all()
    payloads = []
    for job in jobs:
        job.status = JobStatus.RUNNING.value
        job.attempts += 1
        job.started_at = utcnow()
        session.add(job)
        comp = job.composition_id
        payloads.append({"job_id": job.id, "composition_id": comp, "processing": job.processing})
    session.flush()
    from db.models import Composition as CompositionRow

    names = {
        row.id: row.canonical
        for row in session.exec(select(CompositionRow).where(CompositionRow.id.in_([p["composition_id"] for p in payloads]))).scalars()
    }
    for p in payloads:
        p["canonical"] = names[p["composition_id"]]
    return payloads



@dataclass
class IngestSummary:
    succeeded: int = 0
    glasses: int = 0
    no_data: int = 0
    failed: int = 0



def ingest_replay_results(session: Session, results: list[dict], oracle_name: str) -> IngestSummary:
    summary = IngestSummary()
    for res in results:
        job = session.get(Job, res["job_id"])
        if job is None or job.status in (JobStatus.SUCCEEDED.value, JobStatus.CANCELLED.value):
            continue  # already ingested (a duplicate delivery): never two outcomes
        job.finished_at = utcnow()
        if res.get("error"):
            job.status = JobStatus.QUEUED.value if job.attempts < job.max_attempts else JobStatus.FAILED.value
            job.failure_kind = FailureKind.WORKER_DIED.value if res.get("worker_died") else FailureKind.ERROR.value
            job.error = str(res["error"])[:2000]
            summary.failed += 1
        elif res["result"] is None:
            job.status = JobStatus.FAILED.value
            job.failure_kind = FailureKind.NO_DATA.value
            job.error = f"{oracle_name} has no record of {res['canonical']}"
            summary.no_data += 1
        else:
            result = SynthesisResult(res["result"])
            record_job_outcome(
                session, job, result=result, source=OutcomeSource.REPLAY.value, provenance=res.get("provenance", {})
            )
            job.status = JobStatus.SUCCEEDED.value
            summary.succeeded += 1
            summary.glasses += int(result.glass_label == 1)
        session.add(job)
    session.flush()
    return summary



# Simulated quantities stored as Measurements of an MD outcome (quantity, result key, unit).
MD_MEASUREMENTS = (
    ("youngs_modulus", "youngs_modulus_GPa", "GPa"),
    ("shear_modulus", "shear_modulus_GPa", "GPa"),
    ("bulk_modulus", "bulk_modulus_GPa", "GPa"),
    ("density", "density_g_cm3", "g/cm3"),
    ("Tg", "glass_transition_K", "K"),
    ("icosahedral_fraction", "icosahedral_fraction", "fraction"),
    ("mean_softness", "mean_softness", "1"),
    ("fraction_soft", "fraction_soft", "fraction"),
    ("motif_1_share", "motif_1_share", "fraction"),
    ("motif_2_share", "motif_2_share", "fraction"),
    ("motif_3_share", "motif_3_share", "fraction"),
)



def ingest_simulation_results(session: Session, results: list[dict]) -> IngestSummary:
    """Store MD results once per job. A simulated glass carries no GFA label (any melt
    quenched at 1e12 K/s vitrifies in MD); its moduli and structure are fidelity-"md" data.
    A crash is a feasibility signal; "not simulable" is final; a dead worker is re-queued."""
    summary = IngestSummary()
    for res in results:
        job = session.get(Job, res["job_id"])
        if job is None or job.status in (JobStatus.SUCCEEDED.value, JobStatus.CANCELLED.value):
            continue
        job.finished_at = utcnow()
        status = res.get("status")
        if status == "succeeded":
            measurements = []
            for quantity, key, unit in MD_MEASUREMENTS:
                if res.get(key) is not None:
                    measurements.append((quantity, *convert_measurement(quantity, res[key], unit)))
            provenance = {
                "potential": res.get("potential"), "protocol": res.get("protocol"), "settings": res.get("settings"),
                "lammps": res.get("provenance", {}).get("lammps_package_version"),
                "seed": (res.get("settings") or {}).get("seed"), "wall_time_s": res.get("wall_time_s"),
                "warnings": res.get("warnings"), "worker_pid": res.get("worker_pid"),
                "structure_artifact": res.get("structure_artifact"),
            }
            record_job_outcome(session, job, result=SynthesisResult.AMORPHOUS, source=OutcomeSource.SIMULATION.value,
                               provenance=provenance, fidelity="md", measurements=measurements, labelled=False)
            job.status = JobStatus.SUCCEEDED.value
            summary.succeeded += 1
        elif status == "not simulable":
            job.status = JobStatus.FAILED.value
            job.failure_kind = FailureKind.NOT_SIMULABLE.value
            job.error = res.get("reason")
            summary.failed += 1
        else:
            died = bool(res.get("worker_died"))
            job.failure_kind = (FailureKind.WORKER_DIED if died else FailureKind.SIMULATION_CRASHED).value
            job.error = str(res.get("reason"))[:2000]
            job.status = JobStatus.QUEUED.value if died and job.attempts < job.max_attempts else JobStatus.FAILED.value
            summary.failed += 1
        session.add(job)
    session.flush()
    return summary


def finished_simulations(session: Session) -> tuple[list, list[bool]]:
    """Compositions of every finished simulation job and whether it crashed (succeeded or
    crashed only: "not simulable" and dead workers say nothing about the composition)."""
    from db.models import Composition as CompositionRow
    from discovery.composition import Composition

    rows = session.exec(
        select(CompositionRow.fractions, Job.status, Job.failure_kind)
        .join(Job, Job.composition_id == CompositionRow.id)
        .where(Job.kind == JobKind.SIMULATION.value, Job.status.in_([JobStatus.SUCCEEDED.value, JobStatus.FAILED.value]))
    ).all()
    rows = [r for r in rows if r[2] in (None, FailureKind.SIMULATION_CRASHED.value)]
    return ([Composition.from_fractions(r[0]) for r in rows],
            [r[2] == FailureKind.SIMULATION_CRASHED.value for r in rows])


def queue_jobs(session: Session, proposals, *, processing: str, payload: dict | None = None) -> list[Job]:
    """One queued job per proposal, to the proposal's destination (replay, lab, simulation)."""
    jobs = [Job(kind=JobKind(p.destination).value, campaign_id=p.campaign_id, proposal_id=p.id,
                composition_id=p.composition_id, processing=processing, payload=payload) for p in proposals]
    session.add_all(jobs)
    session.flush()
    return jobs
