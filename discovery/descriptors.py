"""Composition descriptors that need no alloy liquidus: the physics features of Sun et al.
2017 and the common multicomponent descriptors (``BASE_FEATURE_NAMES``), and Magpie-style
statistics of element properties (``STAT_FEATURE_NAMES``, after Ward et al. 2016).

Vectorized over the ``(n_compositions, n_elements)`` fraction matrix: element properties are
looked up once per element tuple, then everything is matrix algebra (no Python loop over
compositions). discovery.liquidus learns the alloy liquidus from these descriptors;
discovery.features adds dT_liq on top. See discovery.features for the choices behind each
physics feature and :data:`FEATURE_DOCS` / :data:`STAT_FEATURE_DOCS` for every column.

Missing data raise :class:`discovery.elements.MissingElementData` (never zero-filled); use
:func:`featurizable` to filter rows first.
"""


from __future__ import annotations

from functools import lru_cache
from typing import Iterable

import numpy as np

from discovery.composition import CompositionMatrix
from discovery.elements import (
    MAGPIE_STAT_TABLES,
    MissingElementData,
    element_properties,
    ideal_radius_ratios,
    mixing_enthalpy_matrix,
)

#: Molar gas constant, J/(mol K) (CODATA 2018, exact). matminer uses 8.314.
GAS_CONSTANT = 8.314462618
#: |dH_mix| floor (kJ/mol) in Omega, as matminer's YangSolidSolution: finite Omega when dH_mix = 0.
DH_FLOOR = 1e-6
#: Element properties behind the statistics features (element_statistics).
_STAT_PROPS = tuple(f"magpie_{p}" for p in MAGPIE_STAT_TABLES)

FEATURE_DOCS: dict[str, str] = {
    "mean_atomic_weight": "sum_i c_i M_i (g/mol; pymatgen atomic_mass)",
    "mean_radius": "r_mean = sum_i c_i r_i (pm; Miracle et al. 2010 metallic-glass radii)",
    "delta_radius": "size mismatch sqrt(sum_i c_i (1 - r_i / r_mean)^2) (dimensionless, Miracle radii)",
    "T_fic": "fictive liquidus sum_i c_i Tm_i (K; pymatgen elemental melting points)",
    "Tm_min": "lowest elemental melting point among present elements (K)",
    "Tm_max": "highest elemental melting point among present elements (K)",
    "dT_liq": "(T_fic - T_liq) / T_fic; T_liq measured if given, else discovery.liquidus.default_estimate",
    "dH_mix": "sum_{i<j} 4 dH_ij c_i c_j (kJ/mol; Takeuchi-Inoue 2005 Miedema pair table)",
    "mean_electronegativity": "sum_i c_i chi_i (Pauling; pymatgen X)",
    "delta_electronegativity": "sqrt(sum_i c_i (chi_i - chi_mean)^2) (Pauling units)",
    "VEC": "valence electron concentration sum_i c_i VEC_i (Magpie NValence)",
    "dS_mix": "ideal mixing entropy -R sum_i c_i ln c_i (J/(mol K))",
    "Omega": "T_fic dS_mix / max(|dH_mix|, 1e-6 kJ/mol) (Yang & Zhang 2012; 0 for pure elements)",
    "APE_mean": "sum_i c_i APE_i, APE_i = 1 - R*(N_i) / (r_i / r_mean) at the best coordination N_i "
    "(Laws et al. 2015 atomic packing efficiency, every shell of alloy composition; Miracle radii)",
    "APE_abs_mean": "sum_i c_i |APE_i| (0 = every atom ideally packed)",
}

FEATURE_NAMES: tuple[str, ...] = tuple(FEATURE_DOCS)

#: Features computable without any alloy liquidus (inputs of the liquidus regressor).
BASE_FEATURE_NAMES: tuple[str, ...] = tuple(n for n in FEATURE_NAMES if n != "dT_liq")

_INDEX = {name: j for j, name in enumerate(FEATURE_NAMES)}


def _normalized(matrix: CompositionMatrix) -> np.ndarray:
    c = np.asarray(matrix.fractions, dtype=np.float64)
    if not np.all(np.isfinite(c)):
        raise ValueError("fractions contain NaN or infinity")
    if np.any(c < 0):
        raise ValueError("fractions must be non-negative")
    total = c.sum(axis=1, keepdims=True)
    if np.any(total <= 0):
        raise ValueError(f"{int(np.sum(total <= 0))} composition(s) have no positive fraction")
    return c / total


