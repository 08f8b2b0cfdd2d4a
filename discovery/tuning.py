"""Hyperparameter tuning with Optuna under system-grouped cross-validation, and the one
entry point a campaign calls to (re)train its models: :func:`train_gfa_model`.

Studies. Every member of the GFA ensemble (``svm``, ``rf``, ``gb``, ``mlp``) and of the
modulus ensemble has a search space (:data:`GFA_SEARCH_SPACES`,
``discovery.modulus.SEARCH_SPACES``). A study maximizes the mean grouped-CV ROC-AUC (GFA)
or minimizes the grouped-CV MAE (modulus) with a seeded TPE sampler and a median pruner
that stops a trial after a bad fold. The caller passes a storage URL string -- the
project's own database URL (``sqlite:///.../vitrify.db`` or ``postgresql+psycopg://...``);
Optuna keeps its tables next to vitrify's -- and a study name (:func:`study_name_for`:
model kind + campaign + member), and the study is loaded if it exists: a retrain continues
its study (TPE learns from every earlier trial) instead of starting cold. ``storage=None``
tunes in memory. discovery/ imports no database code: Optuna gets a URL string only.

Budget. A campaign retrains after every batch, so by default only the SVM (the member
that defines P_GFA, and the most sensitive to C and gamma) is tuned per retrain, on a
random subsample of at most ``max_tune_rows`` rows, with ``n_trials`` trials and a
``timeout_s`` wall-time cap; the other members keep their current best (or default)
parameters. ``vitrify model train`` can tune every member with a larger budget, and
those studies are then continued by later runs too.

Caveat: trials from earlier retrains were scored on the data of their time (the campaign
adds labels); TPE treats them as one objective. With a few percent new labels per
iteration this is a useful warm start, not an exact replay.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
from sklearn.metrics import roc_auc_score

from discovery.dataset import LabelledSet

#: Trials per study run before TPE starts modelling (random search until then).
TPE_STARTUP_TRIALS = 5


def _svm_space(trial) -> dict:
    return {"svm_C": trial.suggest_float("svm_C", 0.1, 300.0, log=True),
            "svm_gamma": trial.suggest_float("svm_gamma", 1e-3, 1.0, log=True)}


def _et_space(trial) -> dict:
    return {"et_min_samples_leaf": trial.suggest_int("et_min_samples_leaf", 1, 8),
            "et_max_features": trial.suggest_float("et_max_features", 0.1, 0.8)}


def _rf_space(trial) -> dict:
    return {"rf_n_estimators": trial.suggest_int("rf_n_estimators", 30, 120, step=10),
            "rf_min_samples_leaf": trial.suggest_int("rf_min_samples_leaf", 1, 10),
            "rf_max_features": trial.suggest_float("rf_max_features", 0.2, 1.0),
            "rf_max_depth": trial.suggest_int("rf_max_depth", 6, 20)}


def _gb_space(trial) -> dict:
    return {"gb_learning_rate": trial.suggest_float("gb_learning_rate", 0.02, 0.3, log=True),
            "gb_max_iter": trial.suggest_int("gb_max_iter", 40, 200, step=20),
            "gb_max_leaf_nodes": trial.suggest_int("gb_max_leaf_nodes", 7, 31),
            "gb_min_samples_leaf": trial.suggest_int("gb_min_samples_leaf", 5, 60),
            "gb_l2_regularization": trial.suggest_float("gb_l2_regularization", 1e-4, 10.0, log=True)}


def _mlp_space(trial) -> dict:
    return {"mlp_width": trial.suggest_int("mlp_width", 16, 128, log=True),
            "mlp_alpha": trial.suggest_float("mlp_alpha", 1e-5, 1e-1, log=True),
            "mlp_learning_rate": trial.suggest_float("mlp_learning_rate", 3e-4, 1e-2, log=True)}


#: Search space per GFA member: ``trial -> GFAEnsemble parameters``.
GFA_SEARCH_SPACES: dict[str, Callable[[Any], dict]] = {"svm": _svm_space, "et": _et_space, "rf": _rf_space,
                                                        "gb": _gb_space, "mlp": _mlp_space}


@dataclass
class TrainedModel:
    """What a retrain hands to the registry (``db.registry.save_model_version``)."""

    model: Any
    kind: str
    hyperparameters: dict
    metrics: dict
    studies: dict = field(default_factory=dict)  # member -> optuna.Study (not stored)


def study_name_for(kind: str, campaign: int | str | None = None, member: str | None = None) -> str:
    """``gfa-ensemble/campaign-3/svm``; ``global`` when no campaign (``vitrify model train``)."""
    scope = "global" if campaign is None else (f"campaign-{campaign}" if isinstance(campaign, int) else str(campaign))
    return "/".join([kind, scope] + ([member] if member else []))


def _quiet_optuna() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)


def project_storage(url: str):
    """Optuna RDB storage on the project database URL.

    Optuna creates its tables (``studies``, ``trials``...) next to vitrify's and tracks its
    own schema in Alembic's default ``alembic_version`` table; vitrify's migrations use
    ``vitrify_alembic_version`` (db.migrate.VERSION_TABLE), so the two never collide.
    """
    import optuna

    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]  # psycopg 3 is the driver vitrify ships
    engine_kwargs: dict = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        engine_kwargs = {"connect_args": {"timeout": 60}}  # the campaign and the CLI share the file
    return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)


def open_study(study_name: str, storage: str | None, *, direction: str, seed: int):
    """Create or load (``load_if_exists``) a study; the TPE seed is offset by the trials
    already stored so a resumed study does not re-draw its first random points."""
    import optuna

    _quiet_optuna()
    pruner = optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)
    backend = project_storage(storage) if isinstance(storage, str) else storage
    study = optuna.create_study(study_name=study_name, storage=backend, load_if_exists=True, direction=direction,
                                pruner=pruner)
    n_done = len(study.trials)
    study.sampler = optuna.samplers.TPESampler(seed=int(seed) + n_done, n_startup_trials=TPE_STARTUP_TRIALS)
    return study


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(float(value))


def best_params(study) -> dict:
    """Best completed trial's parameters, {} when the study has none."""
    import optuna

    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE and _finite(t.value)]
    if not done:
        return {}
    return dict(study.best_trial.params)


