"""The ``campaign`` Prefect flow: propose -> run jobs on Ray -> ingest -> retrain, N times.

Each step is a named Prefect task running in the flow process; the work that scales out
(replay answers today, simulations later) is submitted to Ray from the ``run-jobs``
task, so Ray workers never need a Prefect server of their own.
"""

from __future__ import annotations

import time
from dataclasses import asdict

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from agents import loop
from db.models import Campaign, CampaignStatus, JobKind
from db.session import get_engine, session_scope
from vitrify.settings import get_settings


def _campaign(session, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise loop.CampaignError(f"no campaign {campaign_id}")
    return campaign


@task(name="retrain", task_run_name="retrain-c{campaign_id}-i{iteration}")
def retrain_task(campaign_id: int, iteration: int) -> dict:
    with session_scope() as session:
        version = loop.retrain(session, _campaign(session, campaign_id), iteration)
        return {"model_version_id": version.id, "metrics": version.metrics, "train_size": version.train_size}


@task(name="propose", task_run_name="propose-c{campaign_id}-i{iteration}")
def propose_task(campaign_id: int, iteration: int) -> list[dict]:
    with session_scope() as session:
        proposals = loop.propose(session, _campaign(session, campaign_id), iteration)
        from db.models import Composition as CompositionRow

        return [
            {
                "composition": session.get(CompositionRow, p.composition_id).canonical,
                "p_gfa": round(p.p_gfa, 3),
                "glass_probability": round(p.glass_probability or 0.0, 3),
                "uncertainty": round(p.uncertainty or 0.0, 3),
                "acquisition": round(p.acquisition or 0.0, 3),
                "sent_to": p.destination,
            }
            for p in proposals
        ]


@task(name="run-jobs", task_run_name="run-jobs-c{campaign_id}-i{iteration}")
def run_jobs_task(campaign_id: int, iteration: int) -> list[dict]:
    """Claim the queued replay jobs and answer them on Ray workers."""
    import ray

    from agents.ray_runtime import ensure_ray
    from agents.replay import ReplayOracle, answer_replay_job

    with session_scope() as session:
        campaign = _campaign(session, campaign_id)
        config = loop.campaign_config(campaign)
        payloads = loop.claim_jobs(session, campaign, JobKind.REPLAY.value)
    if not payloads:
        return []
    ensure_ray()
    oracle = ReplayOracle.from_csv(config.oracle_csv)
    oracle_ref = ray.put(oracle)
    remote = ray.remote(num_cpus=0.25, max_retries=3)(answer_replay_job)
    refs = [remote.remote(oracle_ref, p) for p in payloads]
    results = []
    for payload, ref in zip(payloads, refs):
        try:
            results.append(ray.get(ref, timeout=300))
        except Exception as exc:  # a worker error must not lose the other answers
            results.append({"job_id": payload["job_id"], "error": repr(exc), "canonical": payload["canonical"]})
    return results


@task(name="ingest", task_run_name="ingest-c{campaign_id}-i{iteration}")
def ingest_task(campaign_id: int, iteration: int, results: list[dict]) -> dict:
    with session_scope() as session:
        campaign = _campaign(session, campaign_id)
        config = loop.campaign_config(campaign)
        summary = loop.ingest_replay_results(session, results, oracle_name=config.oracle_csv or "oracle")
        campaign.iterations_done = iteration
        campaign.updated_at = loop.utcnow()
        session.add(campaign)
        return asdict(summary)


@flow(name="campaign", log_prints=True, flow_run_name="campaign-{campaign_id}")
def campaign_flow(campaign_id: int) -> dict:
    logger = get_run_logger()
    get_engine()  # fail early on a bad database URL
    with session_scope() as session:
        campaign = _campaign(session, campaign_id)
        config = loop.campaign_config(campaign)
        start_iteration = campaign.iterations_done
        campaign.status = CampaignStatus.RUNNING.value
        session.add(campaign)
    rows = []
    found_total = 0
    picks_total = 0
    started = time.perf_counter()
    try:
        model = retrain_task(campaign_id, start_iteration)
        for iteration in range(start_iteration + 1, config.iterations + 1):
            t0 = time.perf_counter()
            batch = propose_task(campaign_id, iteration)
            results = run_jobs_task(campaign_id, iteration)
            ingested = ingest_task(campaign_id, iteration, results)
            model = retrain_task(campaign_id, iteration)
            found_total += ingested["glasses"]
            picks_total += len(batch)
            metrics = model["metrics"]
            row = {
                "iteration": iteration,
                "proposed": len(batch),
                "glasses": ingested["glasses"],
                "glasses_total": found_total,
                "no_data": ingested["no_data"],
                "cv_auc": round(metrics.get("grouped_cv_roc_auc", float("nan")), 3),
                "train_size": model["train_size"],
                "model_version": model["model_version_id"],
                "seconds": round(time.perf_counter() - t0, 1),
            }
            rows.append(row)
            best = ", ".join(b["composition"] for b in batch[:3])
            print(
                f"iteration {iteration}/{config.iterations}: proposed {len(batch)} (top: {best}) | "
                f"glasses {ingested['glasses']}/{len(batch)}, {found_total} in total | "
                f"grouped-CV ROC-AUC {row['cv_auc']} on {row['train_size']} labels | model v{row['model_version']} | "
                f"{row['seconds']} s"
            )
            create_table_artifact(
                key=f"campaign-{campaign_id}-batch", table=batch, description=f"Batch of iteration {iteration}"
            )
        summary = {
            "iterations": rows,
            "picks": picks_total,
            "glasses_found": found_total,
            "hit_rate": round(found_total / picks_total, 3) if picks_total else None,
            "seconds": round(time.perf_counter() - started, 1),
        }
        with session_scope() as session:
            loop.finish_campaign(session, _campaign(session, campaign_id), CampaignStatus.FINISHED, summary)
    except BaseException:
        with session_scope() as session:
            loop.finish_campaign(session, _campaign(session, campaign_id), CampaignStatus.FAILED, {"iterations": rows})
        raise
    if rows:
        create_table_artifact(key=f"campaign-{campaign_id}-summary", table=rows, description="Per-iteration summary")
        create_markdown_artifact(
            key=f"campaign-{campaign_id}-result",
            markdown=f"## Campaign {campaign_id}\n\n{found_total} glasses in {picks_total} picks "
            f"({summary['hit_rate']:.0%} hit rate) over {len(rows)} iterations, {summary['seconds']} s.",
        )
    logger.info("campaign %s finished: %s glasses in %s picks", campaign_id, found_total, picks_total)
    return summary


def settings_summary() -> str:
    s = get_settings()
    return f"database {s.sqlalchemy_url.split('@')[-1]}, data dir {s.data_dir}"
