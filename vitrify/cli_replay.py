"""``vitrify replay``: replay an agent on a labelled pool (see docs/replay.md and
agents/replay.py, agents/replay_result.py). Registered at the end of vitrify/cli.py."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table
from vitrify.cli_common import console, err



def _fmt(x, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:.{digits}f}"


def replay(
    pool: Path = typer.Option(..., "--pool", exists=True, dir_okay=False,
                              help="CSV with columns formula, gfa (1/0) [, processing, system]: candidates and oracle"),
    budget: int = typer.Option(..., "--budget", min=1, help="Total compositions the agent may pick"),
    batch: int = typer.Option(..., "--batch", min=1, help="Compositions per batch (the model retrains between batches)"),
    seeds: int = typer.Option(..., "--seeds", min=1, help="Agent replays (seeds 0..S-1); the agent curve is their mean"),
    agent: str = typer.Option("ucb", "--agent", help="random | greedy | ucb | ei | pi | uncertainty | thompson "
                              "(the presets of agents.config, as in campaign files)"),
    out: Optional[Path] = typer.Option(None, "--out", help="Output directory (default: <data dir>/replays/<pool name>)"),
) -> None:
    """Replay an agent on a labelled pool against random picks and the oracle.

    Each seed is a real campaign -- the one `vitrify campaign init --replay POOL` writes --
    run through the campaign flow with the pool as its oracle and candidates, in its own
    database in OUT: the campaign's proposer, model training and agent presets. Training
    starts from the shipped literature minus the pool's chemical systems and their
    sub-systems. Prints glasses found per batch, the acceleration and enhancement factors
    and the final model's ROC-AUC on the unpicked pool; writes OUT/summary.json,
    OUT/discovery.png and the campaign files it ran.

    Example: vitrify replay --pool vitrify/data/pools/binary_holdout6.csv --budget 40 --batch 10 --seeds 1
    """
    from agents.replay import ReplayError, ReplayPool
    from agents.replay_result import write_outputs
    from flows.replay import run_replay
    from vitrify.settings import get_settings, quiet_third_party_defaults

    quiet_third_party_defaults()
    try:
        replay_pool = ReplayPool.from_csv(pool)
    except ReplayError as exc:
        err.print(f"error: {exc}", markup=False)
        raise typer.Exit(1)
    out_dir = out or get_settings().data_dir / "replays" / pool.stem
    systems = replay_pool.system_names()
    console.print(
        f"vitrify replay {pool.name}: {len(replay_pool)} compositions, {replay_pool.n_glass} glasses, "
        f"systems {', '.join(systems[:6])}{' ...' if len(systems) > 6 else ''}; route {replay_pool.campaign_route}; "
        f"agent {agent}, budget {budget}, batch {batch}, seeds {seeds}", markup=False)

    def progress(row: dict) -> None:
        console.print(f"seed {row['seed']}: campaign {row['campaign_id']} found {row['found']} glasses in "
                      f"{row['picks']} picks ({row['seconds']:.0f} s)", markup=False)

    try:
        result = run_replay(pool, budget=budget, batch=batch, seeds=seeds, agent=agent, out_dir=out_dir,
                            on_seed=progress)
    except ReplayError as exc:
        err.print(f"error: {exc}", markup=False)
        raise typer.Exit(1)
    summary_path, png = write_outputs(result, out_dir)
    s = result.summary()
    table = Table(title=f"replay {pool.name} ({agent})")
    for col in ("picks", "agent", "random", "oracle"):
        table.add_column(col, justify="right")
    for i, p in enumerate(s["picks"]):
        table.add_row(str(p), _fmt(s["found"]["agent"][i], 1), _fmt(s["found"]["random"][i], 1), str(s["found"]["oracle"][i]))
    console.print(table)
    console.print(
        f"acceleration factor {_fmt(s['acceleration_factor'])}  enhancement factor {_fmt(s['enhancement_factor'])}  "
        f"final ROC-AUC (unpicked pool) {_fmt(s['final_roc_auc'], 3)}  in {s['seconds']:.0f} s\n"
        f"summary: {summary_path}\nplot: {png}", markup=False)
