"""Alloy liquidus temperature T_liq: measured data and a learned regressor.

Sun et al. 2017 found dT_liq = (T_fic - T_liq) / T_fic the most informative GFA input, but
new compositions have no measured liquidus, so T_liq must be estimated. This module learns
T_liq from the measured liquidus temperatures in the shipped literature table
(discovery.literature: DMREF v5, Schultz et al. 2022; Xiong, Shi & Zhang 2020, CTT.csv),
cleaned there (300-3000 K, above the same row's Tg and Tx: a liquidus below the glass
transition is a transcription error, e.g. DMREF's La16.15Mg60Ni23.6Si0.25 at 8263 K) and
deduplicated by composition (median).

Bajpai et al.'s temperatures are shipped but not used: they do not belong to their
compositions. For the 2,729 Bajpai rows whose composition also has a DMREF/Xiong
measurement, the median |T_l difference| is 290 K and only 6 % agree within 20 K (DMREF vs
Xiong: median 0 K, 99.7 % within 20 K); the same composition appears with wildly different
values (Ag8Al8Cu36Zr48: 698, 950, 1403 K; Cu50Zr50: 694-1278 K). Adding them raises the
grouped-CV MAE from ~47 K to ~128 K (tests/test_liquidus.py re-measures this).

:func:`default_estimate` fits :class:`LiquidusRegressor` on that data once per process (a
few seconds with the table) and is what :func:`discovery.features.featurize` uses when no
measured T_liq is given. A fitted GFA model pickles its liquidus regressor, so a stored
model reproduces its predictions whatever the shipped data become.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple, Sequence

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.ensemble import ExtraTreesRegressor
from sklearn.model_selection import GroupKFold

from discovery.composition import CompositionMatrix
from discovery.descriptors import BASE_FEATURE_NAMES, base_features

T_MIN, T_MAX = 300.0, 3000.0

_T_FIC = BASE_FEATURE_NAMES.index("T_fic")
_DS_MIX = BASE_FEATURE_NAMES.index("dS_mix")


class LiquidusData(NamedTuple):
    matrix: CompositionMatrix
    t_liquidus: np.ndarray
    systems: list[str]


def liquidus_data(table=None) -> LiquidusData:
    """``(matrix, t_liquidus, systems)``: one measured liquidus per composition (median) from
    the literature table (default: the shipped one); compositions the featurizer has no data
    for are dropped."""
    from discovery.descriptors import featurizable
    from discovery.literature import load_literature

    table = load_literature() if table is None else table
    names, t = table.property_table("Tl")
    matrix = CompositionMatrix.from_formulas(names)
    ok = featurizable(matrix)
    matrix = matrix.take(np.flatnonzero(ok))
    used = matrix.fractions.sum(axis=0) > 0  # drop element columns no remaining row uses
    matrix = CompositionMatrix(tuple(e for e, u in zip(matrix.elements, used) if u), matrix.fractions[:, used])
    return LiquidusData(matrix, np.asarray(t, dtype=float)[ok], matrix.systems())


# --------------------------------------------------------------------------- model


def _as_features(X) -> np.ndarray:
    if isinstance(X, CompositionMatrix):
        return base_features(X)
    arr = np.asarray(X, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != len(BASE_FEATURE_NAMES):
        raise ValueError(
            f"X must be a CompositionMatrix or an (n, {len(BASE_FEATURE_NAMES)}) array of "
            f"discovery.features.base_features, got shape {arr.shape}"
        )
    return arr


class LiquidusRegressor(RegressorMixin, BaseEstimator):
    """Alloy liquidus (K) from composition features (never from dT_liq).

    ``X`` is a :class:`CompositionMatrix` or the array
    :func:`discovery.features.base_features` returns (columns ``BASE_FEATURE_NAMES``).
    The model learns the ratio T_liq / T_fic (``target="ratio"``; a deep eutectic is a
    small ratio) or T_liq itself (``target="kelvin"``) with an extra-trees ensemble.

    The measured data are almost all glass formers (deep eutectics), so a model fitted on
    them alone predicts eutectic-like liquidus even for nearly pure metals. With
    ``pure_element_anchors`` (default) and a CompositionMatrix ``X``, ``fit`` adds one row
    per element of ``X`` with T_liq = its melting point (pymatgen, the same number T_fic
    uses), and ``predict`` returns T_fic exactly for single-element rows.
    """

    def __init__(
        self,
        target: str = "ratio",
        pure_element_anchors: bool = True,
        n_estimators: int = 50,
        min_samples_leaf: int = 2,
        max_features: float = 0.5,
        random_state: int = 0,
        n_jobs: int = 1,
    ):
        self.target = target
        self.pure_element_anchors = pure_element_anchors
        self.n_estimators = n_estimators
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _scale(self, F: np.ndarray) -> np.ndarray:
        if self.target == "ratio":
            return F[:, _T_FIC]
        if self.target == "kelvin":
            return np.ones(len(F))
        raise ValueError(f"target must be 'ratio' or 'kelvin', got {self.target!r}")

    def fit(self, X, y):
        F = _as_features(X)
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        if len(y) != len(F):
            raise ValueError(f"{len(F)} compositions but {len(y)} targets")
        if self.pure_element_anchors and isinstance(X, CompositionMatrix):
            used = X.fractions.sum(axis=0) > 0
            pure = CompositionMatrix(tuple(X.elements), np.eye(len(X.elements))[used])
            F_pure = base_features(pure)
            F = np.vstack([F, F_pure])
            y = np.concatenate([y, F_pure[:, _T_FIC]])
        self.model_ = ExtraTreesRegressor(
            n_estimators=self.n_estimators,
            min_samples_leaf=self.min_samples_leaf,
            max_features=self.max_features,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
        ).fit(F, y / self._scale(F))
        self.n_features_in_ = F.shape[1]
        return self

    def predict(self, X) -> np.ndarray:
        F = _as_features(X)
        pred = self.model_.predict(F) * self._scale(F)
        if self.pure_element_anchors:
            pure = F[:, _DS_MIX] == 0.0
            pred[pure] = F[pure, _T_FIC]
        return pred


def grouped_cv_mae(
    matrix: CompositionMatrix,
    t_liquidus: np.ndarray,
    systems: Sequence[str],
    *,
    regressor: LiquidusRegressor | None = None,
    n_splits: int = 5,
) -> tuple[float, np.ndarray]:
    """Mean absolute error (K) of out-of-fold predictions, GroupKFold by chemical system.

    Every composition of a system (e.g. all Cu-Zr-Al alloys) is predicted by a model that
    saw no alloy of that exact system. Returns (MAE, out-of-fold predictions).
    """
    regressor = LiquidusRegressor() if regressor is None else regressor
    y = np.asarray(t_liquidus, dtype=np.float64)
    groups = np.asarray(systems)
    pred = np.full(len(y), np.nan)
    for train, test in GroupKFold(n_splits=n_splits).split(matrix.fractions, y, groups):
        model = clone(regressor).fit(matrix.take(train), y[train])
        pred[test] = model.predict(matrix.take(test))
    return float(np.mean(np.abs(pred - y))), pred


# --------------------------------------------------------------------------- default


@lru_cache(maxsize=1)
def default_regressor() -> LiquidusRegressor:
    """:class:`LiquidusRegressor` fitted on the shipped measured liquidus data (cached per process)."""
    data = liquidus_data()
    return LiquidusRegressor().fit(data.matrix, data.t_liquidus)


def default_estimate(matrix: CompositionMatrix) -> np.ndarray:
    """Estimated alloy liquidus (K) per row from :func:`default_regressor`."""
    return default_regressor().predict(matrix)
