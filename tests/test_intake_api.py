"""The intake REST API over real HTTP: uvicorn on a loopback port, a real SQLite file and a
real PostgreSQL behind it; plus `vitrify serve` as a subprocess, bound to 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import psutil
import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from db import tokens, transactions
from db.local_postgres import free_port
from db.models import Measurement, Outcome


def _secret(engine, role, name):
    return transactions.run_write(engine, lambda s: tokens.create_token(s, name=name, role=role))[1]


def _auth(secret):
    return {"Authorization": f"Bearer {secret}"}


def _outcomes(engine):
    with Session(engine) as s:
        return (s.exec(select(func.count()).select_from(Outcome)).scalar_one(),
                s.exec(select(func.count()).select_from(Measurement)).scalar_one())


def test_nobody_without_a_token_may_write_or_read(engine, server):
    reporter = _secret(engine, "reporter", "ada")
    with httpx.Client(base_url=server, timeout=30) as c:
        assert c.get("/api/health").json()["status"] == "ok"
        assert "amorphous" in c.get("/api/vocabulary").json()["results"]
        body = {"composition": "Cu50Zr50", "result": "amorphous"}
        for headers in ({}, _auth("vit_not-a-token"), {"Authorization": reporter}, _auth(reporter[:-2])):
            r = c.post("/api/reports", json=body, headers=headers)
            assert r.status_code == 401, (headers, r.text)
            assert r.headers.get("www-authenticate") == "Bearer"
            assert c.get("/api/queue", headers=headers).status_code == 401
        for method, path in (("GET", "/api/tokens"), ("POST", "/api/approvals/1/approve"), ("POST", "/api/campaigns/1/stop"),
                             ("POST", "/api/experiments")):
            r = c.request(method, path, headers=_auth(reporter), json={"compositions": ["Cu50Zr50"]} if "experiments" in path else None)
            assert r.status_code == 403, (path, r.text)
            assert "needs operator" in r.json()["detail"] or "needs admin" in r.json()["detail"]
        assert _outcomes(engine) == (0, 0)
        schema = c.get("/openapi.json").json()
        assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
        assert {"/api/reports", "/api/reports/csv", "/api/queue", "/api/history", "/api/tokens"} <= set(schema["paths"])
        assert "composition" in schema["components"]["schemas"]["ReportIn"]["required"]


def test_a_lab_day_over_http(engine, server):
    admin = _secret(engine, "admin", "root")
    with httpx.Client(base_url=server, timeout=30) as c:
        # the admin makes tokens through the API; the secrets work at once
        made = {}
        for role, name in (("operator", "olga"), ("reporter", "ada")):
            r = c.post("/api/tokens", json={"name": name, "role": role}, headers=_auth(admin))
            assert r.status_code == 201 and r.json()["secret"].startswith("vit_")
            made[role] = r.json()["secret"]
        op, rep = _auth(made["operator"]), _auth(made["reporter"])
        assert c.get("/api/whoami", headers=rep).json() == {"name": "ada", "role": "reporter", "prefix": made["reporter"][:10]}
        assert all("secret" not in t and "token_hash" not in t for t in c.get("/api/tokens", headers=_auth(admin)).json())

        jobs = c.post("/api/experiments", json={"compositions": ["Cu50Zr50", "Cu64Zr36", "Al10Cu45Zr45"], "processing": "meltspin"},
                      headers=op).json()
        ids = [j["job_id"] for j in jobs]
        queue = c.get("/api/queue", headers=rep).json()
        assert [q["job_id"] for q in queue] == ids and {q["processing"] for q in queue} == {"melt-spinning"}
        assert c.post(f"/api/jobs/{ids[0]}/claim", json={}, headers=rep).json()["state"] == "claimed by ada"
        assert c.post(f"/api/jobs/{ids[0]}/claim", json={"who": "bob"}, headers=rep).status_code == 409

        good = {"job_id": ids[0], "composition": "Cu49Zr51", "result": "amorphous", "sample_id": "MS-1",
                "measurements": {"Tg": {"value": 427, "unit": "C"}, "Dmax": {"value": "0.05", "unit": "mm"}}}
        r = c.post("/api/reports", json=good, headers=rep)
        assert r.status_code == 201, r.text
        first = r.json()
        assert (first["composition"], first["requested"], first["reporter"], first["channel"]) == ("Cu49Zr51", "Cu50Zr50", "ada", "api")
        assert first["measurements"]["Tg"]["value"] == pytest.approx(700.15)
        before = _outcomes(engine)

        r = c.post("/api/reports", json={**good, "result": "crystalline"}, headers=rep)
        assert r.status_code == 409 and r.json()["errors"][0]["field"] == "job_id" and "contradicts" in r.json()["errors"][0]["message"]
        r = c.post("/api/reports", json={"job_id": ids[1], "composition": "Cu64Zr46", "result": "glassy",
                                         "measurements": {"E": {"value": 90, "unit": "GPa"}, "Tl": {"value": 900, "unit": "kelvin"}}},
                   headers=rep)
        assert r.status_code == 422
        assert [(e["field"], e["row"]) for e in r.json()["errors"]] == [("composition", None), ("E", None), ("Tl", None)]
        r = c.post("/api/reports", json={"composition": "Cu50Zr50", "result": "amorphous", "tg_k": 700}, headers=rep)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "tg_k" and "unknown field" in r.json()["errors"][0]["message"]
        r = c.post("/api/reports/batch", json={"reports": [{"job_id": ids[1], "composition": "Cu64Zr36", "result": "am"},
                                                           {"job_id": ids[2], "composition": "Al10Cu45Zr45", "result": "amorphous",
                                                            "method": "welding"}]}, headers=rep)
        assert r.status_code == 422 and [(e["row"], e["field"]) for e in r.json()["errors"]] == [(2, "method")]
        bad_csv = f"job_id,composition,result,tg_k\n{ids[1]},Cu64Zr36,am,700\n{ids[2]},Al10Cu45Zr45,amorphous,-5\n"
        r = c.post("/api/reports/csv?name=../../etc/x.csv", content=bad_csv, headers={**rep, "Content-Type": "text/csv"})
        assert r.status_code == 422 and [(e["row"], e["field"]) for e in r.json()["errors"]] == [(2, "Tg")]
        assert _outcomes(engine) == before  # every refusal wrote nothing

        r = c.post("/api/reports", json={"composition": "Cu49Zr51", "result": "partially crystalline", "correction_of": first["outcome_id"],
                                         "reason": "XRD: small Bragg peaks"}, headers=rep)
        assert r.status_code == 201 and (r.json()["revision"], r.json()["supersedes_id"]) == (2, first["outcome_id"])
        r = c.post("/api/reports/csv?name=day1.csv", content=bad_csv.replace("-5", "705"), headers={**rep, "Content-Type": "text/csv"})
        assert r.status_code == 201 and r.json()["rows"] == 2
        hist = c.get("/api/history", params={"job_id": ids[0]}, headers=rep).json()
        assert [(h["revision"], h["result"], h["is_current"], h["reason"]) for h in hist] == [
            (1, "amorphous", False, None), (2, "partially crystalline", True, "XRD: small Bragg peaks")]
        assert c.get("/api/history", params={"sample_id": "MS-1"}, headers=rep).json() == hist
        assert c.get(f"/api/jobs/{ids[2]}", headers=rep).json()["history"][0]["channel"] == "api-csv"
        assert c.get("/api/queue", headers=rep).json() == []
        assert c.get("/api/budget", headers=rep).json()["used"] == 3

        token_id = next(t["id"] for t in c.get("/api/tokens", headers=_auth(admin)).json() if t["name"] == "ada")
        assert c.delete(f"/api/tokens/{token_id}", headers=_auth(admin)).status_code == 200
        assert c.get("/api/queue", headers=rep).status_code == 401


def test_the_page_is_served_with_strict_headers(engine, server):
    with httpx.Client(base_url=server, timeout=30) as c:
        page = c.get("/")
        assert page.status_code == 200 and 'id="report-form"' in page.text and "suction-casting" in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY"
        assert "<script>" not in page.text  # no inline script: the CSP forbids it
        assert c.get("/static/app.js").status_code == 200


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_vitrify_serve_binds_loopback_by_default(database_url, tmp_path):
    port = free_port()
    env = {**os.environ, "VITRIFY_DATABASE_URL": database_url, "VITRIFY_INTAKE_PORT": str(port)}
    env.pop("VITRIFY_INTAKE_HOST", None)
    proc = subprocess.Popen([sys.executable, "-c", "from vitrify.cli import app; app()", "serve"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read().decode() if proc.poll() is not None else "timeout"
            time.sleep(0.2)
        listening = [c.laddr for c in psutil.Process(proc.pid).net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
        assert listening and all(addr.ip == "127.0.0.1" for addr in listening), listening
    finally:
        proc.terminate()
        proc.wait(timeout=20)
