"""The lab's web page in a real headless browser (Debian's chromium driven by Playwright):
sign in with a token, see the queue, fill the report form, and the database has the report.
A typo is shown next to its field and writes nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import Session

from db import lab
from db.models import Job, Measurement, Outcome
from db.training import labelled_set
from vitrify.intake.app import create_app, serve_in_thread

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (./dev.sh test installs it as root)")


@pytest.fixture
def page(engine, tmp_path, request):
    srv, thread, url = serve_in_thread(create_app(engine))
    console: list[str] = []
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        pg = browser.new_page(viewport={"width": 1200, "height": 1400})
        pg.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
        pg.on("requestfailed", lambda req: console.append(f"request failed: {req.method} {req.url}"))
        pg.set_default_timeout(30_000)
        pg.goto(url)
        failures_before = request.session.testsfailed
        yield pg
        shots = os.environ.get("VITRIFY_TEST_SCREENSHOTS")
        failed = request.session.testsfailed > failures_before  # the call phase is reported before teardown
        if shots or failed:
            where = Path(shots or tmp_path)
            where.mkdir(parents=True, exist_ok=True)
            shot = where / f"{request.node.name}.png"
            pg.screenshot(path=str(shot), full_page=True)
            if failed:
                print(f"screenshot: {shot}\nbrowser console:\n" + "\n".join(console))
        browser.close()
    srv.should_exit = True
    thread.join(timeout=10)



@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_reporter_fills_the_web_form_and_the_database_has_it(engine, page):
    operator = lab.run_write(engine, lambda s: lab.create_token(s, name="olga", role="operator"))[0]
    jobs = lab.run_write(engine, lambda s: lab.request_experiments(s, ["Cu50Zr50", "Cu64Zr36"], token=operator, processing="melt-spinning"))
    target = jobs[1]["job_id"]
    secret = lab.run_write(engine, lambda s: lab.create_token(s, name="ada", role="reporter"))[1]

    page.fill("#token", secret)
    page.click("#token-use")
    page.wait_for_selector("text=signed in as ada (reporter)")
    row = page.locator(f"#queue tbody tr[data-job-id='{target}']")
    row.wait_for()
    assert "Cu64Zr36" in row.inner_text()

    row.locator("button.claim").click()
    page.wait_for_selector(f"#queue tbody tr[data-job-id='{target}'] >> text=claimed by ada")
    page.locator(f"#queue tbody tr[data-job-id='{target}'] button.report").click()
    assert page.input_value("#job_id") == str(target) and page.input_value("#composition") == "Cu64Zr36"

    # a typo: at.% sum to 101 and Tg above Tl -> errors beside the fields, nothing stored
    page.fill("#composition", "Cu65Zr36")
    page.select_option("#result", "amorphous")
    page.fill("#m-Tg", "700")
    page.fill("#m-Tl", "650")
    page.click("#report-submit")
    page.wait_for_selector("#report-message.failed")
    assert "sum to 101" in page.inner_text(".error[data-for='composition']")
    assert "must be below Tl" in page.inner_text(".error[data-for='Tg']")
    assert page.get_attribute("#composition", "aria-invalid") == "true"
    with Session(engine) as s:
        assert s.exec(select(Outcome)).scalars().all() == []

    # corrected: composition as made, Tg in degrees C, Dmax, notes
    page.fill("#composition", "Cu63.5Zr36.5")
    page.fill("#m-Tg", "430")
    page.select_option("#u-Tg", "°C")  # one spelling of each unit on the page
    page.fill("#m-Tl", "")
    page.fill("#m-Dmax", "0.04")
    page.fill("#sample_id", "MS-77")
    page.fill("#notes", "ribbon, 40 um, XRD broad hump")
    page.click("#report-submit")
    page.wait_for_selector("#report-message.ok")
    assert "Recorded outcome" in page.inner_text("#report-message")
    page.wait_for_selector("#history tbody tr")
    assert "Cu63.5Zr36.5" in page.inner_text("#history") and "amorphous" in page.inner_text("#history")

    with Session(engine) as s:
        outcome = s.exec(select(Outcome)).scalars().one()
        meas = {m.quantity: (round(m.value, 2), m.unit) for m in s.exec(select(Measurement)).scalars()}
        job = s.get(Job, target)
        data = labelled_set(s)
    assert (outcome.job_id, outcome.result, outcome.sample_id, outcome.reporter) == (target, "amorphous", "MS-77", "ada")
    assert outcome.provenance["channel"] == "web" and outcome.provenance["requested"] == "Cu64Zr36"
    assert meas == {"Tg": (703.15, "K"), "Dmax": (0.04, "mm")}
    assert (job.status, job.claimed_by) == ("succeeded", "ada")
    assert data.canonical == ["Cu63.5Zr36.5"] and data.labels.tolist() == [1]  # the next retraining learns it
    page.wait_for_selector(f"#queue tbody tr[data-job-id='{target}']", state="detached")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_admin_makes_a_token_and_approves_a_batch_in_the_page(engine, page):
    from db.compositions import get_or_create_compositions
    from db.models import Campaign
    from discovery.composition import parse_composition

    def batch(s):
        campaign = Campaign(name="night", status="running", config={"lab": {"require_approval": True}})
        s.add(campaign)
        s.flush()
        comp = get_or_create_compositions(s, [parse_composition("Cu50Zr50")])["Cu50Zr50"]
        s.add(Job(kind="experiment", campaign_id=campaign.id, composition_id=comp.id, processing="melt-spinning"))
        s.flush()
        return campaign.id
    campaign_id = lab.run_write(engine, batch)
    approval_id = lab.pending_lab_results(campaign_id, engine=engine).approval_id
    secret = lab.run_write(engine, lambda s: lab.create_token(s, name="root", role="admin"))[1]

    page.fill("#token", secret)
    page.click("#token-use")
    page.wait_for_selector("text=signed in as root (admin)")
    page.fill("#new-token-name", "ada")
    page.select_option("#new-token-role", "reporter")
    page.click("#token-create")
    new_secret = page.locator("#new-token-secret").inner_text()
    assert lab.authenticate_engine(engine, new_secret).role == "reporter"  # shown once, and it works
    page.wait_for_selector("#tokens tbody >> text=ada")

    page.locator(f"#approvals tbody tr[data-approval-id='{approval_id}'] button.claim").click()
    page.wait_for_selector(f"text=Approval {approval_id}: approved.")
    page.wait_for_selector("#queue tbody tr >> text=Cu50Zr50")
    with Session(engine) as s:
        job = s.exec(select(Job).where(Job.campaign_id == campaign_id)).scalars().one()
        assert (job.status, job.released_at is not None) == ("queued", True)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_page_shows_why_done_and_corrects_at_phone_width(engine, page, tmp_path):
    """Issue 16: the queue says what was predicted and when it was asked for; a report moves to
    the done list, whose "correct this result" makes a revision; a CSV upload; usable at 390 px."""
    operator = lab.run_write(engine, lambda s: lab.create_token(s, name="olga", role="operator"))[0]
    jobs = lab.run_write(engine, lambda s: lab.request_experiments(s, ["Al5Cu45Ni5Zr45", "Cu64Zr36"], token=operator,
                                                                   processing="melt-spinning"))
    secret = lab.run_write(engine, lambda s: lab.create_token(s, name="ada", role="reporter"))[1]
    page.set_viewport_size({"width": 390, "height": 1400})
    page.reload()
    assert "Sign in with your lab token" in page.inner_text("#queue-message")
    page.fill("#token", secret)
    page.click("#token-use")
    row = page.locator(f"#queue tbody tr[data-job-id='{jobs[0]['job_id']}']")
    row.wait_for()
    assert "Al5Cu45Ni5Zr45" in row.inner_text() and "requested by hand" in row.inner_text()
    labels = [td.get_attribute("data-label") for td in row.locator("td").all()]
    assert labels[:4] == ["Job", "Composition to make", "Route", "P(glass)"] and "Requested" in labels  # the phone layout labels each value
    assert page.evaluate("document.documentElement.scrollWidth") <= 392  # no sideways scrolling at phone width

    row.locator("button.report").click()
    page.select_option("#result", "amorphous")
    page.fill("#m-Tg", "430")
    page.select_option("#u-Tg", "°C")
    page.fill("#sample_id", "MS-9")
    page.click("#report-submit")
    page.wait_for_selector("#done tbody tr >> text=Al5Cu45Ni5Zr45")
    done = page.inner_text("#done")
    assert "amorphous" in done and "Tg 703.15 K" in done and "MS-9" in done
    page.locator("#done tbody tr button.correct").first.click()
    assert page.input_value("#correction_of") != "" and page.input_value("#composition") == "Al5Cu45Ni5Zr45"
    page.select_option("#result", "crystalline")
    page.fill("#reason", "XRD peaks after all")
    page.click("#report-submit")
    page.wait_for_selector("#report-message.ok >> text=revision 2")

    csv = tmp_path / "night.csv"
    csv.write_text(f"job_id,composition,result,tg_k\n{jobs[1]['job_id']},Cu64Zr36,amorphous,690\n")
    page.set_input_files("#csv-file", str(csv))
    page.click("#csv-upload")
    page.wait_for_selector("#csv-message.ok >> text=Stored 1 report")
    page.wait_for_selector("#done tbody tr >> text=Cu64Zr36")
    with Session(engine) as s:
        current = {o.job_id: o.result for o in s.exec(select(Outcome).where(Outcome.is_current == True)).scalars()}  # noqa: E712
    assert current == {jobs[0]["job_id"]: "crystalline", jobs[1]["job_id"]: "amorphous"}