def _checked(props, name: str, used: np.ndarray) -> np.ndarray:
    """Property array with NaN only for unused elements (replaced by 0: they have c = 0)."""
    arr = props.require(name, used)
    return np.where(used, arr, 0.0)


def _checked_pairs(elements: tuple[str, ...], present: np.ndarray, used: np.ndarray) -> np.ndarray:
    """Pair table with NaN only for pairs that never occur together (replaced by 0)."""
    h = mixing_enthalpy_matrix(elements)
    bad = ~np.isfinite(h)
    if bad[np.ix_(used, used)].any():
        p = present.astype(np.float64)
        hit = np.argwhere(bad & ((p.T @ p) > 0))
        if hit.size:
            pairs = sorted({"-".join(sorted((elements[i], elements[j]))) for i, j in hit})
            raise MissingElementData("Takeuchi-Inoue mixing enthalpy", pairs)
    return np.where(bad, 0.0, h) if bad.any() else h


class _Rows:
    """The fraction matrix as (element index, fraction) per row, padded to the widest row.

    Real alloys have 1-8 elements out of the dozens in a data set's element list, so the
    per-element algebra runs on an ``(n, m)`` array (m = most elements in one row) instead
    of ``(n, k)``. When rows are dense (m close to k, e.g. an enumerated grid) the dense
    matrix is used as is. Padding entries have fraction 0 and point at a present element,
    so every property gathered for them is finite and contributes nothing.
    """

    def __init__(self, c: np.ndarray):
        n, k = c.shape
        present = c > 0
        counts = present.sum(axis=1)
        m = int(counts.max())
        self.present_dense = present
        if 2 * m > k:
            self.dense = True
            self.c, self.valid, self.idx = c, present, None
            return
        self.dense = False
        rows, cols = np.nonzero(present)  # row-major: each row's entries are contiguous
        starts = np.cumsum(counts) - counts
        pos = np.arange(rows.size) - np.repeat(starts, counts)
        idx = np.repeat(cols[starts][:, None], m, axis=1)
        idx[rows, pos] = cols
        cc = np.zeros((n, m))
        cc[rows, pos] = c[rows, cols]
        valid = np.zeros((n, m), bool)
        valid[rows, pos] = True
        self.c, self.valid, self.idx = cc, valid, idx

    def take(self, values: np.ndarray) -> np.ndarray:
        """Per-element values laid out like ``self.c``."""
        return values[None, :] if self.dense else values[self.idx]

    def weighted(self, values: np.ndarray) -> np.ndarray:
        """sum_i c_i v_i per row."""
        if self.dense:
            return self.c @ values
        return np.einsum("nm,nm->n", self.c, values[self.idx])

    def pair_sum(self, h: np.ndarray) -> np.ndarray:
        """c^T H c per row."""
        if self.dense:
            return np.einsum("nk,nk->n", self.c @ h, self.c)
        hh = h[self.idx[:, :, None], self.idx[:, None, :]]
        return np.einsum("na,nab,nb->n", self.c, hh, self.c)


def _base(matrix: CompositionMatrix) -> tuple[np.ndarray, np.ndarray]:
    """All features except dT_liq (column left NaN); also returns T_fic."""
    c_full = _normalized(matrix)
    n = c_full.shape[0]
    elements = tuple(matrix.elements)
    props = element_properties(elements)
    rows = _Rows(c_full)
    used = rows.present_dense.any(axis=0)

    mass = _checked(props, "atomic_mass", used)
    radius = _checked(props, "miracle_radius", used)
    tm = _checked(props, "melting_point", used)
    chi = _checked(props, "electronegativity", used)
    vec = _checked(props, "valence_electrons", used)
    h = _checked_pairs(elements, rows.present_dense, used)
    c, valid = rows.c, rows.valid

    out = np.full((n, len(FEATURE_NAMES)), np.nan)
    out[:, _INDEX["mean_atomic_weight"]] = rows.weighted(mass)

    r_mean = rows.weighted(radius)
    out[:, _INDEX["mean_radius"]] = r_mean
    ratio = rows.take(radius) / r_mean[:, None]  # r_i / r_mean
    dev = 1.0 - ratio
    out[:, _INDEX["delta_radius"]] = np.sqrt(np.einsum("nk,nk->n", c, dev * dev))

    t_fic = rows.weighted(tm)
    out[:, _INDEX["T_fic"]] = t_fic
    tm_rows = rows.take(tm)
    out[:, _INDEX["Tm_min"]] = np.where(valid, tm_rows, np.inf).min(axis=1)
    out[:, _INDEX["Tm_max"]] = np.where(valid, tm_rows, -np.inf).max(axis=1)

    # sum_{i<j} 4 H_ij c_i c_j = 2 c^T H c  (H symmetric, zero diagonal)
    dh = 2.0 * rows.pair_sum(h)
    out[:, _INDEX["dH_mix"]] = dh

    chi_mean = rows.weighted(chi)
    out[:, _INDEX["mean_electronegativity"]] = chi_mean
    dchi = rows.take(chi) - chi_mean[:, None]
    # clip: rounding can make the variance a tiny negative number for pure elements
    out[:, _INDEX["delta_electronegativity"]] = np.sqrt(np.maximum(np.einsum("nk,nk->n", c, dchi * dchi), 0.0))
    out[:, _INDEX["VEC"]] = rows.weighted(vec)

    clnc = c * np.log(np.where(valid, c, 1.0))  # 0 ln 0 := 0
    ds = -GAS_CONSTANT * clnc.sum(axis=1) + 0.0  # + 0.0 turns -0.0 (pure elements) into 0.0
    out[:, _INDEX["dS_mix"]] = ds
    out[:, _INDEX["Omega"]] = t_fic * ds / (1000.0 * np.maximum(np.abs(dh), DH_FLOOR))

    ape = np.where(valid, _packing_efficiency(ratio), 0.0)
    out[:, _INDEX["APE_mean"]] = np.einsum("nk,nk->n", c, ape)
    out[:, _INDEX["APE_abs_mean"]] = np.einsum("nk,nk->n", c, np.abs(ape))
    return out, t_fic


