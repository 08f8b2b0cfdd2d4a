"""The Prefect UI channel: an experiment flow run suspends with a typed report form
(suspend_flow_run(wait_for_input=...)); resuming it with run_input -- what the UI's form does --
stores the report through the same validation path. Against the prefect_server fixture.

The flow runs of the served deployment are executed in this process (what `vitrify lab
prefect-serve`'s runner does in a subprocess), so the test database fixtures apply.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from uuid import UUID

import pytest
from sqlalchemy import select
from sqlmodel import Session

from db import lab
from db import tokens, transactions
from db.models import Job, Measurement, Outcome


@pytest.fixture
def prefect_lab(prefect_server, engine, use_database):
    from flows.experiment import DEPLOYMENT_NAME, experiment_flow

    experiment_flow.to_deployment(name=DEPLOYMENT_NAME).apply()
    operator = transactions.run_write(engine, lambda s: tokens.create_token(s, name="olga", role="operator"))[0]
    jobs = transactions.run_write(engine, lambda s: lab.request_experiments(s, ["Cu50Zr50", "Cu64Zr36"], token=operator, processing="melt-spinning"))
    secret = transactions.run_write(engine, lambda s: tokens.create_token(s, name="ada", role="reporter"))[1]
    return {"jobs": [j["job_id"] for j in jobs], "secret": secret}


def _execute(flow_run_id: UUID):
    """Run a scheduled flow run of the deployment here; returns its state afterwards."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import Pause
    from prefect.flow_engine import run_flow

    from flows.experiment import experiment_flow

    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(flow_run_id)
    try:
        run_flow(experiment_flow, flow_run=flow_run, return_type="state")
    except Pause:
        pass
    with get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run_id).state


def _start(job_id: int) -> UUID:
    from flows.experiment import request_report_form

    flow_run_id = request_report_form(job_id)
    state = _execute(flow_run_id)
    assert state.is_paused() and state.name == "Suspended", state
    return flow_run_id


def _outcomes(engine):
    with Session(engine) as s:
        return s.exec(select(Outcome)).scalars().all()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # same db.lab calls as every channel (tested on both)
def test_a_report_typed_into_the_prefect_form_is_stored(engine, prefect_lab):
    from prefect.client.orchestration import get_client
    from prefect.flow_runs import resume_flow_run

    job_id = prefect_lab["jobs"][0]
    flow_run_id = _start(job_id)
    with get_client(sync_client=True) as client:
        schema = client.read_flow_run_input(flow_run_id, f"suspended-lab-report-job-{job_id}-schema")
    assert "composition" in schema and "Cu50Zr50" in schema  # the form, pre-filled with the request
    assert _outcomes(engine) == []

    resume_flow_run(flow_run_id, run_input={
        "token": prefect_lab["secret"], "composition": "Cu50.5Zr49.5", "result": "amorphous", "method": "melt-spinning",
        "tg_k": 705.0, "dmax_mm": 0.05, "sample_id": "PF-1", "notes": "typed in the Prefect UI",
    })
    state = _execute(flow_run_id)
    assert state.is_completed(), state
    (outcome,) = _outcomes(engine)
    assert (outcome.job_id, outcome.result, outcome.reporter, outcome.sample_id) == (job_id, "amorphous", "ada", "PF-1")
    assert outcome.provenance["channel"] == "prefect" and outcome.provenance["requested"] == "Cu50Zr50"
    with Session(engine) as s:
        assert s.get(Job, job_id).status == "succeeded"
        assert {m.quantity: m.value for m in s.exec(select(Measurement)).scalars()} == {"Tg": 705.0, "Dmax": 0.05}
    with get_client(sync_client=True) as client:  # the token typed into the form is not kept by Prefect
        kept = client.filter_flow_run_input(flow_run_id, key_prefix="suspended-lab-report", limit=50, exclude_keys=set())
        assert [i.key for i in kept if i.key.endswith("-response")] == []
        assert all(prefect_lab["secret"] not in i.value for i in kept)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_bad_report_in_the_prefect_form_fails_the_run_and_writes_nothing(engine, prefect_lab):
    from prefect.flow_runs import resume_flow_run

    job_id = prefect_lab["jobs"][1]
    flow_run_id = _start(job_id)
    resume_flow_run(flow_run_id, run_input={"token": prefect_lab["secret"], "composition": "Cu74Zr36", "result": "crystalline",
                                            "tg_k": 900.0, "tl_k": 800.0})
    state = _execute(flow_run_id)
    assert state.is_failed()
    assert "sum to 110" in state.message or "composition" in str(state.message), state.message
    assert _outcomes(engine) == []

    flow_run_id = _start(job_id)  # a new form for the same job; a wrong token is refused
    resume_flow_run(flow_run_id, run_input={"token": "vit_wrong", "composition": "Cu64Zr36", "result": "crystalline"})
    state = _execute(flow_run_id)
    assert state.is_failed() and "API token" in state.message, state.message
    assert _outcomes(engine) == []
    with Session(engine) as s:
        assert s.get(Job, job_id).status == "queued"


@pytest.mark.skipif(os.environ.get("VITRIFY_TEST_PREFECT_RUNNER") != "1",
                    reason="slow (a served runner starts a process per flow run); set VITRIFY_TEST_PREFECT_RUNNER=1")
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_served_deployment_runs_the_form_end_to_end(engine, prefect_lab, database_url):
    """`vitrify lab prefect-serve` as a subprocess: the runner executes the run, suspends, resumes."""
    from prefect.client.orchestration import get_client
    from prefect.flow_runs import resume_flow_run
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "PREFECT_RUNNER_POLL_FREQUENCY": "1",
           "VITRIFY_DATABASE_URL": database_url}
    proc = subprocess.Popen([sys.executable, "-c", "from vitrify.cli import app; app()", "lab", "prefect-serve"], env=env)
    try:
        from flows.experiment import request_report_form

        flow_run_id = request_report_form(prefect_lab["jobs"][0])

        def wait(check, timeout=180):
            deadline = time.monotonic() + timeout
            with get_client(sync_client=True) as client:
                while True:
                    state = client.read_flow_run(flow_run_id).state
                    if check(state) or time.monotonic() > deadline:
                        return state
                    time.sleep(0.5)

        assert wait(lambda s: s.is_paused()).is_paused()
        resume_flow_run(flow_run_id, run_input={"token": prefect_lab["secret"], "composition": "Cu50Zr50", "result": "crystalline"})
        assert wait(lambda s: s.is_final()).is_completed()
        assert [o.result for o in _outcomes(engine)] == ["crystalline"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
