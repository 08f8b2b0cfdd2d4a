"""The steps of a campaign iteration as plain functions (the Prefect flow only wires them).

create_campaign -> retrain -> [propose -> queue jobs -> run jobs -> ingest -> retrain] x N
"""

from __future__ import annotations

import time

import numpy as np
from sqlmodel import Session

from agents.config import CampaignConfig, campaign_config
from agents.proposer import propose_batch
from agents.retrain import visible_labelled
from db.campaigns import CampaignError, get_campaign, glass_found, insert_campaign, proposals_made, reopen_campaign
from db.compositions import get_or_create_compositions
from db.jobs import queue_jobs
from db.models import Campaign, CampaignStatus, JobKind, ModelVersion, Proposal, utcnow
from db.queries import canonical_names
from db.registry import latest_model_version, load_model
from db.training import covered_compositions
from discovery.models import GlassFormingModel
from discovery.vocabulary import ProcessingRoute


def create_campaign(session: Session, config: CampaignConfig, campaign_file: dict | None = None) -> Campaign:
    """A new campaign row; ``campaign_file`` is the document it was started from (see
    agents.campaign_file.CampaignFile.stored), kept with it verbatim."""
    return insert_campaign(session, name=config.name, config=config.model_dump(mode="json"),
                           iterations_planned=config.iterations, campaign_file=campaign_file)


def extend_campaign(session: Session, campaign_id: int, iterations: int) -> Campaign:
    """Plan ``iterations`` more iterations for a campaign that is not running; the next
    flow run (``vitrify campaign resume``) continues it from where it ended. A deadline
    (``until``) counts again from now."""
    campaign = get_campaign(session, campaign_id)
    if campaign.status == CampaignStatus.RUNNING.value:
        raise CampaignError(f"campaign {campaign_id} is running; extend it once it has finished or stopped")
    if iterations < 1:
        raise CampaignError("extend by at least one iteration")
    config = campaign_config(campaign)
    updated = config.model_copy(update={"iterations": campaign.iterations_done + iterations, "deadline_anchor": utcnow()})
    updated = CampaignConfig.model_validate(updated.model_dump())  # the bounds still hold
    return reopen_campaign(session, campaign, config=updated.model_dump(mode="json"), iterations_planned=updated.iterations)


def models_to_fit(session: Session, config: CampaignConfig) -> tuple[list[str], list[str]]:
    """The objective properties whose model kind has no registered version, as (lines the
    campaign fits itself at its start, lines it cannot start with). The GFA ensemble is always
    the campaign's own; a property model without a version is fitted by the first retrain on
    the measured values the campaign may see, unless there are too few of them."""
    from agents.retrain import MIN_PROPERTY_ROWS, property_training_data
    from discovery.properties import property_spec

    fitted, missing, seen = [], [], set()
    for objective in config.objective_list():
        spec = property_spec(objective.name)
        if spec.model_kind in seen or spec.model_kind == "gfa-ensemble" \
                or latest_model_version(session, kind=spec.model_kind) is not None:
            continue
        seen.add(spec.model_kind)  # one model per kind (E, G and K are one modulus ensemble)
        n = len(property_training_data(session, config, spec.model_kind))
        head = f"{objective.name} ({spec.label}): no {spec.model_kind} model is registered yet"
        if n >= MIN_PROPERTY_ROWS:
            fitted.append(f"{head}; the campaign fits one on {n:,} measured compositions at its start")
        else:
            missing.append(f"{head} and {n} measured compositions are too few to fit one "
                           f"(at least {MIN_PROPERTY_ROWS}; `vitrify report` records measured values)")
    return fitted, missing


def retrain(session: Session, campaign: Campaign, iteration: int):
    """The campaign's retraining step (agents.retrain): every model whose data changed is
    refitted and registered with its lineage; returns an agents.retrain.RetrainResult."""
    from agents.retrain import retrain_models

    return retrain_models(session, campaign, iteration)


def current_model(session: Session, campaign: Campaign) -> tuple[ModelVersion, GlassFormingModel]:
    version = latest_model_version(session, kind=("gfa-ensemble", "gfa-svm"), campaign_id=campaign.id, own_only=True)
    if version is None:
        raise CampaignError(f"campaign {campaign.id} has no trained model yet")
    # property models are model versions of their own: the campaign's newest score beside it
    from agents.retrain import property_model

    model = load_model(version)
    model.with_modulus(property_model(session, campaign.id, "modulus-ensemble"))
    model.with_bulk(property_model(session, campaign.id, "bulk-gfa-ensemble"))
    return version, model


