"""A real cluster on one machine: PostgreSQL, `prefect server start`, a Ray head plus a second
Ray worker node (all on 127.0.0.1), a campaign run through the deployment by a Prefect
worker, results checked in the database and through Prefect's API, and the flow run's
batch table seen in the Prefect UI by headless Chromium (screenshot kept)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from db.local_postgres import free_port
from db.models import Campaign, Job, ModelVersion, Outcome, Proposal
from db.session import get_engine
from local_cluster import stop_ray_processes, wait_http
from shared_data import SMALL_LITERATURE_ROWS

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="module")
def cluster(postgres_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("cluster")
    database_url = postgres_server.create_database("cluster")
    prefect_port, ray_port = free_port(), free_port()
    env = dict(os.environ)
    env.update(
        VITRIFY_DATABASE_URL=database_url,
        VITRIFY_DATA_DIR=str(root / "data"),
        PREFECT_HOME=str(root / "prefect"),
        PREFECT_API_URL=f"http://127.0.0.1:{prefect_port}/api",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL="INFO",
        RAY_ADDRESS=f"127.0.0.1:{ray_port}",
        RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
        RAY_USAGE_STATS_ENABLED="0",
        RAY_AUTH_MODE="disabled",
        VITRIFY_RETRAIN_CV="false",
        VITRIFY_OPTUNA_TRIALS="1",  # tuning and CV metrics are tested elsewhere; here the cluster's bookkeeping
        VITRIFY_TRAINING_LITERATURE_ROWS=SMALL_LITERATURE_ROWS,
    )
    procs: list[subprocess.Popen] = []
    logs = root / "logs"
    logs.mkdir()

    def start(name: str, *cmd: str) -> subprocess.Popen:
        out = open(logs / f"{name}.log", "w")
        proc = subprocess.Popen(list(cmd), env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        procs.append(proc)
        return proc

    server = start("prefect-server", str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(prefect_port))
    ray_common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats", "--include-dashboard=false"]
    head = subprocess.run([str(BIN / "ray"), "start", "--head", f"--port={ray_port}", *ray_common,
                           f"--temp-dir={root / 'ray'}"], env=env, capture_output=True, text=True)
    assert head.returncode == 0, head.stdout[-2000:] + head.stderr[-2000:]
    node = subprocess.run([sys.executable, str(Path(__file__).with_name("ray_loopback_node.py")), "start",
                           f"--address=127.0.0.1:{ray_port}", *ray_common[:-1], f"--temp-dir={root / 'ray'}"],
                          env=env, capture_output=True, text=True)
    assert node.returncode == 0, node.stdout[-2000:] + node.stderr[-2000:]
    try:
        wait_http(f"http://127.0.0.1:{prefect_port}/api/health", 180, server)
        yield {"env": env, "database_url": database_url, "api": env["PREFECT_API_URL"], "ui": f"http://127.0.0.1:{prefect_port}",
               "logs": logs}
    finally:
        stop_ray_processes(root / "ray")  # only this cluster's: `ray stop` would end every Ray on the machine
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _vitrify(cluster, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    res = subprocess.run([str(BIN / "vitrify"), *args], env=cluster["env"], capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res


@pytest.fixture(scope="module")
def deployed_run(cluster):
    """Deploy the campaign flow, trigger a run and let a Prefect worker execute it on the Ray cluster."""

    _vitrify(cluster, "db", "upgrade")
    _vitrify(cluster, "deploy", "--name", "ci", "--cron", "0 22 * * *", "--timezone", "Europe/Berlin", "--until", "07:00",
             "--iterations", "2", "--batch", "4", "--holdout", "Cu-Ti", "--holdout", "Pd-Zr")
    # the shipped literature data must be in the database before the scheduled flow trains
    from db.datasets import import_labelled_csv
    from db.migrate import upgrade
    from db.session import session_scope
    from vitrify.settings import SHIPPED_BINARY_DATA

    engine = get_engine(cluster["database_url"])
    upgrade(engine)
    with session_scope(engine) as s:
        import_labelled_csv(s, SHIPPED_BINARY_DATA)
    run = subprocess.run([str(BIN / "prefect"), "deployment", "run", "campaign/ci"], env=cluster["env"], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    worker = subprocess.run(
        [str(BIN / "prefect"), "worker", "start", "--pool", "vitrify-pool", "--type", "process", "--run-once"],
        env=cluster["env"], capture_output=True, text=True, timeout=900,
    )
    (cluster["logs"] / "worker.log").write_text(worker.stdout + worker.stderr)
    # ask the cluster from a separate driver: this test process may already be connected to another Ray
    probe = subprocess.run(
        [sys.executable, "-c", "import json, ray; ray.init(address='%s', log_to_driver=False); "
         "print(json.dumps([n for n in ray.nodes() if n['Alive']], default=str))" % cluster["env"]["RAY_ADDRESS"]],
        env=cluster["env"], capture_output=True, text=True, timeout=120,
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    nodes = json.loads(probe.stdout.strip().splitlines()[-1])
    return {"worker": worker, "nodes": nodes}


def test_campaign_runs_through_the_deployment_on_the_cluster(cluster, deployed_run):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    assert len(deployed_run["nodes"]) == 2  # Ray head + a second worker node, both on loopback
    assert all(n["NodeManagerAddress"] == "127.0.0.1" for n in deployed_run["nodes"])

    engine = get_engine(cluster["database_url"])
    with Session(engine) as s:
        campaign = s.exec(select(Campaign)).scalars().one()
        assert campaign.status == "finished" and campaign.iterations_done == 2, deployed_run["worker"].stdout[-3000:]
        assert campaign.config["until"] == "07:00" and campaign.config["timezone"] == "Europe/Berlin"
        proposals = s.exec(select(Proposal)).scalars().all()
        assert len(proposals) == 8 and len({p.composition_id for p in proposals}) == 8  # never re-proposed
        jobs = s.exec(select(Job)).scalars().all()
        assert len(jobs) == 8 and {j.status for j in jobs} == {"succeeded"}
        assert {j.proposal_id for j in jobs} == {p.id for p in proposals}
        outcomes = s.exec(select(Outcome).where(Outcome.job_id.in_([j.id for j in jobs]))).scalars().all()
        assert len(outcomes) == 8 and {o.source for o in outcomes} == {"replay"}
        assert campaign.summary["glasses_found"] == sum(o.glass_label for o in outcomes)
        # one model per iteration; each proposal scored by the one trained before its iteration,
        # the last trained on the replayed outcomes too, none of the held-out literature
        versions = s.exec(select(ModelVersion).order_by(ModelVersion.id)).scalars().all()
        assert [v.iteration for v in versions] == [0, 1, 2] and {v.campaign_id for v in versions} == {campaign.id}
        by_iter = {v.iteration: v.id for v in versions}
        assert all(p.model_version_id == by_iter[p.iteration - 1] for p in proposals)
        assert versions[-1].train_size == versions[0].train_size + 8
        from db.models import Composition

        assert {s.get(Composition, p.composition_id).system for p in proposals} <= {"Cu-Ti", "Pd-Zr"}

    # Prefect's API: deployment with its schedule, a completed flow run, named tasks, artifacts
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: cluster["api"]}):
        with get_client(sync_client=True) as client:
            deployment = client.read_deployments(deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["ci"])))[0]
            schedule = deployment.schedules[0].schedule
            assert schedule.cron == "0 22 * * *" and schedule.timezone == "Europe/Berlin"
            runs = client.read_flow_runs()
            run = next(r for r in runs if r.deployment_id == deployment.id)
            assert run.state.is_completed()
            assert f"campaign-{campaign.id}" in run.tags  # task runs carry it in their names (flows/campaign.py)
            assert any(tr.name.startswith(f"propose-c{campaign.id}-") for tr in client.read_task_runs() if tr.flow_run_id == run.id)
            keys = {a.key for a in client.read_artifacts()}
            assert {f"campaign-{campaign.id}-batch", f"campaign-{campaign.id}-iteration", f"campaign-{campaign.id}-progress"} <= keys
    cluster["flow_run_id"] = str(run.id)
    cluster["batch_key"] = f"campaign-{campaign.id}-batch"
    cluster["last_batch"] = f"Campaign {campaign.id}, iteration 2: the batch"  # the card's description
    with Session(engine) as s:
        from db.models import Composition

        last = s.exec(select(Proposal).where(Proposal.iteration == 2).order_by(Proposal.rank)).scalars().first()
        cluster["batch_composition"] = s.get(Composition, last.composition_id).canonical


def test_prefect_ui_shows_the_batch_table(cluster, deployed_run):
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    assert Path(chromium).exists(), "Debian's chromium is installed by ./dev.sh test"
    flow_run_id = cluster.get("flow_run_id")
    assert flow_run_id, "the deployment test runs first"
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{cluster['ui']}/runs/flow-run/{flow_run_id}", wait_until="networkidle", timeout=90_000)
        page.get_by_text("Artifacts", exact=True).first.click()
        page.get_by_text(cluster["batch_key"]).first.wait_for(timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "prefect-flow-run-artifacts.png"), full_page=True)
        # the batch table itself, rendered by the UI: a proposed composition must be on screen
        # every iteration's batch is a card with the same key: open the last iteration's
        page.get_by_text(cluster["last_batch"]).first.click()
        page.get_by_text(cluster["batch_composition"]).first.wait_for(timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "prefect-batch-table.png"), full_page=True)
        browser.close()
