"""The crossing from outcomes to training data, and what a campaign has already covered."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlmodel import Session

from db.models import Composition as CompositionRow
from db.models import Job, JobStatus, Outcome, OutcomeSource, Proposal
from discovery.composition import Composition
from discovery.dataset import LabelledSet
from discovery.vocabulary import ProcessingRoute


def _visible_outcomes(campaign_id: int | None, exclude_literature_systems: frozenset[str], *columns):
    """Current, labelled outcomes a campaign may learn from (the given columns of them).

    Replay outcomes are answers inside one campaign's after-the-fact experiment, so a
    campaign sees only its own; literature rows of systems a replay holds out are hidden.
    Columns, not ORM objects: a campaign reads thousands of rows every iteration.
    """
    query = (
        select(*columns)
        .select_from(Outcome)
        .join(CompositionRow, Outcome.composition_id == CompositionRow.id)
        .outerjoin(Job, Outcome.job_id == Job.id)
        .where(Outcome.is_current == True)  # noqa: E712
    )
    replay_ok = Job.campaign_id == campaign_id if campaign_id is not None else False
    query = query.where(or_(Outcome.source != OutcomeSource.REPLAY.value, replay_ok))
    if exclude_literature_systems:
        query = query.where(
            or_(Outcome.source != OutcomeSource.LITERATURE.value, CompositionRow.system.not_in(sorted(exclude_literature_systems)))
        )
    return query


def labelled_set(
    session: Session,
    *,
    campaign_id: int | None = None,
    exclude_literature_systems: frozenset[str] | set[str] = frozenset(),
) -> LabelledSet:
    """Every current outcome with a glass label (synthesis failures carry none)."""
    columns = (CompositionRow.fractions, Outcome.processing, Outcome.glass_label, Outcome.source)
    query = _visible_outcomes(campaign_id, frozenset(exclude_literature_systems), *columns)
    comps, routes, labels, sources = [], [], [], []
    groups: dict[str, str] = {}
    for fractions, processing, label, source in session.exec(query.where(Outcome.glass_label.is_not(None)).order_by(Outcome.id)).all():
        comps.append(Composition.from_fractions(fractions))
        if processing not in groups:
            groups[processing] = ProcessingRoute(processing).model_group
        routes.append(groups[processing])
        labels.append(label)
        sources.append(source)
    return LabelledSet(comps, routes, labels, sources)


def covered_compositions(
    session: Session,
    campaign_id: int,
    *,
    exclude_literature_systems: frozenset[str] | set[str] = frozenset(),
) -> set[str]:
    """Canonical names a campaign must not propose again: measured (visibly), pending or proposed."""
    measured = set(
        session.exec(_visible_outcomes(campaign_id, frozenset(exclude_literature_systems), CompositionRow.canonical)).scalars()
    )
    pending = set(
        session.exec(
            select(CompositionRow.canonical)
            .join(Job, Job.composition_id == CompositionRow.id)
            .where(Job.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value, JobStatus.AWAITING_APPROVAL.value]))
        ).scalars()
    )
    proposed = set(
        session.exec(
            select(CompositionRow.canonical)
            .join(Proposal, Proposal.composition_id == CompositionRow.id)
            .where(Proposal.campaign_id == campaign_id)
        ).scalars()
    )
    return measured | pending | proposed
