"""Helpers for a cluster on one machine (tests/test_cluster.py, bench/bench_overhead_cluster.py):
wait for a service's health URL, and stop only the Ray processes of one temp dir."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx


def wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None) -> None:
    """Return once ``url`` answers 200; fail after ``timeout`` s or if ``proc`` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{proc.args} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass  # not listening yet
        time.sleep(0.5)
    raise AssertionError(f"{url} not healthy after {timeout} s")


def stop_ray_processes(temp_dir: Path) -> None:
    """Kill the Ray processes started with ``--temp-dir=temp_dir`` only: `ray stop` would end
    every Ray on the machine, including a test session's own."""
    import psutil

    mine = [p for p in psutil.process_iter(["cmdline"]) if str(temp_dir) in " ".join(p.info["cmdline"] or [])]
    for proc in mine:
        try:
            proc.kill()
        except psutil.Error:
            pass  # already gone
    psutil.wait_procs(mine, timeout=20)
