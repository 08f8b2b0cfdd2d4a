"""The MD protocol: random liquid -> melt (NPT) -> quench (NPT) -> relax -> measurements.

:func:`run_simulation` is a pure function of (composition, settings, cores): it writes only into
``workdir`` (LAMMPS log, quench curve, generated potential file), returns a
:class:`SimulationResult` (JSON-serializable with :meth:`SimulationResult.to_dict`) and never
raises for a composition no potential covers (status ``"not simulable"``) or for a LAMMPS
error (status ``"failed"``, with the error text). LAMMPS runs in-process (one instance per call,
closed at the end), so it is safe inside a worker process such as a Ray task.
"""

from __future__ import annotations

import ctypes
import json
import math
import os
import platform
import time
import traceback
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from discovery.composition import Composition

from . import analysis
from ._lammps import lammps_package_version, new_lammps
from .potentials import PotentialChoice, not_simulable_reason, select_potential
from .zhou import file_sha256

STATUS_SUCCEEDED = "succeeded"
STATUS_NOT_SIMULABLE = "not simulable"
STATUS_FAILED = "failed"

AVOGADRO = 6.02214076e23
BAR_TO_GPA = 1e-4
VOIGT = ("xx", "yy", "zz", "yz", "xz", "xy")


@dataclass(frozen=True)
class SimulationSettings:
    """Everything that defines the protocol (all recorded with each result).

    Defaults are the production protocol (2,000 atoms, 1e13 K/s quench);
    :meth:`test` is the fast preset used by the tests and the benchmark.
    """

    preset: str = "production"
    n_atoms: int = 2000
    seed: int = 20240601
    timestep_ps: float = 0.002
    melt_temperature_K: float | None = None  # None: 1.25 x rule-of-mixtures melting point, 1500-3500 K
    melt_time_ps: float = 50.0
    quench_rate_K_per_ps: float = 10.0  # 1 K/ps = 1e12 K/s
    final_temperature_K: float = 300.0
    relax_time_ps: float = 20.0
    sample_time_ps: float = 20.0  # NPT at final T: density, energy, RDF averages
    pressure_bar: float = 0.0
    tdamp_ps: float = 0.1
    pdamp_ps: float = 1.0
    liquid_volume_factor: float = 1.15  # initial volume / rule-of-mixtures solid volume
    tg_window_K: float = 10.0  # quench V(T) is averaged over windows this wide
    elastic_strain: float = 5e-4  # +/- strain of each of the 6 Voigt components (0 K, relaxed)
    elastic_retries: int = 3  # halve the strain when a plastic event is detected
    elastic_linearity_tolerance: float = 0.1  # relative mismatch of the + and - stress responses
    elastic_ftol: float = 1e-9  # eV/A, FIRE minimizations at fixed box (reference and strained)
    minimize_ftol: float = 1e-8  # eV/A, CG with the box relaxing
    zero_stress_cycles: int = 4  # box-relaxation rounds at most
    zero_stress_tolerance_GPa: float = 0.02
    minimize_max_iterations: int = 5000
    rdf_bins: int = 120
    rdf_cutoff_A: float = 8.0  # limited to the force cut-off and half the box
    rdf_samples: int = 10
    voronoi_top: int = 20
    # optional structure stage (issue 17, docs/structure.md): SRO motifs of the inherent
    # structure; softness from an NVT run of the glass near Tg (p_hop rearrangements)
    sro: bool = False
    softness: bool = False
    structure_temperature_K: float | None = None  # None: structure_tg_fraction x MD Tg
    structure_tg_fraction: float = 0.9
    structure_equilibrate_ps: float = 20.0
    structure_production_ps: float = 100.0
    structure_frame_ps: float = 0.1
    structure_t_r_ps: float = 2.0  # p_hop window t_R
    structure_quiet_ps: float = 4.0  # quiescent: p_hop < p_c within this of t
    structure_sample_ps: float = 1.0  # analysed frames this far apart
    structure_average_ps: float = 0.4  # structure of the positions averaged over [t - this, t]
    structure_p_c_factor: float = 0.2  # p_c = factor x (first RDF peak)^2, as 0.2 sigma^2 for LJ

    @classmethod
    def production(cls, **overrides: Any) -> "SimulationSettings":
        return replace(cls(), **overrides)

    @classmethod
    def test(cls, **overrides: Any) -> "SimulationSettings":
        """256 atoms, 1e14 K/s, short holds: about 30 s of one core for a binary."""
        base = cls(
            preset="test",
            n_atoms=256,
            melt_time_ps=6.0,
            quench_rate_K_per_ps=100.0,
            relax_time_ps=4.0,
            sample_time_ps=4.0,
            rdf_samples=5,
            structure_equilibrate_ps=4.0,
            structure_production_ps=24.0,
        )
        return replace(base, **overrides)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "SimulationSettings":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class SimulationResult:
    composition: str
    status: str  # "succeeded" | "not simulable" | "failed"
    settings: dict
    reason: str | None = None
    potential: dict | None = None  # name, pair_style, elements, source, reference, file, sha256
    protocol: dict = field(default_factory=dict)  # derived: temperatures, step counts, seeds
    provenance: dict = field(default_factory=dict)  # lammps version, cores, times, host
    n_atoms: int | None = None
    atom_counts: dict | None = None
    density_g_cm3: float | None = None
    density_std_g_cm3: float | None = None
    volume_per_atom_A3: float | None = None
    potential_energy_eV_per_atom: float | None = None  # mean at final temperature
    inherent_energy_eV_per_atom: float | None = None  # energy-minimized glass (0 K)
    glass_transition_K: float | None = None  # kink of V(T) during the quench
    glass_transition_energy_K: float | None = None  # kink of PE(T), second estimate
    tg_fit: dict | None = None
    elastic: dict | None = None  # C_ij (GPa), K/G Voigt/Reuss/Hill, E, nu
    bulk_modulus_GPa: float | None = None
    shear_modulus_GPa: float | None = None
    youngs_modulus_GPa: float | None = None
    poisson_ratio: float | None = None
    rdf: dict | None = None  # r, total, partial g(r)
    voronoi: dict | None = None
    icosahedral_fraction: float | None = None
    quench_curve: dict | None = None  # T, volume/atom, PE/atom windows
    sro: dict | None = None  # motif clusters (discovery.structure.motif_clusters)
    softness: dict | None = None  # discovery.structure.softness_report and protocol
    mean_softness: float | None = None
    fraction_soft: float | None = None
    motif_1_share: float | None = None
    motif_2_share: float | None = None
    motif_3_share: float | None = None
    structure_artifact: str | None = None  # npz with the per-atom arrays
    warnings: list = field(default_factory=list)  # quality flags (e.g. nonlinear elastic response)
    wall_time_s: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == STATUS_SUCCEEDED

    def to_dict(self) -> dict:
        return _jsonable(asdict(self))

    def to_json(self, **kw: Any) -> str:
        return json.dumps(self.to_dict(), **kw)

    @classmethod
    def from_dict(cls, data: dict) -> "SimulationResult":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


