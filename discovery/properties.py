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

from vitrify.errors import VitrifyError


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


class UnknownProperty(VitrifyError, KeyError):
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
    def from_members(members: np.ndarray) -> "Prediction":
        """Mean and spread of an ensemble's (m, n) member predictions, members kept."""
        mean, std = ensemble_mean_spread(members)
        return Prediction(mean, std, members)

    @staticmethod
    def missing(n: int) -> "Prediction":
        return Prediction(np.full(n, np.nan), np.full(n, np.nan), None)


# --------------------------------------------------------------------------- ensemble statistics


def ensemble_mean_spread(members: np.ndarray, *, single_member_spread: np.ndarray | None = None,
                         bernoulli: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Mean and spread (std across members, axis 0) of an ensemble's (m, n) predictions.

    One member has no disagreement: its spread is ``single_member_spread`` if given, else
    (``bernoulli``, for probabilities) the Bernoulli std sqrt(p (1 - p)), else zero."""
    members = np.asarray(members, dtype=float)
    mean = members.mean(axis=0)
    if members.shape[0] > 1:
        return mean, members.std(axis=0)
    if single_member_spread is not None:
        return mean, np.asarray(single_member_spread, dtype=float)
    return mean, (np.sqrt(mean * (1 - mean)) if bernoulli else np.zeros_like(mean))


def logit(p, *, clip: float = 1e-6) -> np.ndarray:
    """log(p / (1 - p)) with p clipped to [clip, 1 - clip] (finite for P = 0 and 1)."""
    p = np.clip(np.asarray(p, dtype=float), clip, 1 - clip)
    return np.log(p / (1 - p))
