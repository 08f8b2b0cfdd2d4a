"""Elastic moduli of metallic glasses: Young's modulus E, shear modulus G, bulk modulus K.

Data (read from the shared data folder at train/bench time, never copied into the repo):

* Xiong, Shi & Zhang, Mater. Des. 187 (2020) 108378, ``EM.csv``: G and K (GPa) of 278
  glasses; E = 9KG / (3K + G) where both exist. **GPL-3**: a model fitted on it may only be
  trained where the file can be read at run time (it is, like any model, stored in the
  project database -- never in the repository).
* DMREF metallic glasses v5 (Schultz et al., Comput. Mater. Sci. 201 (2022) 110877):
  ``E_[GPA]`` (57 rows) and ``G_[GPa]`` (8 rows).

Rows are deduplicated by canonical composition (median per target across rows/sources).

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

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import Lasso, Ridge
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

from discovery.composition import CompositionMatrix
from discovery.dataset import with_canonical_compositions

TARGETS: tuple[str, ...] = ("E", "G", "K")
TARGET_NAMES = {"E": "Young's modulus", "G": "shear modulus", "K": "bulk modulus"}
_ELEMENT_PROPERTY = {"E": "youngs_modulus", "G": "shear_modulus", "K": "bulk_modulus"}
SOURCES: tuple[str, ...] = ("xiong", "dmref")
MODULUS_MEMBERS: tuple[str, ...] = ("poly", "lasso", "rf", "mlp")
ROM_FEATURE_NAMES: tuple[str, ...] = ("E_rom", "G_rom", "K_rom")


# --------------------------------------------------------------------------- data


def youngs_from_bulk_shear(k, g) -> np.ndarray:
    """Isotropic E = 9KG / (3K + G) (NaN where either is missing)."""
    k = np.asarray(k, dtype=float)
    g = np.asarray(g, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 9.0 * k * g / (3.0 * k + g)


def _rows_xiong(root: Path):
    import pandas as pd

    df = pd.read_csv(root / "xiong2020_amorphous_alloys" / "EM.csv")
    g = pd.to_numeric(df["G"], errors="coerce")
    k = pd.to_numeric(df["K"], errors="coerce")
    return pd.DataFrame({"formula": df["Alloy"], "E": youngs_from_bulk_shear(k, g), "G": g, "K": k, "source": "xiong"})


def _rows_dmref(root: Path):
    import pandas as pd

    df = pd.read_csv(root / "dmref_mdf_metallic_glasses_v5" / "MDF_DMREF_Metallic_Glasses_v5.csv", low_memory=False)
    e = pd.to_numeric(df["E_[GPA]"], errors="coerce")
    g = pd.to_numeric(df["G_[GPa]"], errors="coerce")
    out = pd.DataFrame({"formula": df["Composition"], "E": e, "G": g, "K": np.nan, "source": "dmref"})
    return out[out["E"].notna() | out["G"].notna()]


_READERS = {"xiong": _rows_xiong, "dmref": _rows_dmref}


def load_modulus_table(shared_data_dir: str | Path, sources: Sequence[str] = SOURCES):
    """Deduplicated table: composition (canonical), system, E, G, K (GPa, median), n, sources.

    Values outside physical ranges (E 5-400, G 2-200, K 5-400 GPa) are dropped as
    transcription errors; rows whose formula does not parse are skipped.
    """
    import pandas as pd

    root = Path(shared_data_dir)
    unknown = set(sources) - set(SOURCES)
    if unknown:
        raise ValueError(f"unknown modulus source(s) {sorted(unknown)}; known: {SOURCES}")
    raw = pd.concat([_READERS[s](root) for s in sources], ignore_index=True)
    for col, (lo, hi) in {"E": (5, 400), "G": (2, 200), "K": (5, 400)}.items():
        bad = (raw[col] < lo) | (raw[col] > hi)
        raw.loc[bad, col] = np.nan
    raw = with_canonical_compositions(raw)
    grouped = raw.groupby("composition", sort=True)
    table = pd.DataFrame({
        "system": grouped["system"].first(),
        "E": grouped["E"].median(),
        "G": grouped["G"].median(),
        "K": grouped["K"].median(),
        "n": grouped["source"].size(),
        "sources": grouped["source"].agg(lambda s: "+".join(sorted(set(s)))),
    }).reset_index()
    return table[table[list(TARGETS)].notna().any(axis=1)].reset_index(drop=True)


@dataclass
class ModulusData:
    """Measured moduli per composition (NaN where a modulus was not measured)."""

    names: list[str]
    matrix: CompositionMatrix
    targets: dict[str, np.ndarray]
    systems: np.ndarray
    sources: np.ndarray

    def __len__(self) -> int:
        return len(self.names)

    def content_hash(self) -> str:
        """sha256 over (composition, E, G, K) rows (what the model registry records)."""
        digest = hashlib.sha256()
        for i in np.argsort(self.names):
            digest.update(repr((self.names[i], *(round(float(self.targets[t][i]), 6) for t in TARGETS))).encode())
        return digest.hexdigest()

    def subset(self, index) -> "ModulusData":
        idx = np.asarray(index)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        return ModulusData([self.names[i] for i in idx], self.matrix.take(idx),
                           {t: v[idx] for t, v in self.targets.items()}, self.systems[idx], self.sources[idx])


def modulus_data_from_table(table) -> ModulusData:
    """Featurizable rows of :func:`load_modulus_table` as :class:`ModulusData`."""
    from discovery.features import featurizable

    matrix = CompositionMatrix.from_formulas(table["composition"])
    ok = featurizable(matrix)
    rom_ok = np.isfinite(rule_of_mixtures_all(matrix)).all(axis=1)
    keep = np.flatnonzero(ok & rom_ok)
    matrix = matrix.take(keep)
    used = matrix.fractions.sum(axis=0) > 0
    matrix = CompositionMatrix(tuple(e for e, u in zip(matrix.elements, used) if u), matrix.fractions[:, used])
    return ModulusData(
        names=table["composition"].to_numpy()[keep].tolist(),
        matrix=matrix,
        targets={t: table[t].to_numpy(dtype=float)[keep] for t in TARGETS},
        systems=table["system"].to_numpy(dtype=object)[keep],
        sources=table["sources"].to_numpy(dtype=object)[keep],
    )


def load_modulus_data(shared_data_dir: str | Path, sources: Sequence[str] = SOURCES) -> ModulusData:
    return modulus_data_from_table(load_modulus_table(shared_data_dir, sources))


# --------------------------------------------------------------------------- physics baseline


def rule_of_mixtures(matrix: CompositionMatrix, target: str = "E") -> np.ndarray:
    """Voigt average sum_i c_i M_i of the elemental modulus (GPa); NaN if a present element lacks it."""
    from discovery.elements import element_properties

    if target not in _ELEMENT_PROPERTY:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    c = np.asarray(matrix.fractions, dtype=float)
    c = c / c.sum(axis=1, keepdims=True)
    m = np.asarray(element_properties(tuple(matrix.elements))[_ELEMENT_PROPERTY[target]], dtype=float)
    missing = ~np.isfinite(m)
    out = c @ np.where(missing, 0.0, m)
    if missing.any():
        out[(c[:, missing] > 0).any(axis=1)] = np.nan
    return out


def rule_of_mixtures_all(matrix: CompositionMatrix) -> np.ndarray:
    """(n, 3) rule-of-mixtures E, G, K."""
    return np.column_stack([rule_of_mixtures(matrix, t) for t in TARGETS])


def modulus_features(matrix: CompositionMatrix, base: np.ndarray | None = None) -> np.ndarray:
    """Inputs of every modulus model: ``base_features`` + rule-of-mixtures E, G, K."""
    from discovery.features import base_features

    b = base_features(matrix) if base is None else np.asarray(base, dtype=float)
    return np.hstack([b, rule_of_mixtures_all(matrix)])


# --------------------------------------------------------------------------- members


def _poly_space(trial) -> dict:
    return {"poly_alpha": trial.suggest_float("poly_alpha", 1e-2, 1e3, log=True)}


def _lasso_space(trial) -> dict:
    return {"lasso_alpha": trial.suggest_float("lasso_alpha", 1e-3, 10.0, log=True)}


def _rf_space(trial) -> dict:
    return {"rf_n_estimators": trial.suggest_int("rf_n_estimators", 50, 300, step=50),
            "rf_min_samples_leaf": trial.suggest_int("rf_min_samples_leaf", 1, 8),
            "rf_max_features": trial.suggest_float("rf_max_features", 0.2, 1.0)}


def _mlp_space(trial) -> dict:
    return {"mlp_width": trial.suggest_int("mlp_width", 4, 64, log=True),
            "mlp_alpha": trial.suggest_float("mlp_alpha", 1e-4, 10.0, log=True)}


#: Optuna search space per modulus member (minimizing grouped-CV MAE of E).
SEARCH_SPACES: dict[str, Callable[[Any], dict]] = {"poly": _poly_space, "lasso": _lasso_space, "rf": _rf_space,
                                                   "mlp": _mlp_space}

DEFAULT_PARAMS: dict[str, Any] = {
    "poly_alpha": 10.0,
    "lasso_alpha": 0.1,
    "rf_n_estimators": 150,
    "rf_min_samples_leaf": 2,
    "rf_max_features": 0.5,
    "mlp_width": 16,
    "mlp_alpha": 1.0,
}


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


def member_regressor(name: str, params: dict | None = None, random_state: int = 0):
    """Unfitted member regressor on :func:`modulus_features` inputs (clipped to the training range)."""
    p = {**DEFAULT_PARAMS, **(params or {})}
    if name == "poly":
        return make_pipeline(ClipToTrainingRange(), StandardScaler(), PolynomialFeatures(2, include_bias=False),
                             StandardScaler(), Ridge(alpha=p["poly_alpha"]))
    if name == "lasso":
        return make_pipeline(ClipToTrainingRange(), StandardScaler(), Lasso(alpha=p["lasso_alpha"], max_iter=20_000))
    if name == "rf":
        return RandomForestRegressor(n_estimators=int(p["rf_n_estimators"]), min_samples_leaf=int(p["rf_min_samples_leaf"]),
                                     max_features=float(p["rf_max_features"]), random_state=random_state, n_jobs=1)
    if name == "mlp":
        width = int(p["mlp_width"])
        mlp = MLPRegressor(hidden_layer_sizes=(width, width), alpha=p["mlp_alpha"], solver="lbfgs", max_iter=2000,
                           random_state=random_state)
        return TransformedTargetRegressor(make_pipeline(ClipToTrainingRange(), StandardScaler(), mlp),
                                          transformer=StandardScaler())
    raise ValueError(f"unknown modulus member {name!r}; known: {MODULUS_MEMBERS}")


# --------------------------------------------------------------------------- ensemble


class ModulusEnsemble:
    """Per target (E, G, K): polynomial, LASSO, random forest and MLP regressors, mean +/- spread."""

    kind = "modulus-ensemble"

    def __init__(self, targets: Sequence[str] = TARGETS, members: Sequence[str] = MODULUS_MEMBERS,
                 params: dict | None = None, random_state: int = 0):
        self.targets = tuple(targets)
        self.members = tuple(members)
        self.params = dict(params or {})
        self.random_state = random_state

    def get_params(self) -> dict:
        return {"targets": list(self.targets), "members": list(self.members), **DEFAULT_PARAMS, **self.params,
                "random_state": self.random_state}

    def fit(self, data: ModulusData) -> "ModulusEnsemble":
        from discovery.models import _single_threaded

        X = modulus_features(data.matrix)
        self.models_: dict[str, dict[str, Any]] = {}
        self.n_train_: dict[str, int] = {}
        for target in self.targets:
            y = data.targets[target]
            ok = np.isfinite(y) & np.isfinite(X).all(axis=1)
            if ok.sum() < 10:
                continue
            with _single_threaded():
                self.models_[target] = {
                    name: member_regressor(name, self.params, self.random_state).fit(X[ok], y[ok]) for name in self.members
                }
            self.n_train_[target] = int(ok.sum())
        if not self.models_:
            raise ValueError("no modulus target has 10 or more measured compositions")
        return self

    def member_predictions_from_features(self, X: np.ndarray, target: str) -> np.ndarray:
        """(n_members, n) predictions (GPa); NaN rows where the rule of mixtures is undefined."""
        models = self.models_.get(target)
        out = np.full((len(self.members), len(X)), np.nan)
        if models is None:
            return out
        ok = np.isfinite(X).all(axis=1)
        if ok.any():
            from discovery.models import _single_threaded

            with _single_threaded():
                for k, name in enumerate(self.members):
                    out[k, ok] = models[name].predict(X[ok])
        return out

    def member_predictions(self, matrix: CompositionMatrix, target: str = "E", *, base=None) -> np.ndarray:
        return self.member_predictions_from_features(modulus_features(matrix, base), target)

    def predict_target(self, matrix: CompositionMatrix, target: str = "E", *, base=None) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std across members) in GPa; NaN where the model has no prediction."""
        members = self.member_predictions(matrix, target, base=base)
        return members.mean(axis=0), members.std(axis=0)

    def predict(self, matrix: CompositionMatrix) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        X = modulus_features(matrix)
        out = {}
        for target in self.targets:
            members = self.member_predictions_from_features(X, target)
            out[target] = (members.mean(axis=0), members.std(axis=0))
        return out


