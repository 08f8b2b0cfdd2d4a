"""The ``campaign`` Prefect flow: propose -> run jobs on Ray -> ingest -> retrain, N times.

Each step is a named Prefect task running in the flow process; the work that scales out
(replay answers, simulations) is submitted to Ray from the ``run-jobs`` task, so Ray
workers never need a Prefect server of their own.

The database is the campaign's memory: every step commits before the next starts, and the
flow picks up where the database says it is. Running the flow again for a campaign whose
process died (``vitrify campaign resume ID``) re-attaches the in-flight jobs of the
interrupted iteration instead of proposing again, so nothing is lost or duplicated.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from datetime import datetime, timezone

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_progress_artifact, create_table_artifact, update_progress_artifact
from prefect.tasks import exponential_backoff

from agents import loop
from agents.config import CampaignConfig, campaign_config
from db import campaigns, jobs
from flows import remote
from flows.publish import IterationReports
from db.campaigns import CampaignError
from db.models import Campaign, CampaignStatus, JobKind
from db.session import get_engine, session_scope
from vitrify.settings import get_settings

def _worth_retrying(task, task_run, state) -> bool:
    """A CampaignError (an unknown campaign, an objective no model predicts) fails the same
    way every time: only other errors are retried."""
    try:
        state.result()
    except CampaignError:
        return False
    except Exception:
        return True
    return True


# Database steps are transactions (all or nothing), so retrying them after a transient
# error (a dropped connection, a locked SQLite file) is safe.
_DB_RETRIES = dict(retries=3, retry_delay_seconds=exponential_backoff(backoff_factor=2), retry_jitter_factor=0.5,
                   retry_condition_fn=_worth_retrying)


def _campaign(session, campaign_id: int) -> Campaign:
    return campaigns.get_campaign(session, campaign_id)


@task(name="retrain", task_run_name="retrain-c{campaign_id}-i{iteration}", **_DB_RETRIES)
def retrain_task(campaign_id: int, iteration: int) -> dict:
    with session_scope() as session:
        campaign = _campaign(session, campaign_id)
        result = loop.retrain(session, campaign, iteration)
        version = result.gfa
        return {"model_version_id": version.id, "metrics": version.metrics, "train_size": version.train_size,
                "models": [u.as_dict() for u in result.updates], "models_line": result.line()}


@task(name="propose", task_run_name="propose-c{campaign_id}-i{iteration}", **_DB_RETRIES)
def propose_task(campaign_id: int, iteration: int) -> dict:
    """Pick the batch, or return the one already recorded for this iteration (resume)."""
    with session_scope() as session:
        campaign = _campaign(session, campaign_id)
        timings = {"scoring_seconds": 0.0}
        proposals = campaigns.iteration_proposals(session, campaign.id, iteration) or loop.propose(session, campaign, iteration, timings)
        batch = loop.batch_table(session, proposals, campaign_config(campaign))
        return {"batch": batch, "work_seconds": timings["scoring_seconds"]}


@task(name="run-jobs", task_run_name="run-jobs-c{campaign_id}-i{iteration}")
def run_jobs_task(campaign_id: int, iteration: int) -> list[dict]:
    """Claim the campaign's replay jobs (queued, or in flight when a run died) and answer them on Ray."""
    import ray

    from agents.ray_runtime import ensure_ray

    with session_scope() as session:
        campaign = _campaign(session, campaign_id)
        config = campaign_config(campaign)
        payloads = jobs.claim_jobs(session, campaign, JobKind.REPLAY.value)
    if not payloads:
        return []
    ensure_ray(warm_modules=remote.WORKER_MODULES)
    # All of an iteration's replay jobs in one Ray task: an answer is a dictionary lookup,
    # and a Ray task per job made Ray start (and reap) a worker process per job, seconds
    # of pure overhead every iteration.
    try:
        return ray.get(remote.answer_remote().remote(remote.oracle_ref(config.oracle_csv), payloads), timeout=300)
    except Exception as exc:  # the jobs go back to the queue (ingest_replay_results) with the error
        return [{"job_id": p["job_id"], "error": repr(exc), "canonical": p["canonical"]} for p in payloads]


