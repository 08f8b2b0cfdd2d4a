"""`vitrify token ...` and `vitrify lab ...`: the bootstrap token, the queue, claims, reports,
corrections, CSV import (all rows or none) and history, from the command line."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from sqlmodel import Session
from typer.testing import CliRunner

from db.models import ApiToken, Outcome
from db.session import get_engine
from vitrify.cli import app

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _run(args, token=None, ok=True):
    env = {"VITRIFY_TOKEN": token or "", "COLUMNS": "400"}
    result = CliRunner().invoke(app, args, env=env)
    assert (result.exit_code == 0) == ok, (args, result.exit_code, result.output, result.exception)
    return result


def _create(role, name):
    result = _run(["token", "create", "--role", role, "--name", name])
    secret = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"vit_[A-Za-z0-9_-]{40,}", secret), result.stdout
    return secret


def test_the_lab_from_the_command_line(use_database, tmp_path):
    admin = _create("admin", "root")  # bootstrap: local database access is trusted
    with Session(get_engine()) as s:
        stored = s.exec(select(ApiToken)).scalars().one()
    assert admin not in (stored.token_hash, stored.prefix) and "root" in _run(["token", "list"]).stdout
    assert admin not in _run(["token", "list"]).stdout
    operator, reporter = _create("operator", "olga"), _create("reporter", "ada")

    assert "needs an API token" in _run(["lab", "request", "Cu50Zr50"], ok=False).output
    assert "needs operator" in _run(["lab", "request", "Cu50Zr50"], token=reporter, ok=False).output
    _run(["lab", "request", "Cu50Zr50", "Cu64Zr36", "Al10Cu45Zr45", "--processing", "meltspin"], token=operator)
    queue = _run(["lab", "queue", "--json"]).stdout
    assert queue.count('"job_id"') == 3 and "Cu64Zr36" in queue

    claimed = _run(["lab", "claim", "--next"], token=reporter).stdout
    assert "claimed job 1" in claimed and "ada" in claimed
    out = _run(["lab", "report", "--job", "1", "--composition", "Cu50Zr50", "--result", "am", "--measure", "Tg=430C",
                "--dmax-mm", "0.05", "--sample-id", "MS-1"], token=reporter).stdout
    assert "recorded outcome 1" in out and "amorphous" in out
    refused = _run(["lab", "report", "--job", "1", "--composition", "Cu50Zr50", "--result", "crystalline"], token=reporter, ok=False)
    assert "contradicts" in refused.output and "nothing was written" in refused.output
    refused = _run(["lab", "report", "--job", "2", "--composition", "Cu64Zr36", "--result", "amorphous", "--measure", "E=90psi"],
                   token=reporter, ok=False)
    assert "unknown unit 'psi'" in refused.output
    out = _run(["lab", "report", "--correct", "1", "--reason", "XRD peaks after all", "--composition", "Cu50Zr50",
                "--result", "crystalline"], token=reporter).stdout
    assert "revision 2 (supersedes outcome 1)" in out

    bad = tmp_path / "results.csv"
    bad.write_text("job_id,composition,result,tg_k\n2,Cu64Zr36,amorphous,700\n3,Al10Cu45Zr45,amorphous,seven hundred\n")
    refused = _run(["lab", "import", str(bad)], token=reporter, ok=False)
    assert "row 2, field 'Tg': not a number" in refused.output
    bad.write_text("job_id,composition,result,tg_k\n2,Cu64Zr36,amorphous,700\n3,Al10Cu45Zr45,amorphous,705\n")
    assert "imported 2 reports" in _run(["lab", "import", str(bad)], token=reporter).stdout
    assert "already imported" in _run(["lab", "import", str(bad)], token=reporter).stdout

    history = _run(["lab", "history", "--job", "1", "--json"]).stdout
    assert history.count('"revision"') == 2 and "XRD peaks after all" in history
    assert "the lab queue is empty" in _run(["lab", "queue"]).stdout
    assert "lab night" in _run(["lab", "budget"]).stdout
    with Session(get_engine()) as s:
        assert [o.provenance["channel"] for o in s.exec(select(Outcome).order_by(Outcome.id)).scalars()] == ["cli", "cli", "csv", "csv"]

    help_text = _run(["lab", "import", "--help"]).stdout
    assert "ALL rows or NONE" in help_text and "nothing is written" in help_text
