"""Optuna studies in the project database: TPE + pruner under grouped CV, resumed by the next retrain."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from discovery.evaluation import load_labelled_csv
from discovery.tuning import open_study, study_name_for, train_gfa_model, tune_gfa_member
from shared_data import BINARY, LANDOLT, REPO, SYSTEMS, liquidus_model  # noqa: F401




@lru_cache(maxsize=1)
def small_data():
    data = load_labelled_csv(BINARY)
    data = data.subset(np.isin(data.systems, SYSTEMS))
    keep = np.arange(len(data)) % 3 == 0  # a 3 at.% grid of each system
    return data.subset(keep)


def _project_database(tmp_path) -> str:
    from db.migrate import upgrade
    from db.session import get_engine

    url = f"sqlite:///{tmp_path / 'vitrify.db'}"
    upgrade(get_engine(url))
    return url


def test_study_lives_in_the_project_database_and_resumes(tmp_path):
    import optuna
    import sqlalchemy

    url = _project_database(tmp_path)
    data = small_data()
    from discovery.models import GlassFormingModel

    X = GlassFormingModel(liquidus=liquidus_model()).design_matrix(data.matrix(), data.routes)
    name = study_name_for("gfa-ensemble", 7, "svm")
    assert name == "gfa-ensemble/campaign-7/svm"
    first = tune_gfa_member(X, data.labels, data.systems, "svm", n_trials=3, timeout_s=60, storage=url, study_name=name)
    assert len(first.trials) == 3
    assert isinstance(first.sampler, optuna.samplers.TPESampler)
    assert isinstance(first.pruner, optuna.pruners.MedianPruner)
    second = tune_gfa_member(X, data.labels, data.systems, "svm", n_trials=2, timeout_s=60, storage=url, study_name=name)
    assert len(second.trials) == 5  # the same study continued, not a new one
    from discovery.tuning import project_storage

    assert len(optuna.get_all_study_summaries(project_storage(url))) == 1
    # a resumed study does not re-draw the first study run's random points
    params = [t.params["svm_C"] for t in second.trials]
    assert len(set(params)) == len(params)
    # Optuna's tables sit next to vitrify's in the same database
    tables = set(sqlalchemy.inspect(sqlalchemy.create_engine(url)).get_table_names())
    assert {"studies", "trials", "modelversion", "outcome", "alembic_version", "vitrify_alembic_version"} <= tables
    # vitrify's migrations keep their own version table: the database stays at vitrify's head
    from db.migrate import current_revision, head_revision, upgrade
    from db.session import get_engine

    engine = get_engine(url)
    assert current_revision(engine) == head_revision(engine)
    upgrade(engine)
    # every completed trial is a grouped-CV ROC-AUC; intermediate values were reported per fold
    done = [t for t in second.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert done and all(0.5 < t.value <= 1.0 for t in done)
    assert all(len(t.intermediate_values) >= 1 for t in done)


def test_train_gfa_model_continues_its_study(tmp_path):
    url = _project_database(tmp_path)
    data = small_data()
    kwargs = dict(n_trials=2, timeout_s=60, storage=url, study_name=study_name_for("gfa-ensemble", 1), seed=0,
                  liquidus=liquidus_model(), base_params={"rf_n_estimators": 20, "gb_max_iter": 30})
    first = train_gfa_model(data, **kwargs)
    second = train_gfa_model(data, **kwargs)
    assert first.kind == "gfa-ensemble"
    assert first.metrics["optuna"]["svm"]["trials_total"] == 2
    assert second.metrics["optuna"]["svm"]["trials_total"] == 4
    m = second.metrics
    for key in ("grouped_cv_roc_auc", "grouped_cv_balanced_accuracy", "grouped_cv_sun_e", "grouped_cv_p_target",
                "grouped_cv_p_whole", "n_train"):
        assert key in m, key
    assert m["n_train"] == len(data)
    assert 0.5 < m["grouped_cv_roc_auc"] <= 1.0
    # the fitted model uses the study's best parameters
    study = second.studies["svm"]
    assert second.hyperparameters["svm_C"] == study.best_params["svm_C"]
    assert second.model.estimator_.members_["svm"].C == study.best_params["svm_C"]


def test_in_memory_study_without_storage():
    study = open_study("scratch", None, direction="minimize", seed=1)
    study.optimize(lambda t: (t.suggest_float("x", -1, 1) - 0.2) ** 2, n_trials=4)
    assert len(study.trials) == 4


def test_tree_members_are_tuned_on_the_inputs_they_get_in_the_ensemble():
    """A tuned boosting or extra-trees member sees in its folds what it sees in the ensemble:
    the design matrix with the related-system evidence, computed from the fold's training
    rows only (the held-out systems' own labels never reach their evidence)."""
    from discovery.models import GFAEnsemble, GlassFormingModel
    from discovery.related import related_feature_names
    from discovery.tuning import tuning_folds

    data = small_data()
    model = GlassFormingModel(liquidus=liquidus_model())
    X = model.design_matrix(data.matrix(), data.routes)
    params = {"fraction_columns": model.fraction_columns()}
    folds = tuning_folds(X, data.labels, data.systems, "gb", params, n_splits=3)
    assert len(folds) == 3
    Xtr, ytr, Xte, yte, _ = folds[0]
    n_evidence = len(related_feature_names())
    assert Xtr.shape[1] == Xte.shape[1] == X.shape[1] + n_evidence
    ens = GFAEnsemble(members=("svm", "gb"), gb_members=1, gb_max_iter=5, **params).fit(X, data.labels)
    assert ens.members_["gb"][0].n_features_in_ == Xtr.shape[1]
    # flipping the held-out fold's labels changes nothing in its evidence
    from discovery.evaluation import grouped_splits

    train, test = next(s for s in grouped_splits(data.systems, 3, 0))
    flipped = data.labels.copy()
    flipped[test] = 1 - flipped[test]
    again = tuning_folds(X, flipped, data.systems, "gb", params, n_splits=3)[0]
    assert np.array_equal(again[2], Xte)
    svm_fold = tuning_folds(X[:, list(model.svm_columns())], data.labels, data.systems, "svm", params)[0]
    assert svm_fold[0].shape[1] == len(model.svm_columns())
    study = tune_gfa_member(X, data.labels, data.systems, "gb", n_trials=1, timeout_s=60, storage=None,
                            study_name="gb-evidence", base_params={**params, "gb_max_iter": 10})
    assert study.best_value > 0.5
