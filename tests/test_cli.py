"""The vitrify CLI, run in-process with typer's runner against real databases."""

import pytest
from sqlalchemy import func, select
from sqlmodel import Session
from typer.testing import CliRunner

from db.models import Measurement, Outcome
from db.session import get_engine
from vitrify.cli import app

runner = CliRunner()


def _outcomes() -> int:
    with Session(get_engine()) as s:
        return s.exec(select(func.count()).select_from(Outcome)).scalar_one()


def test_report_lands_as_outcome(use_database):
    res = runner.invoke(app, ["report", "--composition", "Cu50Zr45Al5", "--result", "amorphous",
                              "--method", "melt-spinning", "--tg-k", "705", "--reporter", "ada"])
    assert res.exit_code == 0, res.output
    assert "Al5Cu50Zr45 amorphous (melt-spinning)" in res.output
    with Session(get_engine()) as s:
        o = s.exec(select(Outcome)).scalars().one()
        assert (o.source, o.glass_label, o.reporter) == ("lab", 1, "ada")
        assert s.exec(select(Measurement)).scalars().one().value == 705


@pytest.mark.parametrize(
    "args, message",
    [
        (["--composition", "Cu50Zr45Qx5", "--result", "amorphous"], "unknown element"),
        (["--composition", "Cu50Zr45Al2", "--result", "amorphous"], "sum to 97"),
        (["--composition", "Cu50Zr45Al5", "--result", "glassy-ish"], "unknown result"),
    ],
)
def test_bad_reports_are_rejected_and_write_nothing(use_database, args, message):
    runner.invoke(app, ["db", "upgrade"])
    before = _outcomes()
    res = runner.invoke(app, ["report", *args])
    assert res.exit_code == 1
    assert message in res.output
    assert _outcomes() == before


def test_normalize_flag_accepts_a_short_sum(use_database):
    res = runner.invoke(app, ["report", "--composition", "Cu50Zr45Al2", "--result", "crystalline", "--normalize"])
    assert res.exit_code == 0, res.output
    assert _outcomes() == 1


def test_db_import_rejects_a_truncated_csv_whole(use_database, tmp_path):
    bad = tmp_path / "truncated.csv"
    bad.write_text("formula,gfa\nCu50Zr50,1\nCu60Zr40,0\nCu70Zr")
    res = runner.invoke(app, ["db", "import", str(bad)])
    assert res.exit_code == 1 and "row 3" in res.output
    assert _outcomes() == 0


def test_predict_reads_the_route_from_a_processing_or_a_route_column(tmp_path):
    from vitrify.cli_model import _read_predict_csv

    routes = tmp_path / "routes.csv"
    routes.write_text("formula,route,family\nPd40Ni40P20,casting,Pd\nCu50Zr50,,Cu\n")
    assert _read_predict_csv(routes) == (["Pd40Ni40P20", "Cu50Zr50"], ["casting", None])
    both = tmp_path / "both.csv"
    both.write_text("formula,processing,route\nCu50Zr50,casting,melt-spinning\n")
    with pytest.raises(ValueError, match="'processing' and 'route' both"):
        _read_predict_csv(both)