@task(name="ingest", task_run_name="ingest-c{campaign_id}-i{iteration}", **_DB_RETRIES)
def ingest_task(campaign_id: int, iteration: int, results: list[dict]) -> dict:
    with session_scope() as session:
        campaign = _campaign(session, campaign_id)
        config = campaign_config(campaign)
        summary = jobs.ingest_replay_results(session, results, oracle_name=config.oracle_csv or "oracle")
        campaigns.record_iteration_done(session, campaign, iteration)
        # an operator's stop (db.lab.stop_campaign) reaches campaigns without a lab destination here
        return {**asdict(summary), "stop_requested": campaign.status == CampaignStatus.STOPPED.value}


@task(name="collect-lab-results", task_run_name="lab-c{campaign_id}-i{iteration}", **_DB_RETRIES)
def lab_task(campaign_id: int, iteration: int) -> dict:
    """Release experiment jobs to the lab (approval, nightly budget) and pick up reports that
    arrived since the last iteration. Never waits for the lab."""
    from db.lab import pending_lab_results

    progress = pending_lab_results(campaign_id)
    return {
        "new_reports": len(progress.new_outcomes),
        "glasses": progress.glasses,
        "released": progress.released,
        "open": progress.open,
        "awaiting_approval": progress.awaiting_approval,
        "stop_requested": progress.stop_requested,
    }


@task(name="simulations", task_run_name="simulations-c{campaign_id}-i{iteration}")
def simulation_task(campaign_id: int, iteration: int, wait_s: float = 0.0) -> dict:
    """Submit the campaign's new MD jobs to Ray and ingest the ones that finished; never
    blocks on running simulations unless ``wait_s`` asks for it (the end of a campaign).

    Jobs left "running" by a process that died are submitted again (ingestion is once
    per job, so a duplicate answer is ignored)."""
    with session_scope() as session:
        campaign = _campaign(session, campaign_id)
        config = campaign_config(campaign)
        runner = remote.simulation_runner(campaign_id, config)
        payloads = [p for p in jobs.claim_jobs(session, campaign, JobKind.SIMULATION.value) if p["job_id"] not in runner.in_flight]
    workdir = get_settings().data_dir / "simulations" / f"campaign-{campaign_id}"
    settings = config.simulation_settings().to_dict()
    for payload in payloads:
        runner.submit({**payload, "settings": settings, "workdir": str(workdir)})
    finished = runner.wait_all(wait_s) if wait_s else runner.collect()
    with session_scope() as session:
        summary = jobs.ingest_simulation_results(session, finished)
    return {"submitted": len(payloads), "finished": len(finished), "succeeded": summary.succeeded,
            "failed": summary.failed, "running": len(runner.in_flight)}


def _tag_flow_run(*tags_: str) -> None:
    """Campaign tags on the flow run (the UI filters runs by them). Task runs carry the
    campaign in their names instead of tags: in Prefect 3.9 a tagged task run asks the API
    for tag-concurrency slots before it starts, and that call stalled ~2 s whenever Prefect's
    5-s "no such limit" cache had expired, i.e. about once per task in a campaign
    (measured with the local server; bench/bench_overhead.py)."""
    from prefect.client.orchestration import get_client
    from prefect.runtime import flow_run

    if not flow_run.id:
        return
    with get_client(sync_client=True) as client:
        current = client.read_flow_run(flow_run.id)
        client.update_flow_run(flow_run.id, tags=sorted(set(current.tags or []) | set(tags_)))


def _flow_run_name() -> str:
    from prefect.runtime import flow_run

    params = flow_run.parameters
    if params.get("campaign_id") is not None:
        return f"campaign-{params['campaign_id']}"
    config = params.get("config") or {}
    name = config.get("name") if isinstance(config, dict) else getattr(config, "name", None)
    return f"campaign-new-{name or 'unnamed'}"


_NO_LAB = {"new_reports": 0, "glasses": 0, "released": 0, "open": 0, "awaiting_approval": 0, "stop_requested": False}


