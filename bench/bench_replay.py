"""Discovery benchmark: leave-systems-out replays of the campaign itself (one command, prints a table).

    .venv/bin/python bench/bench_replay.py                  # test pools: best 3 seeds, greedy 1 seed
    .venv/bin/python bench/bench_replay.py --tune           # the tuning pools (what chose the settings)
    .venv/bin/python bench/bench_replay.py --quick          # budget 60 / batch 20, 1 seed: a run-through

Every row is flows.replay.run_replay -- what ``vitrify replay`` runs: per seed, the campaign
file ``vitrify campaign init --replay POOL`` writes, run through the campaign flow (its
proposer, its model trained and tuned as every campaign trains it, its hold-out rule, the
agent presets of agents.config). Nothing here is a second loop.

Pools (``bench/pools/``, see PROVENANCE.md there; each is the oracle and the candidates):

* test pools: ``binary-test`` (the six binaries the shipped demo holds out), ``binary-misled``
  (six binaries where the literature prior's top picks are mostly wrong), ``landolt-meltspun``
  (eight Landolt ternaries, melt-spun rows and edges), ``landolt-sputtered`` (the sputtered
  Landolt ternaries);
* tuning pools (``--tune``; the test pools are never used to choose settings):
  ``binary-tune``, ``misled-tune`` (the misled pool's twin), ``landolt-tune``.

Goals (issue 14): the best preset (``ucb``) finds at least as many glasses within 200 picks as
the replay harness of the previous version did on every test pool (its numbers are in
:data:`PREVIOUS`), and more than greedy within the first 40 picks on the misled pool.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agents.replay import ReplayPool  # noqa: E402
from discovery.replay_metrics import random_expected_found  # noqa: E402
from flows.replay import run_replay  # noqa: E402
from vitrify.settings import quiet_third_party_defaults  # noqa: E402

POOLS = REPO / "bench" / "pools"
TEST_POOLS = ("binary-test", "binary-misled", "landolt-meltspun", "landolt-sputtered")
TUNE_POOLS = ("binary-tune", "misled-tune", "landolt-tune")
#: The previous version's separate replay harness (FastGlassModel, its own loop), budget 200 /
#: batch 20, 3 seeds: glasses found after 40 and 200 picks (bench/NOTES.md).
PREVIOUS = {
    "binary-test": {"best": (33.3, 141.0), "greedy": (34.0, 135.0)},
    "binary-misled": {"best": (27.3, 149.7), "greedy": (22.7, 123.7)},
    "landolt-meltspun": {"best": (40.0, 195.7), "greedy": (40.0, 197.7)},
    "landolt-sputtered": {"best": (36.3, 153.3), "greedy": (39.7, 154.7)},
    "binary-tune": {"best": (None, 132.0)},
    "misled-tune": {"best": (None, 174.7)},
    "landolt-tune": {"best": (None, 175.0)},
}
#: Agents the bench can run: the presets, and variants of the best one for a tuning sweep
#: (``--tune --agents best,ucb-k0.1,...``); as a campaign file writes them.
AGENTS = {
    "best": "ucb",
    "greedy": "greedy",
    "thompson": "thompson",
    "ucb-k0.1": {"preset": "ucb", "kappa": 0.1},
    "ucb-k1": {"preset": "ucb", "kappa": 1.0},
    "ucb-d0.05": {"preset": "ucb", "diversity": 0.05},
    "ucb-d0.2": {"preset": "ucb", "diversity": 0.2},
    "ucb-f2": {"preset": "ucb", "exploit_final_batches": 2},
}


def _at(picks, found, m):
    return next((f for p, f in zip(picks, found) if p >= m), found[-1])


def run(pool_name: str, label: str, *, budget: int, batch: int, seeds: int, out: Path, first_seed: int = 0) -> dict:
    path = POOLS / f"{pool_name}.csv"
    started = time.perf_counter()
    result = run_replay(path, budget=budget, batch=batch, seeds=seeds, agent=AGENTS[label],
                        out_dir=out / f"{pool_name}-{label}", first_seed=first_seed)
    s = result.summary()
    picks, found = s["picks"], s["found"]["agent"]
    n, g = s["pool"]["size"], s["pool"]["glasses"]
    return {
        "pool": pool_name, "agent": label, "seeds": seeds, "first_seed": first_seed, "N": n, "G": g,
        "at40": _at(picks, found, 40), "found": found[-1], "per_seed": [c[-1] for c in s["found_per_seed"]["agent"]],
        "random": float(random_expected_found([picks[-1]], n, g)[0]), "oracle": s["found"]["oracle"][-1],
        "AF": s["acceleration_factor"], "EF": s["enhancement_factor"], "AUC": s["final_roc_auc"],
        "budget": picks[-1], "seconds": round(time.perf_counter() - started, 1), "curve": found, "picks": picks,
        "previous": PREVIOUS.get(pool_name, {}).get(label),
    }


def _f(x, d=1):
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{d}f}"


HEADER = (f"{'pool':<18}{'agent':<7}{'N/G':>9}{'@40':>6}{'@200':>7}{'prev':>7}{'%orc':>6}{'AF':>6}{'EF':>6}"
          f"{'AUC':>6}{'min':>6}")


def fmt(r: dict) -> str:
    prev = r["previous"][1] if r["previous"] else None
    return (f"{r['pool']:<18}{r['agent']:<7}{str(r['N']) + '/' + str(r['G']):>9}{_f(r['at40']):>6}"
            f"{_f(r['found']):>7}{_f(prev):>7}{100 * r['found'] / max(r['oracle'], 1):>5.0f}%"
            f"{_f(r['AF'], 2):>6}{_f(r['EF'], 2):>6}{_f(r['AUC'], 2):>6}{r['seconds'] / 60:>6.1f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tune", action="store_true", help="the tuning pools instead of the test pools")
    ap.add_argument("--quick", action="store_true", help="budget 60, 1 seed")
    ap.add_argument("--seeds", type=int, default=3, help="seeds of the best agent (greedy runs one)")
    ap.add_argument("--budget", type=int, default=None,
                    help="picks per replay (default 200, --quick 60); the first picks do not depend on it "
                         "(only the last batch is greedy in the ucb preset): --budget 60 measures found@40")
    ap.add_argument("--first-seed", type=int, default=0,
                    help="seeds run from this one (more seeds later without redoing the first)")
    ap.add_argument("--every-agent-seeds", action="store_true", help="every agent runs --seeds seeds, greedy too")
    ap.add_argument("--pools", default=None, help="comma-separated subset of the pools")
    ap.add_argument("--agents", default="best,greedy", help=f"comma-separated, of: {', '.join(AGENTS)}")
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "vitrify-bench-replay")
    args = ap.parse_args(argv)
    quiet_third_party_defaults()
    pools = args.pools.split(",") if args.pools else (TUNE_POOLS if args.tune else TEST_POOLS)
    budget, batch = (60, 20) if args.quick else (200, 20)
    budget = args.budget or budget
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    print(HEADER, flush=True)
    for pool_name in pools:
        pool = ReplayPool.from_csv(POOLS / f"{pool_name}.csv")
        print(f"# {pool_name}: {len(pool)} compositions, {pool.n_glass} glasses, systems "
              f"{', '.join(pool.system_names())}", flush=True)
        for label in args.agents.split(","):
            if args.tune and label == "greedy" and args.agents == "best,greedy":
                continue  # the tuning pools compare the best preset's variants; greedy on request
            seeds = 1 if args.quick or (label != "best" and not args.tune and not args.every_agent_seeds) else args.seeds
            row = run(pool_name, label, budget=budget, batch=batch, seeds=seeds, out=args.out, first_seed=args.first_seed)
            rows.append(row)
            print(fmt(row), flush=True)
            (args.out / "bench.json").write_text(json.dumps(rows, indent=1))
    print()
    print("prev = the previous version's separate replay harness, best or greedy, found at 200 (3 seeds)")
    if not args.tune:
        best = {r["pool"]: r for r in rows if r["agent"] == "best"}
        greedy = {r["pool"]: r for r in rows if r["agent"] == "greedy"}
        for name, r in best.items() if budget == 200 else ():  # the previous numbers are found@200
            prev = (r["previous"] or (None, None))[1]
            verdict = "-" if prev is None else ("MET" if r["found"] >= prev else "MISSED")
            print(f"{name}: best {r['found']:.1f} vs previous {prev} -> {verdict}")
        if "binary-misled" in best and "binary-misled" in greedy:
            b, g = best["binary-misled"]["at40"], greedy["binary-misled"]["at40"]
            print(f"binary-misled @40: best {b:.1f} vs greedy {g:.1f} -> {'MET' if b > g else 'MISSED'}")
    print(f"results: {args.out / 'bench.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
