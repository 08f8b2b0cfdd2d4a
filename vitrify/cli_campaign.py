"""``vitrify campaign init | validate | extend``, ``vitrify campaign run FILE`` and
``vitrify deploy FILE``: campaigns from a campaign file (agents/campaign_file.py,
docs/campaigns.md). Registered from vitrify/cli.py, whose ``campaign run`` without a file
stays the shipped demo."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table
from rich.text import Text

from vitrify.cli_common import _engine, _ensure_shipped_data, _fail, console, err
from vitrify.settings import MAX_ID, get_settings


EXIT_INVALID = 2  # a campaign file with problems (1 is every other refusal)


def _print_problems(exc) -> None:
    where = f"{exc.file}: " if exc.file else ""
    err.print(Text.assemble(("invalid campaign file: ", "bold red"),
                            f"{where}{len(exc.problems)} problem{'s' if len(exc.problems) != 1 else ''}"))
    for problem in exc.problems:
        err.print(Text(f"  {problem}"), soft_wrap=True)  # one line each, however long


def load(path: Path, *, as_json: bool = False):
    """The campaign file at ``path``, or exit 2 with one line per problem."""
    from agents.campaign_file import CampaignFileError, load_campaign_file

    try:
        return load_campaign_file(path)
    except CampaignFileError as exc:
        if as_json:
            console.print_json(json.dumps({"file": str(path), "valid": False,
                                           "problems": [{"path": p.path, "message": p.message} for p in exc.problems]}))
        else:
            _print_problems(exc)
        raise typer.Exit(EXIT_INVALID)


# --------------------------------------------------------------------------- init


def init(
    file: Path = typer.Argument(Path("campaign.yaml"), help="Where to write the template", show_default=True),
    lab: bool = typer.Option(False, "--lab", help="A campaign whose batches go to the lab queue (the default)"),
    simulation: bool = typer.Option(False, "--simulation", help="A campaign whose batches go to MD simulations on Ray"),
    replay: Optional[Path] = typer.Option(None, "--replay", metavar="POOL",
                                          help="A replay of the known outcomes in POOL (formula, gfa [, processing])"),
    force: bool = typer.Option(False, "--force", help="Overwrite FILE if it exists"),
) -> None:
    """Write a commented campaign file to edit (valid as written).

    Example: vitrify campaign init --lab cz.yaml
    """
    from agents.campaign_file import CampaignFileError, parse_campaign_text, template

    if lab + simulation + (replay is not None) > 1:
        _fail("choose one of --lab, --simulation, --replay POOL")
    if file.exists() and not force:
        _fail(f"{file} exists; pass --force to overwrite it")
    if file.exists() and file.is_dir():
        _fail(f"{file} is a directory")
    if replay is not None:
        if not replay.is_file():
            _fail(f"--replay: {replay}: no such file")
        oracle_path = replay.resolve()
        here = file.resolve().parent
        # relative when the pool sits next to (or below) the file, so the two move together
        oracle = str(oracle_path.relative_to(here)) if oracle_path.is_relative_to(here) else str(oracle_path)
        try:
            text = template("replay", file=str(file), oracle=oracle, oracle_path=oracle_path)
        except Exception as exc:  # an unreadable pool
            _fail(f"--replay: {replay}: {exc}")
    else:
        text = template("simulation" if simulation else "lab", file=str(file))
    try:
        parse_campaign_text(text, base_dir=file.resolve().parent, file=str(file))
    except CampaignFileError as exc:  # e.g. a pool without its own formula column
        _print_problems(exc)
        raise typer.Exit(EXIT_INVALID)
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text, encoding="utf-8")
    except OSError as exc:
        _fail(f"cannot write {file}: {exc.strerror or exc}")
    kind = "replay" if replay is not None else "simulation" if simulation else "lab"
    console.print(Text(f"wrote {file} (a {kind} campaign). Edit it, then:\n"
                       f"  vitrify campaign validate {file}\n  vitrify campaign run {file}"))


# --------------------------------------------------------------------------- validate


def print_summary(summary: dict, title: str) -> None:
    console.print(Text(title, style="bold"))
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column("key", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    rows = [
        ("space", summary["space"]),
        ("processing", summary["processing"]),
        ("objectives", "; ".join(summary["objectives"])),
        ("agent", summary["agent"]),
        ("run", summary["run"]),
        ("destinations", "; ".join(summary["destinations"])),
    ]
    if summary.get("holdout_systems"):
        held = summary["holdout_systems"]
        rows.append(("held out", f"{len(held)} systems' literature: {', '.join(held[:8])}" + (" ..." if len(held) > 8 else "")))
    for key, value in rows:
        table.add_row(key, Text(value))
    console.print(table)


def validate(
    file: Path = typer.Argument(..., help="The campaign file (YAML)"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text"),
) -> None:
    """Check a campaign file: one line per problem, named by its path; exit code 2 if any.

    Example: vitrify campaign validate cz.yaml
    """
    campaign_file = load(file, as_json=as_json)
    summary = campaign_file.document.summary()
    if as_json:
        console.print_json(json.dumps({"file": str(file), "valid": True, "summary": summary,
                                       "config": campaign_file.to_config().model_dump(mode="json")}))
        return
    print_summary(summary, f"{file}: valid campaign '{campaign_file.name}'")


# --------------------------------------------------------------------------- run, extend


def run_file(file: Path, run_flow) -> None:
    """``vitrify campaign run FILE``: store the campaign with its file, then run it."""
    from agents.loop import create_campaign, models_to_fit
    from db.session import session_scope
    from vitrify.settings import get_settings

    campaign_file = load(file)
    config = campaign_file.to_config()
    console.print(Text.assemble(("vitrify campaign", "bold"), f" {campaign_file.name} from {file} - data dir {get_settings().data_dir}"))
    engine = _engine()
    _ensure_shipped_data(engine)  # the literature the GFA model starts from
    with session_scope(engine) as session:
        fitted, missing = models_to_fit(session, config)
        if missing:
            err.print(Text.assemble(("cannot start: ", "bold red"), "an objective has no model to predict it"))
            for line in missing:
                err.print(Text(f"  {line}"))
            raise typer.Exit(1)
        for line in fitted:
            console.print(Text(f"note: {line}"))
        campaign_id = create_campaign(session, config, campaign_file=campaign_file.stored()).id
    summary = campaign_file.document.summary()
    console.print(Text(f"campaign {campaign_id}: {summary['run']}; objectives {'; '.join(summary['objectives'])}; "
                       f"to {'; '.join(summary['destinations'])}"))
    run_flow(campaign_id)


def extend(
    campaign_id: int = typer.Argument(..., min=1, max=MAX_ID, help="The campaign to continue"),
    iterations: int = typer.Option(..., "--iterations", min=1, max=100_000, help="How many more iterations"),
) -> None:
    """Continue a finished (or stopped) campaign for N more iterations.

    Example: vitrify campaign extend 1 --iterations 4
    """
    from agents.loop import extend_campaign
    from db.campaigns import CampaignError
    from db.session import session_scope

    from vitrify.settings import quiet_third_party_defaults

    quiet_third_party_defaults()
    engine = _engine()
    try:
        with session_scope(engine) as session:
            campaign = extend_campaign(session, campaign_id, iterations)
            done, planned = campaign.iterations_done, campaign.iterations_planned
    except CampaignError as exc:
        _fail(str(exc))
    console.print(f"campaign {campaign_id}: {iterations} more iterations ({done + 1} to {planned})")
    _run_flow(campaign_id)


# --------------------------------------------------------------------------- status


def show_campaign(campaign_id: int, *, as_json: bool = False) -> None:
    """``vitrify status --campaign ID``: the campaign, its file (exact text) and last batch."""
    from sqlalchemy import func, select

    from agents.config import campaign_config
    from agents.loop import batch_table
    from db.campaigns import iteration_proposals
    from db.models import Campaign, Proposal
    from db.session import session_scope

    engine = _engine()
    with session_scope(engine) as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            _fail(f"no campaign {campaign_id}")
        config = campaign_config(campaign)
        last = session.exec(select(func.max(Proposal.iteration)).where(Proposal.campaign_id == campaign_id)).scalar_one()
        batch = batch_table(session, iteration_proposals(session, campaign.id, last), config) if last else []
        info = {
            "id": campaign.id, "name": campaign.name, "status": campaign.status,
            "iterations_done": campaign.iterations_done, "iterations_planned": campaign.iterations_planned,
            "objectives": [o.objective().describe() for o in config.objective_list()],
            "campaign_file": campaign.campaign_file, "config": campaign.config, "last_iteration": last,
            "last_batch": batch,
        }
    if as_json:
        console.print_json(json.dumps(info, default=str))
        return
    console.print(Text(f"campaign {info['id']} '{info['name']}': {info['status']}, iteration "
                       f"{info['iterations_done']}/{info['iterations_planned']}; objectives: {'; '.join(info['objectives'])}"))
    stored = info["campaign_file"]
    if stored:
        console.print(Text(f"\ncampaign file {stored['file']} (sha256 {stored['sha256'][:12]}, from {stored['path']}):",
                           style="bold"))
        console.print(Text(stored["text"].rstrip("\n")), soft_wrap=True)  # verbatim
    else:
        console.print(Text("\nstarted without a campaign file; its configuration:", style="bold"))
        console.print_json(json.dumps(info["config"]))
    if batch:
        print_batch(batch, f"last batch (iteration {last})")


#: Short names for table headers (the full names are in docs/campaigns.md and --json).
SHORT = {"glass": "P(glass)", "youngs_modulus_gpa": "E", "shear_modulus_gpa": "G", "bulk_modulus_gpa": "K",
         "dmax_mm": "Dmax", "log10_rc": "log Rc", "tg_k": "Tg", "tx_k": "Tx", "tl_k": "Tl", "trg": "Trg"}
_UNITS = {"youngs_modulus_gpa": "GPa", "shear_modulus_gpa": "GPa", "bulk_modulus_gpa": "GPa", "dmax_mm": "mm",
          "tg_k": "K", "tx_k": "K", "tl_k": "K"}


def _num(x, digits: int = 3) -> str:
    return "" if x is None else f"{x:.{digits}g}"


def _short_constraint(text: str) -> str:
    """``P(youngs_modulus_gpa >= 100)`` -> ``P(E>=100)``; ``P(glass >= 0.5)`` stays readable."""
    for name, short in sorted(SHORT.items(), key=lambda kv: -len(kv[0])):
        if name != "glass":
            text = text.replace(name, short)
    return text.replace(" ", "")


def print_batch(rows: list[dict], title: str) -> None:
    """A batch (agents.loop.batch_table rows) at 80 columns: predicted mean+/-spread of P(glass)
    and of each objective's property, the probability of meeting each constraint, the
    acquisition and the destination. ``--json`` output keeps the full column names."""
    if not rows:
        return
    keys = list(rows[0])
    props = [k for k in keys if f"{k} std" in keys]
    constraints = [k for k in keys if k.startswith("P(") and k != "P(glass)"]
    table = Table(title=title)
    table.add_column("composition", no_wrap=True)
    table.add_column("P(glass)", justify="right")
    with_modulus = "modulus_GPa" in keys and any(r.get("modulus_GPa") is not None for r in rows)  # no model: no column
    if with_modulus:
        table.add_column("E GPa", justify="right")
    for p in props:
        unit = _UNITS.get(p)
        table.add_column(f"{SHORT.get(p, p)}{' ' + unit if unit else ''}", justify="right")
    for c in constraints:
        table.add_column(_short_constraint(c), justify="right")
    table.add_column("acq.", justify="right")
    table.add_column("to")
    for r in rows:
        cells = [r["composition"] or "",
                 _num(r["P(glass)"], 2) + ("" if r.get("uncertainty") is None else f"±{r['uncertainty']:.2f}")]
        if with_modulus:
            cells.append(_num(r["modulus_GPa"]))
        for p in props:
            cells.append(_num(r[p]) + ("" if r[f"{p} std"] is None else f"±{r[f'{p} std']:.2g}"))
        cells += [_num(r[c], 2) for c in constraints]
        cells += [_num(r["acquisition"]), {"experiment": "lab"}.get(r["sent_to"], r["sent_to"])]
        table.add_row(*(Text(c) for c in cells))
    console.print(table)


# --------------------------------------------------------------------------- deploy


def deploy_file(file: Path, *, name: str, cron: str, timezone: str | None, work_pool: str, source: Path) -> None:
    """``vitrify deploy FILE``: the deployment's runs each start a campaign from the file."""
    from flows.deployment import deploy_campaign

    campaign_file = load(file)
    config = campaign_file.to_config()
    tz = timezone or config.timezone
    deployment_id = deploy_campaign(config, name=name, cron=cron, timezone=tz, work_pool=work_pool, source=source,
                                    campaign_file=campaign_file.stored())
    until = f", until {config.until} {config.timezone}" if config.until else ""
    console.print(Text(f"deployment campaign/{name} ({deployment_id}) from {file}: scheduled '{cron}' {tz}{until}; "
                       f"start a worker with: prefect worker start --pool {work_pool}"))


