"""`vitrify campaign resume` (issue 16, defects 5 and 6): the summary counts what the database
holds, an unknown or finished campaign is one line before Prefect starts."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlmodel import Session
from typer.testing import CliRunner

from agents.config import AgentConfig, CampaignConfig, SpaceConfig
from agents.loop import create_campaign
from db.datasets import import_labelled_csv
from db.migrate import upgrade
from db.models import Campaign, Job, Outcome, Proposal
from db.session import get_engine, session_scope
from vitrify.cli import app

HOLDOUT = ["Cu-Ti"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_resume_counts_the_interrupted_batch_once(use_database, binary_data_path, prefect_server, local_ray, monkeypatch,
                                                  small_literature):
    from flows.campaign import campaign_flow

    monkeypatch.setenv("VITRIFY_RETRAIN_CV", "false")
    engine = get_engine()
    upgrade(engine)
    with session_scope(engine) as s:
        import_labelled_csv(s, binary_data_path)
        config = CampaignConfig(
            name="resume", space=SpaceConfig(systems=HOLDOUT, step=1.0), iterations=2, batch_size=4,
            oracle_csv=str(binary_data_path), holdout_systems=HOLDOUT, agent=AgentConfig(name="ucb"),
        )
        campaign_id = create_campaign(s, config).id
    campaign_flow(campaign_id)
    # the process died after iteration 2 had proposed and ingested its batch, before it was marked done
    with session_scope(engine) as s:
        campaign = s.get(Campaign, campaign_id)
        campaign.iterations_done, campaign.status = 1, "running"

    summary = campaign_flow(campaign_id)

    with Session(engine) as s:
        picks = s.exec(select(func.count()).select_from(Proposal).where(Proposal.campaign_id == campaign_id)).scalar_one()
        glasses = s.exec(select(func.count()).select_from(Outcome).join(Job, Outcome.job_id == Job.id)
                         .where(Job.campaign_id == campaign_id, Outcome.glass_label == 1, Outcome.is_current == True)  # noqa: E712
                         ).scalar_one()
    assert picks == 8
    assert (summary["picks"], summary["glasses_found"]) == (picks, glasses)
    assert summary["iterations"][-1]["glasses_total"] == glasses

    # the Prefect artifacts read at a glance: the batch with its outcomes and no always-empty
    # column, no timing internals in the summary table, a described result card
    import json

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        def latest(key):
            found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
            return max(found, key=lambda a: a.created)

        batch = latest(f"campaign-{campaign_id}-batch")
        rows = json.loads(batch.data) if isinstance(batch.data, str) else batch.data
        assert {r["outcome"] for r in rows} <= {"amorphous", "crystalline", "partially crystalline"} and len(rows) == 4
        assert all(any(r[k] not in (None, "") for r in rows) for k in rows[0])  # modulus_GPa: no modulus model, no column
        assert "modulus_GPa" not in rows[0]
        table = latest(f"campaign-{campaign_id}-summary")
        rows = json.loads(table.data) if isinstance(table.data, str) else table.data
        assert not {"work_seconds", "fit_seconds", "wall_seconds", "report_seconds"} & set(rows[0])
        assert latest(f"campaign-{campaign_id}-result").description

    # resuming it again: finished, one line, no Prefect; an unknown campaign likewise
    for args, expected in ((["campaign", "resume", str(campaign_id)],
                            f"campaign {campaign_id} already finished (2 of 2 iterations): use `vitrify campaign extend"),
                           (["campaign", "resume", "99"], "no campaign 99")):
        result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
        assert result.exit_code == 1 and expected in result.output, result.output
        assert "Traceback" not in result.output and "prefect" not in result.output.lower()