# --------------------------------------------------------------------------- GFA


def _subsample(n: int, max_rows: int | None, seed: int) -> np.ndarray:
    if max_rows is None or n <= max_rows:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=int(max_rows), replace=False))


def _member_score(est, name: str, Xs: np.ndarray) -> np.ndarray:
    if name == "svm":
        return est.decision_function(Xs)
    return est.predict_proba(Xs)[:, 1]


def tuning_folds(X: np.ndarray, y: np.ndarray, groups: Sequence[str], member: str, params: dict, *,
                 n_splits: int = 3, seed: int = 0, sample_weight: np.ndarray | None = None) -> list[tuple]:
    """System-grouped folds (X_train, y_train, X_test, y_test, w_train) of what ``member`` sees
    inside the ensemble: the SVM its scaled columns (``X`` is already its columns); a tree
    member the scaled design matrix with the related-system evidence of the fold's training
    rows when ``params`` name the ``fraction_columns`` (GFAEnsemble.fit_inputs)."""
    from discovery.evaluation import grouped_splits
    from discovery.models import GFAEnsemble

    y = np.asarray(y, dtype=int)
    accepted = set(GFAEnsemble().get_params())
    shaper_params = {k: v for k, v in params.items() if k in accepted}
    if member == "svm":
        shaper_params["fraction_columns"] = None
    folds = []
    for train, test in grouped_splits(groups, n_splits, seed):
        if len(set(y[train].tolist())) < 2 or len(set(y[test].tolist())) < 2:
            continue
        shaper = GFAEnsemble(**shaper_params)
        Xs_train, Xt_train = shaper.fit_inputs(X[train], y[train])
        tree = member != "svm"
        folds.append((Xt_train if tree else Xs_train, y[train],
                      shaper.tree_inputs(X[test]) if tree else shaper.transform_inputs(X[test]), y[test],
                      None if sample_weight is None else sample_weight[train]))
    return folds