class _NoServerBanner:
    """Drops Prefect's temporary-server banner ("Starting temporary server ... See https://...")
    from the main job's output: the campaign's own lines say what happens."""

    def filter(self, record) -> bool:
        text = str(record.msg)
        return not (text.startswith("Starting temporary server") or text.startswith("Stopping temporary server"))


def _run_flow(campaign_id: int) -> None:
    import logging

    from agents.ray_runtime import RayUnavailable, configured_ray_address, ensure_ray
    from db.campaigns import CampaignError
    from flows import remote
    from flows.campaign import campaign_flow

    logging.getLogger("prefect").addFilter(_NoServerBanner())
    if configured_ray_address():
        # a configured cluster is checked before any work: a typo in RAY_ADDRESS is one line
        # here, not a task failure with Prefect's traceback an iteration later
        try:
            ensure_ray(warm_modules=remote.WORKER_MODULES)
        except RayUnavailable as exc:
            _fail(f"{exc} (campaign {campaign_id} did not run; `vitrify campaign resume {campaign_id}` "
                  "once that is fixed)", 2)

    started = time.perf_counter()
    try:
        summary = campaign_flow(campaign_id)
    except (CampaignError, RayUnavailable) as exc:  # e.g. an objective no model predicts, local Ray that did not start
        _fail(f"{exc} (campaign {campaign_id} stopped; `vitrify campaign resume {campaign_id}` once that is fixed)")
    elapsed = time.perf_counter() - started
    table = Table(title=f"campaign {campaign_id}", padding=(0, 1))
    heads = {"iteration": "iter.", "proposed": "picks", "glasses": "glasses", "glasses_total": "total",
             "cv_auc": "ROC-AUC", "train_size": "trained on", "model_version": "model", "seconds": "s"}
    for head in heads.values():
        table.add_column(head, justify="right", no_wrap=True)
    for row in summary["iterations"]:
        table.add_row(*("-" if row[c] is None else str(row[c]) for c in heads))
    console.print(table)
    _print_last_batch(campaign_id)
    _print_lab_state(campaign_id)
    png = _plot_campaign(campaign_id)
    pareto = get_settings().plots_dir / f"campaign-{campaign_id}-pareto.png"
    console.print(
        Text.assemble(
            (f"{summary['glasses_found']} glasses in {summary['picks']} picks", "bold"),
            f" (hit rate {summary['hit_rate']}) in {elapsed:.0f} s. Discovery curve: {png}"
            + (f"\nPareto front: {pareto}" if pareto.exists() else "")
            + f"\nSee `vitrify status --campaign {campaign_id}` for the campaign and its last batch.",
        ),
        highlight=False,
    )


