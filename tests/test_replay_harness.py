"""Replay harness: metric arithmetic on hand-computable pools, and `vitrify replay` end to end
on a small real pool (two binary systems of the shipped Sun 2017 data)."""

from __future__ import annotations

import csv
import itertools
import json
import math

import numpy as np
import pytest

from agents.replay_harness import (
    ReplayPool,
    acceleration_factor,
    batch_picks,
    curve_from_labels,
    enhancement_factor,
    holdout_mask,
    oracle_found,
    picks_needed,
    random_expected_found,
    random_expected_picks_to_reach,
    read_labelled,
    run_replay,
    training_literature,
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
    path = _write_pool(tmp_path / "p.csv", [
        ["Al10Ni10Zr80", 1, "meltspin", "Al-Ni-Zr"],
        ["Zr80Al10Ni10", 0, "melt spinning", "Al-Ni-Zr"],  # same composition: merged, glass wins
        ["Ni50Zr50", 0, "sputtering", "Al-Ni-Zr"],
        ["Al20Ni20Zr60", 0, "", "Al-Ni-Zr"],
    ])
    pool = ReplayPool.from_csv(path)
    assert len(pool) == 3 and pool.n_glass == 1
    assert pool.stats["merged_duplicates"] == 1 and pool.stats["conflicting_labels_merged_to_glass"] == 1
    assert pool.system_names() == ["Al-Ni-Zr"]
    assert pool.campaign_route == "melt-spinning"


def test_holdout_removes_pool_systems_and_binary_edges(tmp_path, binary_data_path):
    path = _write_pool(tmp_path / "p.csv", [["Al10Ni10Zr80", 1, "", "Al-Ni-Zr"], ["Al20Ni20Zr60", 0, "", ""]])
    pool = ReplayPool.from_csv(path)
    lit = read_labelled(binary_data_path)
    drop = holdout_mask(lit, pool)
    dropped = {c.system for c, d in zip(lit.compositions, drop) if d}
    assert dropped == {"Al-Zr", "Ni-Zr"}  # the binary edges present in Sun 2017 (it has no Al-Ni)
    kept, info = training_literature(pool)
    assert not any(c.system in dropped for c in kept.compositions)
    assert info["removed_pool_systems_and_edges"] == int(drop.sum()) > 0
    # pure elements stay (they belong to every system), unless they are pool rows
    assert any(c.system == "Al" for c in kept.compositions)


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


def test_replay_no_repick_and_curves(small_pool_csv):
    pool = ReplayPool.from_csv(small_pool_csv)
    res = run_replay(pool, budget=16, batch=8, seeds=1, agent="greedy", final_auc=False)
    s = res.summary()
    assert s["picks"] == [8, 16]
    assert s["found"]["oracle"] == [min(8, pool.n_glass), min(16, pool.n_glass)]
    # found counts are non-decreasing, bounded by the oracle, and nothing was picked twice
    a = s["found"]["agent"]
    assert a[0] <= a[1] <= s["found"]["oracle"][1]
    picked = s["picked_per_seed"][0]
    assert len(picked) == len(set(picked)) == 16 and set(picked) <= set(pool.names)
    # Cu-Ti and Pd-Zr binaries (99 each in v2) left the training data; Cu100 etc. stay
    assert s["training"]["removed_pool_systems_and_edges"] == 2 * 99


def test_replay_calibration_uses_the_predictions_made_at_pick_time(small_pool_csv, monkeypatch):
    import agents.replay_harness as harness

    seen = []
    real = harness.campaign_logit_shift

    def spy(predicted, labels, **kw):
        seen.append((list(predicted), list(labels)))
        return real(predicted, labels, **kw)

    monkeypatch.setattr(harness, "campaign_logit_shift", spy)
    pool = ReplayPool.from_csv(small_pool_csv)
    res = run_replay(pool, budget=24, batch=8, seeds=1, agent="ucb", calibration=True, final_auc=False)
    s = res.summary()
    assert s["calibration"] == "defaults" and s["local_posterior"] == "defaults"
    # batches 2 and 3 were scored with a shift fitted on the 8 and 16 earlier picks: one
    # prediction per pick, each a probability the model gave before the label was known
    assert [len(p) for p, _ in seen] == [8, 16]
    predicted, labels = seen[-1]
    assert all(0.0 <= v <= 1.0 for v in predicted)
    index = {name: i for i, name in enumerate(pool.names)}
    assert labels == [int(pool.labels[index[n]]) for n in s["picked_per_seed"][0][:16]]
    assert run_replay(pool, budget=8, batch=8, seeds=1, agent="ucb", final_auc=False).summary()["calibration"] is None


def test_cli_replay_end_to_end(small_pool_csv, tmp_path):
    from typer.testing import CliRunner

    from vitrify.cli import app

    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["replay", "--pool", str(small_pool_csv), "--budget", "12", "--batch", "6",
                                   "--seeds", "1", "--agent", "ucb", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "acceleration factor" in res.output and "enhancement factor" in res.output
    summary = json.loads((out / "summary.json").read_text())
    assert {"budget", "batch", "picks", "found", "acceleration_factor", "enhancement_factor",
            "final_roc_auc"} <= set(summary)
    assert summary["budget"] == 12 and summary["batch"] == 6 and summary["picks"] == [6, 12]
    assert set(summary["found"]) == {"agent", "random", "oracle"}
    assert all(len(v) == 2 for v in summary["found"].values())
    n, g = summary["pool"]["size"], summary["pool"]["glasses"]
    assert summary["found"]["random"] == pytest.approx([6 * g / n, 12 * g / n], abs=1e-3)
    assert summary["final_roc_auc"] is None or 0.0 <= summary["final_roc_auc"] <= 1.0
    assert (out / "discovery.png").stat().st_size > 1000


def test_cli_replay_rejects_bad_pool(tmp_path):
    from typer.testing import CliRunner

    from vitrify.cli import app

    bad = tmp_path / "bad.csv"
    bad.write_text("formula,label\nCu50Zr50,1\n")
    res = CliRunner().invoke(app, ["replay", "--pool", str(bad), "--budget", "5", "--batch", "5", "--seeds", "1"])
    assert res.exit_code == 1
    assert "missing column" in res.output


def test_final_batches_are_greedy_when_configured(small_pool_csv, monkeypatch):
    """exploit_final_batches=1: batches 1-2 use the agent's exploration and spread, batch 3
    (the last of the budget) is top P(glass) with no spreading."""
    import discovery.batch as batch_module
    from agents import proposer
    from agents.config import AgentConfig

    names, diversities = [], []
    real_acq, real_select = proposer.acquisition_scores, batch_module.select_batch

    def acq_spy(agent, *args, **kw):
        names.append(agent.name)
        return real_acq(agent, *args, **kw)

    calls = []

    def select_spy(candidates, acq, k, *, diversity, **kw):
        diversities.append(diversity)
        chosen = real_select(candidates, acq, k, diversity=diversity, **kw)
        calls.append((np.asarray(acq), np.asarray(chosen)))
        return chosen

    monkeypatch.setattr(proposer, "acquisition_scores", acq_spy)
    monkeypatch.setattr(batch_module, "select_batch", select_spy)
    pool = ReplayPool.from_csv(small_pool_csv)
    agent = AgentConfig(name="ucb", kappa=2.0, diversity=0.5, explore_fraction=0.25, exploit_final_batches=1)
    res = run_replay(pool, budget=24, batch=8, seeds=1, agent=agent, final_auc=False)
    assert names == ["ucb", "ucb", "greedy"] and diversities == [0.5, 0.5, 0.0]
    assert res.summary()["agent"]["exploit_final_batches"] == 1
    # the final batch is the top 8 by (corrected) P(glass) among the rows left then; the
    # earlier ones were spread and partly picked for uncertainty, so not their top 8
    acq, chosen = calls[-1]
    assert set(chosen.tolist()) == set(np.argsort(-acq, kind="stable")[:8].tolist())
    acq, chosen = calls[0]
    assert set(chosen.tolist()) != set(np.argsort(-acq, kind="stable")[:8].tolist())
    assert len(set(res.summary()["picked_per_seed"][0])) == 24
