"""Grouped cross-validation (no chemical system in two folds), Sun's E and calibration metrics."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from discovery.evaluation import (
    check_grouping,
    classification_metrics,
    cross_validate_gfa,
    expected_calibration_error,
    grouped_splits,
    load_labelled_csv,
    random_splits,
    reliability_table,
    sun_e,
)
from discovery.models import GlassFormingClassifier, GlassFormingModel
from shared_data import BINARY, LANDOLT, REPO, SYSTEMS, liquidus_model  # noqa: F401



@lru_cache(maxsize=1)
def binary():
    return load_labelled_csv(BINARY)



def test_grouped_splits_keep_every_system_in_one_fold():
    data = binary()
    systems = data.systems
    splits = grouped_splits(systems, n_splits=5, seed=3)
    assert len(splits) == 5
    fold_of: dict[str, int] = {}
    for k, (train, test) in enumerate(splits):
        assert not set(systems[train]) & set(systems[test])
        for s in set(systems[test]):
            assert s not in fold_of, f"{s} in folds {fold_of[s]} and {k}"
            fold_of[s] = k
    assert set(fold_of) == set(systems)
    assert sorted(np.concatenate([t for _, t in splits]).tolist()) == list(range(len(data)))
    # every composition of an element set together: e.g. all 101 Cu-Zr grid points in one fold
    cu_zr = np.flatnonzero(systems == "Cu-Zr")
    assert len(cu_zr) > 90
    assert len({k for k, (_, test) in enumerate(splits) if np.isin(cu_zr, test).any()}) == 1


def test_check_grouping_rejects_leaky_splits():
    groups = np.array(["A-B"] * 4 + ["C-D"] * 4)
    leaky = random_splits(np.array([0, 1] * 4), n_splits=2, seed=0)
    with pytest.raises(AssertionError, match="both train and test|test folds"):
        check_grouping(leaky, groups)
    check_grouping(grouped_splits(groups, 2), groups)
    with pytest.raises(ValueError, match="at least 2"):
        grouped_splits(["A-B"] * 3, 2)


def test_sun_e_and_its_admissibility_rule():
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    pred = np.array([1, 1, 1, 0, 1, 0, 0, 0, 0, 0], dtype=bool)
    m = sun_e(y, pred)
    assert m["p_target"] == pytest.approx(0.75)
    assert m["p_whole"] == pytest.approx(0.4)
    assert m["sun_e"] == pytest.approx(0.75**2 / 0.4)
    assert m["sun_e_valid"]
    # a model that flags almost nothing: high E possible, but P_target <= 0.3 makes it inadmissible
    timid = sun_e(y, np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 0], dtype=bool))
    assert timid["p_target"] == pytest.approx(0.25) and not timid["sun_e_valid"]
    # whole group given separately (e.g. an enumerated grid)
    wide = sun_e(y, pred, whole_predicted=np.ones(100, bool))
    assert wide["p_whole"] == 1.0 and wide["sun_e"] == pytest.approx(0.5625)


def test_calibration_metrics():
    rng = np.random.default_rng(0)
    p = rng.random(20_000)
    y = (rng.random(20_000) < p).astype(int)
    assert expected_calibration_error(y, p) < 0.02
    assert expected_calibration_error(y, np.clip(p + 0.2, 0, 1)) > 0.15
    mean_pred, frac, counts = reliability_table(y, p, 4)
    assert counts.sum() == 20_000 and np.allclose(mean_pred, frac, atol=0.03)
    m = classification_metrics(y, p, prob=p)
    assert 0.7 < m["roc_auc"] < 0.9 and "ece" in m and "sun_e" in m


def test_grouped_cv_on_real_binaries_is_harder_than_random():
    """Leave-system-out is the honest figure; random K-fold (beside it) interpolates along grids."""
    data = binary()
    keep = np.isin(data.systems, sorted(set(data.systems))[:40])
    data = data.subset(keep)

    def factory():
        return GlassFormingModel(GlassFormingClassifier(C=3.0, calibration_folds=0), liquidus=liquidus_model())

    grouped = cross_validate_gfa(data, factory, protocol="grouped", n_splits=4, seed=0)
    rnd = cross_validate_gfa(data, factory, protocol="random", n_splits=4, seed=0)
    assert grouped.member_names == ("svm",)
    for s in set(grouped.systems):
        assert len(set(grouped.fold[grouped.systems == s])) == 1
    g, r = grouped.metrics()["svm"], rnd.metrics()["svm"]
    assert 0.6 < g["roc_auc"] < r["roc_auc"]
    assert r["roc_auc"] > 0.9
    assert np.isfinite(g["sun_e"]) and 0 <= g["p_whole"] <= 1