@flow(name="campaign", log_prints=True, flow_run_name=_flow_run_name)
def campaign_flow(campaign_id: int | None = None, config: CampaignConfig | None = None,
                  campaign_file: dict | None = None) -> dict:
    """Run (or resume) a campaign: ``campaign_id`` of an existing one, or a ``config`` for a
    new one (with ``campaign_file``, the document it came from, stored with it)."""
    logger = get_run_logger()
    get_engine()  # fail early on a bad database URL
    with session_scope() as session:
        if campaign_id is None:
            if config is None:
                raise CampaignError("give a campaign_id or a config")
            campaign = loop.create_campaign(session, config, campaign_file=campaign_file)
        else:
            campaign = _campaign(session, campaign_id)
        campaign_id = campaign.id
        config = campaign_config(campaign)
        start_iteration = campaign.iterations_done
        deadline = config.deadline_after(campaign.created_at.replace(tzinfo=campaign.created_at.tzinfo or timezone.utc))
        campaigns.set_status(session, campaign, CampaignStatus.RUNNING)
    if start_iteration:
        print(f"resuming campaign {campaign_id} after iteration {start_iteration}")
    rows: list[dict] = []
    with session_scope() as session:
        from db.lab import unseen_lab_glasses
        from db.queries import campaign_discovery_counts

        # only the finished iterations: a batch proposed (and perhaps partly answered) before a
        # crash is that of the iteration this run does next, and is counted once, then
        before = campaign_discovery_counts(session, campaign_id, through_iteration=start_iteration)
        # lab glasses reported while no run was going are counted when the lab task reports them
        unseen = unseen_lab_glasses(session, campaign_id)
    found_total, picks_total = (before[-1] if before else 0) - unseen, len(before)

    def _counted(iteration: int) -> tuple[int, int]:
        """(glasses, picks) through ``iteration``, from the database: the truth even when an
        interrupted batch was partly answered before the crash."""
        with session_scope() as session:
            counts = campaign_discovery_counts(session, campaign_id, through_iteration=iteration)
        return (counts[-1] if counts else 0), len(counts)
    stop_reason = "iterations"
    started = time.perf_counter()
    progress = create_progress_artifact(
        progress=100.0 * start_iteration / config.iterations, key=f"campaign-{campaign_id}-progress",
        description=f"Campaign {campaign_id}: share of planned iterations done",
    )
    _tag_flow_run(f"campaign-{campaign_id}", f"agent-{config.agent.name}")
    reports = IterationReports(campaign_id, config, logger)
    to_lab, to_replay = config.sends_to(JobKind.EXPERIMENT.value), config.sends_to(JobKind.REPLAY.value)
    try:
        model = retrain_task(campaign_id, start_iteration)
        for iteration in range(start_iteration + 1, config.iterations + 1):
            if deadline is not None and datetime.now(timezone.utc) >= deadline:
                stop_reason = f"deadline {config.until} {config.timezone}"
                print(f"deadline {deadline.isoformat()} reached: no new iteration")
                break
            t0 = time.perf_counter()
            proposed = propose_task(campaign_id, iteration)
            batch = proposed["batch"]
            if not batch:
                stop_reason = "budget spent" if config.budget is not None else "no candidates left"
                print(f"nothing left to propose ({stop_reason}): no new iteration")
                break
            lab = lab_task(campaign_id, iteration) if to_lab else _NO_LAB
            if lab["stop_requested"]:
                stop_reason = "stopped by an operator"
                print("an operator stopped the campaign: no new iteration")
                break
            results = run_jobs_task(campaign_id, iteration) if to_replay else []
            sims = simulation_task(campaign_id, iteration) if config.simulation_budget else None
            ingested = ingest_task(campaign_id, iteration, results)
            if ingested.pop("stop_requested"):
                stop_reason = "stopped by an operator"
                print("an operator stopped the campaign: no new iteration")
                break
            model = retrain_task(campaign_id, iteration)
            ingested["glasses"] += lab["glasses"]
            if iteration == start_iteration + 1 and start_iteration:  # resumed: count from the database
                new_total, picks_total = _counted(iteration)
                ingested["glasses"] = new_total - found_total
                found_total = new_total
            else:
                found_total += ingested["glasses"]
                picks_total += len(batch)
            metrics = model["metrics"]
            row = {
                "iteration": iteration,
                "proposed": len(batch),
                "glasses": ingested["glasses"],
                "glasses_total": found_total,
                "picks_total": picks_total,
                "no_data": ingested["no_data"],
                # None, not NaN, when not computed: PostgreSQL's JSON has no NaN
                "cv_auc": round(metrics["grouped_cv_roc_auc"], 3) if "grouped_cv_roc_auc" in metrics else None,
                "train_size": model["train_size"],
                "model_version": model["model_version_id"],
                "models": model["models_line"],
                "seconds": round(time.perf_counter() - t0, 1),
                # scoring, selection and model fitting; the rest is Prefect/Ray/database bookkeeping
                "work_seconds": round(proposed["work_seconds"] + sum(u["seconds"] for u in model["models"]), 2),
                "fit_seconds": {u["kind"]: u["seconds"] for u in model["models"] if u["status"] == "refit"},
            }
            rows.append(row)
            print(  # short: it follows Prefect's log prefix on an 80-column terminal
                f"iteration {iteration}/{config.iterations}: {ingested['glasses']} glasses in {len(batch)} picks, "
                f"{found_total} in total; "
                + (f"lab {lab['new_reports']} new, {lab['open']} open; " if to_lab else "")
                + (f"MD {sims['submitted']} queued, {sims['succeeded']} done, {sims['running']} running; " if sims else "")
                + (f"ROC-AUC {row['cv_auc']}, " if row["cv_auc"] is not None else "")
                + f"{row['train_size']} labels; models: {row['models']}; {row['seconds']:.0f} s"
            )
            reports.publish()  # the earlier iterations' reports that are ready
            reports.submit(iteration, batch, row)
            update_progress_artifact(progress, progress=100.0 * iteration / config.iterations)
            row["wall_seconds"] = round(time.perf_counter() - t0, 2)  # the whole iteration, as the loop saw it
        if config.simulation_budget:
            # let running simulations finish (bounded) so their results are ingested now
            sims = simulation_task(campaign_id, config.iterations, wait_s=config.simulation_timeout_s)
            print(f"simulations: {sims['finished']} finished at the end, {sims['running']} still running")
        reports.publish(wait=True)
        summary = {
            "iterations": rows,
            "picks": picks_total,
            "glasses_found": found_total,
            "hit_rate": round(found_total / picks_total, 3) if picks_total else None,
            "seconds": round(time.perf_counter() - started, 1),
            "stopped_by": stop_reason,
        }
        final = CampaignStatus.STOPPED if stop_reason == "stopped by an operator" else CampaignStatus.FINISHED
        with session_scope() as session:
            campaigns.finish_campaign(session, _campaign(session, campaign_id), final, summary)
    except BaseException as exc:
        # Ctrl-C is a stop (resumable); anything else is a failure. SIGKILL never gets
        # here: the campaign stays "running" and `vitrify campaign resume` continues it.
        status = CampaignStatus.STOPPED if isinstance(exc, KeyboardInterrupt) else CampaignStatus.FAILED
        with session_scope() as session:
            campaigns.finish_campaign(session, _campaign(session, campaign_id), status, {"iterations": rows, "error": repr(exc)})
        raise
    if rows:  # timing internals (work, fit, wall and report seconds) stay in the flow's return value
        shown = ("iteration", "proposed", "glasses", "glasses_total", "picks_total", "no_data", "cv_auc", "train_size",
                 "model_version", "models", "seconds")
        create_table_artifact(key=f"campaign-{campaign_id}-summary", table=[{k: r.get(k) for k in shown} for r in rows],
                              description=f"Campaign {campaign_id}: one row per iteration of this run")
    result_md = (f"## Campaign {campaign_id}: done ({stop_reason})\n\n{found_total} glasses in {picks_total} picks "
                 f"in total; {len(rows)} iterations in this run, {summary['seconds']} s.")
    pareto = get_settings().plots_dir / f"campaign-{campaign_id}-pareto.png"
    if rows and pareto.exists():  # the last iteration's front, written by its report
        from flows.report import png_markdown

        objectives = ", ".join(o.objective().describe() for o in config.objective_list())
        result_md += f"\n\nObjectives: {objectives}.\n\n" + png_markdown(pareto.read_bytes(), "Pareto front")
    create_markdown_artifact(key=f"campaign-{campaign_id}-result", markdown=result_md,
                             description=f"Campaign {campaign_id} ({config.name}): glasses found, picks and why it stopped")
    logger.info("campaign %s finished: %s glasses in %s picks", campaign_id, found_total, picks_total)
    summary["campaign_id"] = campaign_id
    return summary