def _packing_efficiency(ratio: np.ndarray) -> np.ndarray:
    """APE of a centre atom with radius ratio ``r_centre / r_shell`` at its best coordination.

    APE(N) = 1 - R*(N) / ratio; the best N minimizes |APE(N)| (Laws et al. 2015). Between
    consecutive ideal ratios a < b, |1 - a/x| = |1 - b/x| at x = (a + b) / 2, so the best N
    is found by one ``searchsorted`` over those midpoints (ties -> the smaller N, as in
    matminer's scan). Ratios of 0 only occur in unused (c = 0) columns.
    """
    _, ideal = ideal_radius_ratios()
    best = np.searchsorted(_midpoints(), ratio, side="left")
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1.0 - ideal[best] / ratio


@lru_cache(maxsize=1)
def _midpoints() -> np.ndarray:
    _, ideal = ideal_radius_ratios()
    return 0.5 * (ideal[1:] + ideal[:-1])


def base_features(matrix: CompositionMatrix) -> np.ndarray:
    """Columns :data:`BASE_FEATURE_NAMES` (everything that needs no alloy liquidus)."""
    out, _ = _base(matrix)
    return out[:, [_INDEX[n] for n in BASE_FEATURE_NAMES]]


def featurizable(matrix: CompositionMatrix) -> np.ndarray:
    """Boolean mask of rows whose elements and pairs have every datum the features need."""
    c = _normalized(matrix)
    elements = tuple(matrix.elements)
    props = element_properties(elements)
    ok_el = np.ones(len(elements), bool)
    for name in ("atomic_mass", "miracle_radius", "melting_point", "electronegativity", "valence_electrons"):
        ok_el &= np.isfinite(props[name])
    present = c > 0
    ok = ~(present & ~ok_el[None, :]).any(axis=1)
    bad_pair = ~np.isfinite(mixing_enthalpy_matrix(elements))
    if bad_pair.any():
        p = present.astype(np.float64)
        ok &= np.einsum("ni,ij,nj->n", p, bad_pair.astype(np.float64), p) == 0
    return ok


# --------------------------------------------------------------------------- element statistics

#: Statistics of each Magpie property over a composition's elements (weighted by fraction
#: where that makes sense): mean, mean absolute deviation, min, max, range (max - min).
STATISTICS: tuple[str, ...] = ("mean", "dev", "min", "max", "range")
STAT_FEATURE_DOCS: dict[str, str] = {
    **{f"{p}_{s}": f"{s} of Magpie {p} over the present elements ({'fraction-weighted' if s in ('mean', 'dev') else 'unweighted'})"
       for p in MAGPIE_STAT_TABLES for s in STATISTICS},
    "n_elements": "number of elements present",
    "L2_norm": "sqrt(sum_i c_i^2) (stoichiometric 2-norm)",
    "L3_norm": "(sum_i c_i^3)^(1/3) (stoichiometric 3-norm)",
}
STAT_FEATURE_NAMES: tuple[str, ...] = tuple(STAT_FEATURE_DOCS)


