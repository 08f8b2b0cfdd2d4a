"""Every screen reads at a glance (issue 16): 80-column tables never cut a composition, every
listing has --json, every command's --help has an example and every option a help text."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from vitrify.cli import app


def _run(args, token="", columns=80):
    result = CliRunner().invoke(app, args, env={"VITRIFY_TOKEN": token, "COLUMNS": str(columns)})
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result.stdout


def _commands(command, path=()):
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from _commands(sub, path + (name,))
    else:
        yield " ".join(path), command


def test_every_command_has_an_example_and_every_option_a_help_text():
    missing = []
    for path, command in _commands(typer.main.get_command(app)):
        if "Example" not in (command.help or ""):
            missing.append(f"{path}: no example")
        for param in command.params:
            if param.name != "help" and not getattr(param, "help", None):
                missing.append(f"{path} {param.name}: no help")
    assert missing == []


def test_every_command_names_the_routes_alike():
    from discovery.vocabulary import ProcessingRoute

    routes = " | ".join(r.value for r in ProcessingRoute if r.value not in ("unknown",))
    for path, command in _commands(typer.main.get_command(app)):
        for param in command.params:
            text = getattr(param, "help", "") or ""
            if param.name in ("method", "processing"):
                assert routes in text, (path, param.name, text)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_lab_tables_fit_80_columns_and_never_cut_a_composition(use_database):
    admin = CliRunner().invoke(app, ["token", "create", "--role", "admin", "--name", "olga"]).stdout.strip().splitlines()[-1]
    long = ["Fe41Co7Cr15Mo14C15B6Y2", "Al5Cu45Ni5Zr45", "Cu46.25Zr46.25Al7.5"]
    _run(["lab", "request", *long, "--processing", "melt-spinning"], token=admin)
    _run(["lab", "report", "--job", "2", "--composition", "Al5Cu45Ni5Zr45", "--result", "amorphous", "--measure",
          "Tg=430C", "--sample-id", "MS-041", "--notes", "ribbon 30 µm, shiny, XRD broad hump"], token=admin)
    for args in (["lab", "queue"], ["lab", "history", "--job", "2"], ["status"], ["token", "list"]):
        out = _run(args)
        assert "…" not in out, (args, out)
        assert max(len(line) for line in out.splitlines()) <= 80, (args, out)
        rows = [line for line in out.splitlines() if line[:1] in "┃│┏┡└"]
        assert all(line.rstrip()[-1] in "┃│┓┩┘" for line in rows), (args, out)  # no table cropped at the edge
    queue = _run(["lab", "queue"])
    assert "B6C15Co7Cr15Fe41Mo14Y2" in queue and "Al7.5Cu46.25Zr46.25" in queue
    history = _run(["lab", "history", "--job", "2"])
    assert "MS-041" in history and "Tg 703.15 K" in history and "XRD broad" in history
    for args in (["lab", "queue", "--json"], ["lab", "history", "--job", "2", "--json"], ["status", "--json"],
                 ["token", "list", "--json"], ["lab", "approvals", "--json"]):
        json.loads(_run(args, columns=400))
