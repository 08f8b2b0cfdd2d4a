"""Model registry round trip on a real SQLite database: save, load, identical predictions;
and ``vitrify predict`` on the registered models (one row per input, bad rows named)."""

from __future__ import annotations

import csv
import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from discovery.composition import CompositionMatrix
from discovery.evaluation import load_labelled_csv
from discovery.models import GFAEnsemble, GlassFormingModel
from discovery.modulus import ModulusEnsemble, load_modulus_data

REPO = Path(__file__).resolve().parents[1]
BINARY = REPO / "discovery" / "data" / "literature" / "sun2017_binary" / "glass_binary_v2.csv"
SYSTEMS = ("Cu-Zr", "Ni-Zr", "Al-Ca", "Co-Zr", "Cu-Ti", "Mg-Zn", "Ni-Ta", "Pd-Zr", "Ag-Cu", "Cu-Ni")


@lru_cache(maxsize=1)
def trained():
    data = load_labelled_csv(BINARY)
    data = data.subset(np.isin(data.systems, SYSTEMS))
    mdata = load_modulus_data()
    modulus = ModulusEnsemble(targets=("E",), params={"rf_n_estimators": 30}).fit(mdata)
    model = GlassFormingModel(GFAEnsemble(et_trees_per_member=5, gb_max_iter=40)).fit(data)
    model.with_modulus(modulus)
    return data, mdata, model, modulus


def _database(tmp_path) -> tuple[str, object]:
    from db.migrate import upgrade
    from db.session import get_engine

    url = f"sqlite:///{tmp_path / 'vitrify.db'}"
    engine = get_engine(url)
    upgrade(engine)
    return url, engine


def test_saved_model_version_reloads_with_identical_predictions(tmp_path):
    from db.registry import latest_model_version, load_model, save_model_version
    from db.session import session_scope

    data, mdata, model, modulus = trained()
    url, engine = _database(tmp_path)
    rng = np.random.default_rng(1)
    matrix = CompositionMatrix(("Al", "Cu", "Ni", "Zr"), rng.dirichlet(np.ones(4), size=3000))
    routes = rng.choice(["melt-spinning", "sputtering", "casting", "unknown"], size=3000)
    before = model.score(matrix, routes, chunk_size=1000)
    metrics = {"grouped_cv_roc_auc": 0.81, "n_train": model.n_train_}
    with session_scope(engine) as session:
        mv = save_model_version(session, modulus, kind=modulus.kind, data=mdata, hyperparameters=modulus.get_params(),
                                metrics={"n_train": modulus.n_train_})
        gv = save_model_version(session, model, kind=model.kind, data=data, hyperparameters=model.get_params(),
                                metrics=metrics, iteration=0)
        ids = (gv.id, mv.id)
    from db.session import get_engine

    from db.registry import clear_model_cache

    get_engine.cache_clear()  # a fresh engine and no model held in memory: a real reload
    clear_model_cache()
    from db.session import get_engine as fresh

    with session_scope(fresh(url)) as session:
        version = latest_model_version(session, "gfa-ensemble")
        assert version.id == ids[0]
        assert version.train_size == len(data) and version.train_hash == data.content_hash()
        assert version.metrics == metrics
        assert json.loads(json.dumps(version.hyperparameters)) == model.get_params()
        loaded = load_model(version)
        mod_loaded = load_model(latest_model_version(session, "modulus-ensemble"))
    # a stored GFA model carries no copy of the property models (they are versions of their own)
    assert loaded.modulus_model is None
    after = loaded.with_modulus(mod_loaded).score(matrix, routes, chunk_size=1000)
    for name in ("p_gfa", "glass_probability", "uncertainty", "modulus_gpa", "modulus_uncertainty_gpa", "members"):
        assert np.array_equal(getattr(before, name), getattr(after, name)), name
    assert np.isfinite(after.modulus_gpa).all()
    e_before = modulus.predict_target(matrix, "E")
    e_after = mod_loaded.predict_target(matrix, "E")
    assert np.array_equal(e_before[0], e_after[0]) and np.array_equal(e_before[1], e_after[1])
    # the artifact carries its own liquidus estimator: reloading does not depend on the shipped table
    assert loaded.liquidus_ is not None


