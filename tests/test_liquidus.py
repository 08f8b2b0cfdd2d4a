"""Tests of discovery.liquidus on the real measured liquidus data in /work/shared/data.

Sets: DMREF v5 (``Tl_[K]``), Xiong 2020 ``CTT.csv`` (GPL-3: read here, never shipped) and
Bajpai's MMG set (loaded only to document why it is excluded).
"""

from __future__ import annotations

import csv
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone

from discovery import liquidus as L
from discovery.composition import CompositionMatrix
from discovery.features import BASE_FEATURE_NAMES, FEATURE_NAMES, base_features, featurize

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
if not SHARED.exists():
    SHARED = Path("/work/shared/data")


@pytest.fixture(scope="module")
def table():
    return L.load_liquidus_table(SHARED)


@pytest.fixture(scope="module")
def data():
    return L.load_liquidus_data(SHARED)


def test_loader_cleans_and_deduplicates(table, data):
    assert table["composition"].is_unique
    assert table["Tl"].between(L.T_MIN, L.T_MAX).all()
    # DMREF's La16.15Mg60Ni23.6Si0.25 at 8263 K is a transcription error and is dropped
    assert table["Tl"].max() < 2000
    # the same alloy from DMREF and Xiong is one row (Landolt is their common root)
    assert (table["sources"] == "dmref+xiong").sum() > 400
    cuzr = table.set_index("composition").loc["Cu50Zr50"]
    assert 1200 <= cuzr["Tl"] <= 1260 and cuzr["n"] >= 2
    matrix, t, systems = data
    assert isinstance(matrix, CompositionMatrix)
    assert len(matrix) == len(t) == len(systems) > 1300
    assert len(set(matrix.canonical_names())) == len(matrix)
    assert systems[:5] == matrix.systems()[:5]


def test_bajpai_temperatures_do_not_match_their_compositions():
    """Why Bajpai is excluded: same composition, DMREF/Xiong agree, Bajpai is off by ~300 K."""
    from discovery.composition import parse_composition

    bj = L._rows_bajpai(SHARED)
    ref = L.load_liquidus_table(SHARED).set_index("composition")["Tl"]
    canon = [parse_composition(f).canonical for f in bj["formula"]]
    hit = [c in ref.index for c in canon]
    diff = np.abs(bj["Tl"].to_numpy()[hit] - ref.loc[[c for c, h in zip(canon, hit) if h]].to_numpy())
    assert len(diff) > 2000
    assert np.median(diff) > 200
    assert np.mean(diff < 20) < 0.15
    # while Xiong and DMREF agree for shared alloys
    xi = L._rows_xiong(SHARED)
    dm = L.load_liquidus_table(SHARED, ("dmref",)).set_index("composition")["Tl"]
    xc = [parse_composition(f).canonical for f in xi["formula"]]
    both = [(t, dm[c]) for c, t in zip(xc, xi["Tl"]) if c in dm.index]
    d = np.abs(np.subtract(*zip(*both)))
    assert np.median(d) == 0 and np.mean(d < 20) > 0.95


def test_grouped_cv_mae_by_chemical_system(data):
    mae, pred = L.grouped_cv_mae(*data)
    print(f"grouped-CV MAE (DMREF+Xiong, {len(data.t_liquidus)} alloys, GroupKFold by system): {mae:.1f} K")
    t = data.t_liquidus
    assert np.isfinite(pred).all()
    # baseline: one global ratio T_liq / T_fic (median) -> ~78 K; constant T_liq -> ~224 K
    t_fic = base_features(data.matrix)[:, BASE_FEATURE_NAMES.index("T_fic")]
    baseline = np.mean(np.abs(np.median(t / t_fic) * t_fic - t))
    assert mae < 60 < baseline


def test_sklearn_api_and_array_input(data):
    reg = L.LiquidusRegressor(n_estimators=30)
    assert clone(reg).get_params()["n_estimators"] == 30
    reg.set_params(min_samples_leaf=3)
    sub = data.matrix.take(np.arange(300))
    F = base_features(sub)
    a = L.LiquidusRegressor(n_estimators=30, pure_element_anchors=False).fit(F, data.t_liquidus[:300])
    b = L.LiquidusRegressor(n_estimators=30, pure_element_anchors=False).fit(sub, data.t_liquidus[:300])
    np.testing.assert_allclose(a.predict(F), b.predict(sub))
    assert a.predict(F).shape == (300,)
    with pytest.raises(ValueError):
        a.predict(np.zeros((2, 3)))


def test_pure_elements_get_their_melting_point():
    probe = CompositionMatrix.from_formulas(["Cu", "Zr", "Cu50Zr50"])
    est = L.default_estimate(probe)
    F = base_features(probe)
    np.testing.assert_array_equal(est[:2], F[:2, BASE_FEATURE_NAMES.index("T_fic")])
    assert 1000 < est[2] < 1400


def test_shipped_table_is_dmref_only_and_featurize_uses_it():
    path = resources.files("discovery") / "data" / L.SHIPPED_TABLE
    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    assert {r["sources"] for r in rows} == {"dmref"}  # no GPL (Xiong) data in the repository
    assert len(rows) > 1000
    m = CompositionMatrix.from_formulas(["Cu64Zr36", "Pd40Ni40P20"])
    X = featurize(m)
    t_fic = X[:, FEATURE_NAMES.index("T_fic")]
    expected = (t_fic - L.default_estimate(m)) / t_fic
    np.testing.assert_allclose(X[:, FEATURE_NAMES.index("dT_liq")], expected)
    assert np.all(expected > 0.15)  # deep eutectics: liquidus far below the weighted melting point
