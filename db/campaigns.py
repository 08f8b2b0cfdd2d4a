"""Campaign rows and their state: created, running, stopped, finished; what each iteration proposed.

Agents decide (what a campaign's configuration is, when it stops); flows sequence the
iterations; this module records the state they reach, so a campaign's status is set in one
place whoever changes it (the campaign flow, an operator's stop, ``campaign extend``).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlmodel import Session

from db.models import Campaign, CampaignStatus, Job, JobKind, Outcome, Proposal, utcnow
from vitrify.errors import VitrifyError


class CampaignError(VitrifyError, RuntimeError):
    """A campaign cannot proceed (unknown id, no trained model yet, an objective no model predicts)."""


def insert_campaign(session: Session, *, name: str, config: dict, iterations_planned: int,
                    campaign_file: dict | None = None) -> Campaign:
    """A new campaign row in state ``created``; ``config`` is its validated configuration (JSON)."""
    campaign = Campaign(name=name, status=CampaignStatus.CREATED.value, config=config,
                        iterations_planned=iterations_planned, campaign_file=campaign_file)
    session.add(campaign)
    session.flush()
    return campaign


def get_campaign(session: Session, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise CampaignError(f"no campaign {campaign_id}")
    return campaign


def set_status(session: Session, campaign: Campaign, status: CampaignStatus) -> None:
    campaign.status = status.value
    campaign.updated_at = utcnow()
    session.add(campaign)


def reopen_campaign(session: Session, campaign: Campaign, *, config: dict, iterations_planned: int) -> Campaign:
    """Plan more iterations: the campaign is ``created`` again and the next run continues it."""
    campaign.config = config
    campaign.iterations_planned = iterations_planned
    campaign.finished_at = None
    set_status(session, campaign, CampaignStatus.CREATED)
    session.flush()
    return campaign


def record_iteration_done(session: Session, campaign: Campaign, iteration: int) -> None:
    campaign.iterations_done = max(campaign.iterations_done, iteration)
    campaign.updated_at = utcnow()
    session.add(campaign)


def finish_campaign(session: Session, campaign: Campaign, status: CampaignStatus, summary: dict) -> None:
    campaign.finished_at = utcnow()
    campaign.summary = summary
    set_status(session, campaign, status)


def iteration_proposals(session: Session, campaign_id: int, iteration: int) -> list[Proposal]:
    return list(session.exec(
        select(Proposal).where(Proposal.campaign_id == campaign_id, Proposal.iteration == iteration).order_by(Proposal.rank)
    ).scalars())


def proposals_made(session: Session, campaign_id: int) -> int:
    """Replay and lab proposals the campaign has made (what its ``budget`` counts; MD is extra)."""
    return session.exec(
        select(func.count()).select_from(Proposal)
        .where(Proposal.campaign_id == campaign_id, Proposal.destination != JobKind.SIMULATION.value)
    ).scalar_one()


def glass_found(session: Session, campaign_id: int) -> bool:
    """Has any of the campaign's jobs produced a glass?"""
    return session.exec(
        select(func.count()).select_from(Outcome).join(Job, Outcome.job_id == Job.id)
        .where(Job.campaign_id == campaign_id, Outcome.glass_label == 1)
    ).scalar_one() > 0
