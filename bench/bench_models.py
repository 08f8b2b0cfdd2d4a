"""Grouped cross-validation tables of vitrify's models on real public data.

Run: ``.venv/bin/python bench/bench_models.py [--skip-liquidus] [--skip-gfa] [--skip-modulus] [--folds 5]``

Prints three tables (pooled out-of-fold predictions; folds grouped by chemical system, so
no system is in two folds; random K-fold beside, never instead):

1. Liquidus T_liq (discovery.liquidus.grouped_cv_mae): MAE (K) of the learned regressor and
   of the fictive liquidus T_fic = sum c_i Tm_i, on the default sources and the shippable ones.
2. GFA (default ensemble hyperparameters, not tuned on these folds): ROC-AUC, balanced
   accuracy, Sun's E (P_target^2 / P_whole; admissible if P_target > 0.3) and calibration
   error, per member and for the ensemble, on
   * the Sun 2017 binaries vitrify ships (glass_binary_v2.csv),
   * the Landolt ternaries (melt-spun and sputtered; the route is an input),
   * matbench_glass (deduplicated Landolt compositions), with matbench's own random folds
     beside the leaderboard (RF-SCM/Magpie 0.859, MODNet 0.960).
   Landolt, matbench, Ward, Xiong and DMREF share the Landolt-Boernstein root: each set is
   only ever cross-validated on itself. For the binaries, an extra grouped run refits the
   liquidus estimate without each fold's held-out systems (the honest variant: otherwise
   measured T_liq of held-out systems inform their dT_liq feature).
3. Modulus (discovery.modulus): MAE (GPa) and R^2 of the rule-of-mixtures baseline, the
   polynomial, LASSO, random forest and MLP regressors and their ensemble, for E, G, K.

The shared data are read from ``<repo>/../shared/data`` at run time (Xiong's files are GPL-3:
never copied into the repository).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from discovery.evaluation import (  # noqa: E402
    MATBENCH_GLASS_LEADERBOARD,
    gfa_benchmark,
    liquidus_refit_factory,
    public_gfa_datasets,
    shared_data_dir,
)

SHARED = shared_data_dir(ROOT)


def _f(x, digits=3) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def liquidus_table(folds: int) -> None:
    from discovery import liquidus
    from discovery.features import BASE_FEATURE_NAMES, base_features

    print("\n== Liquidus T_liq: grouped CV by chemical system (MAE, K)")
    print(f"{'sources':<22}{'n':>6}{'systems':>9}{'T_fic MAE':>11}{'regressor MAE':>15}{'seconds':>9}")
    sets = {"default " + "+".join(liquidus.DEFAULT_SOURCES): liquidus.DEFAULT_SOURCES,
            "shipped " + "+".join(liquidus.SHIPPABLE_SOURCES): liquidus.SHIPPABLE_SOURCES}
    for name, sources in sets.items():
        t0 = time.perf_counter()
        data = liquidus.load_liquidus_data(SHARED, sources)
        mae, _ = liquidus.grouped_cv_mae(data.matrix, data.t_liquidus, data.systems, n_splits=folds)
        t_fic = base_features(data.matrix)[:, BASE_FEATURE_NAMES.index("T_fic")]
        print(f"{name:<22}{len(data.t_liquidus):>6}{len(set(data.systems)):>9}"
              f"{np.mean(np.abs(t_fic - data.t_liquidus)):>11.1f}{mae:>15.1f}{time.perf_counter() - t0:>9.1f}")


def gfa_table(folds: int) -> None:
    datasets = public_gfa_datasets(SHARED, ROOT / "discovery" / "data" / "literature" / "sun2017_binary" / "glass_binary_v2.csv")
    print("\n== GFA: ROC-AUC, balanced accuracy, Sun's E (pooled out-of-fold; default ensemble hyperparameters)")
    for name, data in datasets.items():
        routes = {r: int((data.routes == r).sum()) for r in sorted(set(data.routes.tolist()))}
        print(f"   {name}: {len(data)} rows, {int(data.labels.sum())} glass, {len(set(data.systems.tolist()))} systems, "
              f"routes {routes}")
    t0 = time.perf_counter()
    refit = liquidus_refit_factory(SHARED)
    rows = []
    for name, data in datasets.items():
        rows += gfa_benchmark({name: data}, n_splits=folds, liquidus_for_fold=refit if name == "binary" else None)
        print(f"   ... {name} done ({time.perf_counter() - t0:.0f} s)", flush=True)
    header = f"{'data set':<10}{'protocol':<50}{'model':<10}{'n':>6}{'ROC-AUC':>9}{'bal.acc':>9}{'Sun E':>7}" \
             f"{'P_tgt':>7}{'P_whl':>7}{'adm.':>6}{'ECE':>7}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['dataset']:<10}{r['protocol']:<50}{r['model']:<10}{r['n']:>6}{_f(r['roc_auc']):>9}"
              f"{_f(r['balanced_accuracy']):>9}{_f(r['sun_e'], 2):>7}{_f(r['p_target'], 2):>7}{_f(r['p_whole'], 2):>7}"
              f"{'yes' if r['sun_e_valid'] else 'no':>6}{_f(r.get('ece')):>7}")
    for name, auc in MATBENCH_GLASS_LEADERBOARD.items():
        print(f"{'matbench':<10}{'random 5-fold (matbench leaderboard)':<50}{name:<10}{5680:>6}{auc:>9.3f}")
    print(f"({time.perf_counter() - t0:.0f} s)")
    print("Protocols differ: matbench scores random 5-fold on deduplicated compositions (near-identical compositions "
          "of one system on both sides of a split); the grouped rows hold every composition of a chemical system "
          "out together, which is what predicting a new system requires.")


def modulus_table(folds: int) -> None:
    from discovery.modulus import TARGETS, cross_validate_modulus, load_modulus_data

    data = load_modulus_data(SHARED)
    print(f"\n== Modulus (GPa): {len(data)} compositions (Xiong 2020 EM + DMREF v5), "
          f"E {int(np.isfinite(data.targets['E']).sum())}, G {int(np.isfinite(data.targets['G']).sum())}, "
          f"K {int(np.isfinite(data.targets['K']).sum())}")
    header = f"{'target':<8}{'model':<18}{'grouped MAE':>12}{'grouped R2':>11}{'random MAE':>12}{'random R2':>10}"
    print(header)
    print("-" * len(header))
    t0 = time.perf_counter()
    for target in TARGETS:
        g = cross_validate_modulus(data, target, n_splits=folds).metrics()
        r = cross_validate_modulus(data, target, protocol="random", n_splits=folds).metrics()
        for model in g:
            print(f"{target:<8}{model:<18}{g[model]['mae']:>12.2f}{g[model]['r2']:>11.3f}{r[model]['mae']:>12.2f}"
                  f"{r[model]['r2']:>10.3f}")
        print(f"{'':<8}{'ensemble spread':<18}{g['ensemble']['mean_std']:>12.2f}  (mean member std, grouped)")
    print(f"({time.perf_counter() - t0:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--skip-liquidus", action="store_true")
    parser.add_argument("--skip-gfa", action="store_true")
    parser.add_argument("--skip-modulus", action="store_true")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)
    if not SHARED.exists():
        raise SystemExit(f"shared data folder {SHARED} not found")
    if not args.skip_liquidus:
        liquidus_table(args.folds)
    if not args.skip_modulus:
        modulus_table(args.folds)
    if not args.skip_gfa:
        gfa_table(args.folds)


if __name__ == "__main__":
    main()
