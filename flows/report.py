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
    with session_scope(get_engine(database_url)) as session:
        found = campaign_discovery_counts(session, campaign_id)[: row["picks_total"]]
        model = None
        if systems:
            version = session.get(ModelVersion, row["model_version"], options=[defer(ModelVersion.artifact)])
            model = load_model(version)
    key = f"campaign-{campaign_id}"
    pngs: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="vitrify-report-") as tmp:
        curve = plot_discovery_curves(list(range(1, len(found) + 1)), {"agent": found}, Path(tmp) / "discovery.png",
                                      title=f"Campaign {campaign_id}")
        pngs[f"{key}-discovery.png"] = curve.read_bytes()
        if model is not None:
            pgfa = plot_pgfa_profiles(model, systems, Path(tmp) / "pgfa.png", route=config.processing,
                                      title=f"Campaign {campaign_id}: P_GFA")
            pngs[f"{key}-pgfa.png"] = pgfa.read_bytes()
    lines = [
        f"## Campaign {campaign_id} ({config.name}), iteration {iteration}/{config.iterations}",
        "",
        f"- proposed: {row['proposed']} ({', '.join(b['composition'] for b in batch[:5])})",
        f"- glasses this batch: {row['glasses']}; in total: {row['glasses_total']}",
        f"- model v{row['model_version']}: grouped-CV ROC-AUC {row['cv_auc']} on {row['train_size']} labels",
        f"- iteration wall time: {row['seconds']} s",
        "",
        png_markdown(pngs[f"{key}-discovery.png"], "discovery curve"),
    ]
    if f"{key}-pgfa.png" in pngs:
        lines += ["", png_markdown(pngs[f"{key}-pgfa.png"], "P_GFA over the search space")]
    return {"iteration": iteration, "markdown": "\n".join(lines), "pngs": pngs,
            "seconds": round(time.perf_counter() - started, 2)}
