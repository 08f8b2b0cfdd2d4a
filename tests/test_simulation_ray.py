"""Simulation jobs on a real local Ray with real LAMMPS: a worker killed with SIGKILL mid-run
is retried to completion, ingestion is idempotent, uncovered compositions are "not
simulable", and a campaign with simulation enabled ingests MD moduli and structure."""

import os
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from agents.loop import create_campaign
from db.jobs import ingest_simulation_results
from agents.simulation.worker import SimulationRunner
from db.compositions import get_or_create_compositions
from db.models import Job, Measurement, Outcome
from db.session import get_engine, session_scope
from discovery.composition import parse_composition

pytestmark = pytest.mark.slow


def _settings() -> dict:
    from agents.simulation.engine import SimulationSettings

    return SimulationSettings.test().to_dict()


def _job(session, canonical: str) -> Job:
    comp = parse_composition(canonical)
    row = get_or_create_compositions(session, [comp])[comp.canonical]
    job = Job(kind="simulation", composition_id=row.id, processing="other", status="running", attempts=1)
    session.add(job)
    session.flush()
    return job


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_killed_worker_is_retried_and_ingested_once(engine, local_ray, tmp_path):
    with session_scope(engine) as s:
        job_id = _job(s, "Cu50Zr50").id
    runner = SimulationRunner(cores=1, timeout_s=900)
    runner.submit({"job_id": job_id, "canonical": "Cu50Zr50", "settings": _settings(), "workdir": str(tmp_path)})
    pid_file = tmp_path / f"job-{job_id}" / "worker.pid"
    deadline = time.monotonic() + 300
    while not pid_file.exists():
        assert time.monotonic() < deadline, "the simulation never started"
        time.sleep(0.2)
    first_pid = int(pid_file.read_text())
    time.sleep(3)  # mid-run: LAMMPS is melting the liquid
    os.kill(first_pid, signal.SIGKILL)

    results = runner.wait_all(900)
    assert len(results) == 1
    res = results[0]
    assert res["status"] == "succeeded", res.get("reason")
    assert res["worker_pid"] != first_pid  # a new worker process finished the retried task
    assert 5 < res["youngs_modulus_GPa"] < 200 and res["icosahedral_fraction"] is not None

    with session_scope(engine) as s:
        ingest_simulation_results(s, results)
    with session_scope(engine) as s:
        ingest_simulation_results(s, results)  # a duplicate delivery
    with Session(engine) as s:
        outcomes = s.exec(select(Outcome).where(Outcome.job_id == job_id)).scalars().all()
        assert len(outcomes) == 1
        o = outcomes[0]
        assert (o.source, o.fidelity, o.glass_label) == ("simulation", "md", None)  # no GFA label from MD
        assert o.provenance["potential"]["sha256"] and o.provenance["lammps"] and o.provenance["seed"] is not None
        quantities = {m.quantity: m.unit for m in s.exec(select(Measurement).where(Measurement.outcome_id == o.id)).scalars()}
        assert {"youngs_modulus", "shear_modulus", "bulk_modulus", "density", "icosahedral_fraction"} <= set(quantities)
        assert s.get(Job, job_id).status == "succeeded"


def test_uncovered_composition_is_not_simulable(engine, local_ray, tmp_path):
    # no shipped potential and no Zhou 2004 parameters for B or Si
    with session_scope(engine) as s:
        job_id = _job(s, "B20Fe70Si10").id
    runner = SimulationRunner()
    runner.submit({"job_id": job_id, "canonical": "B20Fe70Si10", "settings": _settings(), "workdir": str(tmp_path)})
    results = runner.wait_all(120)
    assert results[0]["status"] == "not simulable"
    with session_scope(engine) as s:
        ingest_simulation_results(s, results)
    with Session(engine) as s:
        job = s.get(Job, job_id)
        assert (job.status, job.failure_kind) == ("failed", "not simulable")
        assert s.exec(select(func.count()).select_from(Outcome)).scalar_one() == 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_campaign_with_simulation_enabled(use_database, binary_data_path, prefect_server, local_ray, small_literature,
                                    quick_training):
    from agents.config import AgentConfig, CampaignConfig, SpaceConfig
    from db.datasets import import_labelled_csv
    from db.migrate import upgrade
    from flows.campaign import campaign_flow

    engine = get_engine()
    upgrade(engine)
    with session_scope(engine) as s:
        import_labelled_csv(s, binary_data_path)
        config = CampaignConfig(
            name="md", space=SpaceConfig(systems=["Cu-Zr"], step=1.0), iterations=1, batch_size=3,
            oracle_csv=str(binary_data_path), holdout_systems=["Cu-Zr"], agent=AgentConfig(name="ucb"),
            simulation_budget=1, simulation_preset="test",
        )
        campaign_id = create_campaign(s, config).id
    summary = campaign_flow(campaign_id)
    assert summary["picks"] >= 3
    with Session(engine) as s:
        sim_jobs = s.exec(select(Job).where(Job.campaign_id == campaign_id, Job.kind == "simulation")).scalars().all()
        assert len(sim_jobs) == 1 and sim_jobs[0].status == "succeeded"
        outcome = s.exec(select(Outcome).where(Outcome.job_id == sim_jobs[0].id)).scalars().one()
        moduli = {m.quantity: m.value for m in s.exec(select(Measurement).where(Measurement.outcome_id == outcome.id)).scalars()}
        assert moduli["youngs_modulus"] > 0 and 0 <= moduli["icosahedral_fraction"] <= 1
        replay_jobs = s.exec(select(Job).where(Job.campaign_id == campaign_id, Job.kind == "replay")).scalars().all()
        assert len(replay_jobs) == 3 and {j.status for j in replay_jobs} == {"succeeded"}