def propose(session: Session, campaign: Campaign, iteration: int, timings: dict | None = None) -> list[Proposal]:
    """Score the space, pick a batch, and record it as Proposals and queued Jobs.

    The batch is split between the campaign's destinations in rank order
    (``CampaignConfig.batch_shares``); MD jobs (``simulation_budget``) come on top.
    ``timings["scoring_seconds"]`` (if given) receives the time spent scoring and selecting,
    the useful work; loading the model and recording the batch are bookkeeping."""
    from discovery.objectives import ObjectiveUnavailable

    timings = {} if timings is None else timings
    timings.setdefault("scoring_seconds", 0.0)
    config = campaign_config(campaign)
    version, model = current_model(session, campaign)
    exclude = covered_compositions(session, campaign.id, exclude_literature_systems=set(config.holdout_systems))
    rng = np.random.default_rng([config.seed, iteration])
    incumbent = _incumbent(session, campaign)
    corrected = campaign_corrected(session, campaign, model)
    context = objective_context(session, campaign, config)
    shares = config.batch_shares()
    total = sum(n for _, n in shares)
    if config.budget is not None:
        total = min(total, max(config.budget - proposals_made(session, campaign.id), 0))
        shares = _cut_shares(shares, total)
    started = time.perf_counter()
    try:
        candidates = propose_batch(
            corrected,
            config.space.build(),
            total,
            exclude=exclude,
            route=ProcessingRoute(config.processing).model_group,
            agent=config.agent.for_batch(iteration, config.iterations),  # iterations are 1-based
            rng=rng,
            incumbent=incumbent,
            samples=config.space.samples,
            **context,
        ) if total else []
    except ObjectiveUnavailable as exc:
        raise CampaignError(f"campaign {campaign.id}: objective {exc}") from None
    timings["scoring_seconds"] += time.perf_counter() - started
    rows = get_or_create_compositions(session, [c.composition for c in candidates])
    kinds = [kind for kind, n in shares for _ in range(n)]
    proposals = []
    for cand, kind in zip(candidates, kinds):
        proposal = _proposal(campaign, iteration, cand.rank, rows[cand.canonical].id, cand, kind, version.id)
        session.add(proposal)
        proposals.append(proposal)
    session.flush()
    queue_jobs(session, proposals, processing=config.processing)
    if config.simulation_budget:
        proposals += _propose_simulations(session, campaign, iteration, model, version, exclude | {c.canonical for c in candidates},
                                          rng, incumbent, timings, context)
    return proposals


def _cut_shares(shares: list[tuple[str, int]], total: int) -> list[tuple[str, int]]:
    """The shares, in rank order, cut so they add up to ``total``."""
    out = []
    for kind, n in shares:
        take = min(n, total)
        out.append((kind, take))
        total -= take
    return out


def objective_context(session: Session, campaign: Campaign, config: CampaignConfig | None = None) -> dict:
    """What the acquisition needs beyond the model: the objectives, the campaign's results
    as points in objective space (the observed Pareto front) and each goal's best measured
    value (the EI/PI incumbent of a single goal other than P(glass))."""
    from db.queries import campaign_observations

    config = config or campaign_config(campaign)
    objectives = [o.objective() for o in config.objective_list()]
    goals = [o for o in objectives if o.goal is not None]
    if len(goals) == 1 and goals[0].name == "glass" and goals[0].goal == "maximize":
        return {"objectives": objectives}  # today's acquisition: the incumbent is all it needs
    points = campaign_observations(session, campaign.id, [g.name for g in goals])
    observed = np.array([[np.nan if p["values"][g.name] is None else p["values"][g.name] for g in goals] for p in points],
                        dtype=float).reshape(-1, len(goals))
    best = {}
    for j, g in enumerate(goals):
        measured = np.array([p["values"][g.name] for p in points if p["measured"][g.name]], dtype=float)
        if measured.size:
            best[g.name] = float(measured.max() if g.goal == "maximize" else measured.min())
    return {"objectives": objectives, "observed": observed if len(goals) == 2 else None, "best_observed": best}


def campaign_corrected(session: Session, campaign: Campaign, model):
    """The model with its P(glass) corrected by this campaign's own results next to each
    candidate (agents.proposer.CampaignCorrectedModel), as in the replay benchmark."""
    from agents.proposer import CampaignCorrectedModel
    from discovery.shift import LITERATURE

    # the cached set retrain just read (no featurizability pass over the literature: only
    # the campaign's own few rows are used)
    data = visible_labelled(session, campaign)
    own = np.flatnonzero(np.asarray(data.sources, dtype=object) != LITERATURE) if len(data) else np.zeros(0, int)
    if own.size == 0:
        return model
    results = data.subset(own)
    return CampaignCorrectedModel(model, results.matrix(), results.labels)


def _proposal(campaign: Campaign, iteration: int, rank: int, composition_id: int, cand, destination: str,
              model_version_id: int) -> Proposal:
    predictions = dict(cand.predictions) if cand.predictions else {}
    if cand.p_feasible is not None:
        predictions["p_feasible"] = cand.p_feasible
    return Proposal(
        campaign_id=campaign.id, iteration=iteration, rank=rank, composition_id=composition_id,
        processing=campaign_config(campaign).processing, p_gfa=cand.p_gfa, glass_probability=cand.glass_probability,
        uncertainty=cand.uncertainty, modulus_gpa=cand.modulus_gpa, modulus_uncertainty_gpa=cand.modulus_uncertainty_gpa,
        acquisition=cand.acquisition, predictions=predictions or None, destination=destination,
        model_version_id=model_version_id,
    )


