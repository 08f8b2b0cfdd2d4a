"""End to end: a real Prefect flow run, real local Ray workers, a real SQLite database (the
PostgreSQL campaign runs in test_cluster.py), real fits on the real Sun 2017 binary data; then
the same campaign resumed as if its process had died before marking its last iteration done."""

import json

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from agents.config import AgentConfig, CampaignConfig, SpaceConfig
from agents.loop import create_campaign
from db.models import Campaign, Job, ModelVersion, Outcome, Proposal
from db.datasets import import_labelled_csv
from db.migrate import upgrade
from db.session import get_engine, session_scope

pytestmark = pytest.mark.slow

HOLDOUT = ["Cu-Ti", "Pd-Zr"]


def _count(session, table, *where):
    return session.exec(select(func.count()).select_from(table).where(*where)).scalar_one()


# PostgreSQL: the same flow through a deployment, its rows checked the same way, in test_cluster.py
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_campaign_flow_links_every_row(use_database, binary_data_path, prefect_server, local_ray, small_literature,
                                       quick_training):
    from flows.campaign import campaign_flow

    engine = get_engine()
    upgrade(engine)
    with session_scope(engine) as s:
        import_labelled_csv(s, binary_data_path)
        config = CampaignConfig(
            name="test", space=SpaceConfig(systems=HOLDOUT, step=1.0), iterations=2, batch_size=5,
            oracle_csv=str(binary_data_path), holdout_systems=HOLDOUT, agent=AgentConfig(name="ucb"),
        )
        campaign_id = create_campaign(s, config).id

    summary = campaign_flow(campaign_id)

    assert summary["picks"] == 10 and len(summary["iterations"]) == 2
    with Session(engine) as s:
        campaign = s.get(Campaign, campaign_id)
        assert campaign.status == "finished" and campaign.iterations_done == 2
        proposals = s.exec(select(Proposal).where(Proposal.campaign_id == campaign_id)).scalars().all()
        assert len(proposals) == 10
        assert len({p.composition_id for p in proposals}) == 10  # never re-proposed
        jobs = s.exec(select(Job).where(Job.campaign_id == campaign_id)).scalars().all()
        assert {j.status for j in jobs} == {"succeeded"} and {j.kind for j in jobs} == {"replay"}
        assert {j.proposal_id for j in jobs} == {p.id for p in proposals}
        outcomes = s.exec(select(Outcome).where(Outcome.job_id.in_([j.id for j in jobs]))).scalars().all()
        assert len(outcomes) == 10 and {o.source for o in outcomes} == {"replay"}
        assert sum(o.glass_label for o in outcomes) == summary["glasses_found"]
        versions = s.exec(select(ModelVersion).where(ModelVersion.campaign_id == campaign_id)).scalars().all()
        assert [v.iteration for v in versions] == [0, 1, 2]
        # each proposal names the model version that scored it: the one trained before its iteration
        by_iter = {v.iteration: v.id for v in versions}
        assert all(p.model_version_id == by_iter[p.iteration - 1] for p in proposals)
        # the retrained model saw the replayed outcomes, and none of the held-out literature rows
        assert versions[-1].train_size == versions[0].train_size + 10
        # VITRIFY_TRAINING_LITERATURE_ROWS (the small_literature fixture): that many literature rows, recorded
        assert versions[0].train_size == small_literature
        assert all(v.training_set["literature_rows_limit"] == small_literature for v in versions)
        held_out_lit = _count(s, Outcome, Outcome.source == "literature")
        assert versions[0].train_size < held_out_lit
        # proposals only from the campaign's space
        from db.models import Composition
        systems = {s.get(Composition, p.composition_id).system for p in proposals}
        assert systems <= set(HOLDOUT)

    # Prefect recorded the flow run and its named tasks
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[f"campaign-{campaign_id}"])))
        assert runs and runs[0].state.is_completed()
        tasks = {t.name for t in client.read_task_runs() if t.flow_run_id == runs[0].id}
        assert {"propose-c%d-i1" % campaign_id, "run-jobs-c%d-i2" % campaign_id, "retrain-c%d-i0" % campaign_id} <= tasks
        assert not any(t.startswith(f"lab-c{campaign_id}-") for t in tasks)  # no lab destination, no lab task
        # campaign tags on the flow run (task runs carry the campaign in their names)
        assert {f"campaign-{campaign_id}", "agent-ucb"} <= set(runs[0].tags)
        # the per-iteration artifacts: the batch table and a summary drawn on Ray with both plots
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

        def latest(key):
            found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
            return max(found, key=lambda a: a.created)

        table = latest(f"campaign-{campaign_id}-batch")
        rows = json.loads(table.data) if isinstance(table.data, str) else table.data
        assert table.type == "table" and len(rows) == 5 and {"composition", "P_GFA", "sent_to"} <= set(rows[0])
        summary_md = latest(f"campaign-{campaign_id}-iteration")
        assert "iteration 2/2" in summary_md.data and summary_md.data.count("data:image/png;base64,") == 2
    from vitrify.settings import get_settings

    plots = get_settings().plots_dir
    for name in ("discovery", "pgfa"):
        assert (plots / f"campaign-{campaign_id}-{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # every report came back; the loop's wall time covers its work ("seconds" is rounded to 0.1 s)
    assert all(row["report_seconds"] > 0 and row["wall_seconds"] >= row["seconds"] - 0.05 for row in summary["iterations"])

    # `vitrify campaign resume` (issue 16, defects 5 and 6) on this campaign: the process died after
    # iteration 2 had proposed and ingested its batch, before it was marked done. The summary
    # counts what the database holds, the interrupted batch once.
    with session_scope(engine) as s:
        campaign = s.get(Campaign, campaign_id)
        campaign.iterations_done, campaign.status = 1, "running"
    resumed = campaign_flow(campaign_id)
    with Session(engine) as s:
        glasses = s.exec(select(func.count()).select_from(Outcome).join(Job, Outcome.job_id == Job.id)
                         .where(Job.campaign_id == campaign_id, Outcome.glass_label == 1, Outcome.is_current == True)  # noqa: E712
                         ).scalar_one()
        assert _count(s, Proposal, Proposal.campaign_id == campaign_id) == 10
        # nothing new was measured: the resumed run retrained nothing
        assert _count(s, ModelVersion, ModelVersion.campaign_id == campaign_id) == 3
    assert (resumed["picks"], resumed["glasses_found"]) == (10, glasses)
    assert resumed["iterations"][-1]["glasses_total"] == glasses
    # the Prefect artifacts read at a glance: the batch with its outcomes and no always-empty
    # column, no timing internals in the summary table, a described result card
    with get_client(sync_client=True) as client:
        rows = latest(f"campaign-{campaign_id}-batch").data
        rows = json.loads(rows) if isinstance(rows, str) else rows
        assert {r["outcome"] for r in rows} <= {"amorphous", "crystalline", "partially crystalline"} and len(rows) == 5
        assert all(any(r[k] not in (None, "") for r in rows) for k in rows[0])  # modulus_GPa: no modulus model, no column
        assert "modulus_GPa" not in rows[0]
        table = latest(f"campaign-{campaign_id}-summary").data
        table = json.loads(table) if isinstance(table, str) else table
        assert not {"work_seconds", "fit_seconds", "wall_seconds", "report_seconds"} & set(table[0])
        assert latest(f"campaign-{campaign_id}-result").description
    # resuming it again: finished, one line, no Prefect; an unknown campaign likewise
    from typer.testing import CliRunner

    from vitrify.cli import app

    for args, expected in ((["campaign", "resume", str(campaign_id)],
                            f"campaign {campaign_id} already finished (2 of 2 iterations): use `vitrify campaign extend"),
                           (["campaign", "resume", "99"], "no campaign 99")):
        result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
        assert result.exit_code == 1 and expected in result.output, result.output
        assert "Traceback" not in result.output and "prefect" not in result.output.lower()
