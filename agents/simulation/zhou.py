"""Zhou-Johnson-Wadley (2004) EAM potentials for any mix of 16 metals, as ``eam/alloy`` files.

The model (X. W. Zhou, R. A. Johnson, H. N. G. Wadley, Phys. Rev. B 69, 144113 (2004)) is
implemented from its published formulas (see ``data/zhou2004_eam.PROVENANCE.md``); the
parameters are the published table, shipped as ``data/zhou2004_eam_parameters.csv``.

The reference tabulation (``Grid()``: 2000 points in r and rho, cut-off sqrt(10)/2 times the largest fcc
lattice constant, r clamped at 0.5 A, rho up to max(max f, 2 max rho_e, 100)) is the one of the
reference generator that wrote LAMMPS's ``CuTa.eam.alloy``; simulations use
:data:`SIMULATION_GRID` (cut-off 5 % larger, see there); any other grid (for instance the
10001-point grids of the shipped ``Cu_zhou.eam.alloy``) can be requested with
:class:`Grid` so the tables can be checked point by point against the shipped files.
"""

from __future__ import annotations

import csv
import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

DATA_DIR = Path(__file__).parent / "data"
PARAMETER_FILE = DATA_DIR / "zhou2004_eam_parameters.csv"
CITATION = "X. W. Zhou, R. A. Johnson, H. N. G. Wadley, Phys. Rev. B 69, 144113 (2004)"

R_CLAMP = 0.5  # r below this is evaluated here (the model's pair term diverges as r -> 0)


@dataclass(frozen=True)
class ZhouParameters:
    element: str
    re: float
    fe: float
    rho_e: float
    rho_s: float
    alpha: float
    beta: float
    A: float
    B: float
    kappa: float
    lam: float
    Fn: tuple[float, float, float, float]
    F: tuple[float, float, float]  # F0, F1, F2
    F3_below: float
    F3_above: float
    eta: float
    F_e: float
    Z: int
    mass: float
    beta_density: float
    lambda_density: float
    rho_n_factor: float
    rho_o_factor: float

    @property
    def lattice_constant(self) -> float:
        """fcc lattice constant sqrt(2) r_e (A)."""
        return math.sqrt(2.0) * self.re

    # --- model functions (vectorized over r or rho) -------------------------------------
    def density(self, r: np.ndarray) -> np.ndarray:
        x = np.asarray(r, dtype=float) / self.re
        return self.fe * np.exp(-self.beta_density * (x - 1.0)) / (1.0 + (x - self.lambda_density) ** 20)

    def pair(self, r: np.ndarray) -> np.ndarray:
        x = np.asarray(r, dtype=float) / self.re
        rep = self.A * np.exp(-self.alpha * (x - 1.0)) / (1.0 + (x - self.kappa) ** 20)
        att = self.B * np.exp(-self.beta * (x - 1.0)) / (1.0 + (x - self.lam) ** 20)
        return rep - att

    def embedding(self, rho: np.ndarray) -> np.ndarray:
        rho = np.asarray(rho, dtype=float)
        rho_n = self.rho_n_factor * self.rho_e
        rho_o = self.rho_o_factor * self.rho_e
        out = np.empty_like(rho)
        low = rho < rho_n
        high = rho >= rho_o
        mid = ~low & ~high
        t = rho[low] / rho_n - 1.0
        out[low] = sum(c * t**i for i, c in enumerate(self.Fn))
        t = rho[mid] / self.rho_e - 1.0
        f3 = np.where(rho[mid] < self.rho_e, self.F3_below, self.F3_above)
        out[mid] = self.F[0] + self.F[1] * t + self.F[2] * t**2 + f3 * t**3
        s = rho[high] / self.rho_s
        with np.errstate(divide="ignore", invalid="ignore"):
            out[high] = self.F_e * (1.0 - self.eta * np.log(s)) * s**self.eta
        return out


@lru_cache(maxsize=1)
def load_parameters(path: Path = PARAMETER_FILE) -> dict[str, ZhouParameters]:
    """The 16 elements' parameters, keyed by element symbol."""
    table: dict[str, ZhouParameters] = {}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            g = {k: float(v) for k, v in row.items() if k != "element"}
            table[row["element"]] = ZhouParameters(
                element=row["element"],
                re=g["re"],
                fe=g["fe"],
                rho_e=g["rho_e"],
                rho_s=g["rho_s"],
                alpha=g["alpha"],
                beta=g["beta"],
                A=g["A"],
                B=g["B"],
                kappa=g["kappa"],
                lam=g["lambda"],
                Fn=(g["Fn0"], g["Fn1"], g["Fn2"], g["Fn3"]),
                F=(g["F0"], g["F1"], g["F2"]),
                F3_below=g["F3_below_rho_e"],
                F3_above=g["F3_above_rho_e"],
                eta=g["eta"],
                F_e=g["F_e"],
                Z=int(g["Z"]),
                mass=g["mass"],
                beta_density=g["beta_density"],
                lambda_density=g["lambda_density"],
                rho_n_factor=g["rho_n_factor"],
                rho_o_factor=g["rho_o_factor"],
            )
    return table


