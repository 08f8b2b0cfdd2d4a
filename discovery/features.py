"""Vectorized composition features for glass-forming ability (numpy over the fraction matrix).

One call featurizes an ``(n_compositions, n_elements)`` :class:`CompositionMatrix`; there
is no Python loop over compositions (element properties are looked up once per element
tuple, then everything is matrix algebra). See :data:`FEATURE_DOCS` for the definition,
unit and data source of every column.

Choices worth knowing:

* dT_liq: a measured T_liq passed in wins per row; NaN entries (or ``t_liquidus=None``)
  use :func:`discovery.liquidus.default_estimate`, an extra-trees model fitted (once per
  process, ~0.5 s) on the DMREF measured liquidus table shipped in ``discovery/data``
  (grouped-by-system CV MAE ~46 K). It is reliable inside glass-forming regions (deep
  eutectics) and crude towards pure metals; pure elements get T_liq = T_m exactly.
* Elemental melting points are pymatgen's (T_fic, Tm_min/max, Omega). matminer's
  YangSolidSolution uses Magpie MeltingT, which differs for a few lanthanides/actinides.
* R = 8.314462618 J/(mol K) (matminer: 8.314); dS_mix in J/(mol K), dH_mix in kJ/mol.
* Atomic packing efficiency: the two "simultaneous packing" columns (every atom's shell
  has the alloy composition) of Laws et al. 2015 as formulated in matminer's
  AtomicPackingEfficiency, equal to it to 1e-6. matminer's "distance to the k nearest
  efficiently packed clusters" columns are not implemented (they enumerate clusters per
  chemical system and do not vectorize over compositions).
* The descriptors that need no liquidus live in discovery.descriptors (re-exported
  here); discovery.liquidus learns T_liq from them.
* Missing data raise :class:`discovery.elements.MissingElementData`; use
  :func:`featurizable` to filter rows first.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from discovery.composition import CompositionMatrix
from discovery.descriptors import (  # noqa: F401  (the public feature interface)
    BASE_FEATURE_NAMES,
    DH_FLOOR,
    FEATURE_DOCS,
    GAS_CONSTANT,
    FEATURE_NAMES,
    STAT_FEATURE_DOCS,
    STAT_FEATURE_NAMES,
    _INDEX,
    _base,
    base_features,
    element_statistics,
    featurizable,
)


def _default_liquidus(matrix: CompositionMatrix) -> np.ndarray:
    from discovery.liquidus import default_estimate

    return np.asarray(default_estimate(matrix), dtype=np.float64)


def featurize(matrix: CompositionMatrix, *, t_liquidus: np.ndarray | None = None) -> np.ndarray:
    """Feature matrix of shape ``(len(matrix), len(FEATURE_NAMES))``, float64.

    ``t_liquidus``: measured alloy liquidus (K) per row; NaN entries (or ``None`` for
    all rows) fall back to :func:`discovery.liquidus.default_estimate` (a regressor on
    measured DMREF liquidus data).

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
        t_liq[unknown] = _default_liquidus(matrix.take(np.flatnonzero(unknown)))
    out[:, _INDEX["dT_liq"]] = (t_fic - t_liq) / t_fic
    return out


def featurize_formulas(formulas: Iterable[str], *, t_liquidus: np.ndarray | None = None) -> np.ndarray:
    """Parse formulas (``Cu50Zr45Al5``, ``CuZr2``...) and :func:`featurize` them."""
    return featurize(CompositionMatrix.from_formulas(list(formulas)), t_liquidus=t_liquidus)