# ----------------------------------------------------------------------------- helpers
def melt_temperature(composition: Composition, settings: SimulationSettings) -> float:
    if settings.melt_temperature_K is not None:
        return float(settings.melt_temperature_K)
    from pymatgen.core import Element

    tm = sum(f * float(Element(e).melting_point) for e, f in composition.fractions)
    return float(min(3500.0, max(1500.0, 50.0 * round(1.25 * tm / 50.0))))


def _atomic_volume(element: str) -> float:
    """Solid volume per atom (A^3): Zhou fcc volume where available, else pymatgen molar volume."""
    from pymatgen.core import Element

    mv = Element(element).molar_volume  # cm^3/mol
    if mv:
        return float(mv) / AVOGADRO * 1e24
    from .zhou import load_parameters

    p = load_parameters().get(element)
    if p:
        return p.lattice_constant**3 / 4.0
    return 16.0


def _seeds(seed: int) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    a, b = rng.integers(1, 2**31 - 1, size=2)
    return {"master": int(seed), "positions_and_species": int(a), "velocities": int(b)}


def _steps(time_ps: float, dt: float) -> int:
    return max(1, int(round(time_ps / dt)))


def _initial_configuration(counts: dict[str, int], elements: list[str], volume: float, seed: int):
    """Atoms on a jittered simple-cubic grid (random sites, random species): no overlaps."""
    rng = np.random.default_rng(seed)
    n = sum(counts.values())
    m = math.ceil(n ** (1.0 / 3.0))
    L = volume ** (1.0 / 3.0)
    a = L / m
    sites = np.array([(i, j, k) for i in range(m) for j in range(m) for k in range(m)], dtype=float)
    chosen = rng.choice(len(sites), size=n, replace=False)
    pos = (sites[chosen] + 0.5 + rng.uniform(-0.1, 0.1, size=(n, 3))) * a
    types = np.concatenate([np.full(counts[e], i + 1) for i, e in enumerate(elements)])
    rng.shuffle(types)
    return L, pos, types


