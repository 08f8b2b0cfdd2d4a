"""``vitrify lab ...``, ``vitrify token ...`` and ``vitrify serve``: the lab's command line.

Thin shells over db.lab (and so db.reports): the same checks, the same tokens and the same
database as the REST API, the web page and the Prefect form.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table
from rich.text import Text

from vitrify.settings import MAX_ID
from vitrify.cli_common import _engine, _fail, console, err, flag_measurements


TOKEN_HELP = "API token (better: set VITRIFY_TOKEN, so the secret stays out of your shell history)"

lab_app = typer.Typer(
    help="The lab: see the experiment queue, claim jobs, report results, import CSV files, approve batches.",
    no_args_is_help=True,
)
token_app = typer.Typer(help="API tokens: create (the secret is shown once), list, revoke.", no_args_is_help=True)






def _token(engine, secret: Optional[str]):
    from db.lab import authenticate_engine

    if not secret:
        _fail("this needs an API token: pass --token or set VITRIFY_TOKEN (create one with `vitrify token create`)")
    token = authenticate_engine(engine, secret)
    if token is None:
        _fail("the API token was not recognised (mistyped, or revoked)")
    return token


def _run(fn):
    """Call fn; turn refusals into a clear message and exit code 1."""
    from db.errors import IngestError
    from db.lab import LabError

    try:
        return fn()
    except IngestError as exc:
        err.print(Text.assemble(("refused: ", "bold red"), str(exc)), highlight=False)
        raise typer.Exit(1)
    except LabError as exc:
        _fail(str(exc))


def predicted_text(predicted: dict) -> str:
    """``E 112+/-8 GPa`` for the predicted properties of a job (one line per property)."""
    from discovery.properties import PROPERTIES
    from vitrify.cli_campaign import SHORT as short

    lines = []
    for name, p in (predicted or {}).items():
        if p.get("mean") is None or name not in PROPERTIES:
            continue
        unit = PROPERTIES[name].unit
        unit = "" if unit in ("1", "probability") else f" {unit}"
        spread = f"+/-{p['std']:.3g}" if p.get("std") else ""
        lines.append(f"{short.get(name, name)} {p['mean']:.4g}{spread}{unit}")
    return "\n".join(lines)


def compact_table(title: str, columns: list[tuple[str, dict]], rows: list[list], keep: tuple[str, ...] = ()):
    """A table for an 80-column terminal: columns empty in every row are left out; the
    composition column is never cut or wrapped (the other columns wrap instead)."""
    if not rows:
        return Text(f"{title}: none yet", style="dim")
    table = Table(title=title, padding=(0, 1))
    shown = [i for i, (name, _) in enumerate(columns) if name in keep or any(str(row[i]) for row in rows)]
    for i in shown:
        name, opts = columns[i]
        if name == "composition":
            width = max([len(name)] + [len(str(row[i])) for row in rows])
            opts = {"no_wrap": True, "min_width": width, "style": "bold", **opts}
        table.add_column(name, **({"overflow": "fold"} | opts))
    for row in rows:
        table.add_row(*(cell if isinstance(cell, Text) else Text(str(cell)) for cell in (row[i] for i in shown)))
    return table


def _when(iso: str | None) -> str:
    """An ISO timestamp (UTC) in this machine's local time: 'HH:MM' today, else 'MM-DD HH:MM'."""
    if not iso:
        return ""
    from datetime import datetime, timezone

    try:
        stamp = datetime.fromisoformat(iso)
    except ValueError:
        return iso[:16]
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    local = stamp.astimezone()
    return local.strftime("%H:%M" if local.date() == datetime.now().astimezone().date() else "%Y-%m-%d %H:%M")


def _print_jobs(rows: list[dict], title: str) -> None:
    cols = [("job", {"justify": "right", "no_wrap": True}), ("composition", {}), ("route", {"no_wrap": True}),
            ("P(glass)", {"justify": "right", "no_wrap": True}), ("predicted", {}), ("state", {}), ("picked", {})]
    body = []
    names = {r["campaign_id"]: r["campaign"] for r in rows if r["campaign_id"]}
    if names:  # campaign names are long: once, under the table; the rows say "#2 it.1 #3"
        title += " - " + ", ".join(f"#{i} {n}" for i, n in sorted(names.items()))
    for r in rows:
        campaign = f"#{r['campaign_id']}" if r["campaign_id"] else ""
        if r["iteration"]:
            campaign += f" it.{r['iteration']}" + (f" pick {r['rank']}" if r["rank"] is not None else "")
        state = r["state"] + (f" (retry of {r['retry_of']})" if r["retry_of"] else "")
        if r.get("released_at"):
            state += f"\nsince {_when(r['released_at'])}"
        body.append([r["job_id"], r["composition"] or "", r["processing"] or "",
                     "" if r["glass_probability"] is None else f"{r['glass_probability']:.2f}",
                     predicted_text(r.get("predicted")), state, campaign])
    console.print(compact_table(title, cols, body, keep=("job", "composition", "state")))


