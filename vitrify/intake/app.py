"""The intake app: REST API under /api and the lab's web page at /, one auth for both.

Every route that changes something needs an API token (``Authorization: Bearer <token>``)
of a sufficient role; so do the routes that show the queue and history. Reports go through
db.lab.submit_reports / import_csv, i.e. db.reports, the one validation path. Errors come
back as ``{"detail": "...", "errors": [{"row", "field", "message", "code"}]}`` with 422
(invalid), 409 (conflict: already reported, contradiction, already claimed), 404, 401 or 403.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

from fastapi import Body, Depends, FastAPI, Path as PathParam, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr
from sqlalchemy.engine import Engine

from db import lab
from db.errors import IngestError, InvalidRequest, LabError, NotAllowed, NotFound, NotSignedIn
from db.measurements import QUANTITIES
from db.reports import Report
from db.models import ApiToken, TokenRole
from discovery.vocabulary import ProcessingRoute, SynthesisResult
from vitrify.settings import MAX_ID

HERE = Path(__file__).resolve().parent

# Ids are strict integers 1..MAX_ID on every channel (a JSON true is not job 1; 2**31 is no id
# on PostgreSQL, so none on SQLite either): out of range is a 422 naming the field.
Id = Annotated[StrictInt, Field(ge=1, le=MAX_ID)]
JobIdPath = Annotated[int, PathParam(ge=1, le=MAX_ID)]
ApprovalIdPath = JobIdPath
CampaignIdPath = JobIdPath
TokenIdPath = JobIdPath
IdQuery = Annotated[Optional[int], Query(ge=1, le=MAX_ID)]
ID_FIELDS = {"job_id", "correction_of", "campaign_id", "approval_id", "token_id", "outcome_id"}
API_TITLE = "vitrify lab intake"


# --------------------------------------------------------------------------- request bodies


class MeasurementIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: float | str | None = Field(description="the number, in `unit`")
    unit: Optional[str] = Field(default=None, description="e.g. mm, K, C, GPa; default: the quantity's canonical unit")


class ReportIn(BaseModel):
    """A lab report, or (with correction_of and reason) a correction of one."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{
            "job_id": 12, "composition": "Cu50Zr45Al5", "method": "melt-spinning", "result": "amorphous",
            "measurements": {"Tg": {"value": 705, "unit": "K"}, "Dmax": {"value": 2, "unit": "mm"}},
            "sample_id": "MS-2026-041", "notes": "ribbon 30 µm",
        }]},
    )

    job_id: StrictInt | StrictStr | None = Field(default=None, description="the experiment job this answers (omit for an ad-hoc sample)")
    sample_id: Optional[str] = Field(default=None, description="the lab's own sample label")
    composition: str = Field(description="as actually made, in at.% (e.g. Cu50Zr45Al5)")
    method: Optional[str] = Field(default=None, description=", ".join(r.value for r in ProcessingRoute) + "; default: the job's route")
    result: str = Field(description=" | ".join(r.value for r in SynthesisResult))
    normalize: bool = Field(default=False, description="rescale at.% that do not sum to 100 +/- 0.5")
    measurements: dict[str, MeasurementIn] = Field(default_factory=dict, description="keys: " + ", ".join(QUANTITIES))
    reporter: Optional[str] = Field(default=None, description="who made the sample (default: the token's holder)")
    notes: Optional[str] = None
    correction_of: StrictInt | StrictStr | None = Field(default=None, description="outcome id this report corrects (a new revision)")
    reason: Optional[str] = Field(default=None, description="why the correction is made (required with correction_of)")

    def to_report(self) -> Report:
        return Report(
            composition=self.composition, result=self.result, method=self.method, reporter=self.reporter,
            job_id=self.job_id, notes=self.notes, normalize=self.normalize,
            measurements={q: (m.value, m.unit) for q, m in self.measurements.items()},
            sample_id=self.sample_id, correction_of=self.correction_of, reason=self.reason,
        )


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reports: list[ReportIn] = Field(min_length=1, max_length=10_000)


class ClaimIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    who: Optional[str] = Field(default=None, description="who makes it (default: the token's holder)")
    campaign_id: Optional[Id] = Field(default=None, description="claim-next only: restrict to one campaign")


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Optional[str] = None


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    role: str = Field(description=" | ".join(r.value for r in TokenRole))


class ExperimentsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    compositions: list[str] = Field(min_length=1, max_length=1000)
    processing: Optional[str] = None
    campaign_id: Optional[Id] = None


# --------------------------------------------------------------------------- the app

_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]


class SecurityHeaders:
    """Strict headers on every response (plain ASGI: cheaper than BaseHTTPMiddleware)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        extra = _HEADERS + ([(b"cache-control", b"no-store")] if scope["path"].startswith("/api") else [])

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": list(message.get("headers", [])) + extra}
            await send(message)

        await self.app(scope, receive, send_with_headers)



def _lab_status(exc: LabError) -> int:
    """The HTTP status of a refused lab action (db raises named errors, not status codes)."""
    for kind, status in ((NotSignedIn, 401), (NotAllowed, 403), (NotFound, 404), (InvalidRequest, 422)):
        if isinstance(exc, kind):
            return status
    return 409


def _error_body(detail: str, errors: list[dict] | None = None) -> dict:
    return {"detail": detail, "errors": errors or []}


def create_app(engine: Engine | None = None) -> FastAPI:
    """The intake app over ``engine`` (default: the configured database, already migrated)."""
    if engine is None:
        from db.session import get_engine

        engine = get_engine()

    app = FastAPI(
        title=API_TITLE,
        version="1",
        description="Lab staff see the experiment queue, claim jobs and report results; operators approve batches "
        "and start or stop campaigns; admins manage tokens. Every call except /api/health and /api/vocabulary "
        "needs `Authorization: Bearer <token>` (see docs/lab.md).",
        docs_url=None,
        redoc_url=None,
    )
    app.state.engine = engine
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    bearer = HTTPBearer(auto_error=False, description="an API token from `vitrify token create`")

    app.add_middleware(SecurityHeaders)

    @app.exception_handler(IngestError)
    async def ingest_error(_request: Request, exc: IngestError):
        codes = {e.code for e in exc.errors}
        status = 409 if "conflict" in codes else 422
        return JSONResponse(_error_body(str(exc).splitlines()[0], [e.as_dict() for e in exc.errors]), status_code=status)

    @app.exception_handler(LabError)
    async def lab_error(_request: Request, exc: LabError):
        status = _lab_status(exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse(_error_body(str(exc)), status_code=status, headers=headers)

    app.state.db_problem = None  # the last database failure a request met (cleared by the next good write)

    def unavailable(request: Request, exc: Exception):
        from db.session import explain

        problem = explain(exc, engine)
        app.state.db_problem = problem
        return JSONResponse(_error_body(str(problem), [{"row": None, "field": "database", "message": str(problem),
                                                        "code": problem.state}]), status_code=503)

    from sqlalchemy.exc import DBAPIError

    from db.session import DatabaseUnavailable, is_unavailable

    app.add_exception_handler(DatabaseUnavailable, unavailable)

    @app.exception_handler(DBAPIError)
    async def database_error(request: Request, exc: DBAPIError):
        if is_unavailable(exc):
            return unavailable(request, exc)
        return JSONResponse(_error_body("internal error: the request was not completed, nothing was written"), status_code=500)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception):
        if is_unavailable(exc):
            return unavailable(request, exc)
        return JSONResponse(_error_body("internal error: the request was not completed, nothing was written"), status_code=500)

    @app.exception_handler(RequestValidationError)
    async def request_error(_request: Request, exc: RequestValidationError):
        errors, seen = [], set()
        for e in exc.errors():
            # a union's member tags ("int", "str") are no field of the request
            loc = [str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path", "int", "str", "constrained-int")]
            row = None
            if len(loc) >= 2 and loc[0] == "reports" and loc[1].isdigit():
                row, loc = int(loc[1]) + 1, loc[2:]
            message = e.get("msg", "invalid")
            if e.get("type") == "extra_forbidden":
                message = "unknown field (a typo?); see the request schema in /openapi.json"
            elif e.get("type") == "missing":
                message = "required field missing"
            field = ".".join(loc) or "body"
            if (row, field) in seen:
                continue
            seen.add((row, field))
            if field.rsplit(".", 1)[-1] in ID_FIELDS:
                message = f"must be a positive whole number up to {MAX_ID} (got {json.dumps(e.get('input'))[:40]})"
            errors.append({"row": row, "field": field, "message": message, "code": "invalid"})
        return JSONResponse(_error_body(f"{len(errors)} error(s) in the request, nothing was written", errors), status_code=422)

    def token(creds: Optional[HTTPAuthorizationCredentials] = Depends(bearer)) -> Optional[ApiToken]:
        return lab.authenticate_engine(engine, creds.credentials if creds is not None else None)

    def reporter(tok: Optional[ApiToken] = Depends(token)) -> ApiToken:
        return lab.require_role(tok, TokenRole.REPORTER)

    def operator(tok: Optional[ApiToken] = Depends(token)) -> ApiToken:
        return lab.require_role(tok, TokenRole.OPERATOR)

    def admin(tok: Optional[ApiToken] = Depends(token)) -> ApiToken:
        return lab.require_role(tok, TokenRole.ADMIN)

    def read(fn):
        return lab.read(engine, fn)

    def write(fn):
        result = lab.run_write(engine, fn)
        app.state.db_problem = None
        return result

    # ---- page

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page(request: Request):
        return templates.TemplateResponse(request, "index.html", {"vocabulary": vocabulary()})

    # ---- open

    @app.get("/api/health", tags=["meta"])
    def health():
        """``status`` ok, or 503 with ``database_state`` (corrupt, read-only, unreachable, ...) and ``detail``."""
        from db.session import check_database

        problem = app.state.db_problem
        try:
            check_database(engine)
        except DatabaseUnavailable as exc:
            problem = exc
        if problem is None:
            return {"status": "ok", "database": engine.dialect.name, "database_state": "ok"}
        return JSONResponse({"status": "unavailable", "database": engine.dialect.name, "database_state": problem.state,
                             "detail": str(problem)}, status_code=503)

    @app.get("/api/vocabulary", tags=["meta"])
    def vocabulary() -> dict:
        """Accepted routes, results and measurement units (what the web form offers)."""
        return {
            "methods": [r.value for r in ProcessingRoute if r is not ProcessingRoute.UNKNOWN],
            "results": [r.value for r in SynthesisResult],
            "quantities": {q: {"unit": spec["unit"], "units": list(spec["convert"]), "max": spec["range"][1]} for q, spec in QUANTITIES.items()},
            "roles": [r.value for r in TokenRole],
        }

    # ---- reporter

    @app.get("/api/whoami", tags=["tokens"])
    def whoami(tok: ApiToken = Depends(reporter)) -> dict:
        return {"name": tok.name, "role": tok.role, "prefix": tok.prefix}

    @app.get("/api/queue", tags=["queue"])
    def queue(all: bool = Query(False, description="also jobs held by the budget or awaiting approval"),
              campaign_id: IdQuery = None, _: ApiToken = Depends(reporter)) -> list[dict]:
        """The lab queue: released experiment jobs not yet reported (free or claimed)."""
        return read(lambda s: lab.lab_queue(s, everything=all, campaign_id=campaign_id))

    @app.get("/api/jobs/{job_id}", tags=["queue"])
    def job(job_id: JobIdPath, _: ApiToken = Depends(reporter)) -> dict:
        return read(lambda s: lab.job_detail(s, job_id))

    @app.post("/api/jobs/{job_id}/claim", tags=["queue"])
    def claim(job_id: JobIdPath, body: ClaimIn = Body(default_factory=ClaimIn), tok: ApiToken = Depends(reporter)) -> dict:
        return write(lambda s: lab.claim_job(s, job_id, token=tok, who=body.who))

    @app.post("/api/jobs/{job_id}/unclaim", tags=["queue"])
    def unclaim(job_id: JobIdPath, tok: ApiToken = Depends(reporter)) -> dict:
        return write(lambda s: lab.unclaim_job(s, job_id, token=tok))

    @app.post("/api/queue/claim-next", tags=["queue"])
    def claim_next(body: ClaimIn = Body(default_factory=ClaimIn), tok: ApiToken = Depends(reporter)) -> dict:
        """Claim the oldest free job; ``{"job": null}`` when the queue is empty."""
        return {"job": write(lambda s: lab.claim_next(s, token=tok, who=body.who, campaign_id=body.campaign_id))}

    @app.post("/api/reports", status_code=201, tags=["reports"])
    def report(body: ReportIn, request: Request, tok: ApiToken = Depends(reporter)) -> dict:
        """Report a result (or, with correction_of + reason, correct one). Nothing is stored unless all is valid."""
        channel = "web" if request.headers.get("x-vitrify-client") == "web" else "api"
        row = lab.submit_report(engine, body.to_report(), token=tok, channel=channel)
        app.state.db_problem = None
        return row

    @app.post("/api/reports/batch", status_code=201, tags=["reports"])
    def report_batch(body: BatchIn, tok: ApiToken = Depends(reporter)) -> list[dict]:
        """Several reports at once: all are stored, or (if any is invalid) none; errors name the row (1 = first)."""
        reports = [r.to_report() for r in body.reports]
        return lab.submit_reports(engine, reports, token=tok, channel="api", rows=list(range(1, len(reports) + 1)))

    @app.post(
        "/api/reports/csv", status_code=201, tags=["reports"],
        openapi_extra={"requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}},
    )
    async def report_csv(request: Request, name: str = Query("upload.csv", description="file name, for provenance"),
                         tok: ApiToken = Depends(reporter)) -> dict:
        """A CSV file of reports as the request body (text/csv). One bad row rejects the whole file."""
        data = await request.body()
        if len(data) > 20 * 1024 * 1024:
            return JSONResponse(_error_body("the file is larger than 20 MB; split it"), status_code=413)
        from starlette.concurrency import run_in_threadpool

        safe_name = Path(name).name or "upload.csv"
        result = await run_in_threadpool(lambda: lab.import_csv(engine, safe_name, data=data, token=tok, channel="api-csv"))
        return {"rows": result.rows, "sha256": result.sha256, "outcome_ids": result.outcome_ids,
                "already_imported": result.already_imported}

    @app.get("/api/history", tags=["reports"])
    def history(job_id: IdQuery = None, sample_id: Optional[str] = None, outcome_id: IdQuery = None,
                composition: Optional[str] = None, _: ApiToken = Depends(reporter)) -> list[dict]:
        """Every revision (oldest first) of the lab reports for a job, a sample, an outcome or a composition."""
        return read(lambda s: lab.history(s, job_id=job_id, sample_id=sample_id, outcome_id=outcome_id, composition=composition))

    @app.get("/api/reports/recent", tags=["reports"])
    def recent(limit: int = Query(20, ge=1, le=500), _: ApiToken = Depends(reporter)) -> list[dict]:
        """The latest lab reports, newest first (the page's "done" list)."""
        return read(lambda s: lab.recent_reports(s, limit=limit))

    @app.get("/api/budget", tags=["guardrails"])
    def budget(campaign_id: IdQuery = None, _: ApiToken = Depends(reporter)) -> dict:
        """Tonight's lab budget: limit, used, remaining (and a campaign's own, if asked)."""
        def work(s):
            from db.models import Campaign

            campaign = s.get(Campaign, campaign_id) if campaign_id is not None else None
            if campaign_id is not None and campaign is None:
                raise NotFound(f"no campaign {campaign_id}")
            return lab.budget_status(s, campaign)
        return read(work)

    # ---- operator

    @app.get("/api/approvals", tags=["guardrails"])
    def approvals(status: Optional[str] = Query("pending", description="pending | approved | rejected | all"),
                  _: ApiToken = Depends(operator)) -> list[dict]:
        return read(lambda s: lab.list_approvals(s, status=None if status == "all" else status))

    @app.post("/api/approvals/{approval_id}/approve", tags=["guardrails"])
    def approve(approval_id: ApprovalIdPath, body: DecisionIn = Body(default_factory=DecisionIn), tok: ApiToken = Depends(operator)) -> dict:
        return write(lambda s: lab.decide_approval(s, approval_id, approve=True, token=tok, note=body.note))

    @app.post("/api/approvals/{approval_id}/reject", tags=["guardrails"])
    def reject(approval_id: ApprovalIdPath, body: DecisionIn = Body(default_factory=DecisionIn), tok: ApiToken = Depends(operator)) -> dict:
        return write(lambda s: lab.decide_approval(s, approval_id, approve=False, token=tok, note=body.note))

    @app.post("/api/experiments", status_code=201, tags=["queue"])
    def experiments(body: ExperimentsIn, tok: ApiToken = Depends(operator)) -> list[dict]:
        """Ask the lab for compositions by hand (experiment jobs, subject to tonight's budget)."""
        return write(lambda s: lab.request_experiments(s, body.compositions, token=tok, processing=body.processing,
                                                       campaign_id=body.campaign_id))

    @app.post("/api/campaigns/{campaign_id}/stop", tags=["campaigns"])
    def stop(campaign_id: CampaignIdPath, tok: ApiToken = Depends(operator)) -> dict:
        return write(lambda s: lab.stop_campaign(s, campaign_id, token=tok))

    @app.post("/api/campaigns/{campaign_id}/start", tags=["campaigns"])
    def start(campaign_id: CampaignIdPath, tok: ApiToken = Depends(operator)) -> dict:
        """Start (resume) a campaign in a background process on the server's machine."""
        from flows import launch

        return launch.start_campaign(engine, campaign_id, token=tok)

    # ---- admin

    @app.get("/api/tokens", tags=["tokens"])
    def tokens(include_revoked: bool = False, _: ApiToken = Depends(admin)) -> list[dict]:
        return read(lambda s: lab.list_tokens(s, include_revoked=include_revoked))

    @app.post("/api/tokens", status_code=201, tags=["tokens"])
    def create_token(body: TokenIn, tok: ApiToken = Depends(admin)) -> dict:
        """A new token. The secret is in this response only: it is stored hashed and cannot be shown again."""
        def work(s):
            row, secret = lab.create_token(s, name=body.name, role=body.role, created_by=tok.name)
            return {"token": lab.token_info(row), "secret": secret}
        return write(work)

    @app.delete("/api/tokens/{token_id}", tags=["tokens"])
    def revoke_token(token_id: TokenIdPath, _: ApiToken = Depends(admin)) -> dict:
        return write(lambda s: lab.revoke_token(s, token_id))

    return app


def app_from_settings() -> FastAPI:
    """For ``uvicorn vitrify.intake.app:app_from_settings --factory``: the configured database, migrated."""
    from db.migrate import upgrade
    from db.session import get_engine

    engine = get_engine()
    upgrade(engine)
    return create_app(engine)


def serve_in_thread(app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> Any:
    """Run ``app`` with uvicorn in a daemon thread (tests, benchmarks); returns (server, thread, base_url).

    Stop it with ``server.should_exit = True; thread.join()``.
    """
    import socket
    import threading
    import time

    import uvicorn

    # proto=IPPROTO_TCP: asyncio then sets TCP_NODELAY on each connection (as it does for the
    # sockets uvicorn.run makes); without it keep-alive responses stall ~40 ms (Nagle + delayed ACK)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    config = uvicorn.Config(app, log_level="warning", access_log=False, server_header=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the intake server did not start")
        time.sleep(0.02)
    return server, thread, f"http://{host}:{sock.getsockname()[1]}"
