"""Replay: metric arithmetic on hand-computable pools; `vitrify replay` end to end on a small
real pool (two binary systems of the shipped Sun 2017 data), as the real campaign it is --
the same batches as `vitrify campaign run` on the campaign file `campaign init --replay` writes."""

from __future__ import annotations

import csv
import itertools
import json
import math

import numpy as np
import pytest

from agents.replay import ReplayPool
from discovery.replay_metrics import (
    acceleration_factor,
    batch_picks,
    curve_from_labels,
    enhancement_factor,
    oracle_found,
    picks_needed,
    random_expected_found,
    random_expected_picks_to_reach,
)
from discovery.composition import parse_composition

# ----------------------------------------------------------------------------- arithmetic

# 10-row synthetic pool, 4 glasses. An agent picking 2 per batch finds 2, 3, 4, 4, 4.
N, G = 10, 4
PICKS = [2, 4, 6, 8, 10]
AGENT = [2, 3, 4, 4, 4]


def test_random_and_oracle_curves_by_hand():
    assert random_expected_found(PICKS, N, G).tolist() == pytest.approx([0.8, 1.6, 2.4, 3.2, 4.0])
    assert oracle_found(PICKS, G).tolist() == [2, 4, 4, 4, 4]


def test_random_expectations_match_exhaustive_enumeration():
    # every placement of the 4 glasses among 10 positions is equally likely under random picking
    placements = list(itertools.combinations(range(N), G))
    for m in PICKS:
        mean_found = np.mean([sum(p < m for p in pos) for pos in placements])
        assert random_expected_found([m], N, G)[0] == pytest.approx(mean_found)
    for r in range(1, G + 1):
        mean_picks = np.mean([pos[r - 1] + 1 for pos in placements])  # 1-based pick of the r-th glass
        assert random_expected_picks_to_reach(r, N, G) == pytest.approx(mean_picks)
    assert random_expected_picks_to_reach(4, N, G) == pytest.approx(8.8)
    assert random_expected_picks_to_reach(5, N, G) == math.inf
    assert random_expected_picks_to_reach(0, N, G) == 0.0


def test_acceleration_and_enhancement_by_hand():
    assert picks_needed(PICKS, AGENT, 4) == 6
    assert picks_needed(PICKS, AGENT, 3) == 4
    assert picks_needed(PICKS, AGENT, 5) == math.inf
    # random needs 4 * 11 / 5 = 8.8 picks for 4 glasses; the agent needed 6
    assert acceleration_factor(PICKS, AGENT, N, G) == pytest.approx(8.8 / 6)
    # at the budget of 10 random expects 4.0: EF = 4 / 4
    assert enhancement_factor(4, 10, N, G) == pytest.approx(1.0)
    # a budget of 6: the agent found 4, random expects 2.4
    assert acceleration_factor(PICKS[:3], AGENT[:3], N, G) == pytest.approx(8.8 / 6)
    assert enhancement_factor(4, 6, N, G) == pytest.approx(4 / 2.4)
    assert math.isnan(acceleration_factor(PICKS, [0] * 5, N, G))
    assert math.isnan(enhancement_factor(0, 10, N, 0))


def test_curves_and_batches():
    assert batch_picks(10, 2) == PICKS
    assert batch_picks(25, 10) == [10, 20, 25]
    assert batch_picks(200, 20, n_pool=50) == [20, 40, 50]
    labels = [1, 1, 0, 1, 1, 0, 0, 0, 0, 0]
    assert curve_from_labels(labels, PICKS) == [2, 3, 4, 4, 4]


# ----------------------------------------------------------------------------- pool and holdout


def _write_pool(path, rows):
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["formula", "gfa", "processing", "system"])
        w.writerows(rows)
    return path


