"""Elastic moduli of metallic glasses: Young's modulus E, shear modulus G, bulk modulus K.

Data: the measured moduli of the shipped literature table (discovery.literature), i.e.

* Xiong, Shi & Zhang, Mater. Des. 187 (2020) 108378, ``EM.csv``: G and K (GPa) of 278
  glasses; E = 9KG / (3K + G) where both exist (GPL-3 files, shipped under their licence);
* DMREF metallic glasses v5 (Schultz et al., Comput. Mater. Sci. 201 (2022) 110877):
  ``E_[GPA]`` (57 rows) and ``G_[GPa]`` (8 rows);

or, in a campaign, the same measurements as the database holds them plus the lab's own
(db.training). One value per composition and target (median), range-checked
(E 5-400, G 2-200, K 5-400 GPa: outside is a transcription error).

Physics baseline: the rule of mixtures (Voigt average) of the elemental moduli,
M_rom = sum_i c_i M_i (W. H. Wang, Prog. Mater. Sci. 57 (2012) 487: the elastic moduli of
metallic glasses track the weighted average of their constituents'), with elemental data
from :mod:`discovery.elements` (pymatgen, then Magpie, then Miedema fallbacks). It is NaN
when a present element has no tabulated modulus.

Models, after Yang et al., Sci. Rep. 9 (2019) 8739: polynomial (degree-2, ridge-penalized)
regression, LASSO, random forest and an MLP, each given the composition features *and the
rule-of-mixtures estimates* as inputs (a crude physical estimate as an input helps small
data: Zhang & Ling 2018). The :class:`ModulusEnsemble` prediction is the members' mean, its
uncertainty their standard deviation. :func:`cross_validate_modulus` reports MAE and R^2 of
the baseline, every member and the ensemble under CV grouped by chemical system.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from discovery.composition import CompositionMatrix
from discovery.descriptors import MODULUS_TARGETS as TARGETS, rule_of_mixtures, rule_of_mixtures_all  # noqa: F401
from discovery.regressors import (  # noqa: F401  (re-exported: the modulus model's members)
    DEFAULT_PARAMS,
    SEARCH_SPACES,
    ClipToTrainingRange,
    PropertyCVResult,
    PropertyData,
    PropertyEnsemble,
    cross_validate_property,
    member_regressor,
    property_data,
)
from discovery.regressors import grouped_cv_mae as _grouped_cv_mae

TARGET_NAMES = {"E": "Young's modulus", "G": "shear modulus", "K": "bulk modulus"}
MODULUS_MEMBERS: tuple[str, ...] = ("poly", "lasso", "rf", "mlp")
ROM_FEATURE_NAMES: tuple[str, ...] = ("E_rom", "G_rom", "K_rom")


# --------------------------------------------------------------------------- data


def youngs_from_bulk_shear(k, g) -> np.ndarray:
    """Isotropic E = 9KG / (3K + G) (NaN where either is missing)."""
    k = np.asarray(k, dtype=float)
    g = np.asarray(g, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 9.0 * k * g / (3.0 * k + g)


#: Measurement quantity of each target (db Measurement.quantity, discovery.literature.QUANTITIES).
QUANTITY = {"E": "youngs_modulus", "G": "shear_modulus", "K": "bulk_modulus"}
_RANGE = {"E": (5.0, 400.0), "G": (2.0, 200.0), "K": (5.0, 400.0)}


def modulus_table(values: dict[str, dict[str, float]], sources: dict[str, str] | None = None):
    """A table (composition, system, E, G, K, sources) from ``{target: {canonical: GPa}}``;
    values outside the physical ranges are dropped, rows without any target too."""
    import pandas as pd

    from discovery.composition import parse_composition

    names = sorted(set().union(*(v.keys() for v in values.values())))
    rows = []
    for name in names:
        row = {"composition": name, "system": parse_composition(name).system,
               "sources": (sources or {}).get(name, "")}
        for t in TARGETS:
            v = values.get(t, {}).get(name, np.nan)
            lo, hi = _RANGE[t]
            row[t] = v if lo <= v <= hi else np.nan
        rows.append(row)
    table = pd.DataFrame(rows, columns=["composition", "system", *TARGETS, "sources"])
    return table[table[list(TARGETS)].notna().any(axis=1)].reset_index(drop=True)


def load_modulus_table(table=None):
    """The measured moduli of the literature table (default: the shipped one), one row per composition."""
    from discovery.literature import load_literature

    lit = load_literature() if table is None else table
    values = {}
    for target, quantity in QUANTITY.items():
        names, v = lit.property_table(quantity)
        values[target] = dict(zip(names, v))
    recs = lit.records
    has = recs[recs[list(QUANTITY.values())].notna().any(axis=1)]
    sources = has.groupby("composition")["sources"].agg(lambda s: "+".join(sorted(set("+".join(s).split("+")))))
    return modulus_table(values, sources.to_dict())


#: Measured moduli per composition (discovery.regressors.PropertyData, targets E, G, K).
ModulusData = PropertyData


def modulus_data_from_table(table) -> ModulusData:
    """Featurizable rows of :func:`load_modulus_table` (with a defined rule of mixtures) as ModulusData."""
    values = {t: {n: v for n, v in zip(table["composition"], table[t]) if np.isfinite(v)} for t in TARGETS}
    data = property_data(values, dict(zip(table["composition"], table["sources"])))
    return data.subset(np.isfinite(rule_of_mixtures_all(data.matrix)).all(axis=1)) if len(data) else data


def modulus_data_from_values(values_by_quantity: dict[str, dict[str, float]],
                             sources: dict[str, str] | None = None) -> ModulusData:
    """ModulusData from measured values ``{quantity: {composition: GPa}}`` (as db.training
    returns them)."""
    values = {t: values_by_quantity.get(q, {}) for t, q in QUANTITY.items()}
    return modulus_data_from_table(modulus_table(values, sources))


def load_modulus_data(table=None) -> ModulusData:
    """:class:`ModulusData` of the literature table's measured moduli (default: the shipped table)."""
    return modulus_data_from_table(load_modulus_table(table))


