"""Element property tables and the pairwise mixing-enthalpy table, as numpy arrays.

Every number comes from a data file, never from this source code:

* pymatgen's element data (``pymatgen.core.Element``): atomic mass, metallic and
  atomic radius, melting point, Pauling electronegativity ``X``, Young's, bulk and
  shear ("rigidity") modulus.
* Magpie element tables as shipped in the matminer 0.10.1 wheel, copied to
  ``discovery/data/magpie_elements.csv`` (see ``discovery/data/PROVENANCE.md``):
  Miracle et al. 2010 metallic-glass radii (``MiracleRadius``), valence electron count
  (``NValence``), melting temperature, bulk and shear modulus.
* Takeuchi & Inoue 2005 (Mater. Trans. 46:2817) Miedema-model liquid mixing enthalpies
  of 2,628 element pairs, as matminer ships them, copied verbatim to
  ``discovery/data/takeuchi_inoue_mixing_enthalpy.tsv``.

Missing data are NaN, never zero. Consumers call :func:`require` (or
:meth:`ElementProperties.require`) to turn NaN into a :class:`MissingElementData`
error naming the elements and the property.

Modulus fallbacks (pymatgen lacks e.g. the bulk modulus of Zr, Ga, Sr, In, Os, Tc, and
Magpie's Mathematica-derived table has the same gaps): ``bulk_modulus`` and
``shear_modulus`` take pymatgen's value where present, else Magpie
``BulkModulus``/``ShearModulus``, else the Miedema-model parameter table matminer ships
(``compressibility`` column = bulk modulus in GPa, ``shear_modulus``), else NaN;
``youngs_modulus`` takes pymatgen's value, else E = 9KG/(3K+G) from the filled K and G.
``modulus_source`` records which source each entry came from.
"""

from __future__ import annotations

import csv
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Iterable, Sequence

import numpy as np

from vitrify.errors import VitrifyError

N_ELEMENTS = 103  # H..Lr: everything pymatgen and the Magpie tables both name

#: Per-element properties provided, with units and source.
PROPERTIES: dict[str, str] = {
    "atomic_mass": "g/mol; pymatgen Element.atomic_mass",
    "metallic_radius": "Angstrom; pymatgen Element.metallic_radius (NaN for non-metals)",
    "atomic_radius": "Angstrom; pymatgen Element.atomic_radius",
    "miracle_radius": "pm; Miracle et al. 2010 radii in metallic glasses (Magpie MiracleRadius)",
    "melting_point": "K; pymatgen Element.melting_point",
    "magpie_melting_point": "K; Magpie MeltingT (what matminer's YangSolidSolution uses)",
    "electronegativity": "Pauling; pymatgen Element.X",
    "valence_electrons": "count; Magpie NValence (s+p+d+f valence electrons)",
    "youngs_modulus": "GPa; pymatgen, fallback 9KG/(3K+G) from bulk/shear below",
    "bulk_modulus": "GPa; pymatgen, fallback Magpie BulkModulus, then Miedema.csv",
    "shear_modulus": "GPa; pymatgen rigidity_modulus, fallback Magpie ShearModulus, then Miedema.csv",
}

#: Magpie element tables (Ward et al. 2016) whose composition statistics are GFA features
#: (``discovery.features.element_statistics``); ``magpie_<name>`` in the tables.
MAGPIE_STAT_TABLES: tuple[str, ...] = (
    "Number", "MendeleevNumber", "AtomicWeight", "MeltingT", "Column", "Row", "CovalentRadius", "Electronegativity",
    "NsValence", "NpValence", "NdValence", "NfValence", "NValence", "NsUnfilled", "NpUnfilled", "NdUnfilled",
    "NfUnfilled", "NUnfilled", "GSvolume_pa", "GSbandgap", "GSmagmom", "SpaceGroupNumber",
)
PROPERTIES.update({f"magpie_{name}": f"Magpie {name} (magpie_elements.csv)" for name in MAGPIE_STAT_TABLES})


class MissingElementData(VitrifyError, ValueError):
    """A feature needs a property that is unknown for some element (or element pair)."""

    def __init__(self, prop: str, elements: Sequence[str]):
        self.property = prop
        self.elements = tuple(elements)
        super().__init__(f"no {prop} data for {', '.join(self.elements)}")


def _data_path(name: str):
    return resources.files("discovery") / "data" / name


def _float(text) -> float:
    if text is None:
        return np.nan
    try:
        value = float(text)
    except (TypeError, ValueError):
        return np.nan
    return value


@lru_cache(maxsize=1)
def _symbols() -> tuple[str, ...]:
    from pymatgen.core import Element

    return tuple(Element.from_Z(z).symbol for z in range(1, N_ELEMENTS + 1))