def test_pool_merges_duplicates_and_reads_systems(tmp_path):
    path = _write_pool(tmp_path / "p.csv", [  # synthetic 4-row pool
        ["Al10Ni10Zr80", 1, "meltspin", "Al-Ni-Zr"],
        ["Zr80Al10Ni10", 0, "melt spinning", "Al-Ni-Zr"],  # same composition: glass wins, as the oracle answers
        ["Ni50Zr50", 0, "sputtering", "Al-Ni-Zr"],
        ["Al20Ni20Zr60", 0, "", "Al-Ni-Zr"],
    ])
    pool = ReplayPool.from_csv(path)
    assert len(pool) == 3 and pool.n_glass == 1
    assert pool.stats["merged_duplicates"] == 1 and pool.stats["conflicting_labels_merged_to_glass"] == 1
    assert pool.system_names() == ["Al-Ni-Zr"]
    assert pool.campaign_route == "melt-spinning"
    from agents.replay import ReplayOracle

    assert ReplayOracle.from_csv(path).answer("Al10Ni10Zr80").result.glass_label == 1


def test_holdout_rule_covers_pool_systems_and_their_edges(tmp_path, engine):
    """One rule for every replay: the pool's systems and their sub-systems leave training."""
    from agents.campaign_file import parse_campaign_text
    from db.literature import seed_literature
    from db.session import session_scope
    from db.training import labelled_set
    from discovery.dataset import held_out_systems

    assert held_out_systems(["Al-Ni-Zr"]) == ["Al-Ni", "Al-Ni-Zr", "Al-Zr", "Ni-Zr"]
    assert held_out_systems(["Zr-Cu", "Cu"]) == ["Cu-Zr"]  # pure elements belong to every system
    path = _write_pool(tmp_path / "p.csv", [["Al10Ni10Zr80", 1, "", "Al-Ni-Zr"], ["Al20Ni20Zr60", 0, "", ""]])
    config = parse_campaign_text(f"destinations: [{{kind: replay, oracle: {path}}}]\n", base_dir=tmp_path).to_config()
    assert config.holdout_systems == ["Al-Ni", "Al-Ni-Zr", "Al-Zr", "Ni-Zr"]
    with session_scope(engine) as s:
        seed_literature(s)
        everything = labelled_set(s)
        kept = labelled_set(s, exclude_literature_systems=set(config.holdout_systems))
    dropped = set(everything.systems.tolist()) - set(kept.systems.tolist())
    assert dropped == {"Al-Ni", "Al-Ni-Zr", "Al-Zr", "Ni-Zr"}
    assert {"Al", "Ni", "Zr"} <= set(kept.systems.tolist())


# ----------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def small_pool_csv(tmp_path_factory, binary_data_path):
    """Cu-Ti and Pd-Zr from the shipped binaries, 5 at.% grid: 38 rows, both outcomes."""
    path = tmp_path_factory.mktemp("pool") / "cuti_pdzr.csv"
    rows = []
    with open(binary_data_path, newline="") as fh:
        for row in csv.DictReader(fh):
            comp = parse_composition(row["formula"])
            pct = list(comp.at_percent().values())
            if comp.system in ("Cu-Ti", "Pd-Zr") and all(abs(p / 5 - round(p / 5)) < 1e-9 for p in pct):
                rows.append([row["formula"], row["gfa"], "melt-spinning", comp.system])
    return _write_pool(path, rows)


