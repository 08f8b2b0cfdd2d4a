"""`vitrify simulate` through the real CLI: real LAMMPS on a real local Ray, stored as a
simulation outcome with its measurements; the --json contract; a composition no potential
covers is one error line; `vitrify structure compare` reads two summaries."""

import json

import numpy as np
import pytest
from sqlalchemy import select
from sqlmodel import Session
from typer.testing import CliRunner

from db.models import Job, Measurement, Outcome
from db.session import get_engine
from vitrify.cli import app

runner = CliRunner()

CONTRACT = ("density_g_cm3", "youngs_modulus_gpa", "shear_modulus_gpa", "bulk_modulus_gpa", "poisson_ratio",
            "tg_k", "icosahedral_fraction", "voronoi")


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    from vitrify.settings import reset_settings_cache

    monkeypatch.setenv("VITRIFY_DATA_DIR", str(tmp_path / "data"))
    reset_settings_cache()
    yield tmp_path / "data"
    reset_settings_cache()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_simulate_json_with_structure_is_stored(use_database, data_dir, local_ray, tmp_path):
    out = tmp_path / "run"
    res = runner.invoke(app, ["simulate", "--composition", "Cu50Zr50", "--atoms", "128", "--preset", "test",
                              "--json", "--softness", "--sro", "--out", str(out)])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    for key in CONTRACT:
        assert summary[key] is not None, key
    assert 6.0 < summary["density_g_cm3"] < 8.5  # Cu50Zr50 glass: about 7.3 g/cm3
    assert 30 < summary["youngs_modulus_gpa"] < 150 and 0.2 < summary["poisson_ratio"] < 0.5
    assert summary["voronoi"]["top_motifs"] and abs(sum(c["population"] for c in summary["sro"]["clusters"]) - 1) < 1e-9
    soft = summary["softness"]
    for key in ("fraction_soft", "fraction_rearranging_soft", "classification_accuracy", "p_rearrange_given_s"):
        assert soft[key] is not None, key
    assert 0 < soft["fraction_soft"] < 1
    for name in ("result", "structure_npz", "softness_png", "motifs_png"):
        assert (out / summary["files"][name].split("/")[-1]).stat().st_size > 0, name
    arrays = np.load(out / "structure.npz")
    assert arrays["voronoi_indices"].shape == (128, 5) and arrays["softness"].shape[1] == 128
    with Session(get_engine()) as s:
        job = s.get(Job, summary["job_id"])
        assert (job.kind, job.status, job.campaign_id) == ("simulation", "succeeded", None)
        outcome = s.exec(select(Outcome).where(Outcome.job_id == job.id)).scalars().one()
        assert (outcome.source, outcome.fidelity, outcome.glass_label) == ("simulation", "md", None)
        got = {m.quantity: m.value for m in s.exec(select(Measurement).where(Measurement.outcome_id == outcome.id)).scalars()}
    assert got["youngs_modulus"] == pytest.approx(summary["youngs_modulus_gpa"])
    assert got["fraction_soft"] == pytest.approx(soft["fraction_soft"])
    assert got["motif_1_share"] == pytest.approx(summary["sro"]["clusters"][0]["population"])
    from db.session import session_scope
    from db.training import md_results

    with session_scope(get_engine()) as s:
        _, descriptors = md_results(s)
    assert set(descriptors["Cu50Zr50"]) >= {"icosahedral_fraction", "mean_softness", "fraction_soft", "motif_1_share"}

    # compare against a second summary (the same glass with a different motif share)
    other = dict(summary, composition="Cu64Zr36", icosahedral_fraction=summary["icosahedral_fraction"] + 0.1)
    b = tmp_path / "b.json"
    b.write_text(json.dumps(other))
    res = runner.invoke(app, ["structure", "compare", str(out / "summary.json"), str(b), "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["quantity"]: r for r in json.loads(res.stdout)["rows"]}
    assert rows["icosahedral share"]["b_minus_a"] == pytest.approx(0.1)
    assert rows["fraction soft"]["a"] == soft["fraction_soft"]
    res = runner.invoke(app, ["structure", "compare", str(out / "summary.json"), str(b)])
    assert res.exit_code == 0 and "B - A" in res.stdout
    assert max(len(line) for line in res.stdout.splitlines()) <= 80


def test_uncovered_composition_is_one_error_line(tmp_path, data_dir):
    res = runner.invoke(app, ["simulate", "--composition", "Cu50Ga50", "--json"])
    assert res.exit_code == 2
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Ga" in lines[0], res.output
    res = runner.invoke(app, ["structure", "compare", str(tmp_path / "nope.json"), str(tmp_path / "nope.json")])
    assert res.exit_code == 2 and "cannot read" in res.output and "Traceback" not in res.output
