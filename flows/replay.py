"""``vitrify replay``: the campaign itself, run against a table of known outcomes.

A replay is a campaign whose destination is a lookup table (an after-the-fact experiment,
as CAMD's after-the-fact sampler and BayBE's simulate_experiment drive the real campaign):
:func:`run_replay` writes the campaign file a lab would write for it (the pool is the
oracle and, with no space, the candidates), and runs it once per seed through the same
Prefect flow, proposer, model training, hold-out rule (discovery.dataset.held_out_systems)
and agent presets as ``vitrify campaign run`` -- only the worker that answers a job differs.

Each replay runs in its own SQLite database in the output directory (seeded with the
shipped literature), so a benchmark never mixes with a project's campaigns and lab
reports. The pure arithmetic of the result (random and oracle baselines, acceleration and
enhancement factors) lives in discovery.replay_metrics.
"""

from __future__ import annotations

import math
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import numpy as np

from agents.replay import ReplayError, ReplayPool
from agents.replay_result import ReplayResult
from discovery.replay_metrics import batch_picks, curve_from_labels

REPLAY_DATABASE = "replay.db"


def replay_campaign_text(pool_path: Path, *, budget: int, batch: int, agent, seed: int, route: str,
                         name: str) -> str:
    """The campaign file of a replay (what ``vitrify campaign init --replay POOL`` writes, with
    this budget, batch, agent and seed)."""
    import yaml

    document = {
        "name": name,
        "processing": route,
        "objectives": [{"property": "glass", "goal": "maximize"}],
        "agent": agent,
        "batch": batch,
        "budget": budget,
        "destinations": [{"kind": "replay", "oracle": str(Path(pool_path).resolve())}],
        "seed": seed,
    }
    return "# written by `vitrify replay`: the campaign this replay runs\n" + yaml.safe_dump(document, sort_keys=False)


@contextmanager
def _using_database(url: str):
    """Point every step of the flow (they open sessions through the settings) at ``url``."""
    from db.session import get_engine
    from vitrify.settings import reset_settings_cache

    old = os.environ.get("VITRIFY_DATABASE_URL")
    os.environ["VITRIFY_DATABASE_URL"] = url
    reset_settings_cache()
    get_engine.cache_clear()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("VITRIFY_DATABASE_URL", None)
        else:
            os.environ["VITRIFY_DATABASE_URL"] = old
        reset_settings_cache()
        get_engine.cache_clear()


def _picked(session, campaign_id: int) -> list[str]:
    """The campaign's replay picks in the order it made them."""
    from sqlalchemy import select

    from db.models import Composition as CompositionRow
    from db.models import JobKind, Proposal

    rows = session.exec(
        select(CompositionRow.canonical)
        .join(Proposal, Proposal.composition_id == CompositionRow.id)
        .where(Proposal.campaign_id == campaign_id, Proposal.destination == JobKind.REPLAY.value)
        .order_by(Proposal.iteration, Proposal.rank)
    ).scalars().all()
    return list(rows)


def _final_auc(session, campaign, pool: ReplayPool, picked: list[str]) -> tuple[float, dict]:
    """ROC-AUC of the campaign's final model (with its campaign correction) on the pool rows
    never picked, and that model version's identity."""
    from sklearn.metrics import roc_auc_score

    from agents import loop
    from agents.config import campaign_config
    from discovery.vocabulary import ProcessingRoute

    version, model = loop.current_model(session, campaign)
    info = {"kind": version.kind, "version": version.id, "hyperparameters": version.hyperparameters}
    seen = set(picked)
    rest = np.array([i for i, n in enumerate(pool.names) if n not in seen], dtype=int)
    if len(rest) == 0 or len(np.unique(pool.labels[rest])) < 2:
        return math.nan, info
    corrected = loop.campaign_corrected(session, campaign, model)
    config = campaign_config(campaign)
    scores = corrected.score(pool.matrix.take(rest), ProcessingRoute(config.processing).model_group)
    return float(roc_auc_score(pool.labels[rest], scores.glass_probability)), info


