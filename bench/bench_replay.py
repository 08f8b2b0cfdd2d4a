"""Built-in discovery benchmark: leave-systems-out replays (one command, prints a table).

    .venv/bin/python bench/bench_replay.py                 # full benchmark (~15 min idle, ~45 min on 2 busy cores)
    .venv/bin/python bench/bench_replay.py --quick         # smaller budgets, 1 seed
    .venv/bin/python bench/bench_replay.py --tune          # the agent sweep on the TUNING pool only

Pools (each is the candidate set and the oracle; its systems and their sub-systems are
removed from training, see agents/replay_harness.py):

* ``binary-test``: the six binary systems the default campaign holds out (Al-Ca, Co-Zr,
  Cu-Ti, Mg-Zn, Ni-Ta, Pd-Zr) from the shipped Sun 2017 data. Training: the other binaries.
* ``landolt-meltspun``: the melt-spun rows of eight Landolt ternary systems with both
  outcomes (rule: ternaries with >= 50 melt-spun rows and a glass fraction in [0.05, 0.85],
  the eight largest) and the melt-spun rows of their binary edges. Training: the shipped
  binaries + every other Landolt row (melt-spun and sputtered).
* ``landolt-sputtered``: the sputtered rows of every Landolt ternary system with >= 10
  sputtered rows, plus sputtered rows of their edges. Training: binaries + the other
  Landolt rows, i.e. literature that is melt-spun or of unknown route. Run with and
  without the shift weights of discovery.shift.
* ``binary-misled``: where greedy is misled by its prior. The loop model's out-of-fold
  P(glass) (5 folds of whole binary systems) ranks each system's compositions; of the twelve
  systems (glass fraction in [0.15, 0.6], not in the other binary pools) whose ten
  top-ranked compositions hold the fewest glasses, ranks 1, 3, ... form this pool and ranks
  2, 4, ... its tuning twin (``--tune``). Training: the other binaries.
* ``binary-tune`` (only with ``--tune``): six *other* binary systems (rule: binaries with a
  glass fraction in [0.15, 0.6], alphabetically first six not in binary-test) used to
  choose the agent settings. The test pools above are never used for tuning.
* ``landolt-tune`` (only with ``--tune``): a ternary twin, melt-spun rows of six Landolt
  ternaries that share no binary edge with the test pools (:func:`landolt_tune_systems`:
  Mg-Nd-Ni, Nb-Si-Ti, C-Co-W, Cu-Mg-Nd, Cu-Hf-Ni, Al-Cr-Si) and of their edges; it chose
  the local posterior's length (``"auto"``) together with binary-tune and the misled twin.

The Landolt data (matminer ``glass_ternary_landolt``, Kawazoe et al. 1997, Landolt-Bornstein
III/37A; compiled by Ward et al. 2016) are read from the shared data folder
(``--landolt``, default ../shared/data/matminer_glass_ternary_landolt/...), never shipped:
its PROVENANCE says not to redistribute it inside the product. Pools written to ``--out``
are for local use.

Goals (issue 4): the best agent finds >= 90 % of the oracle's count within the first 200
picks where the pool allows, and finds more than greedy within the first 40 picks.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agents.config import AGENT_PRESETS, AgentConfig  # noqa: E402
from agents.replay_harness import (  # noqa: E402
    FeatureCache,
    ReplayPool,
    read_labelled,
    run_replay,
)
from discovery.composition import parse_composition  # noqa: E402

DEFAULT_LANDOLT = REPO.parent / "shared" / "data" / "matminer_glass_ternary_landolt" / "glass_ternary_landolt.csv"
BINARY_TEST = ("Al-Ca", "Co-Zr", "Cu-Ti", "Mg-Zn", "Ni-Ta", "Pd-Zr")
LANDOLT_ROUTE = {"meltspin": "melt-spinning", "sputtering": "sputtering"}

#: The agent the bench calls "best" (``vitrify replay --agent ucb``): chosen with --tune on the
#: tuning pools only (see docs/replay.md).
BEST = AGENT_PRESETS["ucb"]
GREEDY = AgentConfig(name="greedy", diversity=0.0, explore_fraction=0.0)
#: The campaign's default-like settings (more spread and exploration), for comparison.
UCB = AgentConfig(name="ucb", kappa=1.0, diversity=0.3, explore_fraction=0.1)
THOMPSON = AgentConfig(name="thompson", diversity=0.3, explore_fraction=0.1)


# ----------------------------------------------------------------------------- data


def _binary_rows() -> list[dict]:
    from vitrify.settings import SHIPPED_BINARY_DATA

    rows = []
    with open(SHIPPED_BINARY_DATA, newline="") as fh:
        for r in csv.DictReader(fh):
            comp = parse_composition(r["formula"])
            rows.append({"formula": r["formula"], "gfa": int(r["gfa"]), "processing": "", "system": comp.system})
    return rows


def _landolt_rows(path: Path) -> list[dict]:
    rows = []
    with open(path, newline="") as fh:
        for r in csv.DictReader(fh):
            comp = parse_composition(r["formula"])
            rows.append({"formula": r["formula"], "gfa": int(r["gfa"]),
                         "processing": LANDOLT_ROUTE[r["processing"]], "system": comp.system})
    return rows


def _stats(rows, key=lambda r: r["system"]):
    out: dict[str, list[int]] = {}
    for r in rows:
        out.setdefault(key(r), []).append(r["gfa"])
    return {k: (len(v), float(np.mean(v))) for k, v in out.items()}


def _subsystem(system: str, parents: set[str]) -> bool:
    s = set(system.split("-"))
    return len(s) >= 2 and any(s <= set(p.split("-")) for p in parents)


def binary_tune_systems(rows) -> list[str]:
    stats = _stats([r for r in rows if "-" in r["system"]])
    ok = sorted(s for s, (n, f) in stats.items() if 0.15 <= f <= 0.6 and s not in BINARY_TEST)
    return ok[:6]


def landolt_meltspun_systems(rows) -> list[str]:
    ms = [r for r in rows if r["processing"] == "melt-spinning" and r["system"].count("-") == 2]
    stats = _stats(ms)
    ok = [(n, s) for s, (n, f) in stats.items() if n >= 50 and 0.05 <= f <= 0.85]
    return sorted(s for _, s in sorted(ok, reverse=True)[:8])


def landolt_sputtered_systems(rows) -> list[str]:
    sp = [r for r in rows if r["processing"] == "sputtering" and r["system"].count("-") == 2]
    return sorted(s for s, (n, _) in _stats(sp).items() if n >= 10)


def _edges(system: str) -> set[frozenset]:
    els = system.split("-")
    return {frozenset((a, b)) for i, a in enumerate(els) for b in els[i + 1:]}


def landolt_tune_systems(rows) -> list[str]:
    """Ternary tuning twin: the largest melt-spun Landolt ternaries after the eight of
    landolt-meltspun (>= 40 melt-spun rows, glass fraction in [0.05, 0.85]) that share no
    binary edge with a system of landolt-meltspun or landolt-sputtered (at most eight)."""
    taken = set(landolt_meltspun_systems(rows)) | set(landolt_sputtered_systems(rows))
    taken_edges = set().union(*(_edges(s) for s in taken))
    ms = [r for r in rows if r["processing"] == "melt-spinning" and r["system"].count("-") == 2]
    ranked = sorted(((n, s) for s, (n, f) in _stats(ms).items() if n >= 40 and 0.05 <= f <= 0.85), reverse=True)
    return [s for _, s in ranked if s not in taken and not (_edges(s) & taken_edges)][:8]


def prior_quality_by_system(rows, *, folds: int = 5, min_rows: int = 40, top: int = 10) -> dict[str, dict]:
    """How right the literature prior is per binary system, from the loop model
    (FastGlassModel) trained on the binaries of the other folds (folds are whole systems):
    ``top_precision``, the glass share among the system's ``top`` compositions by prior
    P(glass) (what greedy would make first), and ``overestimate``, mean prior minus the
    observed glass fraction. Computed from the data alone, before and independently of any
    agent."""
    from sklearn.model_selection import GroupKFold

    from agents.replay_harness import FastGlassModel
    from discovery.composition import CompositionMatrix
    from discovery.dataset import LabelledSet
    from discovery.features import featurizable

    comps = [parse_composition(r["formula"]) for r in rows]
    usable = featurizable(CompositionMatrix.from_compositions(comps))  # e.g. Ge-Te has no mixing enthalpy
    rows = [r for r, ok in zip(rows, usable) if ok]
    data = LabelledSet([c for c, ok in zip(comps, usable) if ok], ["unknown"] * len(rows),
                       [r["gfa"] for r in rows], ["literature"] * len(rows))
    systems = np.array([r["system"] for r in rows], dtype=object)
    prior = np.full(len(rows), np.nan)
    cache = FeatureCache()
    for train, test in GroupKFold(n_splits=folds).split(np.zeros(len(rows)), groups=systems):
        model = FastGlassModel(cache=cache).fit(data.subset(train))
        sub = data.subset(test)
        prior[test] = model.score(sub.matrix(), "unknown", names=sub.canonical).glass_probability
    out = {}
    for system in sorted(set(systems)):
        idx = np.flatnonzero(systems == system)
        labels = data.labels[idx]
        if "-" in system and len(idx) >= min_rows and 0 < labels.sum() < len(idx):
            best = idx[np.argsort(-prior[idx], kind="stable")[:top]]
            out[system] = {"top_precision": float(data.labels[best].mean()),
                           "overestimate": float(prior[idx].mean() - labels.mean())}
    return out


def binary_misled_systems(rows, quality: dict[str, dict]) -> tuple[list[str], list[str]]:
    """Where greedy is misled: the twelve binary systems (glass fraction in [0.15, 0.6], not in
    binary-test or binary-tune) whose prior's top picks are least often glasses (then: whose
    prior overestimates glass formation most), split alternately (ranks 1, 3, ... test;
    2, 4, ... tune) into a test pool and a tuning pool."""
    stats = _stats([r for r in rows if "-" in r["system"]])
    taken = set(BINARY_TEST) | set(binary_tune_systems(rows))
    ok = [s for s in quality if s not in taken and 0.15 <= stats[s][1] <= 0.6]
    worst = sorted(ok, key=lambda s: (quality[s]["top_precision"], -quality[s]["overestimate"]))[:12]
    return sorted(worst[0::2]), sorted(worst[1::2])


def pool_rows(rows, systems, route: str | None = None) -> list[dict]:
    systems = set(systems)
    out = []
    for r in rows:
        if route is not None and r["processing"] != route:
            continue
        if r["system"] in systems or _subsystem(r["system"], systems):
            out.append(dict(r, system=next(s for s in sorted(systems) if set(r["system"].split("-")) <= set(s.split("-")))))
    return out


def write_pool(rows, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["formula", "gfa", "processing", "system"])
        w.writeheader()
        w.writerows(rows)
    return path


# ----------------------------------------------------------------------------- runs


def run(name, pool, agent, *, budget, batch, seeds, extra, weights=True, local=True, calibration=False,
        cache=None, log=print):
    t = time.perf_counter()
    res = run_replay(pool, budget=budget, batch=batch, seeds=seeds, agent=agent, extra_literature=extra,
                     shift_weights=weights, local_posterior=local, calibration=calibration, cache=cache)
    s = res.summary()
    picks, agent_found = s["picks"], s["found"]["agent"]
    at40 = next((a for p, a in zip(picks, agent_found) if p >= 40), agent_found[-1])
    row = {
        "pool": name, "agent": agent.name if agent.name != "random" else "random (sim)",
        "weights": "yes" if weights else "no", "budget": picks[-1], "batch": batch, "seeds": seeds,
        "found@40": at40, "found": agent_found[-1], "random": s["found"]["random"][-1],
        "oracle": s["found"]["oracle"][-1], "oracle_frac": agent_found[-1] / max(s["found"]["oracle"][-1], 1),
        "AF": s["acceleration_factor"], "EF": s["enhancement_factor"], "AUC": s["final_roc_auc"],
        "seconds": round(time.perf_counter() - t, 1), "curve": agent_found, "picks": picks,
        "pool_size": s["pool"]["size"], "pool_glasses": s["pool"]["glasses"],
        "config": agent.model_dump(), "local": local, "calibration": calibration,
        "per_seed": s["found_per_seed"]["agent"],
    }
    log(_fmt_row(row))
    return row


HEADER = (f"{'pool':<18} {'agent':<28} {'w':<3} {'local':<22} {'N':>5} {'G':>5} {'budget':>6} {'@40':>6} {'found':>6} "
          f"{'random':>6} {'oracle':>6} {'%orc':>5} {'AF':>5} {'EF':>5} {'AUC':>5} {'s':>6}")


def _f(x, d=2):
    return "  n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{d}f}"


def _fmt_row(r):
    loc = r.get("local", True)
    loc = "no" if loc is False else ("yes" if loc is True else ",".join(f"{k[0]}={v}" for k, v in loc.items()))
    if r.get("calibration"):
        loc += "+calib"
    cfg = r.get("config", {})
    agent = r["agent"] + (f" k{cfg.get('kappa')} d{cfg.get('diversity')} e{cfg.get('explore_fraction')}"
                          + (f" f{cfg['exploit_final_batches']}" if cfg.get("exploit_final_batches") else "")
                          if r["agent"] not in ("random (sim)",) else "")
    return (f"{r['pool']:<18} {agent:<28} {r['weights']:<3} {loc:<22} {r['pool_size']:>5} {r['pool_glasses']:>5} "
            f"{r['budget']:>6} {r['found@40']:>6.1f} {r['found']:>6.1f} {r['random']:>6.1f} {r['oracle']:>6} "
            f"{100 * r['oracle_frac']:>5.0f} {_f(r['AF']):>5} {_f(r['EF']):>5} {_f(r['AUC']):>5} {r['seconds']:>6.0f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="budget 100 / batch 10 and 1 seed")
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--tune", action="store_true", help="agent sweep on the binary tuning pool only")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--pools", default="binary-test,binary-misled,landolt-meltspun,landolt-sputtered")
    ap.add_argument("--landolt", type=Path, default=DEFAULT_LANDOLT)
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "vitrify-bench-replay",
                    help="where results JSON and the pool CSVs go (never inside the repository)")
    ap.add_argument("--tag", default="bench", help="results file name (OUT/TAG.json)")
    ap.add_argument("--agents", default="random,greedy,best,ucb", help="subset of random,greedy,best,ucb")
    args = ap.parse_args(argv)

    binary = _binary_rows()
    landolt = _landolt_rows(args.landolt) if args.landolt.exists() else None
    landolt_set = None
    if landolt is not None:
        landolt_set = read_labelled(args.landolt)
        landolt_set.routes = np.array([LANDOLT_ROUTE.get(r, r) for r in landolt_set.routes], dtype=object)
    seeds = 1 if args.quick else args.seeds
    budget, batch = (100, 10) if args.quick else (200, args.batch)
    cache = FeatureCache()
    rows = []
    print(HEADER, flush=True)
    log = lambda line: print(line, flush=True)  # noqa: E731

    if args.tune:
        systems = binary_tune_systems(binary)
        pool = ReplayPool.from_records(pool_rows(binary, systems), source="binary-tune")
        print(f"# binary-tune systems: {', '.join(systems)}", flush=True)
        ucb = lambda k, d, e: AgentConfig(name="ucb", kappa=k, diversity=d, explore_fraction=e)  # noqa: E731
        thompson = lambda d, e: AgentConfig(name="thompson", diversity=d, explore_fraction=e)  # noqa: E731
        # the sweep behind BEST (budget 200 / batch 20, 2 seeds; see docs/replay.md)
        grid = [(GREEDY, True), (ucb(1.0, 0.1, 0.0), True), (thompson(0.1, 0.0), True), (ucb(0.5, 0.1, 0.0), True),
                (ucb(0.3, 0.1, 0.0), True), (ucb(0.5, 0.0, 0.0), True)]
        for agent, local in grid:
            rows.append(run("binary-tune", pool, agent, budget=budget, batch=batch, seeds=seeds, extra=(),
                            local=local, cache=cache, log=log))
        # the twin of binary-misled: where the prior's top picks are wrong (checked, did not change BEST)
        _, twin = binary_misled_systems(binary, prior_quality_by_system(binary))
        print(f"# binary-misled tuning twin: {', '.join(twin)}", flush=True)
        twin_pool = ReplayPool.from_records(pool_rows(binary, twin), source="binary-misled-tune")
        for agent in (GREEDY, BEST, ucb(1.0, 0.1, 0.0), thompson(0.1, 0.0), ucb(0.3, 0.3, 0.0)):
            rows.append(run("misled-tune", twin_pool, agent, budget=budget, batch=batch, seeds=seeds, extra=(),
                            cache=cache, log=log))
        # the local posterior's kernel (discovery.shift): the fixed length of the first
        # sessions against the spacing-based default, on all three tuning pools
        pools_t = [("binary-tune", pool, ()), ("misled-tune", twin_pool, ())]
        if landolt is not None:
            systems_t = landolt_tune_systems(landolt)
            print(f"# landolt-tune systems: {', '.join(systems_t)}", flush=True)
            pools_t.append(("landolt-tune", ReplayPool.from_records(
                pool_rows(landolt, systems_t, route="melt-spinning"), source="landolt-tune"), (landolt_set,)))
        fixed = {"length_scale": 0.05, "related_systems": False}
        for name, p, extra in pools_t:
            for local in (fixed, True):
                rows.append(run(name, p, BEST, budget=budget, batch=batch, seeds=seeds, extra=extra,
                                local=local, cache=cache, log=log))
            rows.append(run(name, p, BEST, budget=budget, batch=batch, seeds=seeds, extra=extra,
                            calibration=True, cache=cache, log=log))
        # the agent re-checked with the new local posterior, the ternary twin included (BEST kept)
        greedy_div = AgentConfig(name="greedy", diversity=0.1, explore_fraction=0.0)
        for name, p, extra in pools_t:
            for agent in (GREEDY, greedy_div, ucb(0.1, 0.1, 0.0), ucb(0.3, 0.05, 0.0), thompson(0.1, 0.0)):
                rows.append(run(name, p, agent, budget=budget, batch=batch, seeds=seeds, extra=extra,
                                cache=cache, log=log))
        # BEST's final greedy batch against exploring to the end and two greedy batches
        for name, p, extra in pools_t:
            for n_final in (0, 2):
                rows.append(run(name, p, BEST.model_copy(update={"exploit_final_batches": n_final}), budget=budget,
                                batch=batch, seeds=seeds, extra=extra, cache=cache, log=log))
        _save(rows, args.out / "tune.json")
        return 0

    wanted = args.pools.split(",")
    pools = []
    if "binary-test" in wanted:
        pools.append(("binary-test", ReplayPool.from_records(pool_rows(binary, BINARY_TEST), source="binary-test"), ()))
    if "binary-misled" in wanted:
        test_systems, tune_systems = binary_misled_systems(binary, prior_quality_by_system(binary))
        print(f"# binary-misled systems: {', '.join(test_systems)} (its tuning twin, in --tune: "
              f"{', '.join(tune_systems)})", flush=True)
        pools.append(("binary-misled", ReplayPool.from_records(pool_rows(binary, test_systems), source="binary-misled"), ()))
    landolt_pools = (("landolt-meltspun", landolt_meltspun_systems, "melt-spinning"),
                     ("landolt-sputtered", landolt_sputtered_systems, "sputtering"))
    for name, choose, route in landolt_pools if landolt is not None else ():
        if name in wanted:
            systems = choose(landolt)
            rws = pool_rows(landolt, systems, route=route)
            write_pool(rws, args.out / "pools" / f"{name.replace('-', '_')}.csv")
            print(f"# {name} systems: {', '.join(systems)}", flush=True)
            pools.append((name, ReplayPool.from_records(rws, source=name), (landolt_set,)))
    if landolt is None:
        print(f"# {args.landolt} not found: Landolt pools skipped", flush=True)

    for name, pool, extra in pools:
        b = min(budget, len(pool))
        chosen = {"random": AgentConfig(name="random"), "greedy": GREEDY, "best": BEST, "ucb": UCB}
        agents = [chosen[a] for a in args.agents.split(",")]
        for agent in agents:
            s = seeds if agent in (BEST, GREEDY, AgentConfig(name="random")) else 1  # greedy too: its fits vary by seed
            rows.append(run(name, pool, agent, budget=b, batch=batch, seeds=s, extra=extra, cache=cache, log=log))
        if name == "landolt-sputtered":
            for agent in [a for a in (GREEDY, BEST) if a in agents]:
                rows.append(run(name, pool, agent, budget=b, batch=batch, seeds=seeds,
                                extra=extra, weights=False, cache=cache, log=log))
            if BEST in agents:  # the logit-shift calibration (off by default), measured where the route shifts
                rows.append(run(name, pool, BEST, budget=b, batch=batch, seeds=seeds, extra=extra,
                                calibration=True, cache=cache, log=log))
    _save(rows, args.out / f"{args.tag}.json")
    print()
    print(_goals(rows))
    return 0


def _goals(rows) -> str:
    head = (f"goals (best agent = {BEST.name} k{BEST.kappa} d{BEST.diversity} e{BEST.explore_fraction}, greedy "
            f"in the final {BEST.exploit_final_batches} batch(es), with shift weights):")
    lines = [head]
    for pool in sorted({r["pool"] for r in rows}):
        best = next((r for r in rows if r["pool"] == pool and r["config"] == BEST.model_dump()
                     and r["weights"] == "yes" and r["local"] is True and not r.get("calibration")), None)
        greedy = next((r for r in rows if r["pool"] == pool and r["agent"] == "greedy" and r["weights"] == "yes"), None)
        if best is None:
            continue
        g90 = best["oracle_frac"] >= 0.9
        line = f"  {pool}: {100 * best['oracle_frac']:.0f}% of oracle at {best['budget']} picks ({'met' if g90 else 'NOT met'})"
        if greedy is not None:
            beat = best["found@40"] > greedy["found@40"]
            line += (f"; at 40 picks {BEST.name} {best['found@40']:.1f} vs greedy {greedy['found@40']:.1f} "
                     f"({'met' if beat else 'NOT met'})")
        lines.append(line)
    return "\n".join(lines)


def _save(rows, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, indent=1) + "\n")
    print(f"# results: {path}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
