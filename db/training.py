"""The crossing from outcomes to training data, and what a campaign has already covered."""

from __future__ import annotations

import threading

from sqlalchemy import func, or_, select
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
    return _labelled_rows(session, campaign_id, frozenset(exclude_literature_systems))[1]


def _labelled_rows(session: Session, campaign_id: int | None, exclude: frozenset[str], after_id: int = 0):
    """(outcome ids, LabelledSet) of the visible labelled outcomes with id > ``after_id``."""
    columns = (Outcome.id, CompositionRow.fractions, Outcome.processing, Outcome.glass_label, Outcome.source)
    query = _visible_outcomes(campaign_id, exclude, *columns).where(Outcome.glass_label.is_not(None), Outcome.id > after_id)
    ids, comps, routes, labels, sources = [], [], [], [], []
    groups: dict[str, str] = {}
    for outcome_id, fractions, processing, label, source in session.exec(query.order_by(Outcome.id)).all():
        if processing not in groups:
            groups[processing] = ProcessingRoute(processing).model_group
        ids.append(outcome_id)
        comps.append(Composition.from_fractions(fractions))
        routes.append(groups[processing])
        labels.append(label)
        sources.append(source)
    return ids, LabelledSet(comps, routes, labels, sources)


def measured_values(
    session: Session,
    quantities,
    *,
    campaign_id: int | None = None,
    exclude_literature_systems: frozenset[str] | set[str] = frozenset(),
    fidelity: str = "experiment",
) -> tuple[dict[str, dict[str, float]], dict[str, str]]:
    """Measured properties the property models learn from: ``{quantity: {canonical: value}}``
    (median over the current outcomes that report it) and the sources behind each composition.

    Only ``fidelity`` measurements (experiments by default: MD values enter through the
    MD-vs-measurement correction, never as if they were measured) of outcomes the campaign
    may see (the same visibility as its labelled set).
    """
    import statistics

    from db.models import Measurement

    query = (
        _visible_outcomes(campaign_id, frozenset(exclude_literature_systems), Measurement.quantity,
                          CompositionRow.canonical, Measurement.value, Outcome.source)
        .join(Measurement, Measurement.outcome_id == Outcome.id)
        .where(Measurement.quantity.in_(list(quantities)), Outcome.fidelity == fidelity)
    )
    collected: dict[str, dict[str, list[float]]] = {}
    sources: dict[str, set[str]] = {}
    for quantity, canonical, value, source in session.exec(query).all():
        collected.setdefault(quantity, {}).setdefault(canonical, []).append(float(value))
        sources.setdefault(canonical, set()).add(source)
    values = {q: {c: statistics.median(v) for c, v in by.items()} for q, by in collected.items()}
    for q in quantities:
        values.setdefault(q, {})
    return values, {c: "+".join(sorted(s)) for c, s in sources.items()}


class TrainingSetCache:
    """``labelled_set`` for a campaign that retrains after every batch, reading only the
    outcomes added since the last call.

    The cached rows are reused only if the database's visible labelled outcomes are exactly
    those rows plus the new ones: same count and same sum of outcome ids. Anything else (a
    revised report hides its old outcome, a row committed late with a lower id, another
    database) changes one of the two, and the set is read again in full.
    """

    def __init__(self) -> None:
        self._entries: dict[tuple, tuple[int, int, int, LabelledSet]] = {}  # key -> (n, id sum, max id, data)
        self._lock = threading.Lock()

    def labelled_set(self, session: Session, *, campaign_id: int | None,
                     exclude_literature_systems: frozenset[str] | set[str] = frozenset()) -> LabelledSet:
        exclude = frozenset(exclude_literature_systems)
        key = (session.get_bind().url.render_as_string(hide_password=True), campaign_id, exclude)
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None:
            n, id_sum, max_id, cached = entry
            ids, new = _labelled_rows(session, campaign_id, exclude, after_id=max_id)
            total, total_sum = session.exec(
                _visible_outcomes(campaign_id, exclude, func.count(Outcome.id), func.coalesce(func.sum(Outcome.id), 0))
                .where(Outcome.glass_label.is_not(None))
            ).one()
            if total == n + len(ids) and int(total_sum) == id_sum + sum(ids):
                data = cached.concat(new) if ids else cached
                self._store(key, total, int(total_sum), max([max_id, *ids]), data)
                return data
        ids, data = _labelled_rows(session, campaign_id, exclude)
        self._store(key, len(ids), sum(ids), max(ids, default=0), data)
        return data

    def _store(self, key, n: int, id_sum: int, max_id: int, data: LabelledSet) -> None:
        with self._lock:
            self._entries[key] = (n, id_sum, max_id, data)


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


def md_results(session: Session) -> tuple[dict, dict]:
    """Per simulated composition: MD moduli (E, G, K in GPa) and structure descriptors."""
    from db.models import Composition as CompositionRow
    from db.models import Measurement

    rows = session.exec(
        select(CompositionRow.canonical, Measurement.quantity, Measurement.value)
        .join(Outcome, Outcome.composition_id == CompositionRow.id)
        .join(Measurement, Measurement.outcome_id == Outcome.id)
        .where(Outcome.fidelity == "md", Outcome.is_current == True)  # noqa: E712
    ).all()
    moduli = {"youngs_modulus": "E", "shear_modulus": "G", "bulk_modulus": "K"}
    structure = {"icosahedral_fraction": "icosahedral_fraction", "Tg": "Tg_md", "density": "density_md",
                 "mean_softness": "mean_softness", "fraction_soft": "fraction_soft",
                 "motif_1_share": "motif_1_share", "motif_2_share": "motif_2_share", "motif_3_share": "motif_3_share"}
    md_values: dict[str, dict] = {}
    descriptors: dict[str, dict] = {}
    for canonical, quantity, value in rows:
        if quantity in moduli:
            md_values.setdefault(canonical, {})[moduli[quantity]] = value
        if quantity in structure:
            descriptors.setdefault(canonical, {})[structure[quantity]] = value
    return md_values, descriptors
