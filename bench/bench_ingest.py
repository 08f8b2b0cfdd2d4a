"""Lab report ingestion rate: REST API (one client, several concurrent clients) and bulk CSV
(`vitrify lab import` and the API's CSV upload), on SQLite and on PostgreSQL.

    .venv/bin/python bench/bench_ingest.py [--reports 1000] [--clients 8] [--backends sqlite,postgresql]

The intake server runs as its own process (`vitrify serve` on a loopback port), as in
production; clients are threads with keep-alive HTTP connections. PostgreSQL is a real
server started for the run (db.local_postgres). Each report answers its own experiment job
and carries one measurement, so every report goes through the full validation path.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def compositions(n: int, offset: int = 0) -> list[str]:
    out = []
    for a in range(200, 800):
        for b in range(100, 1000 - a - 10, 5):
            c = 1000 - a - b
            out.append(f"Cu{a / 10:g}Zr{b / 10:g}Al{c / 10:g}")
            if len(out) == n + offset:
                return out[offset:]
    raise ValueError("too many reports asked for")


def start_server(url: str, log: Path) -> tuple[subprocess.Popen, str]:
    import httpx

    from db.local_postgres import free_port

    port = free_port()
    env = {**os.environ, "VITRIFY_DATABASE_URL": url, "VITRIFY_INTAKE_HOST": "127.0.0.1", "VITRIFY_INTAKE_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "-c", "from vitrify.cli import app; app()", "serve"], env=env, cwd=REPO,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(base + "/api/health", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the intake server did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.2)


def bench_api(base: str, secret: str, jobs: list[dict], clients: int) -> float:
    import httpx

    chunks = [jobs[i::clients] for i in range(clients)]
    errors: list[str] = []
    barrier = threading.Barrier(clients + 1)

    def client(chunk: list[dict]) -> None:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {secret}"}, timeout=120) as c:
            barrier.wait()
            for job in chunk:
                r = c.post("/api/reports", json={"job_id": job["job_id"], "composition": job["composition"], "result": "amorphous",
                                                 "measurements": {"Tg": {"value": 700, "unit": "K"}}})
                if r.status_code != 201:
                    errors.append(r.text)

    threads = [threading.Thread(target=client, args=(chunk,)) for chunk in chunks]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} reports refused, e.g. {errors[0]}")
    return elapsed


def csv_text(jobs: list[dict]) -> str:
    lines = ["job_id,composition,method,result,tg_k"]
    lines += [f"{j['job_id']},{j['composition']},melt-spinning,amorphous,700" for j in jobs]
    return "\n".join(lines) + "\n"


def run_backend(name: str, url: str, n: int, clients: int, workdir: Path) -> list[tuple]:
    import httpx

    from db import lab
    from db import tokens, transactions
    from db.migrate import upgrade
    from db.session import get_engine

    engine = get_engine(url)
    upgrade(engine)
    operator = transactions.run_write(engine, lambda s: tokens.create_token(s, name="bench-operator", role="operator"))[0]
    reporter_row, secret = transactions.run_write(engine, lambda s: tokens.create_token(s, name="bench", role="reporter"))
    reporter = tokens.authenticate_engine(engine, secret)
    channels = [("API, 1 client", "api1"), (f"API, {clients} clients", "apiN"), ("CSV, vitrify lab import", "csv"),
                ("CSV, POST /api/reports/csv", "csvapi")]
    all_comps = compositions(n * len(channels))
    jobs = {}
    for k, (_, key) in enumerate(channels):
        comps = all_comps[k * n:(k + 1) * n]
        jobs[key] = transactions.run_write(engine, lambda s, comps=comps: lab.request_experiments(s, comps, token=operator, processing="melt-spinning"))
    rows = []
    proc, base = start_server(url, workdir / f"server-{name}.log")
    try:
        rows.append((name, channels[0][0], n, bench_api(base, secret, jobs["api1"], 1)))
        rows.append((name, channels[1][0], n, bench_api(base, secret, jobs["apiN"], clients)))
        path = workdir / f"reports-{name}.csv"
        path.write_text(csv_text(jobs["csv"]))
        started = time.perf_counter()
        result = lab.import_csv(engine, path, token=reporter)
        rows.append((name, channels[2][0], result.rows, time.perf_counter() - started))
        body = csv_text(jobs["csvapi"])
        started = time.perf_counter()
        r = httpx.post(base + "/api/reports/csv?name=bench.csv", content=body, timeout=600,
                       headers={"Authorization": f"Bearer {secret}", "Content-Type": "text/csv"})
        elapsed = time.perf_counter() - started
        if r.status_code != 201:
            raise RuntimeError(r.text[:2000])
        rows.append((name, channels[3][0], r.json()["rows"], elapsed))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        engine.dispose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=1000, help="reports per channel (default 1000)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent API clients (default 8)")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    workdir = Path(tempfile.mkdtemp(prefix="vitrify-bench-"))
    os.environ["VITRIFY_DATA_DIR"] = str(workdir / "data")
    rows = []
    pg = None
    try:
        for backend in args.backends.split(","):
            if backend == "sqlite":
                url = f"sqlite:///{workdir / 'bench.db'}"
            elif backend == "postgresql":
                from db.local_postgres import start_local_postgres

                pg = start_local_postgres(workdir / "pgdata")
                url = pg.create_database("bench")
            else:
                raise SystemExit(f"unknown backend {backend!r}")
            print(f"{backend}: {args.reports} reports per channel ...", flush=True)
            rows += run_backend(backend, url, args.reports, args.clients, workdir)
    finally:
        if pg is not None:
            pg.stop()
    width = max(len(r[1]) for r in rows)
    print(f"\nlab report ingestion ({os.cpu_count()} cores; server: `vitrify serve` in its own process)\n")
    print(f"{'database':<11} {'channel':<{width}} {'reports':>8} {'seconds':>8} {'reports/s':>10}")
    print(f"{'-' * 11} {'-' * width} {'-' * 8} {'-' * 8} {'-' * 10}")
    for backend, channel, n, seconds in rows:
        print(f"{backend:<11} {channel:<{width}} {n:>8} {seconds:>8.2f} {n / seconds:>10.0f}")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
