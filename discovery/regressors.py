"""Regressor ensembles for measured properties: one class behind the modulus model
(discovery.modulus) and the bulk glass-forming-ability model (discovery.bulk).

A :class:`PropertyEnsemble` fits, per target, a few member regressors on one set of
composition inputs (``feature_set``); its prediction is the members' mean and its
uncertainty their spread, as for the GFA ensemble. A target can be learned on a log scale
(``log10`` in ``transforms``: Dmax and Rc span decades); members then predict log10 values
and are back-transformed one by one, so mean and spread are in the property's unit.

Feature sets:

* ``"modulus"``: discovery.descriptors base features + the rule-of-mixtures moduli
  (a crude physical estimate as an input helps small data: Zhang & Ling 2018);
* ``"composition"``: base features + Magpie element statistics (discovery.descriptors).

Neither includes the estimated liquidus: it is fitted on measured Tl of the same data, so
under cross-validation it would leak the held-out systems' temperatures.

:func:`cross_validate_property` reports MAE / RMSE / R^2 of a stated baseline, every member
and the ensemble under CV grouped by chemical system; :func:`grouped_cv_mae` is the Optuna
objective of one member.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import TransformedTargetRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.ensemble import ExtraTreesRegressor, HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.linear_model import Lasso, Ridge
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

from discovery.composition import CompositionMatrix

FEATURE_SETS = ("modulus", "composition")


# --------------------------------------------------------------------------- data


@dataclass
class PropertyData:
    """Measured values per composition (NaN where a target was not measured)."""

    names: list[str]
    matrix: CompositionMatrix
    targets: dict[str, np.ndarray]
    systems: np.ndarray
    sources: np.ndarray

    def __len__(self) -> int:
        return len(self.names)

    def content_hash(self) -> str:
        """sha256 over (composition, target values) rows (what the model registry records)."""
        digest = hashlib.sha256()
        keys = sorted(self.targets)
        for i in np.argsort(self.names):
            digest.update(repr((self.names[i], *(round(float(self.targets[t][i]), 6) for t in keys))).encode())
        return digest.hexdigest()

    def subset(self, index) -> "PropertyData":
        idx = np.asarray(index)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        return PropertyData([self.names[i] for i in idx], self.matrix.take(idx),
                            {t: v[idx] for t, v in self.targets.items()}, self.systems[idx], self.sources[idx])

    def counts(self) -> dict[str, int]:
        return {t: int(np.isfinite(v).sum()) for t, v in self.targets.items()}


def property_data(values: dict[str, dict[str, float]], sources: dict[str, str] | None = None) -> PropertyData:
    """:class:`PropertyData` from ``{target: {canonical composition: value}}``; compositions
    the featurizer has no element data for are dropped."""
    from discovery.descriptors import featurizable

    names = sorted(set().union(*(v.keys() for v in values.values()))) if values else []
    if not names:
        empty = CompositionMatrix(("H",), np.zeros((0, 1)))
        return PropertyData([], empty, {t: np.zeros(0) for t in values}, np.zeros(0, object), np.zeros(0, object))
    matrix = CompositionMatrix.from_formulas(names)
    ok = featurizable(matrix)
    keep = np.flatnonzero(ok)
    matrix = matrix.take(keep)
    used = matrix.fractions.sum(axis=0) > 0
    matrix = CompositionMatrix(tuple(e for e, u in zip(matrix.elements, used) if u), matrix.fractions[:, used])
    names = [names[i] for i in keep]
    targets = {t: np.array([v.get(n, np.nan) for n in names], dtype=float) for t, v in values.items()}
    return PropertyData(names, matrix, targets, np.array(matrix.systems(), dtype=object),
                        np.array([(sources or {}).get(n, "") for n in names], dtype=object))


# --------------------------------------------------------------------------- features


def property_features(matrix: CompositionMatrix, feature_set: str, base: np.ndarray | None = None,
                      stats: np.ndarray | None = None) -> np.ndarray:
    """Inputs of ``feature_set``; ``base`` and ``stats``: the matrix's base features and element
    statistics when the caller has them (the GFA model computes both for the same chunk)."""
    from discovery.descriptors import base_features, element_statistics, rule_of_mixtures_all

    b = base_features(matrix) if base is None else np.asarray(base, dtype=float)
    if feature_set == "modulus":
        return np.hstack([b, rule_of_mixtures_all(matrix)])
    if feature_set == "composition":
        return np.hstack([b, element_statistics(matrix) if stats is None else stats])
    raise ValueError(f"feature_set must be one of {FEATURE_SETS}, got {feature_set!r}")


# --------------------------------------------------------------------------- members


class ClipToTrainingRange(TransformerMixin, BaseEstimator):
    """Clip every input to the range seen in training.

    Under system-grouped CV a held-out system often lies outside the training range of some
    feature; a degree-2 polynomial (and, less so, LASSO and the MLP) then extrapolates
    wildly (grouped-CV R^2 of the polynomial for K: -13 unclipped, 0.96 clipped).
    """

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=float)
        self.lo_ = X.min(axis=0)
        self.hi_ = X.max(axis=0)
        return self

    def transform(self, X):
        return np.clip(np.asarray(X, dtype=float), self.lo_, self.hi_)


def _poly_space(trial) -> dict:
    return {"poly_alpha": trial.suggest_float("poly_alpha", 1e-2, 1e3, log=True)}


def _lasso_space(trial) -> dict:
    return {"lasso_alpha": trial.suggest_float("lasso_alpha", 1e-3, 10.0, log=True)}


def _rf_space(trial) -> dict:
    return {"rf_n_estimators": trial.suggest_int("rf_n_estimators", 50, 300, step=50),
            "rf_min_samples_leaf": trial.suggest_int("rf_min_samples_leaf", 1, 8),
            "rf_max_features": trial.suggest_float("rf_max_features", 0.2, 1.0)}


def _et_space(trial) -> dict:
    return {"et_min_samples_leaf": trial.suggest_int("et_min_samples_leaf", 1, 8),
            "et_max_features": trial.suggest_float("et_max_features", 0.2, 1.0)}


def _gb_space(trial) -> dict:
    return {"gb_learning_rate": trial.suggest_float("gb_learning_rate", 0.02, 0.3, log=True),
            "gb_max_leaf_nodes": trial.suggest_int("gb_max_leaf_nodes", 7, 31),
            "gb_min_samples_leaf": trial.suggest_int("gb_min_samples_leaf", 5, 40)}


def _mlp_space(trial) -> dict:
    return {"mlp_width": trial.suggest_int("mlp_width", 4, 64, log=True),
            "mlp_alpha": trial.suggest_float("mlp_alpha", 1e-4, 10.0, log=True)}


#: Optuna search space per member (minimizing the grouped-CV MAE of the tuned target).
SEARCH_SPACES: dict[str, Callable[[Any], dict]] = {"poly": _poly_space, "lasso": _lasso_space, "rf": _rf_space,
                                                   "et": _et_space, "gb": _gb_space, "mlp": _mlp_space}
KNOWN_MEMBERS: tuple[str, ...] = tuple(SEARCH_SPACES)

#: Tree counts: the fewest whose system-grouped CV errors match the larger ensembles' (RF 150
#: trees, ET 50, GB 200 x 0.05 were within 1 % of these on every target, bench/NOTES.md): a
#: prediction walks every tree, and these members are most of the time to score a candidate.
DEFAULT_PARAMS: dict[str, Any] = {
    "poly_alpha": 10.0,
    "lasso_alpha": 0.1,
    "rf_n_estimators": 60,
    "rf_min_samples_leaf": 2,
    "rf_max_features": 0.5,
    "et_n_estimators": 30,
    "et_min_samples_leaf": 3,
    "et_max_features": 0.5,
    "gb_max_iter": 60,
    "gb_learning_rate": 0.15,
    "gb_max_leaf_nodes": 15,
    "gb_min_samples_leaf": 10,
    "mlp_width": 16,
    "mlp_alpha": 1.0,
}


def member_regressor(name: str, params: dict | None = None, random_state: int = 0):
    """Unfitted member regressor (inputs clipped to the training range where it extrapolates)."""
    p = {**DEFAULT_PARAMS, **(params or {})}
    if name == "poly":
        return make_pipeline(ClipToTrainingRange(), StandardScaler(), PolynomialFeatures(2, include_bias=False),
                             StandardScaler(), Ridge(alpha=p["poly_alpha"]))
    if name == "lasso":
        return make_pipeline(ClipToTrainingRange(), StandardScaler(), Lasso(alpha=p["lasso_alpha"], max_iter=20_000))
    if name == "rf":
        return RandomForestRegressor(n_estimators=int(p["rf_n_estimators"]), min_samples_leaf=int(p["rf_min_samples_leaf"]),
                                     max_features=float(p["rf_max_features"]), random_state=random_state, n_jobs=1)
    if name == "et":
        return ExtraTreesRegressor(n_estimators=int(p["et_n_estimators"]), min_samples_leaf=int(p["et_min_samples_leaf"]),
                                   max_features=float(p["et_max_features"]), random_state=random_state, n_jobs=1)
    if name == "gb":
        return HistGradientBoostingRegressor(max_iter=int(p["gb_max_iter"]), learning_rate=float(p["gb_learning_rate"]),
                                             max_leaf_nodes=int(p["gb_max_leaf_nodes"]),
                                             min_samples_leaf=int(p["gb_min_samples_leaf"]), early_stopping=False,
                                             random_state=random_state)
    if name == "mlp":
        width = int(p["mlp_width"])
        mlp = MLPRegressor(hidden_layer_sizes=(width, width), alpha=p["mlp_alpha"], solver="lbfgs", max_iter=2000,
                           random_state=random_state)
        return TransformedTargetRegressor(make_pipeline(ClipToTrainingRange(), StandardScaler(), mlp),
                                          transformer=StandardScaler())
    raise ValueError(f"unknown regressor member {name!r}; known: {KNOWN_MEMBERS}")


def fit_member(name: str, params: dict | None, random_state: int, X: np.ndarray, y: np.ndarray):
    """:func:`member_regressor` fitted on (X, y). The MLP's L-BFGS (and LASSO's coordinate
    descent) stop at a fixed iteration budget, which on a few hundred rows acts as early
    stopping; scikit-learn's ConvergenceWarning about it is expected and is not shown to the
    user (grouped CV measures what the member gives)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return member_regressor(name, params, random_state).fit(X, y)


