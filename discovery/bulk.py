"""Bulk glass-forming ability: critical casting thickness, critical cooling rate and the
characteristic temperatures, predicted from composition.

The field defines GFA by the critical cooling rate Rc (the slowest cooling that still avoids
crystallization); the critical casting thickness Dmax is its practical proxy. The
characteristic-temperature criteria Trg = Tg / Tl (Turnbull) and gamma = Tx / (Tg + Tl)
(Lu & Liu 2002) need a made sample; predicting Tg, Tx and Tl from composition lets a
campaign use them before synthesis.

Data: the measured values in the shipped literature table (discovery.literature: DMREF v5,
Xiong 2020, Ward 2018, the Fe-based BMG set) or, in a campaign, the database's (db.training),
one value per composition (median). Ribbon and crystalline class codes are never read as a
Dmax (discovery.literature).

Model: :class:`BulkGFAEnsemble`, a :class:`discovery.regressors.PropertyEnsemble` of
extremely randomized trees and gradient boosting on composition features
(base descriptors + Magpie element statistics). Dmax and Rc are learned as log10 (they span
decades). Trg and gamma are derived member by member from the predicted temperatures.

Baselines (:data:`BASELINES`, cross-validated beside the model, grouped by chemical system):
the training mean (Dmax: geometric mean) and, for the temperatures, a straight line in the
fictive liquidus T_fic = sum_i c_i Tm_i. Published marks, for context only (other data,
other splits): Dmax RMSE 3.3 mm on 747 alloys from *measured* characteristic temperatures
(Schultz et al. 2021); log10 Rc MAE 0.59-0.66 (Afflerbach et al. 2022).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from discovery.regressors import PropertyData, PropertyEnsemble, cross_validate_property, property_data

#: target (= discovery.properties name) -> (literature / database quantity, learned scale)
TARGETS: dict[str, tuple[str, str | None]] = {
    "dmax_mm": ("Dmax", "log10"),
    "log10_rc": ("Rc", "log10"),
    "tg_k": ("Tg", None),
    "tx_k": ("Tx", None),
    "tl_k": ("Tl", None),
}
BULK_MEMBERS: tuple[str, ...] = ("et", "gb")
DERIVED = {"trg": ("ratio", "tg_k", "tl_k"), "gamma": ("gamma", "tx_k", "tg_k", "tl_k")}
BASELINES = {"dmax_mm": "training geometric mean", "log10_rc": "training mean",
             "tg_k": "linear in T_fic", "tx_k": "linear in T_fic", "tl_k": "linear in T_fic"}
#: Published results under honest splits, for the report (not comparable one to one).
PUBLISHED = {"dmax_mm": "RMSE 3.3 mm, 747 alloys, from measured Tg/Tx/Tl (Schultz et al. 2021)",
             "log10_rc": "MAE 0.59-0.66 log10(K/s) (Afflerbach et al. 2022)"}


class BulkGFAEnsemble(PropertyEnsemble):
    """Dmax (mm, learned as log10), log10 Rc (log10 K/s), Tg, Tx, Tl (K); Trg and gamma derived."""

    kind = "bulk-gfa-ensemble"

    def __init__(self, targets: Sequence[str] = tuple(TARGETS), members: Sequence[str] = BULK_MEMBERS,
                 params: dict | None = None, random_state: int = 0):
        super().__init__(targets, members, params, random_state, feature_set="composition",
                         transforms={"dmax_mm": "log10"}, derived=DERIVED)


def bulk_data(values_by_quantity: dict[str, dict[str, float]], sources: dict[str, str] | None = None) -> PropertyData:
    """:class:`PropertyData` with the bulk targets from ``{quantity: {composition: value}}``
    (Rc in K/s becomes log10_rc; non-positive Rc or Dmax are not measurements)."""
    values: dict[str, dict[str, float]] = {}
    for target, (quantity, _) in TARGETS.items():
        raw = values_by_quantity.get(quantity, {})
        if target == "log10_rc":
            values[target] = {k: float(np.log10(v)) for k, v in raw.items() if v > 0}
        elif target == "dmax_mm":
            values[target] = {k: v for k, v in raw.items() if v > 0}
        else:
            values[target] = dict(raw)
    return property_data(values, sources)


def load_bulk_data(table=None) -> PropertyData:
    """The bulk-GFA measurements of the literature table (default: the shipped one)."""
    from discovery.literature import load_literature

    lit = load_literature() if table is None else table
    quantities = {}
    for quantity, _ in TARGETS.values():
        names, v = lit.property_table(quantity)
        quantities[quantity] = dict(zip(names, v))
    return bulk_data(quantities)


def cross_validate_bulk(data: PropertyData, target: str, *, params: dict | None = None, n_splits: int = 5,
                        seed: int = 0, members: Sequence[str] = BULK_MEMBERS):
    """Grouped-CV out-of-fold predictions of the baseline, the members and the ensemble for one target."""
    model = BulkGFAEnsemble(members=members, params=params, random_state=seed)
    return cross_validate_property(model, data, target, n_splits=n_splits, seed=seed, baseline=BASELINES[target])
