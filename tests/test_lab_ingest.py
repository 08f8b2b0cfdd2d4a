"""Lab reports through the one validation path, on a real SQLite file and a real PostgreSQL.

A corpus of malformed reports is refused one by one with messages naming the field (and the
row, in batches and CSV files) while the database stays exactly as it was; a CSV with bad
rows is rejected whole; corrections are new revisions and training sees only current ones.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from db import lab
from db import tokens, transactions
from db.compositions import get_or_create_compositions
from db.errors import IngestError
from db.reports import Report
from db.models import Campaign, Composition, Dataset, Job, Measurement, Outcome
from db.training import labelled_set
from discovery.composition import parse_composition


def _token(engine, role="reporter", name="ada"):
    return transactions.run_write(engine, lambda s: tokens.create_token(s, name=name, role=role))


def _campaign_jobs(engine, compositions, *, lab_policy=None, kind="experiment", name="c"):
    """Jobs as agents.loop.propose makes them: queued, not yet released to the lab."""
    def work(s):
        campaign = Campaign(name=name, config={"lab": lab_policy} if lab_policy else {})
        s.add(campaign)
        s.flush()
        rows = get_or_create_compositions(s, [parse_composition(c, percent=True) for c in compositions])
        jobs = [Job(kind=kind, campaign_id=campaign.id, composition_id=rows[parse_composition(c, percent=True).canonical].id,
                    processing="melt-spinning") for c in compositions]
        s.add_all(jobs)
        s.flush()
        return campaign.id, [j.id for j in jobs]
    return transactions.run_write(engine, work)


def snapshot(engine) -> dict:
    """Everything a refused report could have touched."""
    with Session(engine) as s:
        counts = {t.__name__: s.exec(select(func.count()).select_from(t)).scalar_one() for t in (Outcome, Measurement, Composition, Job, Dataset)}
        jobs = sorted((j.id, j.status, j.released_at is not None, j.claimed_by) for j in s.exec(select(Job)).scalars())
        current = sorted(o.id for o in s.exec(select(Outcome).where(Outcome.is_current == True)).scalars())  # noqa: E712
    return {"counts": counts, "jobs": jobs, "current": current}


@pytest.fixture
def world(engine):
    """A lab with open, reported, held, unapproved, cancelled and replay jobs, a reported sample,
    a superseded revision and a literature record."""
    _, reporter = _token(engine)
    op_row, _ = _token(engine, "operator", "olga")
    open_jobs = transactions.run_write(engine, lambda s: lab.request_experiments(
        s, ["Cu50Zr50", "Cu64Zr36", "Al10Cu45Zr45", "Ni60Nb40"], token=op_row, processing="melt-spinning"))
    ids = [j["job_id"] for j in open_jobs]
    tok = tokens.authenticate_engine(engine, reporter)
    reported = lab.submit_report(engine, Report("Cu64Zr36", "amorphous", job_id=ids[1], sample_id="S-1"), token=tok, channel="test")
    first = lab.submit_report(engine, Report("Al10Cu45Zr45", "amorphous", job_id=ids[2]), token=tok, channel="test")
    lab.submit_report(engine, Report("Al10Cu45Zr45", "crystalline", correction_of=first["outcome_id"], reason="XRD"), token=tok, channel="test")
    c_approval, (awaiting,) = _campaign_jobs(engine, ["Cu46Zr46Al8"], lab_policy={"require_approval": True}, name="needs-approval")
    c_budget, (held,) = _campaign_jobs(engine, ["Cu36Zr64"], lab_policy={"budget_per_night": 0}, name="no-budget")
    lab.pending_lab_results(c_approval, engine=engine)
    lab.pending_lab_results(c_budget, engine=engine)
    _, (cancelled,) = _campaign_jobs(engine, ["Cu30Zr70"], name="stopped")
    _, (replay,) = _campaign_jobs(engine, ["Cu40Zr60"], kind="replay", name="replay")

    def misc(s):
        s.get(Job, cancelled).status = "cancelled"
        comp = get_or_create_compositions(s, [parse_composition("Cu50Zr50")])["Cu50Zr50"]
        lit = Outcome(composition_id=comp.id, result="amorphous", glass_label=1, processing="melt-spinning", source="literature")
        s.add(lit)
        s.flush()
        return lit.id
    literature = transactions.run_write(engine, misc)
    return {
        "token": tok, "open": ids[0], "reported": ids[1], "corrected_job": ids[2], "far": ids[3],
        "superseded": first["outcome_id"], "current_of_reported": reported["outcome_id"], "awaiting": awaiting,
        "held": held, "cancelled": cancelled, "replay": replay, "literature": literature,
    }


def _corpus(w) -> list[tuple[Report, str, str]]:
    ok = dict(composition="Cu50Zr50", result="amorphous", method="melt-spinning")

    def r(**kw):
        return Report(**{**ok, **kw})

    return [
        (r(composition="Cu50Zr45Xx5"), "composition", "unknown element"),
        (r(composition="Cu50Zr45Jk5"), "composition", "unknown element Jk"),
        (r(composition="Cu50Zr45Al2"), "composition", "sum to 97"),
        (r(composition="Cu55Zr55"), "composition", "sum to 110"),
        (r(composition=""), "composition", "empty"),
        (r(composition="Cu50-Zr50"), "composition", "cannot parse"),
        (r(composition="Cu-50Zr150"), "composition", "negative"),
        (r(composition="cu50zr50"), "composition", "capital letter"),
        (r(result="glassy-ish"), "result", "unknown result"),
        (r(result=""), "result", "unknown result"),
        (r(result="amorphus"), "result", "accepted: amorphous"),
        (r(method="arc welding"), "method", "unknown processing route"),
        (r(method="melt spining"), "method", "unknown processing route"),
        (r(measurements={"Tg": (900, "K"), "Tl": (800, "K")}), "Tg", "must be below Tl"),
        (r(measurements={"Tg": (700, "K"), "Tx": (690, "K")}), "Tx", "must be above Tg"),
        (r(measurements={"Tx": (1200, "K"), "Tl": (1100, "K")}), "Tx", "must be below Tl"),
        (r(measurements={"Dmax": (150, "mm")}), "Dmax", "outside the plausible range"),
        (r(measurements={"Dmax": (15, "cm")}), "Dmax", "150 mm is outside"),
        (r(measurements={"Dmax": (-1, "mm")}), "Dmax", "outside the plausible range"),
        (r(measurements={"Dmax": (0, "mm")}), "Dmax", "outside the plausible range"),
        (r(measurements={"youngs_modulus": (500, "GPa")}), "youngs_modulus", "outside the plausible range"),
        (r(measurements={"youngs_modulus": (90, "psi")}), "youngs_modulus", "unknown unit 'psi'"),
        (r(measurements={"Tg": (700, "F")}), "Tg", "unknown unit 'F'"),
        (r(measurements={"Tg": ("seven hundred", "K")}), "Tg", "not a number"),
        (r(measurements={"Tg": ("nan", "K")}), "Tg", "not a finite number"),
        (r(measurements={"Tg": (-300, "C")}), "Tg", "outside the plausible range"),
        (r(measurements={"Tl": (6000, "K")}), "Tl", "outside the plausible range"),
        (r(measurements={"density": (30, "g/cm3")}), "density", "outside the plausible range"),
        (r(measurements={"hardness": (5, "GPa")}), "hardness", "unknown quantity"),
        (r(measurements={"Tg": ("", "K")}), "Tg", "no value"),
        (r(job_id=99999), "job_id", "no job with id 99999"),
        (r(job_id="12a"), "job_id", "positive whole number"),
        (r(job_id=-3), "job_id", "positive whole number"),
        (r(job_id=0), "job_id", "positive whole number"),
        (r(job_id=w["reported"], composition="Cu64Zr36"), "job_id", "already reported"),
        (r(job_id=w["reported"], composition="Cu64Zr36", result="crystalline"), "job_id", "contradicts"),
        (r(job_id=w["awaiting"], composition="Cu46Zr46Al8"), "job_id", "awaiting operator approval"),
        (r(job_id=w["held"], composition="Cu36Zr64"), "job_id", "held back by the lab budget"),
        (r(job_id=w["cancelled"], composition="Cu30Zr70"), "job_id", "cancelled"),
        (r(job_id=w["replay"], composition="Cu40Zr60"), "job_id", "replay job"),
        (r(sample_id="S-1", composition="Cu64Zr36", result="crystalline"), "sample_id", "contradicts"),
        (r(sample_id="S-1", composition="Cu64Zr36"), "sample_id", "already reported"),
        (r(correction_of=w["current_of_reported"], composition="Cu64Zr36"), "reason", "must say why"),
        (r(correction_of=987654, reason="typo"), "correction_of", "no outcome with id 987654"),
        (r(correction_of=w["superseded"], reason="typo"), "correction_of", "already superseded"),
        (r(correction_of=w["literature"], reason="typo"), "correction_of", "literature record"),
        (r(correction_of=w["current_of_reported"], reason="typo", job_id=w["open"]), "job_id", "keeps its job"),
        (r(job_id=w["far"], composition="Cu50Zr50"), "composition", "shares no element"),
        (r(result="synthesis failed", measurements={"Tg": (700, "K")}), "Tg", "failed synthesis"),
        (r(notes="x" * 5000), "notes", "longer than"),
        (r(reporter="ada\x00"), "reporter", "control characters"),
        (r(normalize="maybe"), "normalize", "true or false"),
        (r(correction_of="abc", reason="typo"), "correction_of", "positive whole number"),
    ]


def test_malformed_reports_are_refused_one_by_one_and_write_nothing(engine, world):
    corpus = _corpus(world)
    assert len(corpus) >= 40
    before = snapshot(engine)
    for report, field, text in corpus:
        with pytest.raises(IngestError) as info:
            lab.submit_report(engine, report, token=world["token"], channel="test")
        first = info.value.errors[0]
        assert (first.field, text in first.message) == (field, True), (report, info.value.errors)
        assert f"field '{field}'" in str(info.value) and "nothing was written" in str(info.value)
        assert snapshot(engine) == before, report
    # the same corpus as one batch: every row is named, with its field, and still nothing is written
    with pytest.raises(IngestError) as info:
        lab.submit_reports(engine, [r for r, _, _ in corpus], token=world["token"], channel="test",
                           rows=list(range(1, len(corpus) + 1)))
    by_row = {}
    for e in info.value.errors:
        by_row.setdefault(e.row, []).append(e.field)
    for i, (_, field, _) in enumerate(corpus, start=1):
        assert field in by_row[i], (i, by_row.get(i))
    assert snapshot(engine) == before


def test_the_open_job_still_takes_a_good_report(engine, world):
    row = lab.submit_report(engine, Report("Cu49.8Zr50.4", "amorphous", job_id=world["open"],
                                           measurements={"Tg": (427, "C"), "Dmax": (0.05, "mm")}), token=world["token"], channel="test")
    assert row["requested"] == "Cu50Zr50" and row["composition"] != "Cu50Zr50"  # as made, not as asked
    assert row["processing"] == "melt-spinning"  # the job's route when none is given
    assert row["measurements"]["Tg"] == {"value": pytest.approx(700.15), "unit": "K"}
    assert row["reporter"] == "ada" and row["channel"] == "test"


CSV_GOOD = """job_id,sample_id,composition,method,result,tg_k,Tl [K],Dmax (mm),youngs_modulus,youngs_modulus_unit,notes
{open},MS-1,Cu50Zr50,meltspin,am,700,1200,0.1,85,GPa,first ribbon
,MS-2,Cu60Zr40,melt-spinning,crystalline,,,,,,
,MS-3,Al10Cu45Zr45,suction casting,partially crystalline,,,,90000,MPa,
"""


def test_a_csv_with_bad_rows_is_rejected_whole_and_then_imported_fixed(engine, world, tmp_path):
    before = snapshot(engine)
    bad = tmp_path / "bad.csv"
    bad.write_text(
        CSV_GOOD.format(open=world["open"])
        + ",MS-4,Cu50Zr45Xx5,melt-spinning,amorphous,,,,,,\n"  # row 4: unknown element
        + f"{world['reported']},MS-5,Cu64Zr36,melt-spinning,crystalline,,,,,,\n"  # row 5: contradicts a report
        + ",MS-1,Cu50Zr50,melt-spinning,crystalline,,,,,,\n"  # row 6: contradicts row 1 (same sample)
        + ",MS-7,Cu50Zr50,melt-spinning,amorphous,900,800,,,,\n"  # row 7: Tg above Tl
        + ",MS-8,Cu50Zr50,melt-spinning,amorphous,,,,90,psi,\n"  # row 8: unknown unit
    )
    with pytest.raises(IngestError) as info:
        lab.import_csv(engine, bad, token=world["token"])
    got = [(e.row, e.field) for e in info.value.errors]
    assert got == [(4, "composition"), (5, "job_id"), (6, "sample_id"), (7, "Tg"), (8, "youngs_modulus")]
    assert "row 6, field 'sample_id': contradicts row 1" in str(info.value)
    assert snapshot(engine) == before  # not half-written: not even the good rows

    good = tmp_path / "good.csv"
    good.write_text(CSV_GOOD.format(open=world["open"]))
    result = lab.import_csv(engine, good, token=world["token"])
    assert result.rows == 3 and len(result.outcome_ids) == 3
    with Session(engine) as s:
        by_sample = {o.sample_id: o for o in s.exec(select(Outcome).where(Outcome.id.in_(result.outcome_ids))).scalars()}
        e_ms3 = s.exec(select(Measurement).where(Measurement.outcome_id == by_sample["MS-3"].id)).scalars().one()
        assert s.get(Job, world["open"]).status == "succeeded"
    assert by_sample["MS-1"].glass_label == 1 and by_sample["MS-3"].processing == "suction-casting"
    assert (e_ms3.quantity, e_ms3.value, e_ms3.unit) == ("youngs_modulus", 90.0, "GPa")
    again = lab.import_csv(engine, good, token=world["token"])
    assert again.already_imported and snapshot(engine)["counts"]["Outcome"] == before["counts"]["Outcome"] + 3


HEADER_MISTAKES = [
    ("composition,result,tgg_k", "tgg_k", "unknown column"),
    ("composition,result,tg", "Tg", "has no unit"),
    ("composition,result,tg_k,Tg [C]", "Tg [C]", "same as column"),
    ("composition,tg_k", "result", "required column missing"),
]


def test_csv_header_mistakes_are_named(engine, world, tmp_path):
    before = snapshot(engine)
    for i, (header, field, text) in enumerate(HEADER_MISTAKES):
        path = tmp_path / f"h{i}.csv"
        path.write_text(header + "\nCu50Zr50,amorphous,700,700\n")
        with pytest.raises(IngestError) as info:
            lab.import_csv(engine, path, token=world["token"])
        assert any(e.field == field and text in e.message for e in info.value.errors), info.value.errors
        assert snapshot(engine) == before


def test_corrections_are_revisions_and_training_uses_the_current_one(engine, world):
    tok = world["token"]
    first = lab.submit_report(engine, Report("Cu50Zr50", "amorphous", job_id=world["open"], sample_id="R-1",
                                             measurements={"Tg": (700, "K")}), token=tok, channel="test")
    with Session(engine) as s:
        assert labelled_set(s).canonical.count("Cu50Zr50") == 2  # the literature record + this report
    second = lab.submit_report(engine, Report("Cu50Zr50", "crystalline", correction_of=first["outcome_id"],
                                              reason="XRD shows Cu10Zr7 peaks", reporter="bob"), token=tok, channel="test")
    assert (second["revision"], second["supersedes_id"], second["job_id"], second["sample_id"]) == (2, first["outcome_id"], world["open"], "R-1")
    with Session(engine) as s:
        data = labelled_set(s)
        labels = sorted(lbl for c, lbl in zip(data.canonical, data.labels.tolist()) if c == "Cu50Zr50")
    assert labels == [0, 1]  # literature 1 + the corrected lab report 0; the superseded revision is gone
    hist = transactions.read(engine, lambda s: lab.history(s, job_id=world["open"]))
    assert [(h["revision"], h["result"], h["is_current"], h["reporter"], h["reason"]) for h in hist] == [
        (1, "amorphous", False, "ada", None), (2, "crystalline", True, "bob", "XRD shows Cu10Zr7 peaks")]
    assert hist[0]["measurements"] == {"Tg": {"value": 700.0, "unit": "K"}} and hist[1]["measurements"] == {}
    assert transactions.read(engine, lambda s: lab.history(s, outcome_id=first["outcome_id"])) == hist
    assert transactions.read(engine, lambda s: lab.history(s, sample_id="R-1")) == hist
    with pytest.raises(IngestError, match="already superseded"):
        lab.submit_report(engine, Report("Cu50Zr50", "amorphous", correction_of=first["outcome_id"], reason="no"), token=tok, channel="test")


def test_a_failed_synthesis_is_no_label_and_goes_back_to_the_queue(engine, world):
    tok = world["token"]
    failed = lab.submit_report(engine, Report("Cu50Zr50", "synthesis failed", job_id=world["open"], notes="crucible cracked"),
                               token=tok, channel="test")
    assert failed["glass_label"] is None
    queue = transactions.read(engine, lambda s: lab.lab_queue(s))
    retry = [j for j in queue if j["retry_of"] == world["open"]]
    assert len(retry) == 1 and retry[0]["composition"] == "Cu50Zr50"
    with Session(engine) as s:
        job = s.get(Job, world["open"])
        assert (job.status, job.failure_kind) == ("failed", "synthesis failed")
    # a correction to a real result makes the retry unnecessary
    lab.submit_report(engine, Report("Cu50Zr50", "amorphous", correction_of=failed["outcome_id"], reason="it did work"),
                      token=tok, channel="test")
    assert not [j for j in transactions.read(engine, lambda s: lab.lab_queue(s)) if j["retry_of"] == world["open"]]
    with Session(engine) as s:
        assert s.get(Job, world["open"]).status == "succeeded"