@lru_cache(maxsize=1)
def symbol_index() -> dict[str, int]:
    """Symbol -> row in the full tables (Z - 1)."""
    return {s: i for i, s in enumerate(_symbols())}


@lru_cache(maxsize=1)
def _magpie() -> dict[str, np.ndarray]:
    with _data_path("magpie_elements.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    if [r["symbol"] for r in rows] != list(_symbols()):
        raise RuntimeError("magpie_elements.csv rows do not match pymatgen's element order")
    cols = [c for c in rows[0] if c not in ("Z", "symbol")]
    return {c: np.array([_float(r[c]) for r in rows]) for c in cols}


@lru_cache(maxsize=1)
def _miedema() -> dict[str, np.ndarray]:
    """Bulk and shear modulus (GPa) from matminer's Miedema.csv; 0 (placeholder for H, N...) -> NaN.

    The ``compressibility`` column holds bulk moduli in GPa (Cu 131, Fe 168.3, Zr 83.335);
    matminer's Miedema featurizer uses it as K in the elastic term 2 K_A G_B dV^2 / (...).
    """
    index = symbol_index()
    bulk = np.full(N_ELEMENTS, np.nan)
    shear = np.full(N_ELEMENTS, np.nan)
    with _data_path("miedema_parameters.csv").open() as fh:
        for row in csv.DictReader(fh):
            i = index.get(row["element"])
            if i is None:
                continue
            k, g = _float(row["compressibility"]), _float(row["shear_modulus"])
            bulk[i] = k if k > 0 else np.nan
            shear[i] = g if g > 0 else np.nan
    return {"BulkModulus": bulk, "ShearModulus": shear}


def _first_finite(*sources: tuple[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Element-wise first finite value over (name, array) sources, and the name used."""
    value = np.full(N_ELEMENTS, np.nan)
    origin = np.full(N_ELEMENTS, "none", dtype=object)
    for name, arr in sources:
        take = ~np.isfinite(value) & np.isfinite(arr)
        value[take] = arr[take]
        origin[take] = name
    return value, origin.astype(str)


@lru_cache(maxsize=1)
def _pymatgen() -> dict[str, np.ndarray]:
    from pymatgen.core import Element

    out: dict[str, list[float]] = {
        k: [] for k in ("atomic_mass", "metallic_radius", "atomic_radius", "melting_point", "X", "E", "K", "G")
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen warns about missing X / data; we keep NaN
        for z in range(1, N_ELEMENTS + 1):
            el = Element.from_Z(z)
            out["atomic_mass"].append(_float(el.atomic_mass))
            out["metallic_radius"].append(_float(el.metallic_radius))
            out["atomic_radius"].append(_float(el.atomic_radius))
            out["melting_point"].append(_float(el.melting_point))
            out["X"].append(_float(el.X))
            out["E"].append(_float(el.youngs_modulus))
            out["K"].append(_float(el.bulk_modulus))
            out["G"].append(_float(el.rigidity_modulus))
    return {k: np.array(v) for k, v in out.items()}


@lru_cache(maxsize=1)
def full_tables() -> dict[str, np.ndarray]:
    """Every property in :data:`PROPERTIES` for Z = 1..103 (index Z-1); read-only arrays."""
    pmg, mag, mie = _pymatgen(), _magpie(), _miedema()
    bulk, k_src = _first_finite(("pymatgen", pmg["K"]), ("magpie", mag["BulkModulus"]), ("miedema", mie["BulkModulus"]))
    shear, g_src = _first_finite(
        ("pymatgen", pmg["G"]), ("magpie", mag["ShearModulus"]), ("miedema", mie["ShearModulus"])
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        e_derived = 9.0 * bulk * shear / (3.0 * bulk + shear)
    young, e_src = _first_finite(("pymatgen", pmg["E"]), ("9KG/(3K+G)", e_derived))
    tables = {
        "atomic_mass": pmg["atomic_mass"],
        "metallic_radius": pmg["metallic_radius"],
        "atomic_radius": pmg["atomic_radius"],
        "miracle_radius": mag["MiracleRadius"],
        "melting_point": pmg["melting_point"],
        "magpie_melting_point": mag["MeltingT"],
        "electronegativity": pmg["X"],
        "valence_electrons": mag["NValence"],
        "youngs_modulus": young,
        "bulk_modulus": bulk,
        "shear_modulus": shear,
    }
    tables.update({f"magpie_{name}": mag[name] for name in MAGPIE_STAT_TABLES})
    for arr in tables.values():
        arr.setflags(write=False)
    tables["_source_youngs_modulus"] = e_src
    tables["_source_bulk_modulus"] = k_src
    tables["_source_shear_modulus"] = g_src
    return tables


def modulus_source(elements: Sequence[str], prop: str) -> tuple[str, ...]:
    """Which source each element's ``youngs_modulus``/``bulk_modulus``/``shear_modulus`` came from."""
    src = full_tables()[f"_source_{prop}"]
    return tuple(str(src[i]) for i in _indices(tuple(elements)))


def _indices(elements: tuple[str, ...]) -> np.ndarray:
    index = symbol_index()
    try:
        return np.array([index[e] for e in elements], dtype=int)
    except KeyError as exc:
        raise ValueError(f"unknown element symbol {exc.args[0]!r}") from None


@dataclass(frozen=True)
class ElementProperties:
    """Properties of an ordered element tuple: ``values[name][j]`` belongs to ``elements[j]``."""

    elements: tuple[str, ...]
    values: dict[str, np.ndarray] = field(repr=False)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.values[name]

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def missing(self, name: str, used: np.ndarray | None = None) -> tuple[str, ...]:
        """Elements whose ``name`` is NaN (restricted to the ``used`` mask if given)."""
        bad = ~np.isfinite(self.values[name])
        if used is not None:
            bad &= np.asarray(used, dtype=bool)
        return tuple(e for e, b in zip(self.elements, bad) if b)

    def require(self, name: str, used: np.ndarray | None = None) -> np.ndarray:
        """The property array, or :class:`MissingElementData` if a (used) element lacks it."""
        bad = self.missing(name, used)
        if bad:
            raise MissingElementData(name, bad)
        return self.values[name]


@lru_cache(maxsize=256)
def element_properties(elements: tuple[str, ...]) -> ElementProperties:
    """Vectorized lookup of every property in :data:`PROPERTIES` for ``elements`` (cached)."""
    elements = tuple(elements)
    idx = _indices(elements)
    tables = full_tables()
    values = {}
    for name in PROPERTIES:
        arr = tables[name][idx]
        arr.setflags(write=False)
        values[name] = arr
    return ElementProperties(elements, values)


@lru_cache(maxsize=1)
def _pair_table() -> np.ndarray:
    """(103, 103) symmetric matrix of Takeuchi-Inoue dH_AB (kJ/mol); NaN where not tabulated."""
    index = symbol_index()
    table = np.full((N_ELEMENTS, N_ELEMENTS), np.nan)
    np.fill_diagonal(table, 0.0)
    with _data_path("takeuchi_inoue_mixing_enthalpy.tsv").open() as fh:
        header = fh.readline().split()
        if header != ["elem_A", "elem_B", "delta_Hf"]:
            raise RuntimeError(f"unexpected mixing-enthalpy header {header}")
        for line in fh:
            parts = line.split()
            if not parts:
                continue
            a, b, value = parts
            i, j = index[a], index[b]
            table[i, j] = table[j, i] = _float(value)
    table.setflags(write=False)
    return table


@lru_cache(maxsize=256)
def mixing_enthalpy_matrix(elements: tuple[str, ...]) -> np.ndarray:
    """(k, k) Takeuchi-Inoue pair enthalpies dH_ij (kJ/mol) for ``elements``.

    Zero on the diagonal, NaN for pairs the table lacks (e.g. anything with a noble
    gas). Read-only; cached per element tuple.
    """
    idx = _indices(tuple(elements))
    out = _pair_table()[np.ix_(idx, idx)].copy()
    out.setflags(write=False)
    return out


def missing_pairs(elements: Sequence[str], used: Iterable[bool] | None = None) -> list[tuple[str, str]]:
    """Element pairs (among ``used`` elements) with no tabulated mixing enthalpy."""
    elements = tuple(elements)
    mat = mixing_enthalpy_matrix(elements)
    mask = np.ones(len(elements), bool) if used is None else np.asarray(list(used), bool)
    return [
        (elements[i], elements[j])
        for i in range(len(elements))
        for j in range(i + 1, len(elements))
        if mask[i] and mask[j] and not np.isfinite(mat[i, j])
    ]


@lru_cache(maxsize=1)
def ideal_radius_ratios() -> tuple[np.ndarray, np.ndarray]:
    """(coordination numbers 3..24, ideal centre/shell radius ratios), increasing.

    Miracle, Lord & Ranganathan, Mater. Trans. 47 (2006) 1737, as tabulated in matminer's
    AtomicPackingEfficiency (copied to ``data/ideal_radius_ratios.csv`` by build_tables.py).
    """
    with _data_path("ideal_radius_ratios.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    n = np.array([int(r["coordination"]) for r in rows])
    ratio = np.array([float(r["ideal_radius_ratio"]) for r in rows])
    if np.any(np.diff(ratio) <= 0):
        raise RuntimeError("ideal radius ratios must increase with coordination")
    n.setflags(write=False)
    ratio.setflags(write=False)
    return n, ratio
