"""Read-only views for ``vitrify status``, plots and the intake page (safe while a campaign runs)."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select
from sqlmodel import Session

from db.models import Campaign, Composition, Job, ModelVersion, Outcome, Proposal


def _fmt(ts) -> str | None:
    return ts.strftime("%Y-%m-%d %H:%M") if ts else None


def campaign_overview(session: Session) -> list[dict]:
    proposals = dict(session.exec(select(Proposal.campaign_id, func.count()).group_by(Proposal.campaign_id)).all())
    glasses = dict(
        session.exec(
            select(Job.campaign_id, func.count())
            .join(Outcome, Outcome.job_id == Job.id)
            .where(Outcome.glass_label == 1, Outcome.is_current == True)  # noqa: E712
            .group_by(Job.campaign_id)
        ).all()
    )
    out = []
    for c in session.exec(select(Campaign).order_by(Campaign.id)).scalars():
        out.append(
            {
                "id": c.id,
                "name": c.name,
                "status": c.status,
                "iterations_done": c.iterations_done,
                "iterations_planned": c.iterations_planned,
                "proposals": proposals.get(c.id, 0),
                "glasses": glasses.get(c.id, 0),
                "created_at": _fmt(c.created_at),
                "finished_at": _fmt(c.finished_at),
            }
        )
    return out


def job_counts(session: Session) -> Counter:
    rows = session.exec(select(Job.kind, Job.status, func.count()).group_by(Job.kind, Job.status)).all()
    return Counter({(kind, status): n for kind, status, n in rows})


def latest_models(session: Session, limit: int = 3) -> list[dict]:
    rows = session.exec(
        select(ModelVersion.id, ModelVersion.kind, ModelVersion.campaign_id, ModelVersion.iteration,
               ModelVersion.train_size, ModelVersion.metrics, ModelVersion.created_at)
        .order_by(ModelVersion.id.desc())
        .limit(limit)
    ).all()
    return [
        {"id": r[0], "kind": r[1], "campaign_id": r[2], "iteration": r[3], "train_size": r[4], "metrics": r[5] or {},
         "created_at": _fmt(r[6])}
        for r in rows
    ]


def best_candidates(session: Session, limit: int = 10, campaign_id: int | None = None) -> list[dict]:
    """Proposals ranked by P_GFA, with their outcome when one has arrived."""
    query = (
        select(Proposal, Composition.canonical, Outcome.result)
        .join(Composition, Proposal.composition_id == Composition.id)
        .outerjoin(Job, Job.proposal_id == Proposal.id)
        .outerjoin(Outcome, (Outcome.job_id == Job.id) & (Outcome.is_current == True))  # noqa: E712
        .order_by(Proposal.p_gfa.desc())
        .limit(limit)
    )
    if campaign_id is not None:
        query = query.where(Proposal.campaign_id == campaign_id)
    return [
        {
            "composition": canonical,
            "campaign_id": p.campaign_id,
            "iteration": p.iteration,
            "p_gfa": p.p_gfa,
            "glass_probability": p.glass_probability,
            "uncertainty": p.uncertainty,
            "outcome": result,
        }
        for p, canonical, result in session.exec(query).all()
    ]


def campaign_discovery_counts(session: Session, campaign_id: int) -> list[int]:
    """Cumulative glasses found after each pick, in the order the campaign picked."""
    rows = session.exec(
        select(Proposal.iteration, Proposal.rank, Outcome.glass_label)
        .outerjoin(Job, Job.proposal_id == Proposal.id)
        .outerjoin(Outcome, (Outcome.job_id == Job.id) & (Outcome.is_current == True))  # noqa: E712
        .where(Proposal.campaign_id == campaign_id)
        .order_by(Proposal.iteration, Proposal.rank)
    ).all()
    counts, total = [], 0
    for _, _, label in rows:
        total += int(label == 1)
        counts.append(total)
    return counts
