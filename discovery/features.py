"""Vectorized composition features for glass-forming ability (numpy over the fraction matrix).

One call featurizes an ``(n_compositions, n_elements)`` :class:`CompositionMatrix`; there
is no Python loop over compositions (element properties are looked up once per element
tuple, then everything is matrix algebra). See :data:`FEATURE_DOCS` for the definition,
unit and data source of every column.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from discovery.composition import CompositionMatrix
from discovery.elements import (
    MissingElementData,
    element_properties,
    ideal_radius_ratios,
    mixing_enthalpy_matrix,
)

#: Molar gas constant, J/(mol K) (CODATA 2018, exact). matminer uses 8.314.
GAS_CONSTANT = 8.314462618
#: |dH_mix| floor (kJ/mol) in Omega, as matminer's YangSolidSolution: finite Omega when dH_mix = 0.
DH_FLOOR = 1e-6

FEATURE_DOCS: dict[str, str] = {
    "mean_atomic_weight": "sum_i c_i M_i (g/mol; pymatgen atomic_mass)",
    "mean_radius": "r_mean = sum_i c_i r_i (pm; Miracle et al. 2010 metallic-glass radii)",
    "delta_radius": "size mismatch sqrt(sum_i c_i (1 - r_i / r_mean)^2) (dimensionless, Miracle radii)",
    "T_fic": "fictive liquidus sum_i c_i Tm_i (K; pymatgen elemental melting points)",
    "Tm_min": "lowest elemental melting point among present elements (K)",
    "Tm_max": "highest elemental melting point among present elements (K)",
    "dT_liq": "(T_fic - T_liq) / T_fic; T_liq measured if given, else discovery.liquidus estimate",
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


def _checked_pairs(elements: tuple[str, ...], c: np.ndarray) -> np.ndarray:
    h = mixing_enthalpy_matrix(elements)
    bad = ~np.isfinite(h)
    if bad.any():
        present = (c > 0).astype(np.float64)
        together = (present.T @ present) > 0
        hit = np.argwhere(bad & together)
        if hit.size:
            pairs = sorted({"-".join(sorted((elements[i], elements[j]))) for i, j in hit})
            raise MissingElementData("Takeuchi-Inoue mixing enthalpy", pairs)
        h = np.where(bad, 0.0, h)
    return h


def _base(matrix: CompositionMatrix) -> tuple[np.ndarray, np.ndarray]:
    """All features except dT_liq (column left NaN); also returns T_fic."""
    c = _normalized(matrix)
    n, k = c.shape
    elements = tuple(matrix.elements)
    props = element_properties(elements)
    present = c > 0
    used = present.any(axis=0)

    mass = _checked(props, "atomic_mass", used)
    radius = _checked(props, "miracle_radius", used)
    tm = _checked(props, "melting_point", used)
    chi = _checked(props, "electronegativity", used)
    vec = _checked(props, "valence_electrons", used)
    h = _checked_pairs(elements, c)

    out = np.full((n, len(FEATURE_NAMES)), np.nan)
    out[:, _INDEX["mean_atomic_weight"]] = c @ mass

    r_mean = c @ radius
    out[:, _INDEX["mean_radius"]] = r_mean
    dev = 1.0 - radius[None, :] / r_mean[:, None]
    out[:, _INDEX["delta_radius"]] = np.sqrt(np.einsum("nk,nk->n", c, dev * dev))

    t_fic = c @ tm
    out[:, _INDEX["T_fic"]] = t_fic
    out[:, _INDEX["Tm_min"]] = np.where(present, tm[None, :], np.inf).min(axis=1)
    out[:, _INDEX["Tm_max"]] = np.where(present, tm[None, :], -np.inf).max(axis=1)

    # sum_{i<j} 4 H_ij c_i c_j = 2 c^T H c  (H symmetric, zero diagonal)
    dh = 2.0 * np.einsum("nk,nk->n", c @ h, c)
    out[:, _INDEX["dH_mix"]] = dh

    chi_mean = c @ chi
    out[:, _INDEX["mean_electronegativity"]] = chi_mean
    dchi = chi[None, :] - chi_mean[:, None]
    # clip: rounding can make the variance a tiny negative number for pure elements
    out[:, _INDEX["delta_electronegativity"]] = np.sqrt(np.maximum(np.einsum("nk,nk->n", c, dchi * dchi), 0.0))
    out[:, _INDEX["VEC"]] = c @ vec

    with np.errstate(divide="ignore", invalid="ignore"):
        clnc = np.where(present, c * np.log(np.where(present, c, 1.0)), 0.0)
    ds = -GAS_CONSTANT * clnc.sum(axis=1) + 0.0  # + 0.0 turns -0.0 (pure elements) into 0.0
    out[:, _INDEX["dS_mix"]] = ds
    out[:, _INDEX["Omega"]] = t_fic * ds / (1000.0 * np.maximum(np.abs(dh), DH_FLOOR))

    ape = _packing_efficiency(radius[None, :] / r_mean[:, None])
    ape = np.where(present, ape, 0.0)
    out[:, _INDEX["APE_mean"]] = np.einsum("nk,nk->n", c, ape)
    out[:, _INDEX["APE_abs_mean"]] = np.einsum("nk,nk->n", c, np.abs(ape))
    return out, t_fic


def _packing_efficiency(ratio: np.ndarray) -> np.ndarray:
    """APE of a centre atom with radius ratio ``r_centre / r_shell`` at its best coordination.

    APE(N) = 1 - R*(N) / ratio decreases monotonically with N (R* increases), so the N
    minimizing |APE| is one of the two neighbours of the crossing ``R*(N) = ratio``:
    ``searchsorted`` finds them without scanning all 22 shells (ties -> smaller N).
    """
    _, ideal = ideal_radius_ratios()
    hi = np.searchsorted(ideal, ratio, side="right")  # first N with R*(N) > ratio
    lo = np.clip(hi - 1, 0, len(ideal) - 1)
    hi = np.clip(hi, 0, len(ideal) - 1)
    with np.errstate(divide="ignore", invalid="ignore"):  # ratio 0 only in unused columns
        ape_lo = 1.0 - ideal[lo] / ratio
        ape_hi = 1.0 - ideal[hi] / ratio
    return np.where(np.abs(ape_hi) < np.abs(ape_lo), ape_hi, ape_lo)


def base_features(matrix: CompositionMatrix) -> np.ndarray:
    """Columns :data:`BASE_FEATURE_NAMES` (everything that needs no alloy liquidus)."""
    out, _ = _base(matrix)
    return out[:, [_INDEX[n] for n in BASE_FEATURE_NAMES]]


def _default_liquidus(matrix: CompositionMatrix) -> np.ndarray | None:
    """discovery.liquidus's default estimate, or None when no estimator is available."""
    try:
        from discovery import liquidus
    except ImportError:
        return None
    estimate = getattr(liquidus, "default_estimate", None)
    if estimate is None:
        return None
    return np.asarray(estimate(matrix), dtype=np.float64)