def _print_outcomes(rows: list[dict], title: str) -> None:
    cols = [("outcome", {"justify": "right"}), ("composition", {}), ("result", {}), ("measured", {}),
            ("by, when", {}), ("sample, notes", {})]
    body = []
    for r in rows:
        meas = "\n".join(f"{q} {m['value']:g} {m['unit']}" for q, m in r["measurements"].items())
        head = f"{r['outcome_id']}" + (f" r{r['revision']}" if r["revision"] > 1 else "")
        head += f"\njob {r['job_id']}" if r["job_id"] else ""
        head += "" if r["is_current"] else "\nsuperseded"
        result = r["result"] + ("" if r["processing"] == "unknown" else f"\n{r['processing']}")
        who = f"{r['reporter'] or ''}\n{_when(r['created_at'])}".strip()
        extra = "\n".join(x for x in (r["sample_id"] or "", r["notes"] or "", f"why: {r['reason']}" if r["reason"] else "") if x)
        body.append([head, r["composition"] or "", result, meas, who, extra])
    console.print(compact_table(title, cols, body, keep=("outcome", "composition", "result")))


# --------------------------------------------------------------------------- lab


@lab_app.command("queue")
def lab_queue(
    all_jobs: bool = typer.Option(False, "--all", help="Also jobs held by the budget or awaiting approval"),
    campaign: Optional[int] = typer.Option(None, min=1, max=MAX_ID, help="Only this campaign's jobs"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table"),
) -> None:
    """The experiment queue: jobs the lab should make (free or claimed).

    Example: vitrify lab queue --all   (or --json for scripts)
    """
    from db.lab import lab_queue as queue, read

    engine = _engine()
    rows = read(engine, lambda s: queue(s, everything=all_jobs, campaign_id=campaign))
    if as_json:
        print(json.dumps(rows, indent=1, default=str))
    elif not rows:
        console.print("the lab queue is empty")
    else:
        _print_jobs(rows, f"lab queue ({len(rows)} jobs)")


@lab_app.command("claim")
def lab_claim(
    job: Optional[int] = typer.Argument(None, min=1, max=MAX_ID, help="Job id (omit with --next)"),
    next_job: bool = typer.Option(False, "--next", help="Claim the oldest free job"),
    who: Optional[str] = typer.Option(None, help="Who makes it (default: the token's holder)"),
    release: bool = typer.Option(False, "--release", help="Give a claimed job back to the queue instead"),
    token: Optional[str] = typer.Option(None, envvar="VITRIFY_TOKEN", help=TOKEN_HELP, show_default=False),
) -> None:
    """Claim a job from the queue (so colleagues see you are making it), or --release it.

    Example: vitrify lab claim 12   (or: vitrify lab claim --next; vitrify lab claim 12 --release)
    """
    from db.lab import claim_job, claim_next, run_write, unclaim_job

    engine = _engine()
    tok = _token(engine, token)
    if release:
        if job is None:
            _fail("say which job to release")
        row = _run(lambda: run_write(engine, lambda s: unclaim_job(s, job, token=tok)))
        console.print(f"job {row['job_id']} ({row['composition']}) is back in the queue")
        return
    if job is None and not next_job:
        _fail("give a job id, or --next")
    if job is not None:
        row = _run(lambda: run_write(engine, lambda s: claim_job(s, job, token=tok, who=who)))
    else:
        row = _run(lambda: run_write(engine, lambda s: claim_next(s, token=tok, who=who)))
        if row is None:
            console.print("the lab queue has no free job")
            return
    console.print(f"claimed job {row['job_id']}: {row['composition']} by {row['processing']} ({row['state']})")


def _parse_measure(text: str) -> tuple[str, tuple[str, str | None]]:
    """``Tg=430C``, ``Tg=430 C``, ``Dmax=2.5mm`` or ``E=90`` (canonical unit)."""
    import re

    if "=" not in text:
        _fail(f"--measure {text!r}: write QUANTITY=VALUE[UNIT], e.g. Tg=430C")
    name, value = (p.strip() for p in text.split("=", 1))
    aliases = {"e": "youngs_modulus", "dmax": "Dmax", "tg": "Tg", "tx": "Tx", "tl": "Tl"}
    name = aliases.get(name.lower(), name)
    m = re.fullmatch(r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(.*)", value)
    if not m:
        return name, (value, None)
    return name, (m.group(1), m.group(2).strip() or None)


@lab_app.command("report")
def lab_report(
    composition: str = typer.Option(..., help="Composition as made, in at.% (e.g. Cu50Zr45Al5)"),
    result: str = typer.Option(..., help="amorphous | partially crystalline | crystalline | synthesis failed"),
    job: Optional[int] = typer.Option(None, min=1, max=MAX_ID, help="The experiment job this answers (omit for an ad-hoc sample)"),
    method: Optional[str] = typer.Option(None, help="melt-spinning | suction-casting | copper-mould-casting | sputtering | other (default: the job's)"),
    sample_id: Optional[str] = typer.Option(None, "--sample-id", help="Your own sample label"),
    normalize: bool = typer.Option(False, "--normalize", help="Rescale at.% that do not sum to 100 +/- 0.5"),
    reporter: Optional[str] = typer.Option(None, help="Who made the sample (default: the token's holder)"),
    notes: Optional[str] = typer.Option(None, help="Free text stored with the report (e.g. ribbon 30 µm, shiny)"),
    dmax_mm: Optional[float] = typer.Option(None, "--dmax-mm", help="Critical thickness (mm)"),
    tg_k: Optional[float] = typer.Option(None, "--tg-k", help="Glass transition (K)"),
    tx_k: Optional[float] = typer.Option(None, "--tx-k", help="Crystallization onset (K)"),
    tl_k: Optional[float] = typer.Option(None, "--tl-k", help="Liquidus (K)"),
    youngs_modulus_gpa: Optional[float] = typer.Option(None, "--youngs-modulus-gpa", help="Young's modulus (GPa)"),
    measure: List[str] = typer.Option([], "--measure", help="Any measurement with its unit, e.g. --measure Tg=430C (repeatable)"),
    correct: Optional[int] = typer.Option(None, "--correct", min=1, max=MAX_ID, help="Outcome id this report corrects (a new revision)"),
    reason: Optional[str] = typer.Option(None, help="Why (required with --correct)"),
    token: Optional[str] = typer.Option(None, envvar="VITRIFY_TOKEN", help=TOKEN_HELP, show_default=False),
) -> None:
    """Report what the lab made (or correct an earlier report with --correct ID --reason ...).

    Example: vitrify lab report --job 12 --composition Cu50Zr45Al5 --result amorphous --measure Tg=430C --sample-id MS-041
    """
    from db.reports import Report
    from db.lab import submit_report


    measurements = flag_measurements(dmax_mm, tg_k, tx_k, tl_k, youngs_modulus_gpa)
    for text in measure:
        name, value = _parse_measure(text)
        if name in measurements:
            _fail(f"{name} is given twice")
        measurements[name] = value
    rep = Report(
        composition=composition, result=result, method=method, reporter=reporter, job_id=job, notes=notes,
        normalize=normalize, measurements=measurements, sample_id=sample_id, correction_of=correct, reason=reason,
    )
    engine = _engine()
    tok = _token(engine, token)
    row = _run(lambda: submit_report(engine, rep, token=tok, channel="cli"))
    what = f"revision {row['revision']} (supersedes outcome {row['supersedes_id']})" if row["revision"] > 1 else "report"
    console.print(
        f"recorded outcome {row['outcome_id']}: {row['composition']} {row['result']} ({row['processing']})"
        + (f" for job {row['job_id']}" if row["job_id"] else "") + f" - {what}; the next retraining uses it"
    )


@lab_app.command("history")
def lab_history(
    job: Optional[int] = typer.Option(None, min=1, max=MAX_ID, help="Every report for this job"),
    sample_id: Optional[str] = typer.Option(None, "--sample-id", help="Every report for this sample"),
    outcome: Optional[int] = typer.Option(None, min=1, max=MAX_ID, help="The revision chain of this outcome"),
    composition: Optional[str] = typer.Option(None, help="Every lab report of this composition"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table"),
) -> None:
    """Every revision of the lab reports (who, when, why), oldest first.

    Example: vitrify lab history --job 12   (or --sample-id MS-041, --composition Cu50Zr45Al5)
    """
    from db.lab import history, read

    engine = _engine()
    rows = _run(lambda: read(engine, lambda s: history(s, job_id=job, sample_id=sample_id, outcome_id=outcome, composition=composition)))
    if as_json:
        console.print_json(json.dumps(rows))
    elif not rows:
        console.print("no lab reports")
    else:
        _print_outcomes(rows, "history")


@lab_app.command("import")
def lab_import(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV of lab reports"),
    token: Optional[str] = typer.Option(None, envvar="VITRIFY_TOKEN", help=TOKEN_HELP, show_default=False),
) -> None:
    """Import a CSV of lab reports: ALL rows or NONE.

    Every row is checked first. If any row is bad, the whole file is rejected, nothing is written, and every problem is listed as "row N, field 'F': ..." (rows count from 1, after the header). Fix the file and import it again. Importing the same file twice does nothing.

    Columns (names matched loosely, unknown columns refused): composition and result (required); job_id, sample_id, method, normalize (yes/no), reporter, notes; correction_of and reason (for corrections); measurements with the unit in the name or in a unit column: dmax_mm, tg_k (or tg_c), tx_k, tl_k, youngs_modulus_gpa, or e.g. tg with tg_unit.

    Example: vitrify lab import results-2026-12-02.csv
    """
    from db.lab import import_csv

    engine = _engine()
    tok = _token(engine, token)
    result = _run(lambda: import_csv(engine, file, token=tok, channel="csv"))
    if result.already_imported:
        console.print(f"{file} (sha256 {result.sha256[:12]}) was already imported: nothing to do")
    else:
        console.print(f"imported {result.rows} reports from {file} (outcomes {_ranges(result.outcome_ids)})")


def _ranges(ids: list[int]) -> str:
    if not ids:
        return "none"
    return f"{ids[0]}-{ids[-1]}" if ids == list(range(ids[0], ids[-1] + 1)) and len(ids) > 1 else ", ".join(map(str, ids))


@lab_app.command("request")
def lab_request(
    compositions: List[str] = typer.Argument(..., help="Compositions in at.%, e.g. Cu50Zr50 Cu64Zr36"),
    processing: Optional[str] = typer.Option(None, help="Route the lab should use: melt-spinning | suction-casting | copper-mould-casting | sputtering | other"),
    campaign: Optional[int] = typer.Option(None, min=1, max=MAX_ID, help="Attach the jobs to a campaign"),
    token: Optional[str] = typer.Option(None, envvar="VITRIFY_TOKEN", help=TOKEN_HELP, show_default=False),
) -> None:
    """Ask the lab for compositions by hand (operator): experiment jobs, within tonight's budget.

    Example: vitrify lab request Cu50Zr50 Cu64Zr36 --processing melt-spinning
    """
    from db.lab import request_experiments, run_write

    engine = _engine()
    tok = _token(engine, token)
    rows = _run(lambda: run_write(engine, lambda s: request_experiments(s, compositions, token=tok, processing=processing, campaign_id=campaign)))
    _print_jobs(rows, f"requested {len(rows)} experiments")


@lab_app.command("approvals")
def lab_approvals(
    all_: bool = typer.Option(False, "--all", help="Also decided ones"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables"),
) -> None:
    """Batches waiting for an operator's approval.

    Example: vitrify lab approvals --all
    """
    from db.lab import list_approvals, read

    engine = _engine()
    rows = read(engine, lambda s: list_approvals(s, status=None if all_ else "pending"))
    if as_json:
        print(json.dumps(rows, indent=1, default=str))
        return
    if not rows:
        console.print("no batches await approval" if not all_ else "no approval requests")
    for a in rows:
        decided = f", {a['status']} by {a['decided_by']} at {(a['decided_at'] or '')[:16]}" if a["decided_by"] else ""
        _print_jobs(a["jobs"], f"approval {a['id']}: campaign {a['campaign_id']}, {a['n_jobs']} jobs, "
                               f"requested {(a['requested_at'] or '')[:16]} ({a['status']}{decided})")


def _decide(approval: int, approve: bool, note: Optional[str], token: Optional[str]) -> None:
    from db.lab import decide_approval, run_write

    engine = _engine()
    tok = _token(engine, token)
    a = _run(lambda: run_write(engine, lambda s: decide_approval(s, approval, approve=approve, token=tok, note=note)))
    released = sum(1 for j in a["jobs"] if j["released_at"])
    console.print(f"approval {a['id']} {a['status']} by {a['decided_by']}: {a['n_jobs']} jobs"
                  + (f", {released} released to the lab queue (the rest wait for the budget)" if approve else " cancelled"))


@lab_app.command("approve")
def lab_approve(
    approval: int = typer.Argument(..., min=1, max=MAX_ID, help="Approval id (see `vitrify lab approvals`)"),
    note: Optional[str] = typer.Option(None, help="Why (stored with the decision)"),
    token: Optional[str] = typer.Option(None, envvar="VITRIFY_TOKEN", help=TOKEN_HELP, show_default=False),
) -> None:
    """Let a batch go to the lab queue (operator).

    Example: vitrify lab approve 3 --note "furnace free tonight"
    """
    _decide(approval, True, note, token)


@lab_app.command("reject")
def lab_reject(
    approval: int = typer.Argument(..., min=1, max=MAX_ID, help="Approval id (see `vitrify lab approvals`)"),
    note: Optional[str] = typer.Option(None, help="Why"),
    token: Optional[str] = typer.Option(None, envvar="VITRIFY_TOKEN", help=TOKEN_HELP, show_default=False),
) -> None:
    """Cancel a batch before the lab sees it (operator).

    Example: vitrify lab reject 3 --note "no Pd in stock"
    """
    _decide(approval, False, note, token)


@lab_app.command("budget")
def lab_budget(campaign: Optional[int] = typer.Option(None, min=1, max=MAX_ID, help="Also this campaign's own limit and use")) -> None:
    """Tonight's lab budget: how many experiments were released, how many may still be.

    Example: vitrify lab budget --campaign 1
    """
    from db.lab import budget_status, read
    from db.models import Campaign

    engine = _engine()
    b = read(engine, lambda s: budget_status(s, s.get(Campaign, campaign) if campaign else None))
    limit = "no limit (VITRIFY_LAB_BUDGET_PER_NIGHT unset)" if b["limit"] is None else f"{b['used']} of {b['limit']} used, {b['remaining']} left"
    console.print(f"lab night {b['night_start']} to {b['night_end']}: {limit}")
    if "campaign" in b:
        c = b["campaign"]
        console.print(f"campaign {c['id']}: {c['used']} released tonight, limit {c['limit'] if c['limit'] is not None else 'none'}, "
                      f"approval {'required' if c['require_approval'] else 'not required'}")


@lab_app.command("stop")
def lab_stop(
    campaign: int = typer.Argument(..., min=1, max=MAX_ID, help="Campaign id (see `vitrify status`)"),
    token: Optional[str] = typer.Option(None, envvar="VITRIFY_TOKEN", help=TOKEN_HELP, show_default=False),
) -> None:
    """Stop a campaign (operator): nothing new reaches the lab; reports still arrive.

    Example: vitrify lab stop 1
    """
    from db.lab import run_write, stop_campaign

    engine = _engine()
    tok = _token(engine, token)
    r = _run(lambda: run_write(engine, lambda s: stop_campaign(s, campaign, token=tok)))
    console.print(f"campaign {campaign} is {r['status']}; {r['cancelled_jobs']} jobs not yet in the lab were cancelled")


@lab_app.command("start")
def lab_start(
    campaign: int = typer.Argument(..., min=1, max=MAX_ID, help="Campaign id (see `vitrify status`)"),
    token: Optional[str] = typer.Option(None, envvar="VITRIFY_TOKEN", help=TOKEN_HELP, show_default=False),
) -> None:
    """Start (resume) a campaign in the background (operator).

    Example: vitrify lab start 1
    """
    from flows.launch import start_campaign

    engine = _engine()
    tok = _token(engine, token)
    r = _run(lambda: start_campaign(engine, campaign, token=tok))
    console.print(f"campaign {campaign} started (pid {r['pid']}); log: {r['log']}")


@lab_app.command("prefect-serve")
def lab_prefect_serve() -> None:
    """Serve the Prefect 'experiment' deployment: report forms in the Prefect UI (one flow run per job).

    Example: vitrify lab prefect-serve
    """
    from vitrify.settings import quiet_third_party_defaults

    quiet_third_party_defaults()
    _engine()
    from flows.experiment import serve_experiment_flow

    serve_experiment_flow()


@lab_app.command("prefect-form")
def lab_prefect_form(job: int = typer.Argument(..., min=1, max=MAX_ID, help="Experiment job id")) -> None:
    """Open a report form for a job in the Prefect UI (needs `vitrify lab prefect-serve` running).

    Example: vitrify lab prefect-form 12
    """
    from vitrify.settings import quiet_third_party_defaults

    quiet_third_party_defaults()
    _engine()
    from flows.experiment import request_report_form

    run = request_report_form(job)
    console.print(f"flow run {run} waits for the report of job {job}: open it in the Prefect UI and fill the form")


# --------------------------------------------------------------------------- tokens


@token_app.command("create")
def token_create(
    role: str = typer.Option(..., help="reporter | operator | admin"),
    name: str = typer.Option(..., help="Who holds it, e.g. ada"),
) -> None:
    """Create a token and print its secret ONCE (only its sha256 is stored).

    Local database access is trusted: this is also how the first admin token is made.

    Example: vitrify token create --role reporter --name ada
    """
    from db.lab import LabError, create_token, run_write

    engine = _engine()
    creator = os.environ.get("USER") or os.environ.get("LOGNAME") or "local"
    try:
        row, secret = run_write(engine, lambda s: create_token(s, name=name, role=role, created_by=f"cli:{creator}"))
    except LabError as exc:
        _fail(str(exc))
    err.print(f"created {row.role} token {row.id} for {row.name}. The secret is shown once; keep it safe:", highlight=False)
    print(secret)


@token_app.command("list")
def token_list(
    include_revoked: bool = typer.Option(False, "--all", help="Also revoked tokens"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table"),
) -> None:
    """Tokens (never their secrets).

    Example: vitrify token list --all
    """
    from db.lab import list_tokens, read

    engine = _engine()
    tokens = read(engine, lambda s: list_tokens(s, include_revoked=include_revoked))
    if as_json:
        print(json.dumps(tokens, indent=1, default=str))
        return
    console.print(compact_table(
        "API tokens",
        [("id", {"justify": "right"}), ("name", {}), ("role", {}), ("starts with", {"no_wrap": True}), ("made", {}),
         ("by", {}), ("last used", {}), ("revoked", {})],
        [[t["id"], t["name"], t["role"], t["prefix"] + "...", _when(t["created_at"]), t["created_by"] or "",
          _when(t["last_used_at"]), _when(t["revoked_at"])] for t in tokens], keep=("id", "name", "role")))


@token_app.command("revoke")
def token_revoke(token_id: int = typer.Argument(..., min=1, max=MAX_ID, help="Token id (see `vitrify token list`)")) -> None:
    """Revoke a token: it stops working at once.

    Example: vitrify token revoke 4
    """
    from db.lab import revoke_token, run_write

    engine = _engine()
    t = _run(lambda: run_write(engine, lambda s: revoke_token(s, token_id)))
    console.print(f"token {t['id']} ({t['name']}, {t['role']}) revoked at {t['revoked_at']}")


# --------------------------------------------------------------------------- serve


def _check_port(host: str, port: int) -> None:
    """Bind the address once before saying anything: a taken port is one line, not Errno 98."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            sock.bind((host, port))
        except PermissionError:
            _fail(f"port {port} needs administrator rights: pass --port 1024 or higher (or set VITRIFY_INTAKE_PORT)")
        except OSError as exc:
            if exc.errno == 98 or "in use" in str(exc).lower():
                _fail(f"port {port} is in use (another vitrify serve?): pass --port, or set VITRIFY_INTAKE_PORT")
            _fail(f"cannot listen on {host}:{port} ({exc.strerror}): check --host (or VITRIFY_INTAKE_HOST)")


def serve(
    host: Optional[str] = typer.Option(None, help="Bind address (default VITRIFY_INTAKE_HOST or 127.0.0.1)"),
    port: Optional[int] = typer.Option(None, help="Port (default VITRIFY_INTAKE_PORT or 8765)"),
) -> None:
    """Run the lab intake server: REST API (/api, schema at /openapi.json) and the web page (/).

    Example: vitrify serve --port 8765   (then open http://127.0.0.1:8765/)
    """
    import uvicorn

    from vitrify.intake.app import create_app
    from vitrify.intake.settings import IntakeSettings, is_loopback

    settings = IntakeSettings()
    host = host or settings.host
    port = settings.port if port is None else port
    _check_port(host, port)
    engine = _engine()
    if not is_loopback(host):
        err.print(Text.assemble(("warning: ", "bold yellow"), f"binding {host}: the intake server is reachable from other machines. "
                  "It speaks plain HTTP: put it behind a TLS proxy."), highlight=False)
    console.print(f"vitrify intake on http://{host}:{port}/ (database: {engine.url.render_as_string(hide_password=True)})")
    uvicorn.run(create_app(engine), host=host, port=port, log_level="info", server_header=False, proxy_headers=False)