def _propose_simulations(session, campaign, iteration, model, version, exclude, rng, incumbent, timings,
                         context) -> list[Proposal]:
    """Per candidate, simulate or not: the most promising candidates (by the campaign's
    objectives) that an interatomic potential covers go to MD (its moduli and structure),
    ranked by acquisition times the learned probability that the simulation runs at all
    (crashes are a feasibility signal)."""
    from agents.simulation.potentials import select_potential
    from discovery.acquisition import feasibility_weighted
    from discovery.objectives import ObjectiveUnavailable

    config = campaign_config(campaign)
    started = time.perf_counter()
    try:
        shortlist = propose_batch(
            model, config.space.build(), max(20, 5 * config.simulation_budget), exclude=exclude,
            route=ProcessingRoute(config.processing).model_group, agent=config.agent, rng=rng, incumbent=incumbent,
            samples=config.space.samples, **context,
        )
    except ObjectiveUnavailable as exc:
        raise CampaignError(f"campaign {campaign.id}: objective {exc}") from None
    timings["scoring_seconds"] += time.perf_counter() - started
    shortlist = [c for c in shortlist if select_potential(c.composition) is not None]
    if not shortlist:
        return []
    feasible = simulation_feasibility(session, [c.composition for c in shortlist])
    ranked = np.argsort(-feasibility_weighted(np.array([c.acquisition for c in shortlist]), feasible))
    chosen = [shortlist[i] for i in ranked[: config.simulation_budget]]
    rows = get_or_create_compositions(session, [c.composition for c in chosen])
    settings = config.simulation_settings().to_dict()
    out = []
    for rank, cand in enumerate(chosen):
        proposal = _proposal(campaign, iteration, config.batch_size + rank, rows[cand.canonical].id, cand,
                             JobKind.SIMULATION.value, version.id)
        session.add(proposal)
        out.append(proposal)
    session.flush()
    queue_jobs(session, out, processing=ProcessingRoute.OTHER.value, payload={"settings": settings})
    return out


def simulation_feasibility(session: Session, compositions: list) -> np.ndarray:
    """P(simulation runs to the end) from every finished simulation job (crashed vs succeeded)."""
    from db.jobs import finished_simulations
    from discovery.composition import CompositionMatrix
    from discovery.feasibility import FeasibilityModel

    seen, crashed = finished_simulations(session)
    if not seen:
        return np.ones(len(compositions))  # nothing simulated yet: no evidence of infeasibility
    model = FeasibilityModel().fit(CompositionMatrix.from_compositions(seen), np.array(crashed))
    return model.predict_feasible(CompositionMatrix.from_compositions(compositions))


def _incumbent(session: Session, campaign: Campaign) -> float:
    """Best glass probability reached so far: 1 once a glass is found (the EI/PI reference)."""
    return 1.0 if glass_found(session, campaign.id) else 0.5


def batch_table(session: Session, proposals: list[Proposal], config: CampaignConfig) -> list[dict]:
    """The batch as table rows: composition, the GFA model's scores, each objective's
    predicted property (mean and spread), the probability of meeting each constraint, the
    acquisition value and where the composition was sent."""
    from db.queries import proposal_prediction
    from discovery.acquisition import probability_within

    objectives = [o.objective() for o in config.objective_list()]
    extra = [n for n in dict.fromkeys(o.name for o in objectives) if n not in ("glass", "p_gfa")]
    constraints = [o for o in objectives if o.is_constraint]
    names = canonical_names(session, {p.composition_id for p in proposals})

    def rounded(x, digits):
        return None if x is None else round(float(x), digits)

    rows = []
    for p in proposals:
        row = {
            "composition": names.get(p.composition_id),
            "P_GFA": round(p.p_gfa, 3),
            "P(glass)": rounded(p.glass_probability, 3),
            "uncertainty": rounded(p.uncertainty, 3),
        }
        if "youngs_modulus_gpa" not in extra:
            row["modulus_GPa"] = rounded(p.modulus_gpa, 1)
        for name in extra:
            mean, std = proposal_prediction(p, name)
            row[name] = rounded(mean, 3 if abs(mean or 0) < 10 else 1)
            row[f"{name} std"] = rounded(std, 3 if abs(std or 0) < 10 else 1)
        for c in constraints:
            mean, std = proposal_prediction(p, c.name)
            prob = probability_within(np.array([np.nan if mean is None else mean]), np.array([std or 0.0]),
                                      c.at_least, c.at_most)[0]
            row[f"P({c.constraint_text})"] = round(float(prob), 3)
        row["acquisition"] = rounded(p.acquisition, 4)
        row["sent_to"] = p.destination
        rows.append(row)
    return rows