@pytest.mark.slow
def test_replay_is_the_campaign_same_batches_as_campaign_run(small_pool_csv, tmp_path, prefect_server, local_ray,
                                                            quick_training, small_literature, monkeypatch):
    """`vitrify replay` and `vitrify campaign run` on the file `campaign init --replay` writes:
    the same seed, data and settings give the same batches (one road, not two)."""
    from sqlalchemy import select
    from typer.testing import CliRunner

    from db.models import Composition as CompositionRow
    from db.models import Proposal
    from db.session import get_engine
    from sqlmodel import Session
    from vitrify.cli import app

    from vitrify.settings import reset_settings_cache

    monkeypatch.setenv("VITRIFY_DATABASE_URL", f"sqlite:///{tmp_path / 'project.db'}")
    reset_settings_cache()
    get_engine.cache_clear()
    runner = CliRunner()
    out = tmp_path / "out"
    res = runner.invoke(app, ["replay", "--pool", str(small_pool_csv), "--budget", "12", "--batch", "6",
                              "--seeds", "1", "--agent", "ucb", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "acceleration factor" in res.output and "enhancement factor" in res.output
    summary = json.loads((out / "summary.json").read_text())
    assert {"budget", "batch", "picks", "found", "acceleration_factor", "enhancement_factor",
            "final_roc_auc", "seeds", "found_per_seed", "picked_per_seed", "pool", "agent", "model"} <= set(summary)
    assert summary["budget"] == 12 and summary["batch"] == 6 and summary["picks"] == [6, 12]
    assert summary["seeds"] == 1 and summary["seed_values"] == [0]
    n, g = summary["pool"]["size"], summary["pool"]["glasses"]
    assert summary["found"]["random"] == pytest.approx([6 * g / n, 12 * g / n], abs=1e-3)
    assert summary["model"]["kind"] == "gfa-ensemble" and summary["model"]["hyperparameters"]["svm_C"] > 0
    assert summary["agent"]["kappa"] == 0.3 and summary["agent"]["exploit_final_batches"] == 1  # the ucb preset
    assert summary["final_roc_auc"] is None or 0.0 <= summary["final_roc_auc"] <= 1.0
    assert (out / "discovery.png").stat().st_size > 1000
    replay_picks = summary["picked_per_seed"][0]
    assert len(replay_picks) == 12 and len(set(replay_picks)) == 12
    # the labels the curve counts are the pool's
    pool = ReplayPool.from_csv(small_pool_csv)
    index = {name: i for i, name in enumerate(pool.names)}
    assert summary["found_per_seed"]["agent"][0][-1] == sum(int(pool.labels[index[c]]) for c in replay_picks)

    # the same campaign from a file, in the project database
    (tmp_path / "pool.csv").write_bytes(small_pool_csv.read_bytes())
    res = runner.invoke(app, ["campaign", "init", "--replay", str(tmp_path / "pool.csv"), str(tmp_path / "c.yaml")])
    assert res.exit_code == 0, res.output
    text = (tmp_path / "c.yaml").read_text()
    text = text.replace("batch: 10", "batch: 6").replace("iterations: 8", "budget: 12")
    (tmp_path / "c.yaml").write_text(text)
    res = runner.invoke(app, ["campaign", "run", str(tmp_path / "c.yaml")])
    assert res.exit_code == 0, res.output
    with Session(get_engine()) as s:
        rows = s.exec(select(Proposal.iteration, CompositionRow.canonical)
                      .join(CompositionRow, CompositionRow.id == Proposal.composition_id)
                      .order_by(Proposal.iteration, Proposal.rank)).all()
    get_engine.cache_clear()
    reset_settings_cache()
    assert [c for _, c in rows] == replay_picks
    assert [i for i, _ in rows] == [1] * 6 + [2] * 6


def test_replay_rejects_bad_seed_range(small_pool_csv, tmp_path):
    from flows.replay import ReplayError, run_replay

    with pytest.raises(ReplayError, match="first_seed must be >= 0"):
        run_replay(small_pool_csv, budget=6, batch=6, seeds=1, first_seed=-1, out_dir=tmp_path)
    with pytest.raises(ReplayError, match="seeds must be >= 1"):
        run_replay(small_pool_csv, budget=6, batch=6, seeds=0, first_seed=2, out_dir=tmp_path)
    assert not any(tmp_path.iterdir())  # refused before anything is written


def test_cli_replay_rejects_bad_pool(tmp_path):
    from typer.testing import CliRunner

    from vitrify.cli import app

    bad = tmp_path / "bad.csv"
    bad.write_text("formula,label\nCu50Zr50,1\n")
    res = CliRunner().invoke(app, ["replay", "--pool", str(bad), "--budget", "5", "--batch", "5", "--seeds", "1"])
    assert res.exit_code == 1
    assert "bad.csv" in res.output and "'gfa': required column missing" in res.output
