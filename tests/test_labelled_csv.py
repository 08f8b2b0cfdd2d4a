"""One reader of the labelled-CSV format: `db import`, the replay oracle and the benchmark
loader see the same rows and refuse the same bad rows (the rows here are synthetic test input)."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from agents.replay import ReplayOracle
from db.datasets import import_labelled_csv
from db.errors import IngestError
from discovery.evaluation import load_labelled_csv
from discovery.labelled_csv import LabelledCSVError, read_labelled_csv

GOOD = "formula,gfa,processing,system\nCu50Zr50,1,melt-spinning,\nCu50Zr50,0,melt-spinning,\nAl10Ni10Zr80,True,,Al-Ni-Zr\n"


def test_every_reader_sees_the_same_rows(tmp_path, engine):
    path = tmp_path / "good.csv"
    path.write_text(GOOD)
    rows, problems = read_labelled_csv(GOOD)
    assert problems == [] and [r.result.glass_label for r in rows] == [1, 0, 1]
    assert rows[2].system == ("Al", "Ni", "Zr")
    data = load_labelled_csv(path)
    assert list(data.labels) == [1, 0, 1] and list(data.routes) == ["melt-spinning", "melt-spinning", "unknown"]
    oracle = ReplayOracle.from_csv(path)
    assert {k: len(v) for k, v in oracle.records.items()} == {"Cu50Zr50": 2, "Al10Ni10Zr80": 1}  # conflicts kept
    with Session(engine) as s:
        report = import_labelled_csv(s, path)
        assert (report.rows, report.outcomes_created) == (3, 3)


@pytest.mark.parametrize("bad, field", [
    ("formula,gfa\nCu50Zr50,maybe\n", "gfa"),       # the benchmark loader used to read this as 0
    ("formula,gfa\nCu50Xx50,1\n", "formula"),
    ("formula,gfa\nCu50Zr50,\n", "gfa"),
    ("formula,gfa,system\nCu50Zr50,1,Cu-Qq\n", "system"),
    ("formula,label\nCu50Zr50,1\n", "gfa"),
])
def test_every_reader_refuses_the_same_bad_row(tmp_path, engine, bad, field):
    path = tmp_path / "bad.csv"
    path.write_text(bad)
    _, problems = read_labelled_csv(bad)
    assert [p.field for p in problems] == [field]
    for read in (load_labelled_csv, ReplayOracle.from_csv):
        with pytest.raises(LabelledCSVError) as info:
            read(path)
        assert f"'{field}'" in str(info.value) and "bad.csv" in str(info.value)
    with Session(engine) as s, pytest.raises(IngestError) as info:
        import_labelled_csv(s, path)
    assert [e.field for e in info.value.errors] == [field]
