"""A lab campaign from a campaign file, end to end: `vitrify campaign run FILE` on a
Cu-Zr-Al-Y quaternary space with an Al bound and an E >= 100 GPa constraint fills the lab
queue with compositions that obey the space, each with its predicted E; a lab report that
arrives later (a glass with its Young's modulus) is picked up by `vitrify campaign extend`,
which refits the modulus model on it -- a new version descending from the registered one,
whose prediction there moved toward the measurement -- and `vitrify model history` shows
the chain. The campaign selects its SVM by Sun's E and records that choice and both
metrics. Real Prefect flow runs, local Ray, real GFA and modulus fits (tests/conftest.py)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from sqlalchemy import select
from sqlmodel import Session
from typer.testing import CliRunner

from db.models import Campaign, Job, Proposal
from db.models import Composition as CompositionRow
from vitrify.cli import app

pytestmark = pytest.mark.slow

CAMPAIGN = """\
name: cuzraly-stiff
space:
  elements: [Cu, Zr, Al, Y]
  components: [4, 4]
  bounds: {Al: [0, 15], Y: [0, 10]}
  required: [Cu, Zr]
  step: 2
processing: melt-spinning
objectives:
  - {property: glass, goal: maximize}
  - {property: youngs_modulus_gpa, goal: maximize, min: 100}
agent: ucb
batch: 6
iterations: 1
model_selection: sun_e
destinations:
  - {kind: lab, budget_per_night: 4, require_approval: false}