# --------------------------------------------------------------------------- ensemble


def _forward(values: np.ndarray, transform: str | None) -> np.ndarray:
    return np.log10(values) if transform == "log10" else values


def _back(values: np.ndarray, transform: str | None) -> np.ndarray:
    return 10.0 ** values if transform == "log10" else values


#: Rows per prediction block. A forest or boosting member walks every row once per tree; with
#: a block of inputs small enough to stay in cache across the trees, HistGradientBoosting
#: predicts ~3.5x faster on the 127 composition features than on a 25,000-row chunk at once.
_BLOCK_ROWS = 2048


class _Inputs:
    """A feature matrix prepared once for every target's members: the rows with finite inputs,
    and (on first use) their float32 copy, the dtype scikit-learn's trees predict on."""

    def __init__(self, X: np.ndarray):
        X = np.asarray(X, dtype=float)
        self.n = len(X)
        self.ok = np.isfinite(X).all(axis=1)
        self.X = X if self.ok.all() else X[self.ok]
        self._x32 = None

    @property
    def x32(self) -> np.ndarray:
        if self._x32 is None:
            self._x32 = np.ascontiguousarray(self.X, dtype=np.float32)
        return self._x32


def _predict_member(model, inputs: _Inputs) -> np.ndarray:
    """``model.predict`` on the finite rows, in blocks of :data:`_BLOCK_ROWS`. A forest's trees
    are averaged here in their fitted order (exactly what ForestRegressor.predict sums),
    without its per-tree joblib dispatch and input checks, which cost more than small trees."""
    X, n, step = inputs.X, len(inputs.X), _BLOCK_ROWS
    if isinstance(model, (RandomForestRegressor, ExtraTreesRegressor)) and model.n_outputs_ == 1:
        x32, trees = inputs.x32, model.estimators_
        out = np.empty(n)
        for start in range(0, n, step):
            xb = x32[start : start + step]
            acc = np.zeros(len(xb))
            for tree in trees:
                acc += tree.predict(xb, check_input=False)
            out[start : start + step] = acc / len(trees)
        return out
    if n <= step:
        return model.predict(X)
    return np.concatenate([model.predict(X[start : start + step]) for start in range(0, n, step)])


