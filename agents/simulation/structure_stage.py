"""The engine's optional structure stage (settings ``sro`` / ``softness``; docs/structure.md).

* SRO: K-means motif clusters of the per-atom Voronoi indices of the inherent structure
  (the energy-minimized glass the Voronoi summary already uses).
* Softness: after the elastic constants, the glass (inherent structure, triclinic box of the
  relaxed glass) is heated to ``structure_temperature_K`` (default 0.9 x the MD Tg of this
  quench, 0.4 x the melt temperature when no kink was found), equilibrated under NVT, and a
  production run is recorded every ``structure_frame_ps``; p_hop with window t_R, p_c =
  ``structure_p_c_factor`` x (first RDF peak)^2, then :func:`discovery.structure.softness_from_trajectory`
  (earliest half of the analysed frames trains, the later half tests).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from discovery import structure as st

from .trajectory import collect_frames, local_types


def sro_stage(result, vor, types0: np.ndarray, elements: list[str], x0: np.ndarray) -> dict:
    symbols = np.array([elements[t - 1] for t in types0])
    sro, labels = st.motif_clusters(vor.indices, symbols)
    sro["structure"] = "energy-minimized glass"
    result.sro = sro
    shares = st.motif_shares(sro)
    result.motif_1_share, result.motif_2_share, result.motif_3_share = (shares[f"motif_{i}_share"] for i in (1, 2, 3))
    return {
        "inherent_positions": x0,
        "types": types0,
        "symbols": symbols,
        "voronoi_indices": np.asarray(vor.indices, dtype=int),
        "motif_cluster": labels,
    }


def _cell(run) -> np.ndarray:
    lo, hi, (xy, yz, xz) = run.box()
    L = hi - lo
    return np.array([[L[0], 0.0, 0.0], [xy, L[1], 0.0], [xz, yz, L[2]]])


def softness_stage(run, s, result, elements: list[str], cores: int) -> dict:
    tg = result.glass_transition_K
    melt = (result.protocol or {}).get("melt_temperature_K", 2000.0)
    T = s.structure_temperature_K or (s.structure_tg_fraction * tg if tg else 0.4 * melt)
    dt = s.timestep_ps
    every = max(1, int(round(s.structure_frame_ps / dt)))
    frame_ps = every * dt
    r0 = float((result.rdf or {}).get("first_peak_A") or 2.7)
    seed = int(result.protocol.get("seeds", {}).get("velocities", s.seed)) % 900_000_000 + 7
    run.cmd(
        f"""
        reset_timestep 0
        velocity all create {T} {seed} dist gaussian mom yes rot yes
        fix soft_eq all nvt temp {T} {T} {s.tdamp_ps}
        run {max(1, int(round(s.structure_equilibrate_ps / dt)))}
        unfix soft_eq
        """
    )
    n_frames = int(round(s.structure_production_ps / frame_ps)) + 1
    traj = collect_frames(run.lmp, n_frames, every, T, s.tdamp_ps)
    types = local_types(run.lmp)
    symbols = np.array([elements[t - 1] for t in types])
    cell = _cell(run)
    per = lambda ps: max(1, int(round(ps / frame_ps)))  # noqa: E731
    protocol = st.SoftnessProtocol(
        half_window=per(s.structure_t_r_ps / 2),
        p_c=s.structure_p_c_factor * r0**2,
        quiet_window=per(s.structure_quiet_ps),
        sample_every=per(s.structure_sample_ps),
        average_frames=int(round(s.structure_average_ps / frame_ps)),
    )
    out = st.softness_from_trajectory(traj, symbols, cell, protocol, length_scale=r0, n_jobs=1)
    report = out["report"]
    arrays = out.pop("arrays")
    out.pop("_model", None)
    result.softness = report | {
        "rearrangement": "p_hop (Candelier 2010) in an NVT run of the glass",
        "temperature_K": T,
        "frame_ps": frame_ps,
        "t_r_ps": 2 * protocol.half_window * frame_ps,
        "protocol": out["protocol"],
        "model": out["model"],
        "svm_plane": {k: out["raw_plane"][k] for k in ("fraction_soft", "fraction_rearranging_soft", "classification_accuracy")},
        "structure_functions": out["structure_functions"],
    }
    result.mean_softness = report["mean_softness"]
    result.fraction_soft = report["fraction_soft"]
    return {
        "softness": arrays["softness"],
        "p_hop": arrays["p_hop"],
        "rearranging": arrays["rearranging"],
        "test_frames": arrays["test_frames"],
        "softness_symbols": arrays["symbols"],
        "trajectory_cell": cell,
    }


def save_arrays(path: Path, arrays: dict[str, Any]) -> Path:
    """Per-atom arrays for a notebook: ``np.load(path)``; string arrays as unicode."""
    np.savez_compressed(path, **{k: np.asarray(v) for k, v in arrays.items()})
    return path