# --------------------------------------------------------------------------- ensemble

#: Property name of each modulus target (discovery.properties).
PROPERTY_NAMES = {"E": "youngs_modulus_gpa", "G": "shear_modulus_gpa", "K": "bulk_modulus_gpa"}


class ModulusEnsemble(PropertyEnsemble):
    """Per target (E, G, K): polynomial, LASSO, random forest and MLP regressors on the
    composition features and the rule-of-mixtures moduli, mean +/- spread."""

    kind = "modulus-ensemble"

    def __init__(self, targets: Sequence[str] = TARGETS, members: Sequence[str] = MODULUS_MEMBERS,
                 params: dict | None = None, random_state: int = 0):
        super().__init__(targets, members, params, random_state, feature_set="modulus", property_names=PROPERTY_NAMES)

    def get_params(self, deep: bool = True) -> dict:
        return {"targets": list(self.targets), "members": list(self.members), **DEFAULT_PARAMS, **self.params,
                "random_state": self.random_state}


# --------------------------------------------------------------------------- evaluation

ModulusCVResult = PropertyCVResult


def cross_validate_modulus(data: ModulusData, target: str = "E", *, params: dict | None = None,
                           members: Sequence[str] = MODULUS_MEMBERS, protocol: str = "grouped", n_splits: int = 5,
                           seed: int = 0) -> ModulusCVResult:
    """Out-of-fold predictions of the rule of mixtures, each member and the ensemble (grouped by system)."""
    model = ModulusEnsemble(members=members, params=params, random_state=seed)
    result = cross_validate_property(model, data, target, protocol=protocol, n_splits=n_splits, seed=seed,
                                     baseline_values=rule_of_mixtures(data.matrix, target))
    result.baseline_name = "rule of mixtures"
    return result


def grouped_cv_mae(data: ModulusData, member: str, params: dict, target: str = "E", n_splits: int = 5, seed: int = 0,
                   on_fold: Callable[[int, float], None] | None = None) -> float:
    """Grouped-CV MAE (GPa) of one member -- the Optuna objective. ``on_fold(step, running_mae)``."""
    return _grouped_cv_mae(ModulusEnsemble(), data, member, params, target, n_splits, seed, on_fold)