def test_corrupted_artifact_is_refused(tmp_path):
    from db.models import ModelVersion
    from db.registry import clear_model_cache, load_model, save_model_version
    from db.session import session_scope

    data, _, model, _ = trained()
    _, engine = _database(tmp_path)
    with session_scope(engine) as session:
        version = save_model_version(session, model, kind=model.kind, data=data, hyperparameters={}, metrics={})
        vid = version.id
    clear_model_cache()  # another process: it has only the database
    with session_scope(engine) as session:
        row = session.get(ModelVersion, vid)
        row.artifact = row.artifact[:-1] + bytes([row.artifact[-1] ^ 1])
        with pytest.raises(ValueError, match="hash mismatch"):
            load_model(row)
        session.rollback()


def test_predict_command_scores_every_row_and_names_bad_ones(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from db.registry import save_model_version
    from db.session import get_engine, session_scope
    from vitrify.cli import app
    from vitrify.settings import reset_settings_cache

    data, mdata, model, modulus = trained()
    url, engine = _database(tmp_path)
    with session_scope(engine) as session:
        save_model_version(session, modulus, kind=modulus.kind, data=mdata, hyperparameters={}, metrics={})
        save_model_version(session, model, kind=model.kind, data=data, hyperparameters={}, metrics={})
    monkeypatch.setenv("VITRIFY_DATABASE_URL", url)
    reset_settings_cache()
    get_engine.cache_clear()
    src = tmp_path / "in.csv"
    src.write_text(
        "formula,processing\n"
        "Cu50Zr50,melt-spinning\n"
        "Cu64Zr36,\n"
        "Xx50Cu50,melt-spinning\n"
        "Cu60Zr40,laser\n"
        "Cu47Zr47Al6,sputtering\n"
        "Ne50Cu50,\n"
        "(Cu50Zr50)94Al6,\n"
        "NaN,\n"
        "Cu50Zr45Al2,\n"
    )
    out = tmp_path / "out.csv"
    try:
        result = CliRunner().invoke(app, ["predict", str(src), "--out", str(out), "--processing", "casting"])
    finally:
        reset_settings_cache()
        get_engine.cache_clear()
    assert result.exit_code == 1, result.output
    rows = list(csv.DictReader(out.open()))
    assert [r["formula"] for r in rows] == ["Cu50Zr50", "Cu64Zr36", "Xx50Cu50", "Cu60Zr40", "Cu47Zr47Al6", "Ne50Cu50",
                                            "(Cu50Zr50)94Al6", "NaN", "Cu50Zr45Al2"]
    assert [r["processing"] for r in rows] == ["melt-spinning", "casting", "melt-spinning", "unknown", "sputtering",
                                               "casting", "casting", "casting", "casting"]
    # the composition actually scored is echoed: the field's nested notation is expanded
    assert rows[6]["composition"] == "Al6Cu47Zr47" and rows[6]["error"] == ""
    assert "missing value" in rows[7]["error"] and "sum to 97" in rows[8]["error"]
    for r in (rows[0], rows[1], rows[4], rows[6]):
        assert r["glass_former"] in ("yes", "no") and r["models_agree"] in ("yes", "no")
        assert (r["glass_former"] == "yes") == (float(r["glass_probability"]) >= 0.5)
        assert r["domain"] in ("inside", "edge", "outside") and r["nearest_measured"]
    good = [rows[i] for i in (0, 1, 4)]
    for r in good:
        assert r["error"] == ""
        assert 0 <= float(r["glass_probability"]) <= 1 and float(r["glass_probability_uncertainty"]) >= 0
        assert 40 < float(r["youngs_modulus_gpa"]) < 150 and float(r["youngs_modulus_uncertainty_gpa"]) >= 0
        float(r["p_gfa"])
    assert rows[2]["error"].startswith("row 3, field 'formula'") and "Xx" in rows[2]["error"]
    assert rows[3]["error"].startswith("row 4, field 'processing'") and "laser" in rows[3]["error"]
    assert rows[5]["error"].startswith("row 6, field 'formula'") and "noble gas" in rows[5]["error"]
    assert all(r["p_gfa"] == "" for r in (rows[2], rows[3], rows[5]))
    assert "row 3, field 'formula'" in result.output or "row 3, field 'formula'" in (result.stderr or "")
