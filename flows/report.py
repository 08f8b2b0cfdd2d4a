"""The per-iteration report of a campaign (discovery curve, P_GFA map, summary) as markdown.

A plain function of the database, so it runs in a Ray worker process beside the next
iteration: drawing is pure-Python work that, in a thread of the flow process, would slow
the campaign through the GIL. The flow publishes the returned markdown as a Prefect
artifact and writes the returned PNGs to its plots directory: the worker needs only the
database (its URL is an argument, so a worker started before the campaign reads the
campaign's database), not the flow's file system or environment.
"""

from __future__ import annotations

import base64
import tempfile
import time
from pathlib import Path

from agents.config import CampaignConfig
from db.session import get_engine, session_scope


def pgfa_systems(config: CampaignConfig) -> list[str] | None:
    """The binary systems to draw P_GFA profiles for (one line each), if the space is that."""
    systems = config.space.systems
    if not systems or any(s.count("-") != 1 for s in systems) or len(systems) > 12:
        return None
    return list(systems)


def pareto_axes(config: CampaignConfig):
    """The two objectives a Pareto-front plot shows (goals first, then constrained
    properties), or None when the campaign looks at a single property."""
    objectives = [o.objective() for o in config.objective_list()]
    axes = [o for o in objectives if o.goal is not None][:2]
    for o in objectives:
        if len(axes) < 2 and o.is_constraint and o.name not in {a.name for a in axes}:
            axes.append(o)
    return axes if len(axes) == 2 else None


def pareto_inputs(session, campaign_id: int, config: CampaignConfig, iteration: int) -> dict | None:
    """What :func:`draw_pareto_front` draws, read from the database: the campaign's results
    in the plane of its two objectives and the given iteration's batch as predicted (None
    for a single-property campaign)."""
    import numpy as np
    from sqlalchemy import select

    from db.models import Proposal
    from db.queries import campaign_observations, proposal_prediction
    from discovery.properties import property_spec

    axes = pareto_axes(config)
    if axes is None:
        return None
    names = [a.name for a in axes]
    points = campaign_observations(session, campaign_id, names)
    observed = np.array([[np.nan if p["values"][n] is None else p["values"][n] for n in names] for p in points], float)
    measured = np.array([[p["measured"][n] for n in names] for p in points], bool)
    batch = session.exec(select(Proposal).where(Proposal.campaign_id == campaign_id, Proposal.iteration == iteration)).scalars().all()
    pred = [[proposal_prediction(p, n) for n in names] for p in batch]
    cand = np.array([[np.nan if m is None else m for m, _ in row] for row in pred], float)
    cand_std = np.array([[0.0 if s is None else s for _, s in row] for row in pred], float)

    def label(o):
        spec = property_spec(o.name)
        return spec.label if spec.unit in ("1", "probability", "signed distance") else f"{spec.label} ({spec.unit})"

    return dict(
        observed=observed.reshape(-1, 2), measured=measured.reshape(-1, 2), candidates=cand.reshape(-1, 2),
        labels=[label(a) for a in axes],
        maximize=[None if a.goal is None else a.goal == "maximize" for a in axes],
        bounds=[(a.at_least, a.at_most) for a in axes], candidates_std=cand_std.reshape(-1, 2),
        title=f"Campaign {campaign_id} ({config.name}): iteration {iteration}",
    )


def draw_pareto_front(inputs: dict, path: Path) -> Path:
    from discovery.plots import plot_pareto_front

    inputs = dict(inputs)
    return plot_pareto_front(inputs.pop("observed"), inputs.pop("measured"), inputs.pop("candidates"), path, **inputs)


def reference_curves(config: CampaignConfig, picks: list[int]) -> dict[str, list[float]]:
    """What random picking (expected) and an oracle would have found in the campaign's space,
    from its replay data set: the lines the agent's discovery curve is read against."""
    if not config.oracle_csv or not picks:
        return {}
    from agents.replay import ReplayOracle
    from discovery.composition import CompositionMatrix, parse_composition

    pool = ReplayOracle.from_csv(config.oracle_csv)
    names = list(pool.records)
    inside = config.space.build().contains_matrix(CompositionMatrix.from_compositions([parse_composition(n) for n in names]))
    labels = [pool.records[n][0].result.glass_label for n, ok in zip(names, inside) if ok]
    n_pool, n_glass = len(labels), sum(1 for g in labels if g == 1)
    if not n_pool:
        return {}
    return {"random (expected)": [p * n_glass / n_pool for p in picks], "oracle": [min(p, n_glass) for p in picks]}


