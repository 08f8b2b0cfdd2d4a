"""20 concurrent reporters x 50 reports over real HTTP lose nothing and duplicate nothing,
on a real SQLite file and a real PostgreSQL; racing reports of one job leave one winner, and
racing claims hand each job to exactly one reporter."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import func, select
from sqlmodel import Session

from db import lab
from db import tokens, transactions
from db.models import Job, Measurement, Outcome

REPORTERS = 20
REPORTS_EACH = 50
CONTENDED = 5


def _compositions(n: int) -> list[str]:
    out = []
    for cu in range(20, 70):
        for zr in range(20, 80 - cu + 20):
            al = 100 - cu - zr
            if al >= 1:
                out.append(f"Cu{cu}Zr{zr}Al{al}")
            if len(out) == n:
                return out
    raise AssertionError("not enough compositions")


def test_concurrent_reporters_lose_and_duplicate_nothing(engine, server):
    operator = transactions.run_write(engine, lambda s: tokens.create_token(s, name="olga", role="operator"))[0]
    comps = _compositions(REPORTERS * REPORTS_EACH + CONTENDED)
    jobs = transactions.run_write(engine, lambda s: lab.request_experiments(s, comps[: REPORTERS * REPORTS_EACH], token=operator,
                                                                   processing="melt-spinning"))
    assert len(jobs) == REPORTERS * REPORTS_EACH
    secrets = [transactions.run_write(engine, lambda s, i=i: tokens.create_token(s, name=f"r{i:02d}", role="reporter"))[1] for i in range(REPORTERS)]
    statuses: Counter = Counter()
    mine: dict[int, list[int]] = {i: [] for i in range(REPORTERS)}
    lock = threading.Lock()
    start = threading.Barrier(REPORTERS)

    # reporter i makes jobs i, i + 20, i + 40, ...: neighbouring jobs are reported at the same moment
    assigned = {i: [j for n, j in enumerate(jobs) if n % REPORTERS == i] for i in range(REPORTERS)}

    def reporter(i: int) -> None:
        headers = {"Authorization": f"Bearer {secrets[i]}"}
        with httpx.Client(base_url=server, headers=headers, timeout=120) as c:
            start.wait()
            for k, job in enumerate(assigned[i]):
                r = c.post("/api/reports", json={
                    "job_id": job["job_id"], "composition": job["composition"],
                    "result": "amorphous" if k % 2 else "crystalline", "sample_id": f"r{i:02d}-{k:02d}",
                    "measurements": {"Tg": {"value": 600 + k, "unit": "K"}},
                })
                with lock:
                    statuses[r.status_code] += 1
                    if r.status_code == 201:
                        mine[i].append(job["job_id"])

    with ThreadPoolExecutor(REPORTERS) as pool:
        for f in [pool.submit(reporter, i) for i in range(REPORTERS)]:
            f.result()
    assert statuses == Counter({201: REPORTERS * REPORTS_EACH})
    assert all(len(v) == REPORTS_EACH for v in mine.values())

    # everyone races for the same few jobs, with a composition nobody has stored yet, and
    # re-sends an earlier report (a client retry): one winner per job, no duplicates
    contended = [j["job_id"] for j in transactions.run_write(engine, lambda s: lab.request_experiments(
        s, comps[-CONTENDED:], token=operator, processing="melt-spinning"))]
    race: Counter = Counter()
    winners: Counter = Counter()
    start = threading.Barrier(REPORTERS)

    def racer(i: int) -> None:
        headers = {"Authorization": f"Bearer {secrets[i]}"}
        with httpx.Client(base_url=server, headers=headers, timeout=120) as c:
            start.wait()
            for n, job_id in enumerate(contended):
                r = c.post("/api/reports", json={"job_id": job_id, "composition": f"Cu{30 + n}Zr{40 - n}Al30",
                                                 "result": "amorphous" if i % 2 else "crystalline"})
                with lock:
                    race[r.status_code] += 1
                    if r.status_code == 201:
                        winners[job_id] += 1
                    else:
                        assert r.json()["errors"][0]["field"] == "job_id", r.text
            job_id = mine[i][0]
            r = c.post("/api/reports", json={"job_id": job_id, "composition": comps[0], "result": "amorphous"})
            with lock:
                race[r.status_code] += 1

    with ThreadPoolExecutor(REPORTERS) as pool:
        for f in [pool.submit(racer, i) for i in range(REPORTERS)]:
            f.result()
    assert race == Counter({201: CONTENDED, 409: REPORTERS * CONTENDED - CONTENDED + REPORTERS})
    assert winners == Counter({j: 1 for j in contended})

    # and everyone claims from a fresh queue at once: each job goes to exactly one reporter
    fresh = transactions.run_write(engine, lambda s: lab.request_experiments(s, [f"Ni{n}Nb{100 - n}" for n in range(30, 30 + 3 * REPORTERS)],
                                                                    token=operator, processing="melt-spinning"))
    claims: Counter = Counter()
    start = threading.Barrier(REPORTERS)

    def claimer(i: int) -> None:
        with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {secrets[i]}"}, timeout=120) as c:
            start.wait()
            for _ in range(3):
                job = c.post("/api/queue/claim-next", json={}).json()["job"]
                with lock:
                    claims[job["job_id"]] += 1
                assert job["claimed_by"] == f"r{i:02d}"

    with ThreadPoolExecutor(REPORTERS) as pool:
        for f in [pool.submit(claimer, i) for i in range(REPORTERS)]:
            f.result()
    assert claims == Counter({j["job_id"]: 1 for j in fresh})
    fresh_ids = {j["job_id"] for j in fresh}

    with Session(engine) as s:
        outcomes = s.exec(select(Outcome)).scalars().all()
        per_job = Counter(o.job_id for o in outcomes)
        assert len(outcomes) == REPORTERS * REPORTS_EACH + CONTENDED
        assert set(per_job.values()) == {1} and set(per_job) == {j["job_id"] for j in jobs} | set(contended)
        assert s.exec(select(func.count()).select_from(Measurement)).scalar_one() == REPORTERS * REPORTS_EACH
        assert {j.status for j in s.exec(select(Job)).scalars() if j.id not in fresh_ids} == {"succeeded"}
        by_job = {o.job_id: o for o in outcomes}
        for i, job_ids in mine.items():  # each report is stored under the reporter who claimed and sent it
            assert {by_job[j].reporter for j in job_ids} == {f"r{i:02d}"}
