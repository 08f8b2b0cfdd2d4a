"""What a campaign asks of a worker, named: jobs go in with :meth:`Worker.submit`, answers
come back from :meth:`Worker.collect`, each at most once per job.

agents.simulation.worker.SimulationRunner (MD on Ray) is one; the replay oracle answers
inside Ray tasks of flows.campaign; the lab is a queue people serve (db.lab).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Worker(Protocol):
    def submit(self, payload: dict) -> None:
        """Start one job (``payload`` has at least ``job_id`` and ``canonical``)."""

    def collect(self, wait_s: float = 0.0) -> list[dict]:
        """The answers that finished (waiting up to ``wait_s``), each as a dict with ``job_id``."""
