"""Two MD simulations in parallel on local Ray vs one after the other (same machine).

    .venv/bin/python bench/bench_md_ray.py [--n-atoms 256]

Each run is the fast test protocol of Cu50Zr50 (Mendelev potential) on one core.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n-atoms", type=int, default=256)
    args = parser.parse_args()
    from vitrify.settings import quiet_third_party_defaults

    quiet_third_party_defaults()
    import ray

    from agents.simulation.engine import SimulationSettings, run_simulation
    from agents.simulation.worker import SimulationRunner
    from discovery.composition import parse_composition

    settings = SimulationSettings.test(n_atoms=args.n_atoms)
    comps = ["Cu50Zr50", "Cu64Zr36"]
    work = tempfile.mkdtemp(prefix="vitrify-bench-md-ray-")

    t0 = time.perf_counter()
    for i, c in enumerate(comps):
        run_simulation(parse_composition(c), settings, os.path.join(work, f"seq-{i}"))
    sequential = time.perf_counter() - t0

    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=128 * 1024**2, log_to_driver=False)
    runner = SimulationRunner(cores=1, timeout_s=3600)
    t0 = time.perf_counter()
    for i, c in enumerate(comps):
        runner.submit({"job_id": i, "canonical": c, "settings": settings.to_dict(), "workdir": os.path.join(work, "ray")})
    results = runner.wait_all(3600)
    parallel = time.perf_counter() - t0
    ray.shutdown()
    assert all(r["status"] == "succeeded" for r in results), [r.get("reason") for r in results]
    print(f"\n{'mode':<32} {'simulations':>11} {'wall s':>8} {'speed-up':>9}")
    print(f"{'one after the other (in-process)':<32} {2:>11} {sequential:>8.1f} {1.0:>9.2f}")
    print(f"{'parallel on local Ray (2 CPUs)':<32} {2:>11} {parallel:>8.1f} {sequential / parallel:>9.2f}")
    print(f"({args.n_atoms} atoms, test protocol; Ray's time includes starting two worker processes)")


if __name__ == "__main__":
    main()