class PropertyEnsemble:
    """Per target: member regressors on ``feature_set`` inputs, mean +/- spread.

    ``targets``: names in :class:`PropertyData`; ``property_names`` maps them onto
    discovery.properties names for :meth:`predict_properties`; ``derived`` adds properties
    computed member-wise from predicted ones (``{"trg": ("ratio", "tg_k", "tl_k")}``).
    Follows scikit-learn's contract: ``__init__`` stores, ``fit`` validates, ``get_params``.
    """

    kind = "property-ensemble"
    min_rows = 10

    def __init__(self, targets: Sequence[str], members: Sequence[str], params: dict | None = None,
                 random_state: int = 0, feature_set: str = "composition", transforms: dict | None = None,
                 property_names: dict | None = None, derived: dict | None = None):
        self.targets = tuple(targets)
        self.members = tuple(members)
        self.params = dict(params or {})
        self.random_state = random_state
        self.feature_set = feature_set
        self.transforms = dict(transforms or {})
        self.property_names = dict(property_names or {})
        self.derived = dict(derived or {})

    def get_params(self, deep: bool = True) -> dict:
        return {"targets": list(self.targets), "members": list(self.members), **DEFAULT_PARAMS, **self.params,
                "random_state": self.random_state, "feature_set": self.feature_set, "transforms": self.transforms}

    def features(self, matrix: CompositionMatrix, base=None, stats=None) -> np.ndarray:
        return property_features(matrix, self.feature_set, base, stats)

    def fit(self, data: PropertyData) -> "PropertyEnsemble":
        from discovery.models import _single_threaded

        unknown = set(self.members) - set(KNOWN_MEMBERS)
        if unknown:
            raise ValueError(f"unknown regressor member(s) {sorted(unknown)}; known: {KNOWN_MEMBERS}")
        X = self.features(data.matrix)
        self.models_: dict[str, dict[str, Any]] = {}
        self.n_train_: dict[str, int] = {}
        for target in self.targets:
            y = data.targets.get(target)
            if y is None:
                continue
            ok = np.isfinite(y) & np.isfinite(X).all(axis=1) & ((y > 0) if self.transforms.get(target) == "log10" else True)
            if ok.sum() < self.min_rows:
                continue
            yt = _forward(y[ok], self.transforms.get(target))
            with _single_threaded():
                self.models_[target] = {
                    name: fit_member(name, self.params, self.random_state, X[ok], yt) for name in self.members
                }
            self.n_train_[target] = int(ok.sum())
        if not self.models_:
            raise ValueError(f"no target has {self.min_rows} or more measured compositions")
        return self

    def member_predictions_from_features(self, X, target: str) -> np.ndarray:
        """(n_members, n) predictions in the target's unit; NaN rows where the inputs are undefined.
        ``X``: a feature matrix, or the :class:`_Inputs` of one (shared by several targets)."""
        inputs = X if isinstance(X, _Inputs) else _Inputs(X)
        models = self.models_.get(target)
        out = np.full((len(self.members), inputs.n), np.nan)
        if models is None:
            return out
        if inputs.ok.any():
            from discovery.models import _single_threaded

            with _single_threaded():
                for k, name in enumerate(self.members):
                    out[k, inputs.ok] = _back(_predict_member(models[name], inputs), self.transforms.get(target))
        return out

    def member_predictions(self, matrix: CompositionMatrix, target: str, *, base=None) -> np.ndarray:
        return self.member_predictions_from_features(self.features(matrix, base), target)

    def predict_target(self, matrix: CompositionMatrix, target: str, *, base=None) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std across members); NaN where the model has no prediction."""
        from discovery.properties import ensemble_mean_spread

        return ensemble_mean_spread(self.member_predictions(matrix, target, base=base))

    def predict(self, matrix: CompositionMatrix) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        from discovery.properties import ensemble_mean_spread

        X = _Inputs(self.features(matrix))
        return {t: ensemble_mean_spread(self.member_predictions_from_features(X, t)) for t in self.targets}

    def predict_properties(self, matrix: CompositionMatrix, *, base=None, stats=None) -> dict:
        """{discovery.properties name: Prediction} of every fitted target and derived property
        (``base``, ``stats``: see :func:`property_features`)."""
        from discovery.properties import Prediction

        X = _Inputs(self.features(matrix, base, stats))
        members = {t: self.member_predictions_from_features(X, t) for t in self.targets if t in self.models_}
        out = {self.property_names.get(t, t): Prediction.from_members(m) for t, m in members.items()}
        for name, (op, *args) in self.derived.items():
            if not all(a in members for a in args):
                continue
            with np.errstate(invalid="ignore", divide="ignore"):
                if op == "ratio":
                    m = members[args[0]] / members[args[1]]
                elif op == "gamma":  # Tx / (Tg + Tl)
                    m = members[args[0]] / (members[args[1]] + members[args[2]])
                else:
                    raise ValueError(f"unknown derived operation {op!r}")
            out[name] = Prediction.from_members(m)
        return out


# --------------------------------------------------------------------------- evaluation


@dataclass
class PropertyCVResult:
    target: str
    protocol: str
    y: np.ndarray
    baseline: np.ndarray
    baseline_name: str
    members: np.ndarray
    member_names: tuple[str, ...]
    systems: np.ndarray
    transform: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def prediction(self) -> np.ndarray:
        return self.members.mean(axis=0)

    def metrics(self) -> dict[str, dict]:
        from discovery.evaluation import regression_metrics

        out = {self.baseline_name: regression_metrics(self.y, self.baseline)}
        for k, name in enumerate(self.member_names):
            out[name] = regression_metrics(self.y, self.members[k])
        out["ensemble"] = regression_metrics(self.y, self.prediction)
        out["ensemble"]["mean_std"] = float(self.members.std(axis=0).mean())
        if self.transform == "log10":  # errors on the scale the model learns, beside the unit's
            out["ensemble"]["mae_log10"] = float(np.mean(np.abs(np.log10(self.prediction) - np.log10(self.y))))
        return out


def _fold_baseline(name: str, X_train, y_train, X_test, t_fic_col: int | None) -> np.ndarray:
    if name == "training mean":
        return np.full(len(X_test), float(np.mean(y_train)))
    if name == "training geometric mean":
        return np.full(len(X_test), float(10 ** np.mean(np.log10(y_train))))
    if name == "linear in T_fic":
        a, b = np.polyfit(X_train[:, t_fic_col], y_train, 1)
        return a * X_test[:, t_fic_col] + b
    raise ValueError(f"unknown baseline {name!r}")


def cross_validate_property(model: PropertyEnsemble, data: PropertyData, target: str, *, protocol: str = "grouped",
                            n_splits: int = 5, seed: int = 0, baseline: str = "training mean",
                            baseline_values: np.ndarray | None = None) -> PropertyCVResult:
    """Out-of-fold predictions of ``baseline`` (refitted per fold, or fixed ``baseline_values``
    per composition), every member and the ensemble; folds grouped by chemical system."""
    from discovery.descriptors import BASE_FEATURE_NAMES
    from discovery.evaluation import grouped_splits
    from discovery.models import _single_threaded

    X = model.features(data.matrix)
    transform = model.transforms.get(target)
    y_all = data.targets[target]
    ok = np.isfinite(y_all) & np.isfinite(X).all(axis=1) & ((y_all > 0) if transform == "log10" else True)
    X, y, systems = X[ok], y_all[ok], data.systems[ok]
    fixed = None if baseline_values is None else np.asarray(baseline_values, dtype=float)[ok]
    if protocol == "grouped":
        splits = grouped_splits(systems, n_splits, seed)
    else:
        from sklearn.model_selection import KFold

        splits = list(KFold(n_splits, shuffle=True, random_state=seed).split(X))
    pred = np.full((len(model.members), len(y)), np.nan)
    base = np.full(len(y), np.nan) if fixed is None else fixed
    t_fic = BASE_FEATURE_NAMES.index("T_fic")
    for train, test in splits:
        yt = _forward(y[train], transform)
        with _single_threaded():
            for k, name in enumerate(model.members):
                reg = fit_member(name, model.params, seed, X[train], yt)
                pred[k, test] = _back(reg.predict(X[test]), transform)
        if fixed is None:
            base[test] = _fold_baseline(baseline, X[train], y[train], X[test], t_fic)
    return PropertyCVResult(target, protocol, y, base, baseline if fixed is None else "baseline", pred,
                            tuple(model.members), systems, transform, extra={"n_splits": len(splits)})


def grouped_cv_mae(model: PropertyEnsemble, data: PropertyData, member: str, params: dict, target: str,
                   n_splits: int = 5, seed: int = 0, on_fold: Callable[[int, float], None] | None = None) -> float:
    """Grouped-CV MAE of one member (on the scale the target is learned) -- the Optuna objective."""
    from discovery.evaluation import grouped_splits
    from discovery.models import _single_threaded

    X = model.features(data.matrix)
    transform = model.transforms.get(target)
    y_all = data.targets[target]
    ok = np.isfinite(y_all) & np.isfinite(X).all(axis=1) & ((y_all > 0) if transform == "log10" else True)
    X, y, systems = X[ok], _forward(y_all[ok], transform), data.systems[ok]
    errors = np.full(len(y), np.nan)
    for step, (train, test) in enumerate(grouped_splits(systems, n_splits, seed)):
        with _single_threaded():
            errors[test] = np.abs(fit_member(member, {**model.params, **params}, seed, X[train], y[train])
                                  .predict(X[test]) - y[test])
        if on_fold is not None:
            on_fold(step, float(np.nanmean(errors)))
    return float(np.mean(errors))
