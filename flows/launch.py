"""Start a campaign run in the background: what the intake's "start" button and
``vitrify lab start`` do (a detached ``vitrify campaign resume ID`` process, logging to a file)."""

from __future__ import annotations

import os
import subprocess
import sys

from sqlalchemy.engine import Engine

from db import lab
from db.models import ApiToken
from vitrify.settings import get_settings


def start_campaign(engine: Engine, campaign_id: int, *, token: ApiToken) -> dict:
    """Start (resume) a campaign in a background process: ``vitrify campaign resume ID``."""
    lab.mark_startable(engine, campaign_id, token=token)
    log_dir = get_settings().data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"campaign-{campaign_id}.log"
    env = {**os.environ, "VITRIFY_DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vitrify.cli", "campaign", "resume", str(campaign_id)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True,
        )
    return {"campaign_id": campaign_id, "pid": proc.pid, "log": str(log_path), "started_by": token.name}