def _print_lab_state(campaign_id: int) -> None:
    """Where the campaign's lab jobs stand (the campaign never waits for them)."""
    from collections import Counter

    from agents.config import campaign_config
    from db.lab import lab_queue
    from db.models import Campaign
    from db.session import session_scope

    with session_scope() as session:
        if not campaign_config(session.get(Campaign, campaign_id)).sends_to("experiment"):
            return
        states = Counter(row["state"] for row in lab_queue(session, everything=True, campaign_id=campaign_id))
    claimed = sum(n for state, n in states.items() if state.startswith("claimed"))
    console.print(
        f"lab: {states['in lab queue']} in the lab queue, {claimed} claimed, {states['held (lab budget)']} held by the "
        f"nightly budget, {states['awaiting approval']} awaiting approval (`vitrify lab queue --all`). Reports are "
        f"used from the next iteration on: `vitrify campaign extend {campaign_id} --iterations N`.",
        highlight=False, markup=False,
    )


def _print_last_batch(campaign_id: int) -> None:
    """The last batch with every objective and constraint, for campaigns that have them."""
    from sqlalchemy import func, select

    from agents.config import campaign_config
    from agents.loop import batch_table
    from db.campaigns import iteration_proposals
    from db.models import Campaign, Proposal
    from db.session import session_scope
    from vitrify.cli_campaign import print_batch

    with session_scope() as session:
        campaign = session.get(Campaign, campaign_id)
        config = campaign_config(campaign)
        if not config.objectives:
            return  # the demo: its summary table says it all
        last = session.exec(select(func.max(Proposal.iteration)).where(Proposal.campaign_id == campaign_id)).scalar_one()
        rows = batch_table(session, iteration_proposals(session, campaign.id, last), config) if last else []
    print_batch(rows, f"campaign {campaign_id}: last batch (iteration {last})")


def _plot_campaign(campaign_id: int) -> Path:
    from agents.config import campaign_config
    from db.models import Campaign
    from db.queries import campaign_discovery_counts
    from db.session import session_scope
    from discovery.plots import plot_discovery_curves
    from flows.report import reference_curves

    with session_scope() as session:
        config = campaign_config(session.get(Campaign, campaign_id))
        found = campaign_discovery_counts(session, campaign_id)
    picks = list(range(1, len(found) + 1))
    path = get_settings().plots_dir / f"campaign-{campaign_id}-discovery.png"
    return plot_discovery_curves(picks, {**reference_curves(config, picks), "agent": found}, path,
                                 title=f"Campaign {campaign_id}: glasses found")