ELEMENTS: tuple[str, ...] = ("Cu", "Ag", "Au", "Ni", "Pd", "Pt", "Al", "Pb", "Fe", "Mo", "Ta", "W", "Mg", "Co", "Ti", "Zr")


def covers(elements: Sequence[str]) -> bool:
    table = load_parameters()
    return bool(elements) and all(e in table for e in elements)


def cross_pair(a: ZhouParameters, b: ZhouParameters, r: np.ndarray) -> np.ndarray:
    """phi_ab = 1/2 (f_b/f_a phi_aa + f_a/f_b phi_bb)."""
    fa, fb = a.density(r), b.density(r)
    return 0.5 * (fb / fa * a.pair(r) + fa / fb * b.pair(r))


@dataclass(frozen=True)
class Grid:
    """Tabulation grid of a setfl file. ``None`` fields take the reference generator's rule."""

    nr: int = 2000
    nrho: int = 2000
    cutoff: float | None = None
    rho_max: float | None = None
    r_clamp: float = R_CLAMP
    # True: spacing = range / (n - 1) (reference generator, so the last point is the cut-off);
    # False: spacing = range / n (the convention of the 2007 10001-point *_zhou files).
    endpoint: bool = True
    cutoff_scale: float = 1.0  # multiplies the reference cut-off rule (ignored with an explicit cutoff)


@dataclass
class SetflTables:
    elements: tuple[str, ...]
    masses: tuple[float, ...]
    numbers: tuple[int, ...]
    lattice: tuple[float, ...]
    structures: tuple[str, ...]
    nrho: int
    drho: float
    nr: int
    dr: float
    cutoff: float
    embedding: np.ndarray  # (n_el, nrho)
    density: np.ndarray  # (n_el, nr)
    r_phi: np.ndarray  # (n_el, n_el, nr), symmetric; file stores i >= j


def tabulate(
    elements: Sequence[str],
    grid: Grid = Grid(),
    parameters: dict[str, ZhouParameters] | None = None,
) -> SetflTables:
    """Evaluate the model on a setfl grid for ``elements`` (in the given order).

    ``parameters`` replaces the shipped 2004 table (used by the tests to feed other published
    parameter sets of the same model through the same code).
    """
    table = parameters if parameters is not None else load_parameters()
    unknown = [e for e in elements if e not in table]
    if unknown:
        raise KeyError(f"no Zhou 2004 parameters for {unknown}")
    if len(set(elements)) != len(elements) or not elements:
        raise ValueError(f"elements must be unique and non-empty: {elements}")
    params = [table[e] for e in elements]
    a_max = max(p.lattice_constant for p in params)
    cutoff = grid.cutoff if grid.cutoff is not None else grid.cutoff_scale * math.sqrt(10.0) / 2.0 * a_max
    dr = cutoff / (grid.nr - 1 if grid.endpoint else grid.nr)
    r = np.arange(grid.nr) * dr
    r_eval = np.maximum(r, grid.r_clamp)
    density = np.array([p.density(r_eval) for p in params])
    if grid.rho_max is not None:
        rho_max = grid.rho_max
    else:
        rho_max = max(float(density.max()), 2.0 * max(p.rho_e for p in params), 100.0)
    drho = rho_max / (grid.nrho - 1 if grid.endpoint else grid.nrho)
    rho = np.arange(grid.nrho) * drho
    embedding = np.array([p.embedding(rho) for p in params])
    n = len(params)
    r_phi = np.empty((n, n, grid.nr))
    for i in range(n):
        for j in range(i + 1):
            phi = params[i].pair(r_eval) if i == j else cross_pair(params[i], params[j], r_eval)
            r_phi[i, j] = r_phi[j, i] = r_eval * phi
    return SetflTables(
        elements=tuple(elements),
        masses=tuple(p.mass for p in params),
        numbers=tuple(p.Z for p in params),
        lattice=tuple(p.lattice_constant for p in params),
        structures=tuple("fcc" for _ in params),
        nrho=grid.nrho,
        drho=drho,
        nr=grid.nr,
        dr=dr,
        cutoff=cutoff,
        embedding=embedding,
        density=density,
        r_phi=r_phi,
    )