def element_statistics(matrix: CompositionMatrix) -> np.ndarray:
    """Columns :data:`STAT_FEATURE_NAMES`: Magpie-property statistics and stoichiometric norms."""
    c_full = _normalized(matrix)
    props = element_properties(tuple(matrix.elements))
    rows = _Rows(c_full)
    used = rows.present_dense.any(axis=0)
    c, valid = rows.c, rows.valid
    out = np.empty((len(c_full), len(STAT_FEATURE_NAMES)))
    col = 0
    for name in _STAT_PROPS:
        v = _checked(props, name, used)
        mean = rows.weighted(v)
        vr = rows.take(v)
        dev = np.einsum("nk,nk->n", c, np.abs(vr - mean[:, None]))
        lo = np.where(valid, vr, np.inf).min(axis=1)
        hi = np.where(valid, vr, -np.inf).max(axis=1)
        out[:, col : col + 5] = np.column_stack([mean, dev, lo, hi, hi - lo])
        col += 5
    out[:, col] = rows.present_dense.sum(axis=1)
    out[:, col + 1] = np.sqrt(np.einsum("nk,nk->n", c, c))
    out[:, col + 2] = np.cbrt(np.einsum("nk,nk,nk->n", c, c, c))
    return out


# --------------------------------------------------------------------------- element fractions

#: The element-fraction columns: every element of the shipped literature table (58). The tree
#: members learn element-specific chemistry from them (Zr- or Pd-based alloys, metalloid
#: glass formers) that the averaged descriptors blur; an element outside this list has no
#: column of its own -- its physics features still describe it, and the domain verdict flags
#: an element the model never saw.
FRACTION_ELEMENTS: tuple[str, ...] = (
    "Ag", "Al", "Au", "B", "Ba", "Be", "Bi", "C", "Ca", "Ce", "Co", "Cr", "Cu", "Dy", "Er", "Fe", "Ga", "Gd", "Ge",
    "Hf", "Ho", "In", "Ir", "La", "Li", "Lu", "Mg", "Mn", "Mo", "N", "Nb", "Nd", "Ni", "P", "Pb", "Pd", "Pr", "Pt",
    "Rh", "Ru", "Sb", "Sc", "Si", "Sm", "Sn", "Sr", "Ta", "Tb", "Te", "Ti", "Tm", "U", "V", "W", "Y", "Yb", "Zn",
    "Zr",
)
FRACTION_FEATURE_NAMES: tuple[str, ...] = tuple(f"x_{e}" for e in FRACTION_ELEMENTS)
_FRACTION_INDEX = {e: j for j, e in enumerate(FRACTION_ELEMENTS)}


def element_fractions(matrix: CompositionMatrix) -> np.ndarray:
    """Columns :data:`FRACTION_FEATURE_NAMES`: the atomic fraction of each listed element
    (0 where absent; a row's unlisted elements are simply not columns, so it may sum below 1)."""
    c = _normalized(matrix)
    out = np.zeros((len(c), len(FRACTION_ELEMENTS)))
    for j, element in enumerate(matrix.elements):
        k = _FRACTION_INDEX.get(element)
        if k is not None:
            out[:, k] = c[:, j]
    return out


# --------------------------------------------------------------------------- rule of mixtures

#: The moduli with an elemental rule-of-mixtures estimate (Young's, shear, bulk).
MODULUS_TARGETS: tuple[str, ...] = ("E", "G", "K")
_ELEMENT_MODULUS = {"E": "youngs_modulus", "G": "shear_modulus", "K": "bulk_modulus"}


def rule_of_mixtures(matrix: CompositionMatrix, target: str = "E") -> np.ndarray:
    """Voigt average sum_i c_i M_i of the elemental modulus (GPa); NaN if a present element lacks it."""
    if target not in _ELEMENT_MODULUS:
        raise ValueError(f"target must be one of {MODULUS_TARGETS}, got {target!r}")
    c = np.asarray(matrix.fractions, dtype=float)
    c = c / c.sum(axis=1, keepdims=True)
    m = np.asarray(element_properties(tuple(matrix.elements))[_ELEMENT_MODULUS[target]], dtype=float)
    missing = ~np.isfinite(m)
    out = c @ np.where(missing, 0.0, m)
    if missing.any():
        out[(c[:, missing] > 0).any(axis=1)] = np.nan
    return out


def rule_of_mixtures_all(matrix: CompositionMatrix) -> np.ndarray:
    """(n, 3) rule-of-mixtures E, G, K."""
    return np.column_stack([rule_of_mixtures(matrix, t) for t in MODULUS_TARGETS])
