"""Queue, claims, tokens, the per-night budget, operator approvals and what a campaign hears
back each iteration (db.lab), on a real SQLite file and a real PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update
from sqlmodel import Session

from db import lab
from vitrify.settings import lab_settings
from db import errors, tokens, transactions
from db.compositions import get_or_create_compositions
from db.errors import IngestError, NotAllowed, NotSignedIn
from db.reports import Report
from db.models import ApiToken, Campaign, Job
from discovery.composition import parse_composition


def _campaign_jobs(engine, compositions, *, lab_policy=None, name="c"):
    def work(s):
        campaign = Campaign(name=name, status="running", config={"lab": lab_policy} if lab_policy else {})
        s.add(campaign)
        s.flush()
        rows = get_or_create_compositions(s, [parse_composition(c, percent=True) for c in compositions])
        jobs = [Job(kind="experiment", campaign_id=campaign.id, composition_id=rows[parse_composition(c, percent=True).canonical].id,
                    processing="melt-spinning") for c in compositions]
        s.add_all(jobs)
        s.flush()
        return campaign.id, [j.id for j in jobs]
    return transactions.run_write(engine, work)


def _tokens(engine):
    out = {}
    for role, name in (("reporter", "ada"), ("operator", "olga"), ("admin", "root")):
        row, secret = transactions.run_write(engine, lambda s: tokens.create_token(s, name=name, role=role))
        out[role] = (tokens.authenticate_engine(engine, secret), secret)
    return out


COMPS = ["Cu50Zr50", "Cu55Zr45", "Cu60Zr40", "Cu65Zr35", "Cu70Zr30"]


def test_tokens_are_stored_hashed_and_checked(engine):
    toks = _tokens(engine)
    reporter, secret = toks["reporter"]
    with Session(engine) as s:
        rows = s.exec(select(ApiToken)).scalars().all()
        assert all(secret not in (r.token_hash, r.prefix) and len(r.token_hash) == 64 for r in rows)
        assert tokens.hash_secret(secret) in {r.token_hash for r in rows}
    assert tokens.authenticate_engine(engine, secret).name == "ada"
    for wrong in ("", None, secret[:-1], secret + "x", "vit_" + "A" * 43, secret.upper()):
        assert tokens.authenticate_engine(engine, wrong) is None
    with pytest.raises(errors.AuthError) as info:
        tokens.require_role(reporter, "operator")
    assert isinstance(info.value, NotAllowed)  # the intake answers 403
    with pytest.raises(errors.AuthError) as info:
        lab.submit_report(engine, Report("Cu50Zr50", "amorphous"), token=None, channel="test")
    assert isinstance(info.value, NotSignedIn)  # the intake answers 401
    assert tokens.require_role(toks["admin"][0], "reporter")  # roles include the ones below
    transactions.run_write(engine, lambda s: tokens.revoke_token(s, reporter.id))
    assert tokens.authenticate_engine(engine, secret) is None
    with pytest.raises(errors.LabError, match="unknown role"):
        transactions.run_write(engine, lambda s: tokens.create_token(s, name="x", role="superuser"))


def test_claims_are_exclusive(engine):
    toks = _tokens(engine)
    ada = toks["reporter"][0]
    bob_row, bob_secret = transactions.run_write(engine, lambda s: tokens.create_token(s, name="bob", role="reporter"))
    bob = tokens.authenticate_engine(engine, bob_secret)
    jobs = transactions.run_write(engine, lambda s: lab.request_experiments(s, COMPS[:2], token=toks["operator"][0]))
    first = jobs[0]["job_id"]
    claimed = transactions.run_write(engine, lambda s: lab.claim_job(s, first, token=ada))
    assert (claimed["status"], claimed["claimed_by"], claimed["state"]) == ("running", "ada", "claimed by ada")
    assert transactions.run_write(engine, lambda s: lab.claim_job(s, first, token=ada))["claimed_by"] == "ada"  # idempotent
    with pytest.raises(errors.LabError, match="already claimed by ada"):
        transactions.run_write(engine, lambda s: lab.claim_job(s, first, token=bob))
    with pytest.raises(errors.AuthError):
        transactions.run_write(engine, lambda s: lab.unclaim_job(s, first, token=bob))
    nxt = transactions.run_write(engine, lambda s: lab.claim_next(s, token=bob))
    assert nxt["job_id"] == jobs[1]["job_id"] and nxt["claimed_by"] == "bob"
    assert transactions.run_write(engine, lambda s: lab.claim_next(s, token=bob)) is None
    assert transactions.run_write(engine, lambda s: lab.unclaim_job(s, first, token=toks["operator"][0]))["state"] == "in lab queue"
    with pytest.raises(errors.LabError, match="no job with id 999"):
        transactions.run_write(engine, lambda s: lab.claim_job(s, 999, token=ada))


def test_the_nightly_budget_holds_jobs_back_until_the_next_night(engine, monkeypatch):
    monkeypatch.setenv("VITRIFY_LAB_BUDGET_PER_NIGHT", "3")
    campaign_id, job_ids = _campaign_jobs(engine, COMPS)
    assert transactions.read(engine, lambda s: lab.lab_queue(s)) == []  # proposed, not yet released
    progress = lab.pending_lab_results(campaign_id, engine=engine)
    assert (progress.released, progress.in_lab, progress.held, progress.budget["used"], progress.budget["remaining"]) == (3, 3, 2, 3, 0)
    assert [j["job_id"] for j in transactions.read(engine, lambda s: lab.lab_queue(s))] == job_ids[:3]
    assert lab.pending_lab_results(campaign_id, engine=engine).released == 0  # still tonight
    # a reporter cannot jump the budget
    tok = _tokens(engine)["reporter"][0]
    with pytest.raises(IngestError, match="held back by the lab budget"):
        lab.submit_report(engine, Report("Cu65Zr35", "amorphous", job_id=job_ids[3]), token=tok, channel="test")

    def last_night(s):
        s.execute(update(Job).where(Job.released_at.is_not(None)).values(released_at=datetime.now(timezone.utc) - timedelta(days=1)))
    transactions.run_write(engine, last_night)
    progress = lab.pending_lab_results(campaign_id, engine=engine)
    assert (progress.released, progress.held, progress.in_lab) == (2, 0, 5)


def test_a_campaign_budget_only_tightens_the_lab_budget(engine, monkeypatch):
    monkeypatch.setenv("VITRIFY_LAB_BUDGET_PER_NIGHT", "4")
    tight, _ = _campaign_jobs(engine, COMPS[:3], lab_policy={"budget_per_night": 1}, name="tight")
    loose, _ = _campaign_jobs(engine, COMPS[3:] + ["Cu75Zr25", "Cu80Zr20"], name="loose")
    assert lab.pending_lab_results(tight, engine=engine).released == 1
    assert lab.pending_lab_results(loose, engine=engine).released == 3  # 4 for the lab in all
    assert transactions.read(engine, lambda s: lab.budget_status(s))["remaining"] == 0


def test_batches_wait_for_an_operator_when_approval_is_required(engine):
    toks = _tokens(engine)
    campaign_id, job_ids = _campaign_jobs(engine, COMPS[:3], lab_policy={"require_approval": True})
    progress = lab.pending_lab_results(campaign_id, engine=engine)
    assert (progress.awaiting_approval, progress.in_lab, progress.released) == (3, 0, 0) and progress.approval_id
    assert transactions.read(engine, lambda s: lab.lab_queue(s)) == []
    assert {j["state"] for j in transactions.read(engine, lambda s: lab.lab_queue(s, everything=True))} == {"awaiting approval"}
    # an ad-hoc request (which releases held jobs) does not sneak the batch past the operator
    transactions.run_write(engine, lambda s: lab.request_experiments(s, ["Ni60Nb40"], token=toks["operator"][0]))
    assert [j["composition"] for j in transactions.read(engine, lambda s: lab.lab_queue(s))] == ["Nb40Ni60"]
    with pytest.raises(errors.AuthError):
        transactions.run_write(engine, lambda s: lab.decide_approval(s, progress.approval_id, approve=True, token=toks["reporter"][0]))
    pending = transactions.read(engine, lambda s: lab.list_approvals(s))
    assert [a["id"] for a in pending] == [progress.approval_id] and len(pending[0]["jobs"]) == 3
    done = transactions.run_write(engine, lambda s: lab.decide_approval(s, progress.approval_id, approve=True, token=toks["operator"][0], note="ok"))
    assert (done["status"], done["decided_by"]) == ("approved", "olga")
    assert all(j["state"] == "in lab queue" for j in done["jobs"])
    with pytest.raises(errors.LabError, match="already approved"):
        transactions.run_write(engine, lambda s: lab.decide_approval(s, progress.approval_id, approve=False, token=toks["operator"][0]))
    assert lab.pending_lab_results(campaign_id, engine=engine).in_lab == 3

    # the next batch is rejected: cancelled, never in the queue
    def add_jobs(s):
        rows = get_or_create_compositions(s, [parse_composition("Cu40Zr60", percent=True)])
        s.add(Job(kind="experiment", campaign_id=campaign_id, composition_id=rows["Cu40Zr60"].id, processing="melt-spinning"))
    transactions.run_write(engine, add_jobs)
    second = lab.pending_lab_results(campaign_id, engine=engine)
    rejected = transactions.run_write(engine, lambda s: lab.decide_approval(s, second.approval_id, approve=False, token=toks["operator"][0], note="off-topic"))
    assert {j["status"] for j in rejected["jobs"]} == {"cancelled"}
    assert lab.pending_lab_results(campaign_id, engine=engine).awaiting_approval == 0


def test_the_campaign_hears_about_each_lab_result_once_and_never_waits(engine):
    tok = _tokens(engine)["reporter"][0]
    campaign_id, job_ids = _campaign_jobs(engine, COMPS[:3])
    progress = lab.pending_lab_results(campaign_id, engine=engine)
    assert (progress.new_outcomes, progress.in_lab, progress.open) == ([], 3, 3)  # nothing yet: returns at once
    a = lab.submit_report(engine, Report("Cu50Zr50", "amorphous", job_id=job_ids[0]), token=tok, channel="test")
    lab.submit_report(engine, Report("Cu55Zr45", "crystalline", job_id=job_ids[1]), token=tok, channel="test")
    progress = lab.pending_lab_results(campaign_id, engine=engine)
    assert [o["job_id"] for o in progress.new_outcomes] == job_ids[:2] and progress.glasses == 1 and progress.in_lab == 1
    assert lab.pending_lab_results(campaign_id, engine=engine).new_outcomes == []
    lab.submit_report(engine, Report("Cu50Zr50", "crystalline", correction_of=a["outcome_id"], reason="re-measured"), token=tok, channel="test")
    progress = lab.pending_lab_results(campaign_id, engine=engine)
    assert [(o["job_id"], o["revision"], o["result"]) for o in progress.new_outcomes] == [(job_ids[0], 2, "crystalline")]
    assert progress.glasses == 0


def test_stopping_a_campaign_keeps_the_lab_queue_but_sends_nothing_new(engine, monkeypatch):
    monkeypatch.setenv("VITRIFY_LAB_BUDGET_PER_NIGHT", "2")
    toks = _tokens(engine)
    campaign_id, job_ids = _campaign_jobs(engine, COMPS[:4])
    lab.pending_lab_results(campaign_id, engine=engine)
    with pytest.raises(errors.AuthError):
        transactions.run_write(engine, lambda s: lab.stop_campaign(s, campaign_id, token=toks["reporter"][0]))
    stopped = transactions.run_write(engine, lambda s: lab.stop_campaign(s, campaign_id, token=toks["operator"][0]))
    assert (stopped["status"], stopped["cancelled_jobs"]) == ("stopped", 2)
    progress = lab.pending_lab_results(campaign_id, engine=engine)
    assert progress.stop_requested and progress.in_lab == 2 and progress.held == 0
    lab.submit_report(engine, Report("Cu50Zr50", "amorphous", job_id=job_ids[0]), token=toks["reporter"][0], channel="test")
    assert len(lab.pending_lab_results(campaign_id, engine=engine).new_outcomes) == 1


def test_night_window_follows_the_lab_clock(monkeypatch):
    monkeypatch.setenv("VITRIFY_LAB_NIGHT_STARTS_HOUR", "18")
    monkeypatch.setenv("VITRIFY_LAB_TIMEZONE", "Europe/Berlin")
    start, end = lab.night_window(datetime(2026, 7, 1, 10, 0, tzinfo=timezone.utc))  # 12:00 in Berlin: last night
    assert (start, end) == (datetime(2026, 6, 30, 16, 0, tzinfo=timezone.utc), datetime(2026, 7, 1, 16, 0, tzinfo=timezone.utc))
    start, _ = lab.night_window(datetime(2026, 7, 1, 17, 0, tzinfo=timezone.utc))  # 19:00 in Berlin: tonight
    assert start == datetime(2026, 7, 1, 16, 0, tzinfo=timezone.utc)
    monkeypatch.setenv("VITRIFY_LAB_TIMEZONE", "Mars/Olympus")
    with pytest.raises(ValueError, match="unknown time zone"):
        lab_settings()
