"""Orchestration overhead of a campaign iteration: the share of wall time spent outside
useful work (scoring, batch selection, model fitting), i.e. in Prefect, Ray and database
bookkeeping and the per-iteration artifacts.

    .venv/bin/python bench/bench_overhead.py                  # embedded defaults (SQLite, local Ray, local Prefect)
    .venv/bin/python bench/bench_overhead.py --use-environment  # whatever VITRIFY_DATABASE_URL / RAY_ADDRESS / PREFECT_API_URL say

The first iteration includes starting Ray (and, embedded, Prefect's local server was
started before the flow); the table shows it and the steady-state mean without it.
"wall" is the whole iteration as the flow's loop sees it; "report s" is the iteration's
report task (artifacts and plots), which runs beside the next iteration; the last columns
are the fit time of each model the retraining step refitted (agents.retrain: GFA, modulus,
bulk GFA; a model whose data did not change is not refitted). The campaign is the shipped
demo's (`vitrify campaign run` with its defaults), on a database seeded as it seeds one.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--use-environment", action="store_true", help="do not isolate: use the configured services")
    args = parser.parse_args()
    if not args.use_environment:
        root = tempfile.mkdtemp(prefix="vitrify-bench-overhead-")
        os.environ["VITRIFY_DATA_DIR"] = root
        os.environ.pop("VITRIFY_DATABASE_URL", None)
        os.environ.setdefault("PREFECT_HOME", os.path.join(root, "prefect"))
    from vitrify.settings import SHIPPED_BINARY_DATA, get_settings, quiet_third_party_defaults

    quiet_third_party_defaults()
    from agents.loop import create_campaign
    from db.literature import seed_literature
    from db.migrate import upgrade
    from db.session import get_engine, session_scope
    from flows.campaign import campaign_flow
    from vitrify.cli import DEFAULT_HOLDOUT, _replay_config

    engine = get_engine()
    upgrade(engine)
    with session_scope(engine) as s:
        seed_literature(s)
        config = _replay_config("bench-overhead", DEFAULT_HOLDOUT, args.iterations, args.batch, SHIPPED_BINARY_DATA,
                                "ucb", 0, None, "UTC")
        campaign_id = create_campaign(s, config).id
    started = time.perf_counter()
    summary = campaign_flow(campaign_id)
    total = time.perf_counter() - started
    settings = get_settings()
    where = "environment" if args.use_environment else "embedded"
    print(f"\norchestration overhead, {where}: database {settings.sqlalchemy_url.split('@')[-1]}, "
          f"Ray {settings.ray_address or os.environ.get('RAY_ADDRESS') or 'local'}, "
          f"Prefect {os.environ.get('PREFECT_API_URL', 'local server')}")
    print(f"{'iteration':>9} {'wall s':>8} {'work s':>8} {'overhead s':>11} {'overhead %':>11} {'report s':>9}"
          f" {'GFA fit':>8} {'modulus':>8} {'bulk':>8}")
    fractions = []
    for row in summary["iterations"]:
        wall = row["wall_seconds"]
        overhead = wall - row["work_seconds"]
        fractions.append((overhead, wall))
        fits = row.get("fit_seconds", {})
        cells = [f"{fits[k]:>8.2f}" if k in fits else f"{'-':>8}"
                 for k in ("gfa-ensemble", "modulus-ensemble", "bulk-gfa-ensemble")]
        print(f"{row['iteration']:>9} {wall:>8.2f} {row['work_seconds']:>8.2f} {overhead:>11.2f} {100 * overhead / wall:>10.1f}% "
              f"{row.get('report_seconds', float('nan')):>9.2f} {' '.join(cells)}")
    steady = fractions[1:] or fractions
    o, w = sum(f[0] for f in steady), sum(f[1] for f in steady)
    print(f"steady state (iterations 2..{len(fractions)}): overhead {o:.2f} s of {w:.2f} s = {100 * o / w:.1f}%")
    print(f"whole flow run: {total:.1f} s for {len(fractions)} iterations")


if __name__ == "__main__":
    main()