def tune_gfa_member(
    X: np.ndarray,
    y: np.ndarray,
    groups: Sequence[str],
    member: str,
    *,
    n_trials: int,
    timeout_s: float | None,
    storage: str | None,
    study_name: str,
    seed: int = 0,
    base_params: dict | None = None,
    n_splits: int = 3,
    sample_weight: np.ndarray | None = None,
    selection: str = "roc_auc",
):
    """Run ``n_trials`` more trials (within ``timeout_s``) of ``member``'s study on a design matrix.

    Objective (``selection``): mean ROC-AUC over system-grouped folds, or Sun et al. 2017's
    ``sun_e`` -- E = P_target^2 / P_whole of the fold's hard predictions, 0 where the model is
    not admissible (P_target <= 0.3) -- with a fixed fold seed, so trials are comparable; the
    pruner sees the running mean after every fold.
    """
    import optuna

    from discovery.models import _single_threaded, member_estimator

    if member not in GFA_SEARCH_SPACES:
        raise ValueError(f"unknown member {member!r}; known: {sorted(GFA_SEARCH_SPACES)}")
    y = np.asarray(y, dtype=int)
    base = dict(base_params or {})
    folds = tuning_folds(X, y, groups, member, base, n_splits=n_splits, seed=seed, sample_weight=sample_weight)
    study = open_study(study_name, storage, direction="maximize", seed=seed)
    space = GFA_SEARCH_SPACES[member]
    if member == "svm":
        base["calibration_folds"] = 0  # only the ranking (ROC-AUC) matters while tuning

    def objective(trial) -> float:
        params = {**base, **space(trial)}
        aucs = []
        for step, (Xtr, ytr, Xte, yte, w) in enumerate(folds):
            est = member_estimator(member, params, Xtr.shape[1])
            with _single_threaded():
                est.fit(Xtr, ytr, sample_weight=w)
                score = _member_score(est, member, Xte)
            if selection == "sun_e":
                from discovery.evaluation import sun_e

                e = sun_e(yte, score > (0.0 if member == "svm" else 0.5))
                aucs.append(e["sun_e"] if e["sun_e_valid"] and np.isfinite(e["sun_e"]) else 0.0)
            else:
                aucs.append(roc_auc_score(yte, score))
            trial.report(float(np.mean(aucs)), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return float(np.mean(aucs))

    if folds and n_trials > 0:
        study.optimize(objective, n_trials=int(n_trials), timeout=timeout_s, gc_after_trial=False)
    return study


def _clean_metrics(values: dict) -> dict:
    """JSON-safe metrics: NaN/inf dropped (PostgreSQL's JSON rejects them), numpy scalars -> Python."""
    out = {}
    for k, v in values.items():
        if isinstance(v, dict):
            out[k] = _clean_metrics(v)
        elif isinstance(v, (bool, np.bool_)):
            out[k] = bool(v)
        elif isinstance(v, (int, np.integer)):
            out[k] = int(v)
        elif isinstance(v, (float, np.floating)):
            if math.isfinite(float(v)):
                out[k] = float(v)
        elif v is None or isinstance(v, (str, list)):
            out[k] = v
    return out


class DesignRowCache:
    """Design-matrix rows by (composition, route) for one liquidus estimator: a campaign
    retrains after every batch on the same literature plus a few new rows, and featurizing
    the literature (base features, element statistics, liquidus) is a second or two each
    time. Rows depend only on composition, route and the liquidus, so reuse is exact."""

    def __init__(self, max_rows: int = 200_000):
        import threading

        self.max_rows = max_rows
        self._rows: dict[tuple, np.ndarray] = {}
        self._liquidus = None
        self._lock = threading.Lock()

    def design(self, model, matrix, names, routes) -> np.ndarray:
        with self._lock:
            if self._liquidus is not model.liquidus or len(self._rows) > self.max_rows:
                self._rows, self._liquidus = {}, model.liquidus
            keys = list(zip(names, map(str, routes)))
            missing = [i for i, k in enumerate(keys) if k not in self._rows]
        if missing:
            idx = np.asarray(missing)
            fresh = model.design_matrix(matrix.take(idx), np.asarray(routes, dtype=object)[idx])
            with self._lock:
                for i, row in zip(missing, fresh):
                    self._rows[keys[i]] = row
        with self._lock:
            return np.vstack([self._rows[k] for k in keys]) if keys else np.zeros((0, len(model.feature_names)))


_DESIGN_ROWS = DesignRowCache()


def train_gfa_model(
    data: LabelledSet,
    *,
    n_trials: int,
    timeout_s: float | None,
    storage: str | None,
    study_name: str,
    seed: int = 0,
    tune: Sequence[str] = ("svm",),
    max_tune_rows: int | None = 1500,
    max_cv_rows: int | None = 3000,
    cv_folds: int = 3,
    compute_metrics: bool = True,
    base_params: dict | None = None,
    liquidus=None,
    modulus_model=None,
    bulk_model=None,
    selection: str = "roc_auc",
) -> TrainedModel:
    """Tune (continuing the stored studies), evaluate under grouped CV, and fit the GFA ensemble.

    Cost control (a campaign retrains after every batch): tuning runs on at most
    ``max_tune_rows`` random rows, the metrics' grouped CV on at most ``max_cv_rows``
    (``cv_rows`` in the metrics); the final model is always fitted on every usable row.

    ``study_name`` is the prefix of the members' studies (``<study_name>/<member>``), e.g.
    ``study_name_for("gfa-ensemble", campaign_id)``. Every member's hyperparameters come
    from its study's best trial when one exists (tuned now or earlier), else the defaults
    (``base_params`` override the defaults). Metrics: grouped-CV ROC-AUC, balanced
    accuracy, Sun's E (with P_target, P_whole, the P_target > 0.3 rule), calibration error,
    per-member ROC-AUC, n_train, timings and the study bookkeeping.
    """
    from discovery.evaluation import cross_validate_gfa
    from discovery.features import featurizable
    from discovery.models import ENSEMBLE_MEMBERS, GFAEnsemble, GlassFormingModel

    started = time.perf_counter()
    usable = featurizable(data.matrix())
    n_unfeaturizable = int((~usable).sum())
    clean = data.subset(usable)
    if len(set(clean.labels.tolist())) < 2:
        raise ValueError("training data need both glass and non-glass labels")
    template = GlassFormingModel(GFAEnsemble(random_state=seed), liquidus=liquidus)
    template.liquidus = template._liquidus()
    matrix = clean.matrix()
    X = _DESIGN_ROWS.design(template, matrix, clean.canonical, clean.routes)
    svm_cols = np.asarray(template.svm_columns())
    y = clean.labels
    groups = clean.systems
    weights = None if clean.weights is None else np.asarray(clean.weights, dtype=float)
    own = np.asarray(clean.sources, dtype=object) != "literature"  # the SVM subsample keeps a campaign's results

    # the tree members are tuned on the inputs they get in the ensemble (evidence included)
    params: dict = {"random_state": seed, "fraction_columns": template.fraction_columns(), **(base_params or {})}
    studies = {}
    study_info = {}
    tune_started = time.perf_counter()
    for member in ENSEMBLE_MEMBERS:
        # a study's values are of one objective: Sun's E is tuned in studies of its own
        name = f"{study_name}/{member}" + ("" if selection == "roc_auc" or member != "svm" else f"-{selection}")
        if member in tune:
            idx = _subsample(len(y), max_tune_rows, seed)
            before = time.perf_counter()
            Xm = X[np.ix_(idx, svm_cols)] if member == "svm" else X[idx]
            study = tune_gfa_member(Xm, y[idx], groups[idx], member, n_trials=n_trials, timeout_s=timeout_s,
                                    selection=selection,
                                    storage=storage, study_name=name, seed=seed, base_params=params,
                                    sample_weight=None if weights is None else weights[idx])
            studies[member] = study
            study_info[member] = {"study": name, "trials_total": len(study.trials),
                                  "seconds": round(time.perf_counter() - before, 2)}
        elif storage is not None:
            study = _existing_study(name, storage)
            if study is None:
                continue
            studies[member] = study
            study_info[member] = {"study": name, "trials_total": len(study.trials), "seconds": 0.0}
        else:
            continue
        found = best_params(studies[member])
        params.update(found)
        if found:
            study_info[member]["best_value"] = float(studies[member].best_value)
    tune_seconds = time.perf_counter() - tune_started

    params["svm_columns"] = tuple(int(c) for c in svm_cols)
    model = GlassFormingModel(GFAEnsemble(**params), liquidus=template.liquidus, modulus_model=modulus_model,
                              bulk_model=bulk_model)
    metrics: dict = {}
    cv_seconds = 0.0
    if compute_metrics and len(set(groups.tolist())) >= 2:
        before = time.perf_counter()
        cv_idx = _subsample(len(y), max_cv_rows, seed + 1)
        result = cross_validate_gfa(clean.subset(cv_idx),
                                    lambda: GlassFormingModel(GFAEnsemble(**params), liquidus=template.liquidus),
                                    protocol="grouped", n_splits=cv_folds, seed=seed, design=X[cv_idx])
        cv_seconds = time.perf_counter() - before
        per = result.metrics()
        ens = per["ensemble"]
        svm = per["svm"]
        metrics.update({
            "grouped_cv_roc_auc": ens["roc_auc"],
            "grouped_cv_balanced_accuracy": ens["balanced_accuracy"],
            "grouped_cv_sun_e": ens["sun_e"],
            "grouped_cv_p_target": ens["p_target"],
            "grouped_cv_p_whole": ens["p_whole"],
            "grouped_cv_sun_e_valid": ens["sun_e_valid"],
            "grouped_cv_ece": ens["ece"],
            "grouped_cv_svm_roc_auc": svm["roc_auc"],
            "grouped_cv_svm_balanced_accuracy": svm["balanced_accuracy"],
            "grouped_cv_svm_sun_e": svm["sun_e"],
            "cv_folds": result.n_splits,
            "cv_rows": int(len(cv_idx)),
            "cv_protocol": "GroupKFold by chemical system",
        })
        for member, values in per.items():
            if member != "ensemble":
                metrics[f"grouped_cv_{member}_roc_auc"] = values["roc_auc"]
    before = time.perf_counter()
    model.fit_design(X, y, weights, keep=own, n_unfeaturizable=n_unfeaturizable)
    model.with_domain(matrix, clean.canonical)
    fit_seconds = time.perf_counter() - before
    metrics.update({
        "n_train": model.n_train_,
        "n_unfeaturizable": n_unfeaturizable,
        "n_systems": int(len(set(groups.tolist()))),
        "tune_seconds": round(tune_seconds, 2),
        "cv_seconds": round(cv_seconds, 2),
        "fit_seconds": round(fit_seconds, 2),
        "total_seconds": round(time.perf_counter() - started, 2),
        "optuna": study_info,
    })
    metrics["selection"] = selection
    hyper = {**model.get_params(), "selection": selection}
    return TrainedModel(model, model.kind, _clean_metrics(hyper), _clean_metrics(metrics), studies)


def _existing_study(name: str, storage: str):
    import optuna

    _quiet_optuna()
    try:
        return optuna.load_study(study_name=name, storage=project_storage(storage))
    except KeyError:
        return None


# --------------------------------------------------------------------------- property regressors


def property_model_spec(kind: str) -> dict:
    """How to build, tune and cross-validate a property model of ``kind``."""
    from discovery import bulk, modulus

    specs = {
        "modulus-ensemble": {"factory": modulus.ModulusEnsemble, "tune_target": "E",
                             "cv": lambda data, t, params, folds, seed: modulus.cross_validate_modulus(
                                 data, t, params=params, n_splits=folds, seed=seed)},
        "bulk-gfa-ensemble": {"factory": bulk.BulkGFAEnsemble, "tune_target": "dmax_mm",
                              "cv": lambda data, t, params, folds, seed: bulk.cross_validate_bulk(
                                  data, t, params=params, n_splits=folds, seed=seed)},
    }
    if kind not in specs:
        raise ValueError(f"unknown property model kind {kind!r}; known: {sorted(specs)}")
    return specs[kind]


def tune_property_member(model, data, member: str, *, n_trials: int, timeout_s: float | None, storage: str | None,
                         study_name: str, seed: int = 0, target: str, n_splits: int = 5):
    """Minimize the grouped-CV MAE of one member of a property ensemble; the study continues if it exists."""
    import optuna

    from discovery.regressors import SEARCH_SPACES, grouped_cv_mae

    if member not in SEARCH_SPACES:
        raise ValueError(f"unknown regressor member {member!r}; known: {sorted(SEARCH_SPACES)}")
    study = open_study(study_name, storage, direction="minimize", seed=seed)
    space = SEARCH_SPACES[member]

    def objective(trial) -> float:
        params = space(trial)

        def on_fold(step: int, running: float) -> None:
            trial.report(running, step)
            if trial.should_prune():
                raise optuna.TrialPruned()

        return grouped_cv_mae(model, data, member, params, target, n_splits=n_splits, seed=seed, on_fold=on_fold)

    if n_trials > 0:
        study.optimize(objective, n_trials=int(n_trials), timeout=timeout_s, gc_after_trial=False)
    return study


def _parity_points(result, limit: int = 1500, seed: int = 0) -> list[list[float]]:
    """[measured, predicted] pairs of out-of-fold predictions for a parity plot (subsampled)."""
    y, pred = result.y, result.prediction
    idx = np.arange(len(y))
    if len(idx) > limit:
        idx = np.sort(np.random.default_rng(seed).choice(idx, size=limit, replace=False))
    return [[round(float(y[i]), 4), round(float(pred[i]), 4)] for i in idx if np.isfinite(pred[i])]


def train_property_model(
    data,
    *,
    kind: str,
    n_trials: int,
    timeout_s: float | None,
    storage: str | None,
    study_name: str,
    seed: int = 0,
    tune: Sequence[str] | None = None,
    compute_metrics: bool = True,
    cv_folds: int = 5,
    parity: bool = False,
) -> TrainedModel:
    """Tune (on the kind's tuning target, continuing stored studies), evaluate and fit a property ensemble.

    Metrics per target: grouped-CV MAE, RMSE and R^2 of the baseline, every member and the
    ensemble (``grouped_cv_<target>_<model>_mae`` ...), the number of training rows; with
    ``parity`` the out-of-fold (measured, predicted) pairs for the report's parity plots.
    """
    spec = property_model_spec(kind)
    started = time.perf_counter()
    template = spec["factory"](random_state=seed)
    members = template.members if tune is None else tuple(tune)
    params: dict = {}
    studies, study_info = {}, {}
    for member in template.members:
        name = f"{study_name}/{member}"
        if member in members and n_trials > 0:
            before = time.perf_counter()
            study = tune_property_member(template, data, member, n_trials=n_trials, timeout_s=timeout_s,
                                         storage=storage, study_name=name, seed=seed, target=spec["tune_target"],
                                         n_splits=cv_folds)
            study_info[member] = {"study": name, "trials_total": len(study.trials),
                                  "seconds": round(time.perf_counter() - before, 2)}
        elif storage is not None:
            study = _existing_study(name, storage)
            if study is None:
                continue
            study_info[member] = {"study": name, "trials_total": len(study.trials), "seconds": 0.0}
        else:
            continue
        studies[member] = study
        found = best_params(study)
        params.update(found)
        if found:
            study_info[member]["best_value"] = float(study.best_value)
    tune_seconds = time.perf_counter() - started
    metrics: dict = {}
    parity_points: dict = {}
    if compute_metrics:
        for t in template.targets:
            y = data.targets.get(t)
            if y is None or np.isfinite(y).sum() < max(2 * cv_folds, template.min_rows):
                continue
            result = spec["cv"](data, t, params, cv_folds, seed)
            for model_name, m in result.metrics().items():
                key = model_name.replace(" ", "_")
                for stat in ("mae", "rmse", "r2"):
                    metrics[f"grouped_cv_{t}_{key}_{stat}"] = m[stat]
            metrics[f"grouped_cv_{t}_baseline"] = result.baseline_name
            metrics[f"grouped_cv_{t}_ensemble_mean_std"] = result.metrics()["ensemble"]["mean_std"]
            if parity:
                parity_points[t] = _parity_points(result, seed=seed)
    model = spec["factory"](params=params, random_state=seed).fit(data)
    metrics.update({
        "n_train": {t: n for t, n in model.n_train_.items()},
        "cv_folds": cv_folds,
        "cv_protocol": "GroupKFold by chemical system",
        "tune_seconds": round(tune_seconds, 2),
        "total_seconds": round(time.perf_counter() - started, 2),
        "optuna": study_info,
    })
    if parity_points:
        metrics["parity"] = parity_points
    return TrainedModel(model, model.kind, _clean_metrics(model.get_params()), _clean_metrics(metrics), studies)


def train_modulus_model(data, *, n_trials: int, timeout_s: float | None, storage: str | None, study_name: str,
                        seed: int = 0, tune: Sequence[str] | None = None, target: str = "E",
                        compute_metrics: bool = True, cv_folds: int = 5, parity: bool = False) -> TrainedModel:
    """:func:`train_property_model` for the modulus ensemble (tuned on Young's modulus)."""
    return train_property_model(data, kind="modulus-ensemble", n_trials=n_trials, timeout_s=timeout_s, storage=storage,
                                study_name=study_name, seed=seed, tune=tune, compute_metrics=compute_metrics,
                                cv_folds=cv_folds, parity=parity)
