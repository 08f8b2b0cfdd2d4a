"""Featurization throughput: vitrify's vectorized featurizer vs the equivalent matminer featurizers.

Run: ``.venv/bin/python bench/bench_featurize.py [--n 10000] [--enumerated 1000000]``

* Same 10,000 real compositions for both (unique formulas of matminer's Landolt ternary
  and Sun 2017 binary glass sets in discovery/data/literature, sampled with a fixed seed), both
  timed from an already-parsed representation (vitrify: CompositionMatrix; matminer:
  pymatgen Composition objects), one process, n_jobs=1.
* matminer side = what computes vitrify's columns: ElementProperty (pymatgen atomic_mass,
  melting_point, X: mean/min/max/std_dev; magpie MiracleRadius, NValence: mean),
  YangSolidSolution (delta, Omega), AtomicPackingEfficiency's simultaneous packing
  efficiency, and the pair loop over matminer's MixingEnthalpy table for dH_mix.
  WenAlloys is timed on a smaller sample (it is ~40-70 ms per composition).
* vitrify is timed with a given T_liq (pure feature arithmetic) and with the default
  learned liquidus estimate for dT_liq (which matminer has no equivalent of).
* Then vitrify alone on an enumerated 4-element grid (Al-Cu-Ni-Zr) of 1,000,000 compositions.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from math import comb
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from discovery.composition import CompositionMatrix  # noqa: E402
from discovery.features import FEATURE_NAMES, featurizable, featurize  # noqa: E402

from discovery.literature import literature_dir  # noqa: E402

SHARED = literature_dir()


def real_sample(n: int, seed: int = 0) -> tuple[list[str], CompositionMatrix]:
    landolt = pd.read_csv(SHARED / "landolt_ternary" / "glass_ternary_landolt.csv")
    binary = pd.read_csv(SHARED / "sun2017_binary" / "glass_binary_v2.csv")
    formulas = sorted(set(landolt["formula"]) | set(binary["formula"]))
    matrix = CompositionMatrix.from_formulas(formulas)
    ok = np.flatnonzero(featurizable(matrix))
    if n > len(ok):
        raise SystemExit(f"only {len(ok)} featurizable real compositions, asked for {n}")
    idx = np.sort(np.random.default_rng(seed).choice(ok, n, replace=False))
    return [formulas[i] for i in idx], matrix.take(idx)


def simplex_grid(k: int, n_points: int) -> np.ndarray:
    """First ``n_points`` compositions of the k-component simplex grid with step 1/N."""
    steps = 1
    while comb(steps + k - 1, k - 1) < n_points:
        steps += 1
    # all integer vectors summing to `steps`: choose k-1 cut points among steps+k-1 slots
    from itertools import combinations

    cuts = np.array(list(combinations(range(steps + k - 1), k - 1)))[:n_points]
    bounds = np.hstack([np.full((len(cuts), 1), -1), cuts, np.full((len(cuts), 1), steps + k - 1)])
    counts = np.diff(bounds, axis=1) - 1
    return counts / steps, steps


def best_of(fn, repeats: int) -> tuple[float, float]:
    """(wall, CPU) seconds of the fastest of ``repeats`` calls."""
    best = (np.inf, np.inf)
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        fn()
        best = min(best, (time.perf_counter() - w, time.process_time() - c))
    return best


def time_matminer(formulas: list[str]) -> tuple[tuple[float, float], int]:
    from matminer.featurizers.composition import AtomicPackingEfficiency, ElementProperty, YangSolidSolution
    from matminer.utils.data import MixingEnthalpy
    from pymatgen.core import Composition

    comps = [Composition(f) for f in formulas]
    ep1 = ElementProperty("pymatgen", ["atomic_mass", "melting_point", "X"], ["mean", "minimum", "maximum", "std_dev"])
    ep2 = ElementProperty("magpie", ["MiracleRadius", "NValence"], ["mean"])
    yss = YangSolidSolution(impute_nan=False)
    ape = AtomicPackingEfficiency(impute_nan=False)
    table = MixingEnthalpy(impute_nan=False)
    for f in (ep1, ep2, yss, ape):
        f.set_n_jobs(1)
    ep1.data_source.impute_nan = False
    ep2.data_source.impute_nan = False

    def dh(comp):
        els, fr = zip(*comp.fractional_composition.items())
        return 4 * sum(fr[i] * fr[j] * table.get_mixing_enthalpy(els[i], els[j]) for i in range(len(els)) for j in range(i))

    w, c0 = time.perf_counter(), time.process_time()
    rows = [
        ep1.featurize(c) + ep2.featurize(c) + yss.featurize(c) + list(ape.compute_simultaneous_packing_efficiency(c)) + [dh(c)]
        for c in comps
    ]
    return (time.perf_counter() - w, time.process_time() - c0), len(rows[0])


def time_wen(formulas: list[str]) -> tuple[float, float]:
    from matminer.featurizers.composition import WenAlloys
    from pymatgen.core import Composition

    comps = [Composition(f) for f in formulas]
    wen = WenAlloys(impute_nan=False)
    wen.set_n_jobs(1)
    w, c0 = time.perf_counter(), time.process_time()
    for c in comps:
        wen.featurize(c)
    return time.perf_counter() - w, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10_000, help="real compositions for the comparison")
    ap.add_argument("--wen", type=int, default=200, help="compositions for the WenAlloys row")
    ap.add_argument("--enumerated", type=int, default=1_000_000, help="size of the enumerated 4-element grid")
    args = ap.parse_args()

    formulas, matrix = real_sample(args.n)
    t_given = np.full(len(matrix), 1000.0)
    featurize(matrix.take([0]))  # warm caches: element tables, default liquidus model (fit once)
    t_vit = best_of(lambda: featurize(matrix, t_liquidus=t_given), 5)
    t_vit_est = best_of(lambda: featurize(matrix), 3)
    t_mm, n_mm_cols = time_matminer(formulas)
    t_wen = time_wen(formulas[: args.wen])

    grid, steps = simplex_grid(4, args.enumerated)
    big = CompositionMatrix(("Al", "Cu", "Ni", "Zr"), grid)
    t_big = best_of(lambda: featurize(big, t_liquidus=np.full(len(big), 1000.0)), 2)
    t_big_est = best_of(lambda: featurize(big), 1)

    n = len(matrix)
    rows = [
        ("vitrify featurize (T_liq given)", n, t_vit),
        ("vitrify featurize (T_liq estimated)", n, t_vit_est),
        (f"matminer equivalent ({n_mm_cols} cols)", n, t_mm),
        ("matminer WenAlloys", args.wen, t_wen),
        (f"vitrify, Al-Cu-Ni-Zr grid (step 1/{steps}, T_liq given)", len(big), t_big),
        (f"vitrify, Al-Cu-Ni-Zr grid (step 1/{steps}, T_liq estimated)", len(big), t_big_est),
    ]
    print(f"{len(FEATURE_NAMES)} vitrify features: {', '.join(FEATURE_NAMES)}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
          "(wall rates suffer from other processes; CPU-time rates much less)")
    print(f"{'what':58s} {'n':>9s} {'wall s':>8s} {'comps/s wall':>13s} {'comps/s CPU':>12s}")
    for name, count, (wall, cpu) in rows:
        print(f"{name:58s} {count:9d} {wall:8.3f} {count / wall:13,.0f} {count / max(cpu, 1e-9):12,.0f}")
    for label, t in (("T_liq given", t_vit), ("T_liq estimated", t_vit_est)):
        print(f"ratio vitrify / matminer, same {n} compositions, same run, {label}: "
              f"{t_mm[0] / t[0]:,.0f}x wall, {t_mm[1] / t[1]:,.0f}x CPU")


if __name__ == "__main__":
    main()
