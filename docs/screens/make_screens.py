"""Make the screenshots in docs/screens/ from a data directory that holds a campaign.

    VITRIFY_DATA_DIR=/tmp/demo PREFECT_HOME=/tmp/demo/prefect .venv/bin/python docs/screens/make_screens.py

Terminal captures: ``vitrify status`` and ``vitrify lab queue`` run with COLUMNS=80 and drawn
in a monospace font (Pillow). The lab page: the intake app on that database in Debian's
chromium (Playwright, executablePath) at 1280 and 390 px. The Prefect batch artifact and the
iteration summary: read back through the Prefect client and rendered to HTML.
"""

from __future__ import annotations

import html
import json
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
CHROMIUM = "/usr/bin/chromium"


def terminal_png(args: list[str], out: Path, columns: int = 80) -> None:
    env = {**os.environ, "COLUMNS": str(columns), "TERM": "dumb", "NO_COLOR": "1"}
    text = subprocess.run([sys.executable, "-m", "vitrify.cli", *args], env=env, capture_output=True, text=True,
                          cwd=REPO).stdout
    lines = [f"$ vitrify {' '.join(args)}"] + text.rstrip("\n").splitlines()
    font = ImageFont.truetype(FONT, 15)
    ascent, descent = font.getmetrics()
    cell_w, cell_h = font.getlength("M"), ascent + descent  # box-drawing lines join only at the font's own line height
    width = max([columns] + [len(line) for line in text.splitlines()])
    img = Image.new("RGB", (int(cell_w * width) + 24, cell_h * len(lines) + 24), (24, 26, 30))
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        draw.text((12, 12 + i * cell_h), line, font=font, fill=(120, 200, 255) if i == 0 else (225, 228, 232))
    img.save(out, optimize=True)


def web_pngs() -> None:
    from playwright.sync_api import sync_playwright

    from db import lab
    from db.session import get_engine
    from vitrify.intake.app import create_app, serve_in_thread

    engine = get_engine()
    secret = lab.run_write(engine, lambda s: lab.create_token(s, name="ada", role="reporter"))[1]
    queue = lab.read(engine, lambda s: lab.lab_queue(s))
    srv, thread, url = serve_in_thread(create_app(engine))
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"], headless=True)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url)
            page.fill("#token", secret)
            page.click("#token-use")
            page.wait_for_selector("#queue tbody tr")
            if not lab.read(engine, lambda s: lab.recent_reports(s)) and queue:  # one report, so "done" has a row
                job = queue[0]
                page.locator(f"#queue tbody tr[data-job-id='{job['job_id']}'] button.report").click()
                page.select_option("#result", "amorphous")
                page.fill("#m-Tg", "432")
                page.select_option("#u-Tg", "°C")
                page.fill("#m-Dmax", "0.05")
                page.fill("#sample_id", "MS-041")
                page.fill("#notes", "ribbon 30 µm, shiny, XRD broad hump")
                page.click("#report-submit")
                page.wait_for_selector("#report-message.ok")
            page.wait_for_selector("#done tbody tr")
            page.locator("#done tbody tr button.history").first.click()
            page.wait_for_selector("#history tbody tr")
            page.screenshot(path=str(HERE / "lab-page-desktop.png"), full_page=True)
            page.set_viewport_size({"width": 390, "height": 1100})
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=str(HERE / "lab-page-phone.png"))  # the first screens: the queue as cards
            page.locator("#done-title").scroll_into_view_if_needed()
            page.screenshot(path=str(HERE / "lab-page-phone-done.png"))
            browser.close()
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


ARTIFACT_CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d232a}
.card{background:#fff;margin:16px;padding:16px 20px;border:1px solid #dcdfe4;border-radius:8px}
h1{font-size:16px;margin:0 0 4px}.desc{color:#5b6670;margin:0 0 12px}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}th,td{padding:5px 10px;border-bottom:1px solid #e4e7eb;text-align:left}
th{color:#5b6670;font-weight:600}img{max-width:640px}"""


def artifact_pngs(campaign_id: int) -> None:
    from vitrify.settings import quiet_third_party_defaults

    quiet_third_party_defaults()  # a patient start of Prefect's temporary server
    import markdown
    from playwright.sync_api import sync_playwright
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        def latest(key):
            found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
            return max(found, key=lambda a: a.created)

        batch = latest(f"campaign-{campaign_id}-batch")
        summary = latest(f"campaign-{campaign_id}-iteration")
    rows = json.loads(batch.data) if isinstance(batch.data, str) else batch.data
    cols = list(rows[0])
    table = "<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in cols) + "</tr>" + "".join(
        "<tr>" + "".join(f"<td>{'' if r[c] is None else html.escape(str(r[c]))}</td>" for c in cols) + "</tr>" for r in rows
    ) + "</table>"
    pages = {
        "prefect-batch-artifact.png": f"<div class=card><h1>artifact {batch.key}</h1><p class=desc>{html.escape(batch.description or '')}</p>{table}</div>",
        "prefect-iteration-artifact.png": f"<div class=card><h1>artifact {summary.key}</h1><p class=desc>{html.escape(summary.description or '')}</p>"
                                          f"{markdown.markdown(summary.data)}</div>",
    }
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"], headless=True)
        page = browser.new_page(viewport={"width": 1100, "height": 400})
        for name, body in pages.items():
            page.set_content(f"<!doctype html><style>{ARTIFACT_CSS}</style>{body}")
            page.wait_for_timeout(200)
            page.screenshot(path=str(HERE / name), full_page=True)
        browser.close()


if __name__ == "__main__":
    web_pngs()
    terminal_png(["status", "--top", "5"], HERE / "status-80col.png")
    terminal_png(["lab", "queue"], HERE / "lab-queue-80col.png")
    artifact_pngs(int(os.environ.get("SCREENS_CAMPAIGN", "1")))