def batch_outcomes(session, campaign_id: int, iteration: int) -> dict[str, str]:
    """{composition: result} of an iteration's picks that have an outcome (current revision)."""
    from sqlalchemy import select

    from db.models import Composition, Job, Outcome, Proposal

    rows = session.exec(
        select(Composition.canonical, Outcome.result)
        .join(Proposal, Proposal.composition_id == Composition.id)
        .join(Job, Job.proposal_id == Proposal.id)
        .join(Outcome, (Outcome.job_id == Job.id) & (Outcome.is_current == True))  # noqa: E712
        .where(Proposal.campaign_id == campaign_id, Proposal.iteration == iteration)
    ).all()
    return {name: result for name, result in rows}


def batch_artifact_rows(batch: list[dict], outcomes: dict[str, str]) -> list[dict]:
    """The batch table as the Prefect UI shows it: its outcome column, no column empty in every row."""
    rows = [{**b, "outcome": outcomes.get(b["composition"], "pending")} for b in batch]
    keep = [k for k in (rows[0] if rows else {}) if any(r.get(k) not in (None, "") for r in rows)]
    return [{k: r.get(k) for k in keep} for r in rows]


def png_markdown(png: bytes, alt: str) -> str:
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"


def render_iteration_report(database_url: str, campaign_id: int, iteration: int, config: dict, batch: list[dict],
                            row: dict) -> dict:
    """Markdown and PNGs for one iteration, from that iteration's state (its picks and its
    model), even when the campaign has moved on by the time this runs.

    Returns ``{"iteration", "markdown", "pngs": {file name: bytes}, "seconds"}``."""
    from sqlalchemy.orm import defer

    from db.models import ModelVersion
    from db.queries import campaign_discovery_counts
    from db.registry import load_model
    from discovery.plots import plot_discovery_curves, plot_pgfa_profiles

    started = time.perf_counter()
    config = CampaignConfig.model_validate(config)
    systems = pgfa_systems(config)
    key = f"campaign-{campaign_id}"
    pngs: dict[str, bytes] = {}
    with session_scope(get_engine(database_url)) as session:
        found = campaign_discovery_counts(session, campaign_id)[: row["picks_total"]]
        model = None
        if systems:
            version = session.get(ModelVersion, row["model_version"], options=[defer(ModelVersion.artifact)])
            model = load_model(version)
        pareto = pareto_inputs(session, campaign_id, config, iteration)
    with tempfile.TemporaryDirectory(prefix="vitrify-report-") as tmp:
        if pareto is not None:
            pngs[f"{key}-pareto.png"] = draw_pareto_front(pareto, Path(tmp) / "pareto.png").read_bytes()
        picks = list(range(1, len(found) + 1))
        curve = plot_discovery_curves(picks, {**reference_curves(config, picks), "agent": found}, Path(tmp) / "discovery.png",
                                      title=f"Campaign {campaign_id}: glasses found")
        pngs[f"{key}-discovery.png"] = curve.read_bytes()
        if model is not None:
            pgfa = plot_pgfa_profiles(model, systems, Path(tmp) / "pgfa.png", route=config.processing,
                                      title=f"Campaign {campaign_id}: P_GFA")
            pngs[f"{key}-pgfa.png"] = pgfa.read_bytes()
    objectives = ", ".join(o.objective().describe() for o in config.objective_list())
    lines = [
        f"## Campaign {campaign_id} ({config.name}), iteration {iteration}/{config.iterations}",
        "",
        f"- objectives: {objectives}",
        f"- proposed: {row['proposed']} ({', '.join(b['composition'] for b in batch[:5])})",
        f"- glasses this batch: {row['glasses']}; in total: {row['glasses_total']}",
        f"- model v{row['model_version']}: grouped-CV ROC-AUC {row['cv_auc']} on {row['train_size']} labels",
        f"- iteration wall time: {row['seconds']} s",
        "",
        png_markdown(pngs[f"{key}-discovery.png"], "discovery curve"),
    ]
    if f"{key}-pgfa.png" in pngs:
        lines += ["", png_markdown(pngs[f"{key}-pgfa.png"], "P_GFA over the search space")]
    if f"{key}-pareto.png" in pngs:
        lines += ["", png_markdown(pngs[f"{key}-pareto.png"], "Pareto front with the measured points and this batch")]
    return {"iteration": iteration, "markdown": "\n".join(lines), "pngs": pngs,
            "seconds": round(time.perf_counter() - started, 2)}


