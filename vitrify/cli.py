"""The ``vitrify`` command line: a thin shell over db, agents and flows."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from vitrify.settings import SHIPPED_BINARY_DATA, get_settings, quiet_third_party_defaults

app = typer.Typer(help="vitrify: active-learning campaigns that discover metallic glasses.", no_args_is_help=True)
db_app = typer.Typer(help="Database: migrations and data import.", no_args_is_help=True)
campaign_app = typer.Typer(help="Run and inspect discovery campaigns.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(campaign_app, name="campaign")

console = Console()
err = Console(stderr=True)

# Held out of training by the default campaign: real binary systems with both outcomes,
# from rare glass formers (Pd-Zr, 6%) to common ones (Cu-Ti, 41%).
DEFAULT_HOLDOUT = ["Al-Ca", "Co-Zr", "Cu-Ti", "Mg-Zn", "Ni-Ta", "Pd-Zr"]


def _engine():
    from db.migrate import upgrade
    from db.session import get_engine

    engine = get_engine()
    upgrade(engine)
    return engine


def _ensure_shipped_data(engine) -> None:
    """Seed the database with the shipped literature table (once per table version)."""
    from db.literature import seed_literature
    from db.session import session_scope

    with session_scope(engine) as session:
        report = seed_literature(session)
    if not report.already_seeded:
        console.print(f"seeded the database with the shipped literature: {report.outcomes} outcomes, "
                      f"{report.measurements} measurements ({report.compositions_created} new compositions)")


def _fail(message: str, code: int = 1) -> None:
    from rich.text import Text

    err.print(Text.assemble(("error: ", "bold red"), message))  # never markup: messages quote user input
    raise typer.Exit(code)


# --------------------------------------------------------------------------- db


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the schema (Alembic migrations)."""
    from db.migrate import current_revision

    engine = _engine()
    console.print(f"database at revision {current_revision(engine)}: {engine.url.render_as_string(hide_password=True)}")


