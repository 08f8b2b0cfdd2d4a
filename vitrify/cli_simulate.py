"""``vitrify simulate`` (one MD melt-quench from the command line) and ``vitrify structure
compare`` (two simulations' structure side by side). Registered at the end of vitrify/cli.py.

The simulation runs exactly as a campaign's MD job: a Job row (kind simulation, no campaign),
the campaign's Ray task (agents.simulation.worker), ingestion as a simulation outcome with its
measurements (db.jobs.ingest_simulation_results). See docs/structure.md.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

console = Console(width=80)
err = Console(stderr=True, width=80)

structure_app = typer.Typer(help="Structure of simulated glasses: softness and motifs.", no_args_is_help=True)

# the public --json contract: key -> SimulationResult attribute
CONTRACT = {
    "density_g_cm3": "density_g_cm3",
    "youngs_modulus_gpa": "youngs_modulus_GPa",
    "shear_modulus_gpa": "shear_modulus_GPa",
    "bulk_modulus_gpa": "bulk_modulus_GPa",
    "poisson_ratio": "poisson_ratio",
    "tg_k": "glass_transition_K",
    "icosahedral_fraction": "icosahedral_fraction",
}


def _fail(message: str, code: int = 1) -> None:
    err.print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True)  # one line; never markup
    raise typer.Exit(code)


def _f(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:.{digits}f}"


def public_summary(res: dict, *, job_id: int | None, outcome_id: int | None, out_dir: Path | None, files: dict) -> dict:
    """The ``--json`` object: the contract keys, then context."""
    vor = res.get("voronoi") or {}
    summary = {k: res.get(v) for k, v in CONTRACT.items()}
    summary["voronoi"] = {
        "top_motifs": vor.get("histogram", [])[:5],
        "mean_coordination": vor.get("mean_coordination"),
        "by_center": {el: {"icosahedral_fraction": d["icosahedral_fraction"], "mean_coordination": d["mean_coordination"]}
                      for el, d in (vor.get("by_center") or {}).items()},
    }
    if res.get("softness") is not None:
        s = res["softness"]
        summary["softness"] = {k: s.get(k) for k in (
            "fraction_soft", "fraction_rearranging_soft", "classification_accuracy", "mean_softness",
            "p_rearrange_given_s", "by_species", "n_atom_frames", "n_rearranging", "p_c", "temperature_K",
            "t_r_ps", "svm_plane", "model")}
    if res.get("sro") is not None:
        summary["sro"] = res["sro"]
    summary |= {
        "composition": res.get("composition"),
        "status": res.get("status"),
        "n_atoms": res.get("n_atoms"),
        "preset": (res.get("settings") or {}).get("preset"),
        "potential": (res.get("potential") or {}).get("name"),
        "warnings": res.get("warnings") or [],
        "wall_time_s": res.get("wall_time_s"),
        "job_id": job_id,
        "outcome_id": outcome_id,
        "out_dir": str(out_dir) if out_dir else None,
        "files": files,
    }
    return summary


def simulate(
    composition: str = typer.Option(..., "--composition", "-c", help="Alloy, e.g. Cu50Zr50 or Cu47.5Zr47.5Al5"),
    atoms: Optional[int] = typer.Option(None, "--atoms", min=2, help="Atoms in the box (default: the preset's, 256 test / 2000 production)"),
    preset: str = typer.Option("test", "--preset", help="test (1e14 K/s, short holds, ~30 s) | production (1e13 K/s)"),
    cores: int = typer.Option(1, "--cores", min=1, help="OpenMP threads of the LAMMPS run (one Ray task with this many CPUs)"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object (progress goes to stderr)"),
    out: Optional[Path] = typer.Option(None, "--out", help="Directory for result.json, PNGs, structure.npz (default: <data dir>/simulations/cli/job-ID)"),
    softness: bool = typer.Option(False, "--softness", help="Softness: NVT run near Tg, p_hop rearrangements, linear SVM"),
    sro: bool = typer.Option(False, "--sro", help="Short-range-order motifs: K-means on per-atom Voronoi indices"),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed of the protocol"),
) -> None:
    """Simulate one glass: melt, quench, relax, measure (LAMMPS on a Ray worker).

    The result is stored as a simulation outcome (moduli, density, Tg, structure as MD
    measurements the models may use) and summarized; with --softness and --sro the
    structure analysis of docs/structure.md is added, with PNGs and per-atom arrays
    (structure.npz) in OUT.

    Example: vitrify simulate --composition Cu50Zr50 --atoms 256 --preset test --json
    """
    from agents.simulation.engine import SimulationSettings
    from agents.simulation.potentials import not_simulable_reason, select_potential
    from discovery.composition import CompositionError, parse_composition
    from vitrify.settings import get_settings, quiet_third_party_defaults

    quiet_third_party_defaults()
    say = err if as_json else console
    try:
        comp = parse_composition(composition)
    except (CompositionError, ValueError) as exc:
        _fail(str(exc) if str(exc).startswith("composition") else f"--composition: {exc}", 2)
    if preset not in ("test", "production"):
        _fail(f"--preset: {preset!r} is not one of test, production", 2)
    if select_potential(comp) is None:
        _fail(f"{comp.canonical} cannot be simulated: {not_simulable_reason(comp)}", 2)
    overrides: dict = {"sro": sro, "softness": softness}
    if atoms is not None:
        if atoms < len(comp.elements):
            _fail(f"--atoms: {atoms} atoms cannot hold {len(comp.elements)} elements", 2)
        overrides["n_atoms"] = atoms
    if seed is not None:
        overrides["seed"] = seed
    settings = getattr(SimulationSettings, preset)(**overrides)

    from agents.simulation.worker import SimulationRunner
    from db.compositions import get_or_create_compositions
    from db.jobs import ingest_simulation_results
    from db.models import Job, JobKind, JobStatus, Outcome
    from db.session import session_scope
    from discovery.vocabulary import ProcessingRoute
    from sqlalchemy import select
    from vitrify.cli_common import _engine

    engine = _engine()  # a database that cannot be used is one line, exit 2
    with session_scope(engine) as session:
        row = get_or_create_compositions(session, [comp])[comp.canonical]
        job = Job(kind=JobKind.SIMULATION.value, status=JobStatus.RUNNING.value, composition_id=row.id,
                  processing=ProcessingRoute.OTHER.value, attempts=1, payload={"settings": settings.to_dict(), "source": "vitrify simulate"})
        session.add(job)
        session.flush()
        job_id = int(job.id)
    base = get_settings().data_dir / "simulations" / "cli"
    say.print(f"simulating {comp.canonical}: {settings.n_atoms} atoms, preset {preset}, {cores} core(s)"
              f"{', softness' if softness else ''}{', SRO' if sro else ''} (job {job_id})", markup=False)
    runner = SimulationRunner(cores=cores, timeout_s=6 * 3600)
    t0 = time.monotonic()
    try:
        runner.submit({"job_id": job_id, "canonical": comp.canonical, "settings": settings.to_dict(), "workdir": str(base)})
    except Exception as exc:  # Ray cannot start or has too few CPUs
        _fail(f"cannot start the simulation on Ray: {exc}")
    finished: list[dict] = []
    last = 0.0
    while not finished:
        finished = runner.collect(wait_s=5.0)
        elapsed = time.monotonic() - t0
        if not finished and elapsed - last >= 15:
            last = elapsed
            say.print(f"  ... {elapsed:.0f} s{_stage(base / f'job-{job_id}')}", markup=False)
    res = finished[0]
    with session_scope(engine) as session:
        ingest_simulation_results(session, [res])
        outcome = session.exec(select(Outcome).where(Outcome.job_id == job_id)).scalars().first()
        outcome_id = int(outcome.id) if outcome is not None else None
    if res.get("status") != "succeeded":
        _fail(f"simulation of {comp.canonical} {res.get('status')}: {str(res.get('reason'))[:300]} (job {job_id})")
    workdir = base / f"job-{job_id}"
    out_dir = out or workdir
    files = _write_outputs(res, workdir, out_dir)
    summary = public_summary(res, job_id=job_id, outcome_id=outcome_id, out_dir=out_dir, files=files)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    files["summary"] = str(out_dir / "summary.json")
    if as_json:
        sys.stdout.write(json.dumps(summary) + "\n")
        return
    _print_summary(summary)


def _stage(workdir: Path) -> str:
    """What LAMMPS is doing, from its log (best effort)."""
    log = workdir / "log.lammps"
    try:
        text = log.read_text(errors="replace")[-20000:]
    except OSError:
        return ""
    for line in reversed(text.splitlines()):
        s = line.strip()
        if s.startswith(("fix md all npt", "minimize", "fix traj_nvt", "fix soft_eq", "change_box")):
            word = {"fix md": "MD (melt/quench/relax)", "minimize": "minimization/elastic", "fix traj": "softness trajectory",
                    "fix soft": "softness equilibration", "change_box": "elastic constants"}
            for k, v in word.items():
                if s.startswith(k):
                    return f": {v}"
    return ""


def _write_outputs(res: dict, workdir: Path, out_dir: Path) -> dict:
    from discovery import structure_plots

    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    (out_dir / "result.json").write_text(json.dumps(res, indent=1))
    files["result"] = str(out_dir / "result.json")
    npz = res.get("structure_artifact")
    if npz:
        target = out_dir / "structure.npz"
        if Path(npz).resolve() != target.resolve():
            shutil.copyfile(npz, target)
        files["structure_npz"] = str(target)
        import numpy as np

        arrays = np.load(target)
        if res.get("softness") is not None and "softness" in arrays:
            rep = res["softness"] | {"arrays": {"softness": arrays["softness"], "rearranging": arrays["rearranging"],
                                                "symbols": arrays["softness_symbols"]}}
            files["softness_png"] = str(structure_plots.softness_figure(
                rep, out_dir / "softness.png", title=f"{res['composition']}, {res['n_atoms']} atoms, {rep['temperature_K']:.0f} K"))
    if res.get("sro") is not None:
        files["motifs_png"] = str(structure_plots.motif_figure(res["sro"], out_dir / "motifs.png",
                                                               title=f"{res['composition']}: motif clusters (k={res['sro']['k']})"))
    return files


def _print_summary(s: dict) -> None:
    console.print(f"{s['composition']}: {s['n_atoms']} atoms, {s['potential']}, preset {s['preset']}, "
                  f"{s['wall_time_s']:.0f} s (job {s['job_id']}, outcome {s['outcome_id']})", markup=False)
    t = Table(title="properties of the simulated glass")
    t.add_column("quantity")
    t.add_column("value", justify="right")
    for label, key, d in (("density (g/cm3)", "density_g_cm3", 3), ("Young's modulus E (GPa)", "youngs_modulus_gpa", 1),
                          ("shear modulus G (GPa)", "shear_modulus_gpa", 1), ("bulk modulus K (GPa)", "bulk_modulus_gpa", 1),
                          ("Poisson ratio", "poisson_ratio", 3), ("Tg, V(T) kink (K)", "tg_k", 0),
                          ("icosahedral <0,0,12,0> share", "icosahedral_fraction", 3)):
        t.add_row(label, _f(s[key], d))
    console.print(t)
    motifs = ", ".join(f"{m['index']} {m['fraction']:.0%}" for m in s["voronoi"]["top_motifs"][:4])
    console.print(f"top Voronoi motifs: {motifs}", markup=False)
    if "softness" in s:
        so = s["softness"]
        console.print(f"softness ({so['temperature_K']:.0f} K, p_c {so['p_c']:.3g} A^2): {_f(so['fraction_soft'], 2)} of atoms soft, "
                      f"{_f(so['fraction_rearranging_soft'], 2)} of rearranging atoms soft "
                      f"({so['n_rearranging']} of {so['n_atom_frames']} atom-frames), balanced accuracy "
                      f"{_f(so['classification_accuracy'], 2)}", markup=False)
    if "sro" in s:
        t = Table(title=f"motif clusters (K-means, k={s['sro']['k']})")
        for col in ("#", "share", "motif", "CN", "ico."):
            t.add_column(col, justify="right")
        for c in s["sro"]["clusters"]:
            t.add_row(str(c["cluster"]), f"{c['population']:.0%}", c["representative_motif"], f"{c['mean_coordination']:.1f}",
                      f"{c['icosahedral_share']:.0%}")
        console.print(t)
    for w in s["warnings"]:
        console.print(f"warning: {w}", markup=False)
    for name, path in s["files"].items():
        console.print(f"{name}: {path}", markup=False)


# --------------------------------------------------------------------------- compare


def _load_summary(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        _fail(f"{path}: cannot read ({exc.strerror})", 2)
    except json.JSONDecodeError as exc:
        _fail(f"{path}: not JSON ({exc.msg}, line {exc.lineno})", 2)
    if not isinstance(data, dict) or "icosahedral_fraction" not in data:
        _fail(f"{path}: not the output of vitrify simulate --json (no icosahedral_fraction)", 2)
    return data


@structure_app.command("compare")
def compare(
    a: Path = typer.Argument(..., help="summary of one simulation (vitrify simulate --json > A.json, or OUT/summary.json)"),
    b: Path = typer.Argument(..., help="summary of another"),
    as_json: bool = typer.Option(False, "--json", help="Print the differences as JSON"),
) -> None:
    """Compare the structure of two simulated glasses side by side: properties, Voronoi
    motifs, motif clusters and softness (B - A in the last column).

    Example: vitrify structure compare cuzr.json cuzral.json
    """
    A, B = _load_summary(a), _load_summary(b)
    rows = [(label, A.get(k), B.get(k)) for label, k in (
        ("density (g/cm3)", "density_g_cm3"), ("E (GPa)", "youngs_modulus_gpa"), ("G (GPa)", "shear_modulus_gpa"),
        ("Tg (K)", "tg_k"), ("icosahedral share", "icosahedral_fraction"))]
    mot_a = {m["index"]: m["fraction"] for m in A.get("voronoi", {}).get("top_motifs", [])}
    mot_b = {m["index"]: m["fraction"] for m in B.get("voronoi", {}).get("top_motifs", [])}
    for m in sorted(set(mot_a) | set(mot_b), key=lambda m: -(mot_a.get(m, 0) + mot_b.get(m, 0)))[:6]:
        rows.append((f"motif {m}", mot_a.get(m), mot_b.get(m)))
    for side in (A, B):
        side.setdefault("softness", None)
    for label, k in (("fraction soft", "fraction_soft"), ("rearranging soft", "fraction_rearranging_soft"),
                     ("mean softness", "mean_softness"), ("SVM accuracy", "classification_accuracy")):
        rows.append((label, (A["softness"] or {}).get(k), (B["softness"] or {}).get(k)))
    for i in range(3):
        ca = ((A.get("sro") or {}).get("clusters") or [])[i:i + 1]
        cb = ((B.get("sro") or {}).get("clusters") or [])[i:i + 1]
        if ca or cb:
            rows.append((f"cluster {i + 1} share", ca[0]["population"] if ca else None, cb[0]["population"] if cb else None))
            rows.append((f"cluster {i + 1} motif", ca[0]["representative_motif"] if ca else None,
                         cb[0]["representative_motif"] if cb else None))
    if as_json:
        sys.stdout.write(json.dumps({"a": {"file": str(a), "composition": A.get("composition")},
                                     "b": {"file": str(b), "composition": B.get("composition")},
                                     "rows": [{"quantity": r[0], "a": r[1], "b": r[2],
                                               "b_minus_a": (r[2] - r[1]) if isinstance(r[1], (int, float)) and isinstance(r[2], (int, float)) else None}
                                              for r in rows]}) + "\n")
        return
    t = Table(title="structure: A vs B")
    t.add_column("quantity")
    t.add_column(f"A {A.get('composition')}", justify="right")
    t.add_column(f"B {B.get('composition')}", justify="right")
    t.add_column("B - A", justify="right")
    def fmt(v: float) -> str:
        return _f(v, 1 if abs(v) >= 10 else 3)

    for label, va, vb in rows:
        num = isinstance(va, (int, float)) and isinstance(vb, (int, float))
        t.add_row(label, fmt(va) if isinstance(va, (int, float)) else (va or "-"),
                  fmt(vb) if isinstance(vb, (int, float)) else (vb or "-"), fmt(vb - va) if num else "")
    console.print(t)
