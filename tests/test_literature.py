"""The shipped literature: every set with its provenance, one deduplicated table, database
seeding, and the repository's independence from any folder outside it (real files only)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from discovery.literature import (
    DEFAULT_SOURCES,
    OUTCOME_LABEL,
    QUANTITIES,
    SOURCES,
    build_table,
    literature_dir,
    load_literature,
    read_source,
    source_path,
)

REPO = Path(__file__).resolve().parents[1]


def test_every_set_ships_with_its_files_provenance_citation_and_licence():
    for key, src in SOURCES.items():
        folder = literature_dir() / src.folder
        for name in src.files:
            assert (folder / name).is_file(), f"{key}: {name} missing"
        provenance = (folder / "PROVENANCE.md").read_text()
        assert re.search(r"[Ll]icen[cs]e", provenance), key
        assert "In vitrify" in provenance, key  # what vitrify reads and drops
        assert src.citation and src.licence
    assert "GNU GENERAL PUBLIC LICENSE" in (literature_dir() / "xiong2020" / "LICENSE-GPL-3.0.txt").read_text()


def test_no_code_path_reads_outside_the_repository():
    """Users clone without ../shared: no source file may point there."""
    files = subprocess.run(["git", "ls-files", "*.py", "*.sh", "*.toml", "*.yaml", "Dockerfile*"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split()
    offenders = []
    pattern = re.compile(r"(\.\./shared|/work/shared|parent\s*/\s*\"shared\"|parents\[\d\]\s*/\s*\"shared\")")
    for name in files:
        if name == "tests/test_literature.py":
            continue
        text = (REPO / name).read_text(errors="replace")
        if pattern.search(text):
            offenders.append(name)
    assert offenders == []


@pytest.fixture(scope="module")
def table():
    return load_literature()


def test_one_deduplicated_table_keeps_label_meaning_and_conflicts(table):
    df = table.records
    assert not df.duplicated(["composition", "route", "outcome"]).any()
    assert set(df["outcome"]) <= set(OUTCOME_LABEL)
    assert (df["label"] == df["outcome"].map(OUTCOME_LABEL)).all()
    # sets that share roots are merged: one Landolt ribbon, reported by four sets, is one record;
    # DMREF's cast bulk glass of the same alloy is another observation, another record
    rec = df[(df["composition"] == "Ag20Al25La55")].set_index("outcome")
    assert sorted(rec.index) == ["bulk glass", "ribbon glass"]
    assert rec.loc["ribbon glass", "route"] == "melt-spinning"
    assert {"landolt", "ward2018", "xiong2020", "bajpai"} <= set(rec.loc["ribbon glass", "sources"].split("+"))
    assert rec.loc["ribbon glass", "n_reports"] == 4
    # conflicts are kept as separate records, never merged
    both = df.groupby(["composition", "route"])["label"].nunique()
    conflicting = both[both > 1]
    assert len(conflicting) == table.stats["_table"]["conflicting_composition_routes"] > 20
    comp, route = conflicting.index[0]
    assert sorted(df[(df["composition"] == comp) & (df["route"] == route)]["label"]) == [0, 1]
    # label meanings follow the route: a bulk glass was cast, a ribbon glass melt-spun
    assert set(df[df["outcome"] == "bulk glass"]["route"]) == {"copper-mould-casting"}
    assert set(df[df["outcome"] == "ribbon glass"]["route"]) == {"melt-spinning"}
    # every set used contributes records; nothing is invented: every record names its rows
    for key in DEFAULT_SOURCES:
        assert df["sources"].str.contains(key).sum() > 100, key
    assert df["rows"].str.match(r"^[a-z0-9]+:\d+").all()


def test_unstated_routes_join_the_known_record_and_measurements_are_clean(table):
    df = table.records
    # Bajpai's and Sun's route-less "glass" at a Landolt melt-spun glass composition joined that record
    joined = df[df["sources"].str.contains("bajpai") & (df["route"] == "melt-spinning")]
    assert len(joined) > 1000 and (joined["outcome"] == "ribbon glass").sum() > 1000
    # Dmax travels with glass records only, in mm, never Ward's 0.2 mm ribbon placeholder
    dmax = df[np.isfinite(df["Dmax"].to_numpy(dtype=float))]
    assert (dmax["label"] == 1).all() and dmax["Dmax"].between(0.01, 100).all()
    ward_only = df[(df["sources"] == "ward2018") & (df["outcome"] == "ribbon glass")]
    assert ward_only["Dmax"].isna().all()
    t = df[["Tg", "Tx", "Tl"]].to_numpy(dtype=float)
    ok = np.isfinite(t).all(axis=1)
    assert ok.sum() > 500 and np.all(t[ok, 0] < t[ok, 1]) and np.all(t[ok, 1] < t[ok, 2])
    counts = table.stats["_table"]["measurements"]
    assert counts["Dmax"] > 1000 and counts["Tg"] > 1000 and counts["youngs_modulus"] > 250
    assert set(counts) == set(QUANTITIES)


def test_dropped_rows_are_counted_by_reason(table):
    ward = table.stats["ward2018"]
    assert ward["dropped"]["at.% do not sum to 100"] > 20  # e.g. Zr52.5Al10: a transcription error
    assert ward["dropped"]["flagged 'invalid formula' upstream"] == 6
    assert ward["rows"] == ward["records"] + sum(ward["dropped"].values())
    assert table.stats["xiong2020"]["dropped"]["formula does not parse"] >= 1  # Al40Cu60T: T is tritium


def test_nested_formulas_match_the_sets_own_element_columns():
    """The Fe-BMG set gives each nested formula's expansion as element columns: the parser agrees
    on all but a few rows, where the columns themselves describe another alloy (e.g.
    Fe75Co5P14B6, a plain formula, has Co 0.15 in its columns)."""
    import csv

    with source_path("fe2025").open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    parsed = {r["row"]: r for r in read_source("fe2025").records}
    elements = [c for c in rows[0] if c in {"Fe", "Co", "B", "Si", "Nb", "Ni", "Y", "Zr", "Cr", "Mo", "P", "C", "Hf",
                                            "Al", "Dy", "Er", "Mn", "Ti", "V", "Cu", "Sn", "W", "Ta"}]
    agree = nested_agree = 0
    for i, row in enumerate(rows, start=1):
        if i not in parsed:
            continue
        given = {e: float(row[e]) for e in elements if float(row[e]) > 0}
        total = sum(given.values())
        ours = dict(parsed[i]["fractions"])
        ok = set(ours) == set(given) and all(abs(ours[e] - v / total) < 6e-4 for e, v in given.items())
        agree += ok
        nested_agree += ok and "(" in row["Alloy"]
    assert agree >= 0.93 * len(parsed) and nested_agree > 100


def test_a_stripped_set_is_named_not_a_traceback(tmp_path, monkeypatch):
    from discovery import literature

    monkeypatch.setattr(literature, "literature_dir", lambda: tmp_path)
    with pytest.raises(literature.LiteratureError, match="glass_binary_v2.csv is missing"):
        build_table(("sun2017",))


def test_seeding_is_idempotent_and_replaces_the_old_shipped_binaries(engine):
    from db.datasets import import_labelled_csv
    from db.literature import seed_literature
    from db.models import Measurement, Outcome
    from db.session import session_scope
    from db.training import labelled_set, measured_values
    from vitrify.settings import SHIPPED_BINARY_DATA

    table = load_literature()
    with session_scope(engine) as s:  # what earlier vitrify versions seeded a database with
        old = import_labelled_csv(s, SHIPPED_BINARY_DATA)
    with session_scope(engine) as s:
        first = seed_literature(s, table)
    with session_scope(engine) as s:
        again = seed_literature(s, table)
        current = s.exec(select(func.count()).select_from(Outcome).where(Outcome.is_current == True)).scalar_one()  # noqa: E712
        n_meas = s.exec(select(func.count()).select_from(Measurement)).scalar_one()
        data = labelled_set(s)
        values, _ = measured_values(s, ["Dmax", "Tg"])
    assert not first.already_seeded and again.already_seeded
    assert first.superseded == old.outcomes_created
    assert current == len(table) == first.outcomes
    assert n_meas == first.measurements == sum(table.stats["_table"]["measurements"].values())
    assert len(data) == len(table) and int(data.labels.sum()) == int(table.records["label"].sum())
    names, dmax = table.property_table("Dmax")
    assert len(values["Dmax"]) == len(names)
    assert values["Dmax"][names[0]] == pytest.approx(dmax[0])