def _write_block(fh, values: np.ndarray, per_line: int = 5) -> None:
    for k in range(0, len(values), per_line):
        fh.write(" ".join(f"{v:.16e}" for v in values[k : k + per_line]) + "\n")


def write_setfl(tables: SetflTables, path: Path, comment: str = "") -> Path:
    """Write ``tables`` in LAMMPS's setfl (eam/alloy) format."""
    path = Path(path)
    with open(path, "w") as fh:
        fh.write(f"UNITS: metal CITATION: {CITATION}\n")
        fh.write(f"Zhou-Johnson-Wadley 2004 EAM generated by vitrify for {' '.join(tables.elements)}\n")
        fh.write((comment or "tabulated from the published model and parameter table") + "\n")
        fh.write(f"{len(tables.elements)} {' '.join(tables.elements)}\n")
        fh.write(f"{tables.nrho} {tables.drho:.16e} {tables.nr} {tables.dr:.16e} {tables.cutoff:.16e}\n")
        for i, el in enumerate(tables.elements):
            fh.write(f"{tables.numbers[i]} {tables.masses[i]:.6f} {tables.lattice[i]:.6f} {tables.structures[i]}\n")
            _write_block(fh, tables.embedding[i])
            _write_block(fh, tables.density[i])
        n = len(tables.elements)
        for i in range(n):
            for j in range(i + 1):
                _write_block(fh, tables.r_phi[i, j])
    return path


# Grid of the files used in simulations. The reference rule puts the cut-off exactly on the 5th
# neighbour shell of fcc (sqrt(10)/2 a = sqrt(5) r_e) of the largest element: under strain
# those 24 neighbours cross it and the energy jumps (fcc Cu: C11 from energies 153 GPa instead
# of 170). 5 % more moves it between the 5th and 6th shells, where the functions are ~1e-7.
SIMULATION_GRID = Grid(cutoff_scale=1.05)


def generate(elements: Sequence[str], directory: Path, grid: Grid = SIMULATION_GRID) -> Path:
    """Write (or reuse) ``<directory>/Zhou04_<El1><El2>....eam.alloy`` for the sorted ``elements``."""
    elements = tuple(sorted(elements))
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"Zhou04_{''.join(elements)}.eam.alloy"
    tmp = path.with_suffix(f".tmp{id(path)}")
    write_setfl(tabulate(elements, grid), tmp)
    tmp.replace(path)  # atomic: concurrent workers writing the same file never see half a file
    return path


def read_setfl(path: Path) -> SetflTables:
    """Read an ``eam/alloy`` (setfl) file, for checks against shipped tables."""
    lines = Path(path).read_text().splitlines()
    header = lines[3].split()
    n = int(header[0])
    elements = tuple(header[1 : 1 + n])
    nrho, drho, nr, dr, cutoff = lines[4].split()[:5]
    nrho, nr = int(nrho), int(nr)
    drho, dr, cutoff = float(drho), float(dr), float(cutoff)
    tokens: list[str] = []
    meta = []
    pos = 5
    # element blocks: a header line followed by nrho + nr numbers (free format)
    rest = lines[pos:]
    idx = 0
    embedding, density = [], []
    for _ in range(n):
        meta.append(rest[idx].split())
        idx += 1
        need = nrho + nr
        vals: list[float] = []
        while len(vals) < need:
            vals.extend(float(t) for t in rest[idx].split())
            idx += 1
        embedding.append(vals[:nrho])
        density.append(vals[nrho:need])
    for line in rest[idx:]:
        tokens.extend(line.split())
    flat = np.array([float(t) for t in tokens])
    r_phi = np.empty((n, n, nr))
    k = 0
    for i in range(n):
        for j in range(i + 1):
            r_phi[i, j] = r_phi[j, i] = flat[k * nr : (k + 1) * nr]
            k += 1
    return SetflTables(
        elements=elements,
        masses=tuple(float(m[1]) for m in meta),
        numbers=tuple(int(m[0]) for m in meta),
        lattice=tuple(float(m[2]) for m in meta),
        structures=tuple(m[3] if len(m) > 3 else "" for m in meta),
        nrho=nrho,
        drho=drho,
        nr=nr,
        dr=dr,
        cutoff=cutoff,
        embedding=np.array(embedding),
        density=np.array(density),
        r_phi=r_phi,
    )


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
