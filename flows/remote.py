"""What the campaign flow runs on Ray, and what it keeps between iterations: the remote
functions (replay answers, iteration reports), the replay data set in Ray's object store,
and one MD runner per campaign. Each is made once per process (and Ray session)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from agents.config import CampaignConfig


# what the flow's Ray tasks import (replay answers, iteration reports)
WORKER_MODULES = ("agents.replay", "flows.report")



@lru_cache(maxsize=1)
def answer_remote():
    import ray

    from agents.replay import answer_replay_jobs

    # One whole CPU each for answers and reports, although neither needs it: Ray keeps one
    # idle worker per CPU, so whole CPUs put the two on distinct warm workers (on a cluster:
    # distinct nodes), where fractions packed them onto one and started a worker per iteration.
    return ray.remote(num_cpus=1, max_retries=3)(answer_replay_jobs)



_ORACLE_REFS: dict[tuple, object] = {}



def oracle_ref(path: str):
    """The replay data set, parsed and put into Ray's object store once per process and Ray
    session (again if the file changes)."""
    import ray

    from agents.replay import ReplayOracle

    key = (path, Path(path).stat().st_mtime_ns, ray.get_runtime_context().get_job_id())
    if key not in _ORACLE_REFS:
        _ORACLE_REFS.clear()
        _ORACLE_REFS[key] = ray.put(ReplayOracle.from_csv(path))
    return _ORACLE_REFS[key]



@lru_cache(maxsize=1)
def render_remote():
    import ray

    from flows.report import render_iteration_report

    return ray.remote(num_cpus=1, max_retries=1)(render_iteration_report)  # see answer_remote



_RUNNERS: dict = {}  # campaign id -> agents.simulation.worker.SimulationRunner, in the flow process



def simulation_runner(campaign_id: int, config: CampaignConfig):
    from agents.simulation.worker import SimulationRunner

    if campaign_id not in _RUNNERS:
        _RUNNERS[campaign_id] = SimulationRunner(cores=config.simulation_cores, timeout_s=config.simulation_timeout_s)
    return _RUNNERS[campaign_id]