class _Run:
    """One LAMMPS instance driving the protocol."""

    def __init__(self, lmp, workdir: Path):
        self.lmp = lmp
        self.workdir = workdir

    def cmd(self, text: str) -> None:
        self.lmp.commands_string(text)

    def thermo(self, name: str) -> float:
        return float(self.lmp.get_thermo(name))

    def fix_vector(self, fix_id: str, n: int) -> list[float]:
        from lammps import LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR

        return [float(self.lmp.extract_fix(fix_id, LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR, i)) for i in range(n)]

    def positions_types(self):
        x = np.array(self.lmp.gather_atoms("x", 1, 3), dtype=float).reshape(-1, 3)
        t = np.array(self.lmp.gather_atoms("type", 0, 1), dtype=int)
        return x, t

    def box(self):
        lo, hi, xy, yz, xz, periodicity, box_change = self.lmp.extract_box()
        return np.array(lo), np.array(hi), (xy, yz, xz)

    def pressure_tensor(self) -> np.ndarray:
        return np.array([self.thermo(f"p{c}") for c in VOIGT])


def run_simulation(
    composition: Composition,
    settings: SimulationSettings = SimulationSettings(),
    workdir: Path | str = ".",
    cores: int = 1,
    *,
    potential: PotentialChoice | None = None,
) -> SimulationResult:
    """Simulate a quenched glass of ``composition``; see the module docstring.

    ``cores`` is the number of OpenMP threads LAMMPS may use (``-sf omp -pk omp N`` when > 1).
    ``potential`` overrides :func:`select_potential` (it must cover the composition).
    """
    if cores < 1:
        raise ValueError(f"cores must be >= 1, got {cores}")
    t0 = time.perf_counter()
    started = datetime.now(timezone.utc)
    workdir = Path(workdir)
    result = SimulationResult(
        composition=composition.canonical,
        status=STATUS_FAILED,
        settings=settings.to_dict(),
        provenance={
            "lammps_package_version": lammps_package_version(),
            "cores": int(cores),
            "openmp": cores > 1,
            "started_at": started.isoformat(),
            "host": platform.node(),
            "python": platform.python_version(),
            "engine": "vitrify.agents.simulation",
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
        },
    )
    choice = potential if potential is not None else select_potential(composition)
    if choice is not None and not set(composition.elements) <= set(choice.elements):
        raise ValueError(f"potential {choice.name} does not cover {composition.system}")
    if choice is None:
        result.status = STATUS_NOT_SIMULABLE
        result.reason = not_simulable_reason(composition)
        result.wall_time_s = time.perf_counter() - t0
        return result
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        _protocol(composition, settings, workdir, cores, choice, result)
        result.status = STATUS_SUCCEEDED
    except Exception as exc:  # LAMMPS errors arrive as Exception subclasses
        result.status = STATUS_FAILED
        result.reason = f"{type(exc).__name__}: {exc}"
        result.provenance["traceback"] = traceback.format_exc(limit=5)
    result.wall_time_s = time.perf_counter() - t0
    result.provenance["finished_at"] = datetime.now(timezone.utc).isoformat()
    result.provenance["wall_time_s"] = result.wall_time_s
    try:
        (workdir / "result.json").write_text(result.to_json(indent=1))
    except OSError:
        pass
    return result


