"""The properties vitrify predicts, optimizes and measures: one vocabulary for the models,
the campaign file's objectives, ``vitrify predict`` columns and the database's measurements.

A property name (``youngs_modulus_gpa``) is what users write and read; its ``quantity``
(``youngs_modulus``) is the name of the stored :class:`db.models.Measurement`; ``unit`` is
the unit of both. ``glass`` (P(glass), the ensemble's calibrated glass probability) and
``p_gfa`` (Sun et al. 2017's signed distance to the SVM hyperplane) come from the GFA model;
every other property from a regressor ensemble.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PropertySpec:
    name: str
    label: str  # for tables and plot axes
    unit: str
    quantity: str | None  # Measurement.quantity; None for model-only outputs (glass, p_gfa)
    model_kind: str  # the ModelVersion kind that predicts it
    derived: bool = False  # computed from other predicted properties, not learned on its own


PROPERTIES: dict[str, PropertySpec] = {
    spec.name: spec
    for spec in (
        PropertySpec("glass", "P(glass)", "probability", None, "gfa-ensemble"),
        PropertySpec("p_gfa", "P_GFA", "signed distance", None, "gfa-ensemble"),
        PropertySpec("youngs_modulus_gpa", "Young's modulus E", "GPa", "youngs_modulus", "modulus-ensemble"),
        PropertySpec("shear_modulus_gpa", "shear modulus G", "GPa", "shear_modulus", "modulus-ensemble"),
        PropertySpec("bulk_modulus_gpa", "bulk modulus K", "GPa", "bulk_modulus", "modulus-ensemble"),
        PropertySpec("dmax_mm", "critical casting thickness Dmax", "mm", "Dmax", "bulk-gfa-ensemble"),
        PropertySpec("log10_rc", "log10 critical cooling rate Rc", "log10(K/s)", "Rc", "bulk-gfa-ensemble"),  # stored in K/s
        PropertySpec("tg_k", "glass transition Tg", "K", "Tg", "bulk-gfa-ensemble"),
        PropertySpec("tx_k", "crystallization onset Tx", "K", "Tx", "bulk-gfa-ensemble"),
        PropertySpec("tl_k", "liquidus Tl", "K", "Tl", "bulk-gfa-ensemble"),
        PropertySpec("trg", "reduced glass temperature Trg = Tg/Tl", "1", None, "bulk-gfa-ensemble", derived=True),
        PropertySpec("gamma", "gamma = Tx/(Tg + Tl)", "1", None, "bulk-gfa-ensemble", derived=True),
    )
}

#: Property name of each stored measurement quantity.
BY_QUANTITY: dict[str, str] = {s.quantity: s.name for s in PROPERTIES.values() if s.quantity}


class UnknownProperty(KeyError):
    def __init__(self, name: str):
        self.name = name
        super().__init__(f"unknown property {name!r}; known: {', '.join(PROPERTIES)}")

    def __str__(self) -> str:  # KeyError would quote the whole message
        return self.args[0]


def property_spec(name: str) -> PropertySpec:
    try:
        return PROPERTIES[name]
    except KeyError:
        raise UnknownProperty(name) from None


@dataclass
class Prediction:
    """One property over ``n`` candidates: ensemble mean, spread and (optionally) members.

    ``members`` (m, n) are the ensemble members' predictions, the samples Thompson sampling
    and expected-hypervolume improvement draw from. NaN where the model has no prediction
    (e.g. an element without tabulated data).
    """

    mean: np.ndarray
    std: np.ndarray
    members: np.ndarray | None = None

    def take(self, idx) -> "Prediction":
        return Prediction(self.mean[idx], self.std[idx], None if self.members is None else self.members[:, idx])

    @staticmethod
    def concat(parts: list["Prediction"]) -> "Prediction":
        members = None if any(p.members is None for p in parts) else np.concatenate([p.members for p in parts], axis=1)
        return Prediction(np.concatenate([p.mean for p in parts]), np.concatenate([p.std for p in parts]), members)

    @staticmethod
    def missing(n: int) -> "Prediction":
        return Prediction(np.full(n, np.nan), np.full(n, np.nan), None)