def run_replay(pool_path: str | Path, *, budget: int, batch: int, seeds: int = 1, agent="ucb",
               out_dir: str | Path, on_seed: Callable[[dict], None] | None = None,
               first_seed: int = 0) -> ReplayResult:
    """Replay ``agent`` on the pool (seeds first_seed..first_seed+seeds-1), each seed one real
    campaign. ``agent`` is a preset name or, as in a campaign file, ``{"preset": name,
    <setting>: value, ...}``. A seed's replay does not depend on the others, so more seeds can
    be added later with ``first_seed``."""
    from agents import loop
    from agents.campaign_file import CampaignFileError, parse_campaign_text
    from agents.config import AGENT_NAMES
    from db.literature import seed_literature
    from db.migrate import upgrade
    from db.models import Campaign
    from db.session import get_engine, session_scope
    from flows.campaign import campaign_flow

    started = time.perf_counter()
    pool_path = Path(pool_path)
    preset = agent["preset"] if isinstance(agent, dict) else agent
    if preset not in AGENT_NAMES:
        raise ReplayError(f"unknown agent {preset!r}; known: {', '.join(AGENT_NAMES)}")
    if seeds < 1:
        raise ReplayError("seeds must be >= 1")
    if first_seed < 0:
        raise ReplayError("first_seed must be >= 0")
    seed_values = list(range(first_seed, first_seed + seeds))
    pool = ReplayPool.from_csv(pool_path)
    if budget < 1 or batch < 1:
        raise ReplayError(f"budget and batch must be positive, got {budget} and {batch}")
    picks = batch_picks(budget, batch, len(pool))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    db_path = out / REPLAY_DATABASE
    if db_path.exists():
        db_path.unlink()  # a replay's database holds that replay only
    route = pool.campaign_route
    curves, picked_all, aucs, campaigns, models = [], [], [], [], []
    with _using_database(f"sqlite:///{db_path.as_posix()}"):
        engine = get_engine()
        upgrade(engine)
        with session_scope(engine) as session:
            seed_literature(session)
        for seed in seed_values:
            text = replay_campaign_text(pool_path, budget=picks[-1], batch=batch, agent=agent, seed=seed, route=route,
                                        name=f"replay-{pool_path.stem}-seed{seed}")
            (out / f"campaign-seed{seed}.yaml").write_text(text)
            try:
                document = parse_campaign_text(text, base_dir=out, file=f"campaign-seed{seed}.yaml")
            except CampaignFileError as exc:
                raise ReplayError(str(exc)) from None
            config = document.to_config(default_name=f"replay-{pool_path.stem}")
            with session_scope(engine) as session:
                campaign_id = loop.create_campaign(session, config, {
                    "file": f"campaign-seed{seed}.yaml", "path": str(out / f"campaign-seed{seed}.yaml"),
                    "text": text, "document": document.model_dump(mode="json")}).id
            campaign_flow(campaign_id)
            with session_scope(engine) as session:
                campaign = session.get(Campaign, campaign_id)
                names = _picked(session, campaign_id)
                auc, model = _final_auc(session, campaign, pool, names)
            index = {n: i for i, n in enumerate(pool.names)}
            labels = [int(pool.labels[index[n]]) for n in names if n in index]
            curve = curve_from_labels(labels, picks)
            curves.append(curve)
            picked_all.append(names)
            aucs.append(auc)
            campaigns.append(campaign_id)
            models.append(model)
            if on_seed is not None:
                on_seed({"seed": seed, "campaign_id": campaign_id, "found": curve[-1], "picks": picks[-1],
                         "seconds": round(time.perf_counter() - started, 1)})
    rs_rng = np.random.default_rng(12345)
    random_sim = [curve_from_labels(pool.labels[rs_rng.permutation(len(pool))[: picks[-1]]], picks)
                  for _ in range(seeds)]
    settings = {
        "model": {**models[-1], "per_seed": [{"version": m["version"]} for m in models]},
        "database": str(db_path),
        "campaigns": campaigns,
        "seed_values": seed_values,  # "seeds" stays the count
        "training": {"held_out_systems": config.holdout_systems, "processing": config.processing},
    }
    return ReplayResult(pool=pool, agent=config.agent, budget=budget, batch=batch, picks=picks,
                        agent_curves=curves, random_simulated=random_sim, final_auc=aucs,
                        seconds=time.perf_counter() - started, settings=settings, picked=picked_all)