# --------------------------------------------------------------------------- evaluation


@dataclass
class ModulusCVResult:
    target: str
    protocol: str
    y: np.ndarray
    baseline: np.ndarray
    members: np.ndarray
    member_names: tuple[str, ...]
    systems: np.ndarray
    extra: dict = field(default_factory=dict)

    def metrics(self) -> dict[str, dict]:
        from discovery.evaluation import regression_metrics

        out = {"rule of mixtures": regression_metrics(self.y, self.baseline)}
        for k, name in enumerate(self.member_names):
            out[name] = regression_metrics(self.y, self.members[k])
        out["ensemble"] = regression_metrics(self.y, self.members.mean(axis=0))
        out["ensemble"]["mean_std"] = float(self.members.std(axis=0).mean())
        return out


def cross_validate_modulus(data: ModulusData, target: str = "E", *, params: dict | None = None,
                           members: Sequence[str] = MODULUS_MEMBERS, protocol: str = "grouped", n_splits: int = 5,
                           seed: int = 0) -> ModulusCVResult:
    """Out-of-fold predictions of the baseline, each member and the ensemble (grouped by system)."""
    from discovery.evaluation import grouped_splits
    from discovery.models import _single_threaded

    X = modulus_features(data.matrix)
    y_all = data.targets[target]
    ok = np.isfinite(y_all) & np.isfinite(X).all(axis=1)
    X, y, systems = X[ok], y_all[ok], data.systems[ok]
    if protocol == "grouped":
        splits = grouped_splits(systems, n_splits, seed)
    else:
        from sklearn.model_selection import KFold

        splits = list(KFold(n_splits, shuffle=True, random_state=seed).split(X))
    pred = np.full((len(members), len(y)), np.nan)
    for train, test in splits:
        with _single_threaded():
            for k, name in enumerate(members):
                pred[k, test] = member_regressor(name, params, seed).fit(X[train], y[train]).predict(X[test])
    baseline = X[:, -len(TARGETS) + TARGETS.index(target)]
    return ModulusCVResult(target, protocol, y, baseline, pred, tuple(members), systems, extra={"n_splits": len(splits)})


def grouped_cv_mae(data: ModulusData, member: str, params: dict, target: str = "E", n_splits: int = 5, seed: int = 0,
                   on_fold: Callable[[int, float], None] | None = None) -> float:
    """Grouped-CV MAE (GPa) of one member -- the Optuna objective. ``on_fold(step, running_mae)``."""
    from discovery.evaluation import grouped_splits
    from discovery.models import _single_threaded

    X = modulus_features(data.matrix)
    y_all = data.targets[target]
    ok = np.isfinite(y_all) & np.isfinite(X).all(axis=1)
    X, y, systems = X[ok], y_all[ok], data.systems[ok]
    errors = np.full(len(y), np.nan)
    for step, (train, test) in enumerate(grouped_splits(systems, n_splits, seed)):
        with _single_threaded():
            errors[test] = np.abs(member_regressor(member, params, seed).fit(X[train], y[train]).predict(X[test]) - y[test])
        if on_fold is not None:
            on_fold(step, float(np.nanmean(errors)))
    return float(np.mean(errors))