seed: 0
"""


def _cli(args, ok=True):
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert (result.exit_code == 0) == ok, (args, result.exit_code, result.output, result.exception)
    return result.output


def _artifact(client, key):
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    return max(found, key=lambda a: a.created)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the loop's SQL is tested on both elsewhere
def test_a_lab_campaign_file_fills_the_lab_queue(use_database, engine, registered_modulus_model, prefect_server,
                                                 local_ray, tmp_path, monkeypatch, small_literature):
    from agents.campaign_file import load_campaign_file
    from db.lab import submit_report
    from db.tokens import create_token
    from db.transactions import run_write
    from db.reports import Report
    from vitrify.settings import get_settings, reset_settings_cache

    monkeypatch.setenv("VITRIFY_OPTUNA_TRIALS", "1")  # the fit is real; its tuning is tested elsewhere
    reset_settings_cache()
    path = tmp_path / "cz.yaml"
    path.write_text(CAMPAIGN)
    space = load_campaign_file(path).to_config().space.build()

    started = datetime.now(timezone.utc)
    out = _cli(["campaign", "run", str(path)])
    assert "lab: 4 in the lab queue, 0 claimed, 2 held by the nightly budget, 0 awaiting approval" in " ".join(out.split())
    with Session(engine) as s:
        campaign = s.exec(select(Campaign)).scalars().one()
        assert campaign.status == "finished" and campaign.campaign_file["text"] == CAMPAIGN
        assert campaign.campaign_file["file"] == "cz.yaml" and campaign.campaign_file["document"]["batch"] == 6
        jobs = s.exec(select(Job).where(Job.campaign_id == campaign.id)).scalars().all()
        assert len(jobs) == 6 and {j.kind for j in jobs} == {"experiment"}  # no replay, no MD
        assert sum(j.released_at is not None for j in jobs) == 4  # the file's nightly budget; the rest held
        for job in jobs:
            comp = s.get(CompositionRow, job.composition_id)
            pct = {el: 100 * f for el, f in comp.fractions.items()}
            assert space.contains(comp.canonical), comp.canonical
            assert set(pct) == {"Cu", "Zr", "Al", "Y"} and pct["Al"] <= 15 + 1e-9 and pct["Y"] <= 10 + 1e-9
            proposal = s.get(Proposal, job.proposal_id)
            e = proposal.predictions["youngs_modulus_gpa"]
            assert 40 < e["mean"] < 200 and e["std"] >= 0 and 0 <= proposal.predictions["p_feasible"] <= 1
            assert job.processing == "melt-spinning"
        campaign_id = campaign.id

    # the batch table with the predicted E and the constraint, in the CLI and as the Prefect artifact
    assert "P(E>=100)" in out and "E GPa" in out
    queue = json.loads(_cli(["lab", "queue", "--all", "--json"]))
    assert len(queue) == 6 and all(q["predicted"]["youngs_modulus_gpa"]["mean"] > 0 for q in queue)
    assert "GPa" in _cli(["lab", "queue"])
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        table = _artifact(client, f"campaign-{campaign_id}-batch")
        rows = json.loads(table.data) if isinstance(table.data, str) else table.data
        assert len(rows) == 6 and {"youngs_modulus_gpa", "youngs_modulus_gpa std", "P(youngs_modulus_gpa >= 100)"} <= set(rows[0])
        assert {r["sent_to"] for r in rows} == {"experiment"}
        report = _artifact(client, f"campaign-{campaign_id}-iteration")
        assert "maximize youngs_modulus_gpa >= 100 GPa" in report.data
        assert report.data.count("data:image/png;base64,") == 2  # the discovery curve and the Pareto front
        # this test's run (the session's Prefect server also holds other databases' campaign 1)
        runs = [r for r in client.read_flow_runs() if r.name == f"campaign-{campaign_id}" and r.created >= started]
        tasks = {t.name for t in client.read_task_runs() if t.flow_run_id in {r.id for r in runs}}
        assert len(runs) == 1 and f"lab-c{campaign_id}-i1" in tasks and f"run-jobs-c{campaign_id}-i1" not in tasks
    assert (get_settings().plots_dir / f"campaign-{campaign_id}-pareto.png").read_bytes()[:4] == b"\x89PNG"

    status = _cli(["status"])
    assert "cz.yaml" in status and "max youngs_modulus_gpa >= 100" in status
    detail = _cli(["status", "--campaign", str(campaign_id)])
    assert "name: cuzraly-stiff" in detail and "bounds: {Al: [0, 15], Y: [0, 10]}" in detail and "P(E>=100)" in detail

    # the lab reports one sample (a glass, E measured) while the campaign is not running;
    # extending the campaign picks the report up and proposes from it
    # GFA versions record the selection (Sun's E) and both metrics
    with Session(engine) as s:
        from db.models import ModelVersion

        gfa = s.exec(select(ModelVersion).where(ModelVersion.campaign_id == campaign_id,
                                                ModelVersion.kind == "gfa-ensemble")).scalars().all()
        assert gfa and all(v.hyperparameters["selection"] == "sun_e" for v in gfa)
        assert all({"grouped_cv_roc_auc", "grouped_cv_sun_e"} <= set(v.metrics) for v in gfa)
        assert any("svm-sun_e" in study for v in gfa for study in
                   [m.get("study", "") for m in v.metrics.get("optuna", {}).values()])
        # nothing new was measured: the registered modulus model is the campaign's, unrefitted
        assert not s.exec(select(ModelVersion).where(ModelVersion.campaign_id == campaign_id,
                                                     ModelVersion.kind == "modulus-ensemble")).scalars().all()

    reporter = run_write(engine, lambda s: create_token(s, name="ada", role="reporter"))[0]
    first = next(q for q in queue if q["state"] == "in lab queue")
    predicted = first["predicted"]["youngs_modulus_gpa"]["mean"]
    measured = round(predicted + 40.0, 1)  # synthetic measurement, far from the prediction
    submit_report(engine, Report(composition=first["composition"], result="amorphous", job_id=first["job_id"],
                                 measurements={"youngs_modulus": (measured, "GPa")}), token=reporter, channel="test")
    out = _cli(["campaign", "extend", str(campaign_id), "--iterations", "1"])
    assert "1 glasses in 12 picks" in out  # the reported glass, counted once
    with Session(engine) as s:
        campaign = s.get(Campaign, campaign_id)
        assert (campaign.status, campaign.iterations_done, campaign.iterations_planned) == ("finished", 2, 2)
        assert campaign.summary["iterations"][0]["glasses"] == 1  # heard of in the extension's first iteration
        # the iteration line says which models were refitted
        assert "modulus v" in campaign.summary["iterations"][0]["models"]
        assert "GFA v" in campaign.summary["iterations"][0]["models"]
        assert 0 < campaign.summary["iterations"][0]["cv_auc"] <= 1  # the retrain's grouped CV, in the iteration row
        second = s.exec(select(Proposal).where(Proposal.campaign_id == campaign_id, Proposal.iteration == 2)).scalars().all()
        assert len(second) == 6 and all(space.contains(s.get(CompositionRow, p.composition_id).canonical) for p in second)
        from db.queries import campaign_observations

        points = campaign_observations(s, campaign_id, ["glass", "youngs_modulus_gpa"])
        assert points == [{"composition": first["composition"], "fidelity": "experiment",
                           "values": {"glass": 1.0, "youngs_modulus_gpa": measured},
                           "measured": {"glass": True, "youngs_modulus_gpa": True}}]
        # the report refitted the modulus model: a version of the campaign descending from the
        # registered one, trained on the measurement, predicting closer to it
        from db.registry import load_model
        from discovery.composition import CompositionMatrix

        mods = s.exec(select(ModelVersion).where(ModelVersion.campaign_id == campaign_id,
                                                 ModelVersion.kind == "modulus-ensemble")).scalars().all()
        assert len(mods) == 1 and mods[0].parent_id == registered_modulus_model
        assert mods[0].trigger["new_rows"] == {"lab": {"E": 1}}
        assert [r[0] for r in mods[0].training_set["campaign_rows"]] == [first["composition"]]
        where = CompositionMatrix.from_formulas([first["composition"]])
        before = load_model(s.get(ModelVersion, registered_modulus_model)).predict_target(where, "E")[0][0]
        after = load_model(mods[0]).predict_target(where, "E")[0][0]
        assert abs(after - measured) < abs(before - measured) - 1.0, (before, after, measured)
    history = json.loads(_cli(["model", "history", "--campaign", str(campaign_id), "--kind", "modulus-ensemble",
                               "--json"]))
    assert [h["id"] for h in history] == [mods[0].id, registered_modulus_model]
    assert history[0]["parent"] == registered_modulus_model and "+1 lab E" in history[0]["trigger"]
    shown = _cli(["model", "show", str(mods[0].id)])
    assert first["composition"] in shown and f"parent: {registered_modulus_model}" in shown
    assert f"no campaign {campaign_id + 1}" in _cli(["campaign", "extend", str(campaign_id + 1), "--iterations", "1"], ok=False)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_campaign_fits_the_modulus_model_its_objectives_need(use_database, engine, prefect_server, local_ray,
                                                                tmp_path, quick_training, small_literature):
    """No `vitrify model train` first: a campaign whose objectives need E fits its own modulus
    model on the literature's measured moduli at its start, says so, and scores E with it."""
    from db.models import ModelVersion

    path = tmp_path / "cz.yaml"
    path.write_text(CAMPAIGN.replace("batch: 6", "batch: 4").replace("step: 2", "step: 5"))
    out = " ".join(_cli(["campaign", "run", str(path)]).split())
    assert "note: youngs_modulus_gpa (Young's modulus E): no modulus-ensemble model is registered yet; " \
           "the campaign fits one on" in out
    assert "lab: 4 in the lab queue" in out and "P(E>=100)" in out
    with Session(engine) as s:
        campaign = s.exec(select(Campaign)).scalars().one()
        mods = s.exec(select(ModelVersion).where(ModelVersion.kind == "modulus-ensemble")).scalars().all()
        assert len(mods) == 1 and mods[0].campaign_id == campaign.id and mods[0].parent_id is None
        assert mods[0].train_size >= 10 and "literature" in mods[0].training_set["by_source"]
        proposals = s.exec(select(Proposal).where(Proposal.campaign_id == campaign.id)).scalars().all()
        assert len(proposals) == 4
        assert all(40 < p.predictions["youngs_modulus_gpa"]["mean"] < 200 for p in proposals)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_deploy_a_campaign_file(use_database, prefect_server, tmp_path):
    """`vitrify deploy FILE`: the deployment's parameters are the file's campaign and the file
    itself (each scheduled run stores it with the campaign it starts); the schedule's time
    zone defaults to the file's."""
    from prefect.client.orchestration import get_client

    from agents.campaign_file import load_campaign_file

    text = CAMPAIGN.replace("iterations: 1", 'until: "07:00"\ntimezone: Europe/Berlin')
    path = tmp_path / "night.yaml"
    path.write_text(text)
    assert "--iterations: set by the campaign file" in _cli(["deploy", str(path), "--iterations", "3"], ok=False)
    out = " ".join(_cli(["deploy", str(path), "--name", "cz-night", "--cron", "0 21 * * *"]).split())
    assert "deployment campaign/cz-night" in out and "until 07:00 Europe/Berlin" in out
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name("campaign/cz-night")
    schedule = deployment.schedules[0].schedule
    assert (schedule.cron, schedule.timezone) == ("0 21 * * *", "Europe/Berlin")
    assert deployment.parameters["config"] == load_campaign_file(path).to_config().model_dump(mode="json")
    assert deployment.parameters["campaign_file"]["text"] == text
    assert deployment.parameters["campaign_file"]["file"] == "night.yaml"