def featurize(matrix: CompositionMatrix, *, t_liquidus: np.ndarray | None = None) -> np.ndarray:
    """Feature matrix of shape ``(len(matrix), len(FEATURE_NAMES))``, float64.

    ``t_liquidus``: measured alloy liquidus (K) per row; NaN entries (or ``None`` for
    all rows) fall back to :func:`discovery.liquidus.default_estimate`. If no estimate
    is available the fallback is T_liq = T_fic (dT_liq = 0).

    Raises :class:`discovery.elements.MissingElementData` if a present element lacks a
    property (or a present pair lacks a mixing enthalpy) -- values are never zero-filled.
    """
    out, t_fic = _base(matrix)
    n = len(t_fic)
    if t_liquidus is None:
        t_liq = np.full(n, np.nan)
    else:
        t_liq = np.asarray(t_liquidus, dtype=np.float64).reshape(-1)
        if t_liq.shape != (n,):
            raise ValueError(f"t_liquidus must have {n} entries, got {t_liq.shape[0]}")
        if np.any(t_liq <= 0):
            raise ValueError("t_liquidus must be positive kelvin (NaN for unknown)")
        t_liq = t_liq.copy()
    unknown = ~np.isfinite(t_liq)
    if unknown.any():
        estimate = _default_liquidus(matrix.take(np.flatnonzero(unknown)))
        t_liq[unknown] = t_fic[unknown] if estimate is None else estimate
    out[:, _INDEX["dT_liq"]] = (t_fic - t_liq) / t_fic
    return out


def featurize_formulas(formulas: Iterable[str], *, t_liquidus: np.ndarray | None = None) -> np.ndarray:
    """Parse formulas (``Cu50Zr45Al5``, ``CuZr2``...) and :func:`featurize` them."""
    return featurize(CompositionMatrix.from_formulas(list(formulas)), t_liquidus=t_liquidus)


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
