"""Simulation jobs as Ray tasks: declared cores, a timeout, retries when a worker dies,
cancellation. The task itself touches no database: it returns a plain result dict that
the campaign ingests (idempotently, once per job).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from agents.simulation.engine import STATUS_FAILED, SimulationSettings, run_simulation
from discovery.composition import parse_composition

# Ray retries a task whose worker process died (SIGKILL, OOM) this many times.
WORKER_DEATH_RETRIES = 2


def simulate_job(payload: dict) -> dict:
    """Run one simulation job (inside a Ray worker). ``payload``: job_id, canonical,
    settings (SimulationSettings dict), cores, workdir."""
    workdir = Path(payload["workdir"]) / f"job-{payload['job_id']}"
    workdir.mkdir(parents=True, exist_ok=True)
    # which process runs the job, so an operator (or a test) can find and stop it
    (workdir / "worker.pid").write_text(str(os.getpid()))
    composition = parse_composition(payload["canonical"])
    settings = SimulationSettings.from_dict(payload["settings"])
    result = run_simulation(composition, settings, workdir, cores=int(payload.get("cores", 1)))
    out = result.to_dict()
    out["job_id"] = payload["job_id"]
    out["worker_pid"] = os.getpid()
    return out


@dataclass
class _InFlight:
    payload: dict
    ref: object
    submitted: float


@dataclass
class SimulationRunner:
    """Submits simulation jobs to Ray and hands back finished ones without blocking."""

    cores: int = 1
    timeout_s: float = 3600.0
    in_flight: dict[int, _InFlight] = field(default_factory=dict)

    def _remote(self):
        import ray

        return ray.remote(num_cpus=self.cores, max_retries=WORKER_DEATH_RETRIES, retry_exceptions=False)(simulate_job)

    def submit(self, payload: dict) -> None:
        from agents.ray_runtime import ensure_ray

        if payload["job_id"] in self.in_flight:
            return  # already running in this process: never submit a job twice
        ensure_ray()
        payload = {**payload, "cores": self.cores}
        self.in_flight[payload["job_id"]] = _InFlight(payload, self._remote().remote(payload), time.monotonic())

    def cancel(self, job_id: int) -> bool:
        import ray

        entry = self.in_flight.pop(job_id, None)
        if entry is None:
            return False
        ray.cancel(entry.ref, force=True)
        return True

    def collect(self, wait_s: float = 0.0) -> list[dict]:
        """Results of finished jobs (and timeouts/errors as failed results); waits at most ``wait_s``."""
        import ray

        if not self.in_flight:
            return []
        refs = {id(e.ref): job_id for job_id, e in self.in_flight.items()}
        ready, _ = ray.wait([e.ref for e in self.in_flight.values()], num_returns=len(self.in_flight), timeout=wait_s)
        out = []
        for ref in ready:
            job_id = refs[id(ref)]
            entry = self.in_flight.pop(job_id)
            try:
                out.append(ray.get(ref))
            except Exception as exc:  # the task failed after its retries (e.g. worker died 3 times)
                out.append(self._failed(entry, f"{type(exc).__name__}: {exc}", worker_died="WorkerCrashed" in repr(exc)))
        now = time.monotonic()
        for job_id, entry in list(self.in_flight.items()):
            if now - entry.submitted > self.timeout_s:
                self.cancel(job_id)
                out.append(self._failed(entry, f"timed out after {self.timeout_s:g} s"))
        return out

    def wait_all(self, timeout_s: float) -> list[dict]:
        deadline = time.monotonic() + timeout_s
        results = []
        while self.in_flight and time.monotonic() < deadline:
            results += self.collect(wait_s=min(5.0, max(0.0, deadline - time.monotonic())))
        return results

    @staticmethod
    def _failed(entry: _InFlight, reason: str, worker_died: bool = False) -> dict:
        return {
            "job_id": entry.payload["job_id"],
            "composition": entry.payload["canonical"],
            "status": STATUS_FAILED,
            "reason": reason,
            "worker_died": worker_died,
            "settings": entry.payload["settings"],
        }
