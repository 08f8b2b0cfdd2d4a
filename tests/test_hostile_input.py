"""Nothing a user types crashes vitrify (issue 16): ids out of range and JSON booleans, Rich
markup in user text, a database that cannot be used, an endless formula. Through the real
interfaces: HTTP against uvicorn on SQLite and PostgreSQL, CSV upload, the CLI."""

from __future__ import annotations

import hashlib
import sqlite3

import httpx
import pytest
from sqlalchemy import func, select
from sqlmodel import Session
from typer.testing import CliRunner

from db import tokens, transactions
from db.models import Outcome
from vitrify.cli import app
from vitrify.intake.app import create_app, serve_in_thread

BIG = [2147483648, 9223372036854775808, 1180591620717411303424]


def _secret(engine, role, name):
    return transactions.run_write(engine, lambda s: tokens.create_token(s, name=name, role=role))[1]


def _outcomes(engine) -> int:
    with Session(engine) as s:
        return s.exec(select(func.count()).select_from(Outcome)).scalar_one()


def _cli(args, token="", ok=False):
    result = CliRunner().invoke(app, args, env={"VITRIFY_TOKEN": token, "COLUMNS": "200"})
    assert (result.exit_code == 0) == ok, (args, result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output and not isinstance(result.exception, (OverflowError, KeyError, TypeError))
    return result


def test_large_ids_and_booleans_are_refused_naming_the_field(engine, server):
    """Defects 1 and 2, both databases: 404/422 naming the field, never 500; true is not job 1."""
    op = {"Authorization": f"Bearer {_secret(engine, 'operator', 'olga')}"}
    with httpx.Client(base_url=server, timeout=30) as c:
        job = c.post("/api/experiments", json={"compositions": ["Cu50Zr50"]}, headers=op).json()[0]["job_id"]
        assert job == 1
        for big in BIG:
            for method, path, field in (("GET", f"/api/jobs/{big}", "job_id"), ("POST", f"/api/jobs/{big}/claim", "job_id"),
                                        ("GET", f"/api/history?job_id={big}", "job_id"),
                                        ("GET", f"/api/budget?campaign_id={big}", "campaign_id"),
                                        ("GET", f"/api/queue?campaign_id={big}", "campaign_id"),
                                        ("POST", f"/api/approvals/{big}/approve", "approval_id")):
                r = c.request(method, path, headers=op, json={} if method == "POST" else None)
                assert r.status_code in (404, 422), (path, r.status_code, r.text)
                assert [e["field"] for e in r.json()["errors"]] == [field], (path, r.json())
            for field in ("job_id", "correction_of"):
                r = c.post("/api/reports", json={"composition": "Cu50Zr50", "result": "amorphous", field: big}, headers=op)
                assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, r.text
            r = c.post("/api/queue/claim-next", json={"campaign_id": big}, headers=op)
            assert r.status_code == 422 and r.json()["errors"][0]["field"] == "campaign_id", r.text
        for field in ("job_id", "correction_of"):
            r = c.post("/api/reports", json={"composition": "Cu50Zr50", "result": "amorphous", field: True}, headers=op)
            assert r.status_code == 422, r.text
            assert [e["field"] for e in r.json()["errors"]] == [field], r.json()
        r = c.post("/api/queue/claim-next", json={"campaign_id": True}, headers=op)
        assert r.status_code == 422, r.text
        # the CSV channel: the same bound, naming row and field
        csv = f"composition,result,job_id\nCu50Zr50,amorphous,{BIG[0]}\nCu50Zr50,amorphous,{'9' * 5000}\n"
        r = c.post("/api/reports/csv", content=csv, headers={**op, "content-type": "text/csv"})
        assert r.status_code == 422, r.text
        assert [(e["row"], e["field"]) for e in r.json()["errors"]] == [(1, "job_id"), (2, "job_id")]
        assert c.get(f"/api/jobs/{job}", headers=op).json()["status"] == "queued"  # job 1 untouched
    assert _outcomes(engine) == 0


def test_an_endless_formula_is_refused_at_once(engine, server):
    """Defect 9: a composition string has a length limit (a 1 MB formula cost 6.6 s)."""
    import time

    rep = {"Authorization": f"Bearer {_secret(engine, 'reporter', 'ada')}"}
    with httpx.Client(base_url=server, timeout=30) as c:
        started = time.perf_counter()
        r = c.post("/api/reports", json={"composition": "Cu50Zr50" * 125_000, "result": "amorphous"}, headers=rep)
        assert time.perf_counter() - started < 2.0
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "composition", r.text
        assert "characters" in r.json()["errors"][0]["message"]
        assert len(r.content) < 5_000  # the error does not echo the megabyte back
    assert _outcomes(engine) == 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_cli_refuses_large_ids_and_never_reads_user_text_as_markup(use_database):
    """Defects 1 and 3 on the command line: one line, no traceback, user text shown as typed."""
    admin = CliRunner().invoke(app, ["token", "create", "--role", "admin", "--name", "[/]"]).stdout.strip().splitlines()[-1]
    out = _cli(["lab", "claim", "1180591620717411303424"], token=admin).output
    assert "job" in out and "2147483647" in out
    for args in (["lab", "history", "--job", "2147483648"], ["lab", "report", "--job", "2147483648", "--composition",
                 "Cu50Zr50", "--result", "amorphous"], ["campaign", "resume", "9223372036854775808"], ["lab", "budget", "--campaign", "2147483648"]):
        assert "2147483647" in _cli(args, token=admin).output
    out = _cli(["lab", "report", "--composition", "[/]", "--result", "amorphous"], token=admin).output
    assert "'[/]'" in out and "composition" in out
    out = _cli(["lab", "report", "--composition", "Cu50Zr50", "--result", "[bold]amorph"], token=admin).output
    assert "'[bold]amorph'" in out
    # a reporter named [/] (the token's holder) must not break the history for everyone
    _cli(["lab", "report", "--composition", "Cu50Zr50", "--result", "amorphous", "--notes", "[red]x[/red] [/]"],
         token=admin, ok=True)
    out = _cli(["lab", "history", "--composition", "Cu50Zr50"], ok=True).output
    assert "[/]" in out and "[red]x[/red]" in out and "Cu50Zr50" in out


def _cli_db(url, args=("lab", "queue")):
    result = CliRunner().invoke(app, list(args), env={"VITRIFY_DATABASE_URL": url, "COLUMNS": "300"})
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2, (url, result.exit_code, result.output, result.exception)
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_database_trouble_is_one_line_and_exit_2(use_database, tmp_path):
    """Defect 4 on the CLI: each names the setting or the file; a corrupt file is never written."""
    from db.local_postgres import free_port
    from db.session import get_engine
    from vitrify.settings import reset_settings_cache

    def fresh():
        get_engine.cache_clear()
        reset_settings_cache()

    cases = {
        "postgresql://u@[::1:5432/x": "VITRIFY_DATABASE_URL is not a database URL",
        "sqlite:///" + str(tmp_path / "no" / "such" / "dir" / "v.db"): "does not exist",
        "mysql://u:p@localhost/vitrify": "'mysql', which vitrify does not support",
        f"postgresql://u@127.0.0.1:{free_port()}/vitrify": "cannot reach PostgreSQL",
    }
    for url, expected in cases.items():
        fresh()
        assert expected in _cli_db(url), url
    good = tmp_path / "good.db"
    fresh()
    _cli(["lab", "queue"], ok=True)  # the use_database file, migrated
    con = sqlite3.connect(use_database.removeprefix("sqlite:///"))
    con.execute("VACUUM INTO ?", (str(good),))
    con.close()
    truncated, corrupt = tmp_path / "truncated.db", tmp_path / "corrupt.db"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    corrupt.write_bytes(b"this is a spreadsheet, not a database\n" * 200)
    for path, expected in ((truncated, "truncated"), (corrupt, "not a SQLite database")):
        before = _sha(path)
        fresh()
        line = _cli_db(f"sqlite:///{path}", ("lab", "report", "--composition", "Cu50Zr50", "--result", "amorphous"))
        assert expected in line and str(path) in line
        assert _sha(path) == before and not path.with_name(path.name + "-wal").exists()
    fresh()
    line = _cli_db(f"sqlite:///file:{good}?mode=ro&uri=true", ("token", "create", "--role", "admin", "--name", "x"))
    assert "read-only" in line
    fresh()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_api_answers_503_and_health_says_why(engine, tmp_path):
    """Defect 4 on the API: 503 in the JSON error format; /api/health reports the database state."""
    from db.migrate import upgrade
    from db.session import get_engine

    secret = _secret(engine, "reporter", "ada")
    ro = get_engine(f"sqlite:///file:{engine.url.database}?mode=ro&uri=true")
    srv, thread, url = serve_in_thread(create_app(ro))
    try:
        with httpx.Client(base_url=url, timeout=30) as c:
            assert c.get("/api/health").json()["status"] == "ok"
            r = c.post("/api/reports", json={"composition": "Cu50Zr50", "result": "amorphous"},
                       headers={"Authorization": f"Bearer {secret}"})
            assert r.status_code == 503 and r.headers["content-type"] == "application/json", r.text
            assert "read-only" in r.json()["detail"] and r.json()["errors"][0]["field"] == "database"
            h = c.get("/api/health")
            assert h.status_code == 503 and h.json()["database_state"] == "read-only", h.text
    finally:
        srv.should_exit = True
        thread.join(timeout=10)
    corrupt = tmp_path / "c.db"
    corrupt.write_bytes(b"garbage" * 100)
    broken = get_engine(f"sqlite:///{tmp_path / 'fine.db'}")
    upgrade(broken)
    srv, thread, url = serve_in_thread(create_app(broken))
    try:
        broken.dispose()  # (closing the last connection checkpoints the WAL into the file)
        for leftover in tmp_path.glob("fine.db-*"):
            leftover.unlink()
        (tmp_path / "fine.db").write_bytes(corrupt.read_bytes())  # the file is replaced under a running server
        with httpx.Client(base_url=url, timeout=30) as c:
            h = c.get("/api/health")
            assert h.status_code == 503 and h.json()["database_state"] == "corrupt", h.text
            r = c.get("/api/queue", headers={"Authorization": f"Bearer {secret}"})
            assert r.status_code == 503 and "not a SQLite database" in r.json()["detail"], r.text
        assert (tmp_path / "fine.db").read_bytes() == corrupt.read_bytes()
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_serve_on_a_taken_port_says_so_before_anything(use_database):
    """Defect 7: no "vitrify intake on ..." followed by Errno 98."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = _cli(["serve", "--port", str(port)]).output
    assert out.strip() == f"error: port {port} is in use (another vitrify serve?): pass --port, or set VITRIFY_INTAKE_PORT"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("args, line", [
    (["campaign", "run", "--agent", "foo"], "error: --agent: unknown agent 'foo'"),
    (["campaign", "run", "--holdout", "Cu-Xx"], "error: --holdout: Cu-Xx: unknown element Xx"),
    (["campaign", "run", "--timezone", "Mars/Olympus"], "error: --timezone: unknown time zone 'Mars/Olympus'"),
    (["deploy", "--until", "25:99"], "error: --until: must be HH:MM, got '25:99'"),
    (["deploy", "--holdout", "Cu-Xx", "--agent", "ucb"], "error: --holdout: Cu-Xx: unknown element Xx"),
])
def test_a_bad_option_value_is_one_line_naming_the_option(use_database, args, line):
    """Defect 8: no pydantic dump, no documentation links; checked before the database is seeded."""
    out = _cli(args).output
    assert out.startswith(line) and len(out.strip().splitlines()) <= 2, out
    assert "pydantic" not in out and "errors.pydantic.dev" not in out and "seeded" not in out