def _protocol(
    composition: Composition,
    s: SimulationSettings,
    workdir: Path,
    cores: int,
    choice: PotentialChoice,
    result: SimulationResult,
) -> None:
    timings: dict[str, float] = {}
    cpu_timings: dict[str, float] = {}
    tick, cpu_tick = time.perf_counter(), time.process_time()

    def lap(name: str) -> None:
        nonlocal tick, cpu_tick
        now, cpu_now = time.perf_counter(), time.process_time()
        timings[name] = now - tick
        cpu_timings[name] = cpu_now - cpu_tick  # all threads of this process
        tick, cpu_tick = now, cpu_now

    elements = list(composition.elements)
    counts = analysis.atom_counts(composition.as_dict(), s.n_atoms)
    seeds = _seeds(s.seed)
    pot_path = choice.materialize(workdir)
    result.potential = choice.to_dict() | {"file": str(pot_path), "sha256": file_sha256(pot_path)}
    result.n_atoms = s.n_atoms
    result.atom_counts = counts

    t_melt = melt_temperature(composition, s)
    t_final = s.final_temperature_K
    dt = s.timestep_ps
    n_melt = _steps(s.melt_time_ps, dt)
    n_quench = _steps((t_melt - t_final) / s.quench_rate_K_per_ps, dt)
    n_relax = _steps(s.relax_time_ps, dt)
    n_sample = max(10, 10 * round(_steps(s.sample_time_ps, dt) / 10))  # whole Nevery=10 blocks
    # quench V(T) windows of tg_window_K
    nfreq = max(10, int(round(s.tg_window_K / s.quench_rate_K_per_ps / dt)))
    nevery = max(1, nfreq // 50)
    nrepeat = max(1, nfreq // nevery)
    nfreq = nevery * nrepeat
    volume0 = s.liquid_volume_factor * sum(counts[e] * _atomic_volume(e) for e in elements)
    L, pos, types = _initial_configuration(counts, elements, volume0, seeds["positions_and_species"])
    result.protocol = {
        "melt_temperature_K": t_melt,
        "final_temperature_K": t_final,
        "quench_rate_K_per_s": s.quench_rate_K_per_ps * 1e12,
        "steps": {"melt": n_melt, "quench": n_quench, "relax": n_relax, "sample": n_sample},
        "seeds": seeds,
        "ensemble": "NPT (Nose-Hoover, isotropic) for melt, quench, relax and sampling",
        "initial_configuration": "random species on random sites of a jittered simple-cubic grid",
        "initial_volume_A3": volume0,
        "elastic_method": "0 K: energy-minimized glass (triclinic box relaxed to zero stress: CG box/relax, FIRE), +/- strain of each "
        "Voigt component, atoms relaxed at fixed box, central differences of the stress",
        "voronoi_structure": "energy-minimized glass (inherent structure)",
        "pair_coeff_elements": elements,
    }
    log = workdir / "log.lammps"
    lmp = new_lammps(cores, log)
    try:
        run = _Run(lmp, workdir)
        result.provenance["lammps_version"] = int(lmp.version())
        run.cmd(
            f"""
            units metal
            atom_style atomic
            boundary p p p
            atom_modify map array
            region box block 0 {L} 0 {L} 0 {L}
            create_box {len(elements)} box
            """
        )
        lmp.create_atoms(
            len(types),
            list(range(1, len(types) + 1)),
            [int(t) for t in types],
            [float(v) for v in pos.ravel()],
        )
        if int(lmp.get_natoms()) != s.n_atoms:
            raise RuntimeError(f"created {lmp.get_natoms()} atoms, wanted {s.n_atoms}")
        run.cmd(
            f"""
            pair_style {choice.pair_style}
            pair_coeff * * {pot_path} {' '.join(elements)}
            neighbor 1.5 bin
            neigh_modify every 1 delay 0 check yes
            timestep {dt}
            thermo 1000
            thermo_style custom step temp pe press vol density
            variable vpa equal vol/atoms
            variable epa equal pe/atoms
            variable dens equal density
            velocity all create {t_melt} {seeds['velocities']} dist gaussian mom yes rot yes
            fix md all npt temp {t_melt} {t_melt} {s.tdamp_ps} iso {s.pressure_bar} {s.pressure_bar} {s.pdamp_ps}
            run {n_melt}
            unfix md
            """
        )
        lap("melt")
        quench_file = workdir / "quench.dat"
        run.cmd(
            f"""
            fix md all npt temp {t_melt} {t_final} {s.tdamp_ps} iso {s.pressure_bar} {s.pressure_bar} {s.pdamp_ps}
            fix vt all ave/time {nevery} {nrepeat} {nfreq} c_thermo_temp v_vpa v_epa file {quench_file}
            run {n_quench}
            unfix vt
            unfix md
            """
        )
        lap("quench")
        T, V, E = _read_ave_time(quench_file)
        fit_v = analysis.kink_fit(T, V)
        fit_e = analysis.kink_fit(T, E)
        result.glass_transition_K = fit_v.tg
        result.glass_transition_energy_K = fit_e.tg
        result.tg_fit = {
            "method": "hinge regression (two lines) of window-averaged volume/atom vs temperature during the quench",
            "window_K": s.tg_window_K,
            "volume": asdict(fit_v),
            "energy": asdict(fit_e),
        }
        result.quench_curve = {"T_K": T, "volume_per_atom_A3": V, "pe_eV_per_atom": E}

        run.cmd(
            f"""
            fix md all npt temp {t_final} {t_final} {s.tdamp_ps} iso {s.pressure_bar} {s.pressure_bar} {s.pdamp_ps}
            run {n_relax}
            """
        )
        lap("relax")
        # sampling at the final temperature: averages and RDF
        ntypes = len(elements)
        pairs = [(i, j) for i in range(1, ntypes + 1) for j in range(i, ntypes + 1)]
        box_len = float(lmp.extract_global("boxxhi") - lmp.extract_global("boxxlo"))
        force_cut = _force_cutoff(pot_path)
        rc = min(s.rdf_cutoff_A, force_cut + 1.0, 0.45 * box_len)
        pair_args = " ".join(f"{i} {j}" for i, j in pairs)
        run.cmd(
            f"""
            reset_timestep 0
            comm_modify cutoff {max(rc, force_cut) + 1.6}
            compute rdf all rdf {s.rdf_bins} {pair_args} cutoff {rc}
            fix avg all ave/time 10 {n_sample // 10} {n_sample} v_dens v_vpa v_epa
            """
        )
        from lammps import LMP_STYLE_GLOBAL, LMP_TYPE_ARRAY

        chunk = max(1, n_sample // s.rdf_samples)
        done = 0
        rdf_acc = None
        dens_samples = []
        nrdf = 0
        while done < n_sample:
            step = min(chunk, n_sample - done)
            run.cmd(f"run {step}")
            done += step
            arr = np.array(lmp.numpy.extract_compute("rdf", LMP_STYLE_GLOBAL, LMP_TYPE_ARRAY), dtype=float)
            rdf_acc = arr.copy() if rdf_acc is None else rdf_acc + arr
            nrdf += 1
            dens_samples.append(run.thermo("density"))
        # fix ave/time covered the whole sampling run only if n_sample is a multiple of its Nfreq
        avg = run.fix_vector("avg", 3)  # means over every 10th step of the sampling run
        result.density_g_cm3 = avg[0]
        result.density_std_g_cm3 = float(np.std(dens_samples))
        result.volume_per_atom_A3 = avg[1]
        result.potential_energy_eV_per_atom = avg[2]
        rdf_mean = rdf_acc / nrdf
        r = rdf_mean[:, 0]
        partial = {}
        for k, (i, j) in enumerate(pairs):
            partial[f"{elements[i - 1]}-{elements[j - 1]}"] = rdf_mean[:, 1 + 2 * k]
        total = _total_rdf(partial, counts, elements)
        result.rdf = {
            "r_A": np.round(r, 4),
            "total": np.round(total, 5),
            "partial": {k: np.round(v, 5) for k, v in partial.items()},
            "cutoff_A": rc,
            "bins": s.rdf_bins,
            "samples": nrdf,
            "first_peak_A": float(r[int(np.argmax(total))]),
        }
        run.cmd("unfix avg\nuncompute rdf\nunfix md")
        lap("sample")

        reference = _relax_to_zero_stress(run, s)
        lap("minimize")
        result.inherent_energy_eV_per_atom = run.thermo("pe") / s.n_atoms
        x0, types0 = run.positions_types()
        lo, hi, tilt = run.box()
        vor = analysis.voronoi_indices(x0, lo, hi, tilt)
        result.voronoi = analysis.voronoi_summary(vor, types0, elements, top=s.voronoi_top)
        result.voronoi["structure"] = "energy-minimized glass"
        result.icosahedral_fraction = result.voronoi["icosahedral_fraction"]
        lap("voronoi")
        arrays: dict[str, Any] = {}
        if s.sro:
            from .structure_stage import sro_stage

            arrays |= sro_stage(result, vor, types0, elements, x0)
            lap("sro")

        C, report = _elastic_constants(run, s, x0, lo, hi, tilt, s.n_atoms)
        avgs = analysis.voigt_reuss_hill(C)
        result.elastic = {
            "reference_relaxation": reference,
            "C_GPa": np.round(C, 3),
            "strain": s.elastic_strain,
            "all_linear": all(c["linear"] for c in report["components"].values()),
            "details": report,
            "temperature_K": 0.0,
            "K_voigt_GPa": avgs.K_voigt,
            "K_reuss_GPa": avgs.K_reuss,
            "G_voigt_GPa": avgs.G_voigt,
            "G_reuss_GPa": avgs.G_reuss,
            "K_hill_GPa": avgs.K,
            "G_hill_GPa": avgs.G,
            "E_GPa": avgs.E,
            "poisson_ratio": avgs.poisson,
            "isotropy_residual": float(
                np.linalg.norm(C - analysis.isotropic_stiffness(avgs.K, avgs.G)) / np.linalg.norm(C)
            ),
        }
        if not result.elastic["all_linear"]:
            bad = [k for k, c in report["components"].items() if not c["linear"]]
            result.warnings.append(
                f"elastic response not linear for {', '.join(bad)} even at the smallest strain "
                "(plastic events in an unstable glass): moduli unreliable"
            )
        retried = [f"{k} ({c['strain']:.2g})" for k, c in report["components"].items() if c["linear"] and c["attempts"] > 1]
        if retried:
            result.warnings.append(
                "strain had to be reduced for " + ", ".join(retried) + ": a soft spot close to a "
                "plastic event; that stiffness (and G) may be low for this glass, compare seeds"
            )
        if result.glass_transition_K is None:
            result.warnings.append("no glass-transition kink in volume vs temperature")
        result.bulk_modulus_GPa = avgs.K
        result.shear_modulus_GPa = avgs.G
        result.youngs_modulus_GPa = avgs.E
        result.poisson_ratio = avgs.poisson
        lap("elastic")
        if s.softness:
            from .structure_stage import softness_stage

            arrays |= softness_stage(run, s, result, elements, cores)
            lap("softness")
        if arrays:
            from .structure_stage import save_arrays

            result.structure_artifact = str(save_arrays(workdir / "structure.npz", arrays))
    finally:
        result.provenance["stage_wall_time_s"] = timings
        result.provenance["stage_cpu_time_s"] = cpu_timings
        lmp.close()


def _force_cutoff(potential_file: Path) -> float:
    """Cut-off radius from line 5 of a setfl / eam/fs file."""
    with open(potential_file) as fh:
        for _ in range(4):
            fh.readline()
        return float(fh.readline().split()[4])


def _read_ave_time(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = [line.split() for line in Path(path).read_text().splitlines() if line and not line.startswith("#")]
    data = np.array(rows, dtype=float)
    if data.size == 0:
        return np.array([]), np.array([]), np.array([])
    return data[:, 1], data[:, 2], data[:, 3]


def _total_rdf(partial: dict[str, np.ndarray], counts: dict[str, int], elements: list[str]) -> np.ndarray:
    """Number-weighted total g(r) = sum_ij c_i c_j g_ij (i, j over ordered pairs)."""
    n = sum(counts.values())
    total = None
    for key, g in partial.items():
        a, b = key.split("-")
        w = counts[a] * counts[b] / n**2 * (1 if a == b else 2)
        total = w * g if total is None else total + w * g
    return total


def _relax_to_zero_stress(run: _Run, s: SimulationSettings) -> dict:
    """Energy-minimize the glass with all six stress components relaxed to ``pressure_bar``.

    Conjugate gradients with EAM tables often stop on "linesearch alpha is zero" with forces
    of 1e-3 eV/A left and the box not relaxed; a glass left there keeps relaxing when strained
    and fakes a plastic event. So: CG box relaxation (repeated while any stress component
    exceeds ``zero_stress_tolerance_GPa``), each time followed by FIRE at fixed box down to
    ``elastic_ftol``.
    """
    mini = f"{s.minimize_max_iterations} {10 * s.minimize_max_iterations}"
    run.cmd(
        f"""
        velocity all set 0.0 0.0 0.0
        min_style cg
        minimize 0.0 1e-6 {mini}
        change_box all triclinic
        """
    )
    target = -s.pressure_bar * BAR_TO_GPA  # sigma = -P
    cycles = 0
    for cycles in range(1, s.zero_stress_cycles + 1):
        run.cmd(
            f"""
            min_style cg
            fix relax all box/relax tri {s.pressure_bar} vmax 0.001
            minimize 0.0 {s.minimize_ftol} {mini}
            unfix relax
            min_style fire
            minimize 0.0 {s.elastic_ftol} {4 * s.minimize_max_iterations} {40 * s.minimize_max_iterations}
            """
        )
        sigma = -run.pressure_tensor() * BAR_TO_GPA
        if np.max(np.abs(sigma - np.array([target] * 3 + [0.0] * 3))) < s.zero_stress_tolerance_GPa:
            break
    return {
        "cycles": cycles,
        "residual_stress_GPa": sigma,
        "force_norm_eV_per_A": run.thermo("fnorm"),  # after the last FIRE minimization
        "method": "CG with fix box/relax tri, then FIRE at fixed box",
    }


def _elastic_constants(
    run: _Run,
    s: SimulationSettings,
    x0: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    tilt: tuple[float, float, float],
    n_atoms: int,
) -> tuple[np.ndarray, dict]:
    """6x6 stiffness (GPa) by central differences of the stress at +/- strain, atoms relaxed.

    A glass can yield locally (a plastic event) even at 0.1 % strain: then the energy drops
    below the reference or the + and - responses disagree. Such a component is redone with
    half the strain (up to ``elastic_retries`` times); what happened is reported.
    """
    lmp = run.lmp
    L = hi - lo
    minimize = (
        f"min_style fire\nminimize 0.0 {s.elastic_ftol} {4 * s.minimize_max_iterations} "
        f"{40 * s.minimize_max_iterations}"
    )
    flat0 = [float(v) for v in x0.ravel()]
    restore_box = (
        f"change_box all x final {lo[0]} {hi[0]} y final {lo[1]} {hi[1]} z final {lo[2]} {hi[2]} "
        f"xy final {tilt[0]} yz final {tilt[1]} xz final {tilt[2]} units box"
    )

    def restore() -> None:
        run.cmd(restore_box)
        lmp.scatter_atoms("x", 1, 3, (len(flat0) * ctypes.c_double)(*flat0))

    run.cmd("run 0")
    sigma0 = -run.pressure_tensor() * BAR_TO_GPA
    e0 = run.thermo("pe")
    C = np.zeros((6, 6))
    report: dict[str, Any] = {"reference_stress_GPa": sigma0, "components": {}}
    for j, comp in enumerate(VOIGT):
        eps = s.elastic_strain
        for attempt in range(s.elastic_retries + 1):
            stress, energy = [], []
            for sign in (+1, -1):
                if j < 3:
                    run.cmd(f"change_box all {comp[0]} delta 0 {sign * eps * L[j]} remap units box")
                else:
                    # engineering shear strain: tilt / length of the axis the tilt is along
                    tilt_len = {"yz": L[2], "xz": L[2], "xy": L[1]}[comp]
                    run.cmd(f"change_box all {comp} delta {sign * eps * tilt_len} remap units box")
                run.cmd(minimize)
                stress.append(-run.pressure_tensor() * BAR_TO_GPA)
                energy.append(run.thermo("pe"))
                restore()
            d_plus, d_minus = stress[0] - sigma0, sigma0 - stress[1]
            mismatch = float(np.linalg.norm(d_plus - d_minus) / max(np.linalg.norm(d_plus + d_minus) / 2, 1e-12))
            curvature = energy[0] + energy[1] - 2.0 * e0  # = V C_jj eps^2 > 0 when elastic
            ok = mismatch < s.elastic_linearity_tolerance and curvature > 0
            if ok or attempt == s.elastic_retries:
                break
            eps /= 2.0
        C[:, j] = (stress[0] - stress[1]) / (2.0 * eps)
        report["components"][comp] = {
            "strain": eps,
            "attempts": attempt + 1,
            "linear": bool(ok),
            "plus_minus_mismatch": mismatch,
            "energy_change_eV": [e - e0 for e in energy],
            "energy_curvature_eV": curvature,
        }
    return C, report