@db_app.command("literature")
def db_literature(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables")) -> None:
    """What the shipped literature table holds: records per set, what each set lost and why.

    Example: vitrify db literature
    """
    import json

    from discovery.literature import SOURCES, load_literature

    table = load_literature()
    if as_json:
        print(json.dumps(table.stats, indent=1))
        return
    t = Table(title="shipped literature: rows read, records kept, rows dropped")
    for col in ("set", "rows", "records", "dropped (reason)"):
        t.add_column(col, justify="right" if col in ("rows", "records") else "left", overflow="fold")
    for key in table.sources:
        st = table.stats[key]
        dropped = "; ".join(f"{n} {reason}" for reason, n in st["dropped"].items()) or "-"
        t.add_row(key, str(st["rows"]), str(st["records"]), dropped)
    console.print(t)
    tot = table.stats["_table"]
    console.print(f"after deduplication: {tot['records']} records of {tot['compositions']} compositions in "
                  f"{tot['systems']} systems, {tot['glass']} glass; {tot['conflicting_composition_routes']} "
                  "composition/route pairs with conflicting reports (kept as separate records)", markup=False)
    console.print("measured: " + ", ".join(f"{q} {n}" for q, n in tot["measurements"].items()), markup=False)
    console.print("sets: " + "; ".join(f"{k}: {SOURCES[k].name}" for k in table.sources), markup=False)


@db_app.command("import")
def db_import(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV with columns formula, gfa [, processing, system]"),
    citation: Optional[str] = typer.Option(None, help="Citation stored with the data set"),
    name: Optional[str] = typer.Option(None, help="Name of the data set (default: file name)"),
) -> None:
    """Load a labelled CSV as literature outcomes (all rows or none)."""
    from db.datasets import import_labelled_csv
    from db.errors import IngestError
    from db.session import session_scope

    engine = _engine()
    try:
        with session_scope(engine) as session:
            report = import_labelled_csv(session, file, name=name, citation=citation)
    except IngestError as exc:
        _fail(f"{file}: {exc}")
    if report.already_imported:
        console.print(f"{file} (sha256 {report.sha256[:12]}) was already imported: nothing to do")
    else:
        console.print(
            f"imported {report.outcomes_created} outcomes ({report.glass} glass, {report.not_glass} not), "
            f"{report.compositions_created} new compositions, from {file}"
        )


# --------------------------------------------------------------------------- report


def flag_measurements(dmax_mm, tg_k, tx_k, tl_k, youngs_modulus_gpa) -> dict:
    """The measurement flags every report command shares, as {quantity: (value, unit)}."""
    given = {"Dmax": (dmax_mm, "mm"), "Tg": (tg_k, "K"), "Tx": (tx_k, "K"), "Tl": (tl_k, "K"),
             "youngs_modulus": (youngs_modulus_gpa, "GPa")}
    return {k: v for k, v in given.items() if v[0] is not None}


@app.command("report")
def report(
    composition: str = typer.Option(..., help="Composition as made, in at.%, e.g. Cu50Zr45Al5"),
    result: str = typer.Option(..., help="amorphous | partially crystalline | crystalline | synthesis failed"),
    method: Optional[str] = typer.Option(None, help="melt-spinning | suction-casting | copper-mould-casting | sputtering | other"),
    normalize: bool = typer.Option(False, "--normalize", help="Rescale at.% that do not sum to 100"),
    reporter: Optional[str] = typer.Option(None, help="Who made the sample"),
    job: Optional[int] = typer.Option(None, help="Experiment job this report answers"),
    notes: Optional[str] = typer.Option(None),
    dmax_mm: Optional[float] = typer.Option(None, "--dmax-mm", help="Critical thickness (mm)"),
    tg_k: Optional[float] = typer.Option(None, "--tg-k", help="Glass transition (K)"),
    tx_k: Optional[float] = typer.Option(None, "--tx-k", help="Crystallization onset (K)"),
    tl_k: Optional[float] = typer.Option(None, "--tl-k", help="Liquidus (K)"),
    youngs_modulus_gpa: Optional[float] = typer.Option(None, "--youngs-modulus-gpa", help="Young's modulus (GPa)"),
) -> None:
    """Record a lab synthesis outcome; the next retraining uses it."""
    from db.errors import IngestError
    from db.reports import Report, record_report
    from db.session import session_scope

    rep = Report(
        composition=composition, result=result, method=method, reporter=reporter, job_id=job, notes=notes,
        normalize=normalize, measurements=flag_measurements(dmax_mm, tg_k, tx_k, tl_k, youngs_modulus_gpa),
    )
    engine = _engine()
    try:
        with session_scope(engine) as session:
            outcome = record_report(session, rep)
            from db.models import Composition as CompositionRow

            canonical = session.get(CompositionRow, outcome.composition_id).canonical
    except IngestError as exc:
        _fail(str(exc))
    console.print(f"recorded outcome {outcome.id}: {canonical} {outcome.result} ({outcome.processing})")


# --------------------------------------------------------------------------- campaign


_FLAGS = {"tz": "--timezone", "exploit_final": "--exploit-final-batches"}


def _given(ctx: typer.Context, *names: str) -> list[str]:
    """The options among ``names`` set on the command line or the environment (not left at
    their defaults). By name: typer carries its own copy of click's ParameterSource."""
    sources = {n: ctx.get_parameter_source(n) for n in names}
    return [n for n, src in sources.items() if src is not None and src.name not in ("DEFAULT", "DEFAULT_MAP")]


@campaign_app.command("run")
def campaign_run(
    ctx: typer.Context,
    file: Optional[Path] = typer.Argument(None, help="A campaign file (vitrify campaign init); without one: the demo replay"),
    iterations: int = typer.Option(8, help="Iterations (propose -> run -> ingest -> retrain)"),
    batch: int = typer.Option(10, help="Compositions per batch"),
    agent: str = typer.Option("ucb", help="random | greedy | ucb | ei | pi | uncertainty | thompson (a preset)"),
    exploit_final: Optional[int] = typer.Option(
        None, "--exploit-final-batches", min=0, show_default="the agent's preset",
        help="The last N iterations propose greedily (top P(glass), no spreading): exploring there would teach "
        "nothing the campaign could still use",
    ),
    holdout: list[str] = typer.Option(DEFAULT_HOLDOUT, help="Binary systems replayed as the campaign's experiments"),
    oracle: Path = typer.Option(SHIPPED_BINARY_DATA, help="Replay data set (formula, gfa[, processing])"),
    name: str = typer.Option("replay-binaries", help="Campaign name"),
    seed: int = typer.Option(0),
    until: Optional[str] = typer.Option(None, help="Wall-clock deadline HH:MM: no iteration starts after it"),
    tz: str = typer.Option("UTC", "--timezone", help="IANA time zone of --until"),
) -> None:
    """Run a campaign from a campaign file, or the demo replay without one.

    The demo is an autonomous campaign over real binary systems held out of training, with
    replay as the oracle; its options do not apply to a campaign file (edit the file)."""
    quiet_third_party_defaults()
    if file is not None:
        from vitrify.cli_campaign import run_file

        demo_only = _given(ctx, "iterations", "batch", "agent", "exploit_final", "holdout", "oracle", "name", "seed",
                           "until", "tz")
        if demo_only:
            flags = ", ".join(_FLAGS.get(n, "--" + n) for n in demo_only)
            _fail(f"{flags}: set by the campaign file when one is given (edit {file})")
        run_file(file, _run_flow)
        return
    from pydantic import ValidationError

    from agents.config import UnknownAgent
    from agents.loop import create_campaign
    from db.session import session_scope

    settings = get_settings()
    console.print(f"[bold]vitrify campaign[/] - data dir {settings.data_dir}")
    engine = _engine()
    _ensure_shipped_data(engine)
    try:
        config = _replay_config(name, holdout, iterations, batch, oracle, agent, seed, until, tz, exploit_final)
    except UnknownAgent as exc:
        _fail(f"--agent: {exc}")
    except ValidationError as exc:
        _fail(_validation_lines(exc))
    with session_scope(engine) as session:
        campaign_id = create_campaign(session, config).id
    console.print(
        f"campaign {campaign_id}: {iterations} iterations x {batch} picks over {', '.join(config.space.systems)} "
        f"(held out of training; answers replayed from {oracle.name}), agent {agent}", highlight=False, markup=False,
    )
    _run_flow(campaign_id)


def _validation_lines(exc) -> str:
    """A pydantic ValidationError as 'field: message' lines, without the library's dump."""
    return "; ".join(f"{'.'.join(str(x) for x in e['loc']) or 'settings'}: {e['msg'].removeprefix('Value error, ')}"
                     for e in exc.errors())


def _replay_config(name, holdout, iterations, batch, oracle, agent, seed, until, tz, exploit_final=None):
    from agents.config import CampaignConfig, SpaceConfig, agent_preset

    overrides = {} if exploit_final is None else {"exploit_final_batches": exploit_final}
    return CampaignConfig(
        name=name,
        space=SpaceConfig(systems=holdout, step=1.0),
        iterations=iterations,
        batch_size=batch,
        destination="replay",
        oracle_csv=str(oracle),
        holdout_systems=holdout,
        agent=agent_preset(agent, **overrides),
        seed=seed,
        until=until,
        timezone=tz,
    )


@campaign_app.command("resume")
def campaign_resume(campaign_id: int = typer.Argument(...)) -> None:
    """Continue a campaign from the database (after a crash or a stop)."""
    quiet_third_party_defaults()
    _engine()
    _run_flow(campaign_id)


@app.command("deploy")
def deploy(
    ctx: typer.Context,
    file: Optional[Path] = typer.Argument(None, help="A campaign file; without one: the demo replay campaign"),
    name: str = typer.Option("overnight", help="Deployment name"),
    cron: str = typer.Option("0 22 * * *", help="Schedule (cron) in --timezone"),
    tz: Optional[str] = typer.Option(None, "--timezone", show_default="UTC, or the campaign file's timezone",
                                     help="IANA time zone of the schedule and of --until"),
    until: Optional[str] = typer.Option("07:00", help="Each run stops starting iterations at this local time"),
    iterations: int = typer.Option(50, help="Iterations per run (or until the deadline)"),
    batch: int = typer.Option(10),
    agent: str = typer.Option("ucb"),
    holdout: list[str] = typer.Option(DEFAULT_HOLDOUT, help="Replay systems of the scheduled campaign"),
    oracle: Path = typer.Option(SHIPPED_BINARY_DATA),
    work_pool: str = typer.Option("vitrify-pool", help="Prefect work pool (created as a process pool if missing)"),
    source: Path = typer.Option(Path(__file__).resolve().parents[1], help="Project directory the worker runs from"),
) -> None:
    """Create or update the Prefect deployment of the campaign flow with an overnight schedule."""
    quiet_third_party_defaults()
    if file is not None:
        from vitrify.cli_campaign import deploy_file

        demo_only = _given(ctx, "until", "iterations", "batch", "agent", "holdout", "oracle")
        if demo_only:
            _fail(f"{', '.join('--' + n for n in demo_only)}: set by the campaign file when one is given (edit {file})")
        deploy_file(file, name=name, cron=cron, timezone=tz, work_pool=work_pool, source=source)
        return
    from pydantic import ValidationError

    from agents.config import UnknownAgent
    from flows.deployment import deploy_campaign

    tz = tz or "UTC"
    try:
        config = _replay_config(name, holdout, iterations, batch, oracle, agent, 0, until, tz)
    except UnknownAgent as exc:
        _fail(f"--agent: {exc}")
    except ValidationError as exc:
        _fail(_validation_lines(exc))
    deployment_id = deploy_campaign(config, name=name, cron=cron, timezone=tz, work_pool=work_pool, source=source)
    console.print(
        f"deployment campaign/{name} ({deployment_id}) scheduled '{cron}' {tz}, until {until}; "
        f"start a worker with: prefect worker start --pool {work_pool}", highlight=False, markup=False,
    )


def _run_flow(campaign_id: int) -> None:
    from db.campaigns import CampaignError
    from flows.campaign import campaign_flow

    started = time.perf_counter()
    try:
        summary = campaign_flow(campaign_id)
    except CampaignError as exc:  # e.g. an objective no model predicts: the campaign is marked failed
        _fail(f"{exc} (campaign {campaign_id} stopped; `vitrify campaign resume {campaign_id}` once that is fixed)")
    elapsed = time.perf_counter() - started
    table = Table(title=f"campaign {campaign_id}")
    for col in ("iteration", "proposed", "glasses", "glasses_total", "cv_auc", "train_size", "model_version", "seconds"):
        table.add_column(col, justify="right")
    for row in summary["iterations"]:
        table.add_row(*(str(row[c]) for c in ("iteration", "proposed", "glasses", "glasses_total", "cv_auc",
                                                "train_size", "model_version", "seconds")))
    console.print(table)
    _print_last_batch(campaign_id)
    _print_lab_state(campaign_id)
    png = _plot_campaign(campaign_id)
    pareto = get_settings().plots_dir / f"campaign-{campaign_id}-pareto.png"
    console.print(
        f"[bold]{summary['glasses_found']} glasses in {summary['picks']} picks[/] "
        f"(hit rate {summary['hit_rate']}) in {elapsed:.0f} s. Discovery curve: {png}"
        + (f"\nPareto front: {pareto}" if pareto.exists() else "")
        + f"\nSee `vitrify status --campaign {campaign_id}` for the campaign and its last batch.",
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
    from agents.replay import ReplayOracle
    from db.queries import campaign_discovery_counts
    from db.session import session_scope
    from discovery.plots import plot_discovery_curves

    with session_scope() as session:
        from db.models import Campaign

        campaign = session.get(Campaign, campaign_id)
        config = campaign_config(campaign)
        found = campaign_discovery_counts(session, campaign_id)
    picks = list(range(1, len(found) + 1))
    curves = {"agent": found}
    if config.oracle_csv:
        from discovery.composition import CompositionMatrix, parse_composition

        pool = ReplayOracle.from_csv(config.oracle_csv)
        names = list(pool.records)
        inside = config.space.build().contains_matrix(CompositionMatrix.from_compositions([parse_composition(n) for n in names]))
        labels = [pool.records[n][0].result.glass_label for n, ok in zip(names, inside) if ok]
        n_pool, n_glass = len(labels), sum(1 for g in labels if g == 1)
        if n_pool:
            curves["random (expected)"] = [p * n_glass / n_pool for p in picks]
            curves["oracle"] = [min(p, n_glass) for p in picks]
    path = get_settings().plots_dir / f"campaign-{campaign_id}-discovery.png"
    return plot_discovery_curves(picks, curves, path, title=f"Campaign {campaign_id}: glasses found")


# --------------------------------------------------------------------------- status


@app.command("status")
def status(
    top: int = typer.Option(10, help="How many best candidates to list"),
    campaign: Optional[int] = typer.Option(None, "--campaign", help="One campaign: its file, objectives and last batch"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (with --campaign)"),
) -> None:
    """Campaigns, jobs and the best candidates so far, from the database alone."""
    from db.queries import best_candidates, campaign_overview, job_counts, latest_models
    from db.session import session_scope

    if campaign is not None:
        from vitrify.cli_campaign import show_campaign

        show_campaign(campaign, as_json=as_json)
        return
    if as_json:
        _fail("--json goes with --campaign ID")
    engine = _engine()
    with session_scope(engine) as session:
        campaigns = campaign_overview(session)
        jobs = job_counts(session)
        models = latest_models(session, limit=3)
        best = best_candidates(session, limit=top)
    from rich.text import Text

    t = Table(title="campaigns (vitrify status --campaign ID for one)")
    for col in ("id", "name / file", "objectives", "status", "iter.", "picks", "glasses", "started"):
        t.add_column(col)
    for c in campaigns:
        t.add_row(str(c["id"]), Text(c["name"] + (f"\n{c['file']}" if c["file"] else "")), Text(c["objectives"]),
                  c["status"], f"{c['iterations_done']}/{c['iterations_planned']}", str(c["proposals"]),
                  str(c["glasses"]), c["created_at"])
    console.print(t)
    t = Table(title="jobs by kind and status")
    for col in ("kind", "status", "count"):
        t.add_column(col)
    for (kind, st), n in sorted(jobs.items()):
        t.add_row(kind, st, str(n))
    console.print(t)
    t = Table(title="latest models")
    for col in ("version", "kind", "campaign", "iteration", "train size", "grouped-CV ROC-AUC", "created"):
        t.add_column(col)
    for m in models:
        auc = m["metrics"].get("grouped_cv_roc_auc")
        t.add_row(str(m["id"]), m["kind"], str(m["campaign_id"] or ""), str(m["iteration"] if m["iteration"] is not None else ""),
                  str(m["train_size"]), f"{auc:.3f}" if auc is not None else "-", m["created_at"])
    console.print(t)
    t = Table(title=f"best candidates (top {top} by P_GFA)")
    for col in ("composition", "campaign", "iteration", "P_GFA", "P(glass)", "uncertainty", "outcome"):
        t.add_column(col)
    for b in best:
        t.add_row(b["composition"], str(b["campaign_id"]), str(b["iteration"]), f"{b['p_gfa']:.3f}",
                  f"{b['glass_probability']:.3f}" if b["glass_probability"] is not None else "-",
                  f"{b['uncertainty']:.3f}" if b["uncertainty"] is not None else "-", b["outcome"] or "pending")
    console.print(t)


# Sub-apps live next to this file, one per area; registered here so `vitrify --help` lists all.
from vitrify.cli_lab import lab_app, serve, token_app  # noqa: E402
from vitrify.cli_model import model_app, predict  # noqa: E402
from vitrify.cli_replay import replay  # noqa: E402

from vitrify.cli_campaign import extend, init, validate  # noqa: E402

campaign_app.command("init")(init)
campaign_app.command("validate")(validate)
campaign_app.command("extend")(extend)
app.add_typer(lab_app, name="lab")
app.add_typer(token_app, name="token")
app.command("serve")(serve)
app.command("replay")(replay)
app.add_typer(model_app, name="model")
app.command("predict")(predict)
from vitrify.cli_simulate import simulate, structure_app  # noqa: E402
app.command("simulate")(simulate)
app.add_typer(structure_app, name="structure")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
