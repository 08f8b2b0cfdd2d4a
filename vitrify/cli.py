"""The ``vitrify`` command line: a thin shell over db, agents and flows."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
import typer.core
from rich.table import Table
from rich.text import Text

from vitrify.cli_campaign import _run_flow
from vitrify.cli_common import _configured_url, _engine, _ensure_shipped_data, _fail, console, flag_measurements
from vitrify.settings import MAX_ID, SHIPPED_BINARY_DATA, get_settings, quiet_third_party_defaults

class _Shell(typer.core.TyperGroup):
    """The top command group: a database that cannot be used is one line and exit code 2, from
    any command (the check in :func:`_engine` catches most before anything runs)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except Exception as exc:
            from db.session import explain, is_unavailable

            if not is_unavailable(exc):
                raise
            _fail(str(explain(exc, _configured_url())), 2)


app = typer.Typer(help="vitrify: active-learning campaigns that discover metallic glasses.", no_args_is_help=True,
                  cls=_Shell)
db_app = typer.Typer(help="Database: migrations and data import.", no_args_is_help=True)
campaign_app = typer.Typer(help="Run and inspect discovery campaigns.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(campaign_app, name="campaign")


# Held out of training by the default campaign: real binary systems with both outcomes,
# from rare glass formers (Pd-Zr, 6%) to common ones (Cu-Ti, 41%).
DEFAULT_HOLDOUT = ["Al-Ca", "Co-Zr", "Cu-Ti", "Mg-Zn", "Ni-Ta", "Pd-Zr"]


# --------------------------------------------------------------------------- db


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the schema (Alembic migrations).

    Example: vitrify db upgrade
    """
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
    """Load a labelled CSV as literature outcomes (all rows or none).

    Example: vitrify db import my_glasses.csv --citation "Doe et al. 2025"
    """
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


@app.command("report")
def report(
    composition: str = typer.Option(..., help="Composition as made, in at.%, e.g. Cu50Zr45Al5"),
    result: str = typer.Option(..., help="amorphous | partially crystalline | crystalline | synthesis failed"),
    method: Optional[str] = typer.Option(None, help="melt-spinning | suction-casting | copper-mould-casting | sputtering | other"),
    normalize: bool = typer.Option(False, "--normalize", help="Rescale at.% that do not sum to 100"),
    reporter: Optional[str] = typer.Option(None, help="Who made the sample"),
    job: Optional[int] = typer.Option(None, min=1, max=MAX_ID, help="Experiment job this report answers"),
    notes: Optional[str] = typer.Option(None, help="Free text stored with the outcome"),
    dmax_mm: Optional[float] = typer.Option(None, "--dmax-mm", help="Critical thickness (mm)"),
    tg_k: Optional[float] = typer.Option(None, "--tg-k", help="Glass transition (K)"),
    tx_k: Optional[float] = typer.Option(None, "--tx-k", help="Crystallization onset (K)"),
    tl_k: Optional[float] = typer.Option(None, "--tl-k", help="Liquidus (K)"),
    youngs_modulus_gpa: Optional[float] = typer.Option(None, "--youngs-modulus-gpa", help="Young's modulus (GPa)"),
) -> None:
    """Record a lab synthesis outcome; the next retraining uses it.

    Example: vitrify report --composition Cu50Zr45Al5 --result amorphous --method melt-spinning --tg-k 705
    """
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
    seed: int = typer.Option(0, help="Random seed of the agent and the model fits (same seed, same campaign)"),
    until: Optional[str] = typer.Option(None, help="Wall-clock deadline HH:MM: no iteration starts after it"),
    tz: str = typer.Option("UTC", "--timezone", help="IANA time zone of --until"),
) -> None:
    """Run a campaign from a campaign file, or the demo replay without one.

    The demo is an autonomous campaign over real binary systems held out of training, with
    replay as the oracle; its options do not apply to a campaign file (edit the file).

    Example: vitrify campaign run --iterations 4 --agent greedy   (or: vitrify campaign run cz.yaml)
    """
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
    try:  # the options first: a mistyped one costs nothing
        config = _replay_config(name, holdout, iterations, batch, oracle, agent, seed, until, tz, exploit_final)
    except UnknownAgent as exc:
        _fail(f"--agent: {exc}")
    except ValidationError as exc:
        _fail(_validation_lines(exc))
    console.print(Text.assemble(("vitrify campaign", "bold"), f" - data dir {settings.data_dir}"))
    engine = _engine()
    _ensure_shipped_data(engine)
    with session_scope(engine) as session:
        campaign_id = create_campaign(session, config).id
    console.print(
        f"campaign {campaign_id}: {iterations} iterations x {batch} picks over {', '.join(config.space.systems)} "
        f"(held out of training; answers replayed from {oracle.name}), agent {agent}", highlight=False, markup=False,
    )
    _run_flow(campaign_id)


# the campaign settings the demo's options set, by the option's name
_OPTION_OF = {"systems": "--holdout", "holdout_systems": "--holdout", "space": "--holdout", "timezone": "--timezone",
              "until": "--until", "batch_size": "--batch", "iterations": "--iterations", "seed": "--seed",
              "name": "--name", "oracle_csv": "--oracle", "agent": "--agent",
              "exploit_final_batches": "--exploit-final-batches"}


def _validation_lines(exc) -> str:
    """A pydantic ValidationError as '--option: message', without the library's dump."""
    lines = []
    for e in exc.errors():
        loc = [str(x) for x in e["loc"]]
        option = next((_OPTION_OF[x] for x in reversed(loc) if x in _OPTION_OF), None)
        message = e["msg"].removeprefix("Value error, ")
        for name in loc[-1:]:  # "until: until must be HH:MM" reads twice
            message = message.removeprefix(f"{name}: ").removeprefix(f"{name} ")
        lines.append(f"{option or '.'.join(loc) or 'settings'}: {message}")
    return "; ".join(dict.fromkeys(lines))


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
def campaign_resume(campaign_id: int = typer.Argument(..., min=1, max=MAX_ID, help="The campaign to continue (see `vitrify status`)")) -> None:
    """Continue a campaign from the database (after a crash or a stop).

    Example: vitrify campaign resume 3
    """
    from db.models import Campaign
    from db.session import session_scope

    quiet_third_party_defaults()
    engine = _engine()
    with session_scope(engine) as session:  # before Prefect starts: nothing to start for these
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            _fail(f"no campaign {campaign_id} (`vitrify status` lists them)")
        done, planned, state = campaign.iterations_done, campaign.iterations_planned, campaign.status
    if state == "finished" or done >= planned:
        _fail(f"campaign {campaign_id} already finished ({done} of {planned} iterations): use "
              f"`vitrify campaign extend {campaign_id} --iterations N` to continue it")
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
    batch: int = typer.Option(10, help="Compositions per batch"),
    agent: str = typer.Option("ucb", help="random | greedy | ucb | ei | pi | uncertainty | thompson (a preset)"),
    holdout: list[str] = typer.Option(DEFAULT_HOLDOUT, help="Replay systems of the scheduled campaign"),
    oracle: Path = typer.Option(SHIPPED_BINARY_DATA, help="Replay data set (formula, gfa[, processing]) that answers the jobs"),
    work_pool: str = typer.Option("vitrify-pool", help="Prefect work pool (created as a process pool if missing)"),
    source: Path = typer.Option(Path(__file__).resolve().parents[1], help="Project directory the worker runs from"),
) -> None:
    """Create or update the Prefect deployment of the campaign flow with an overnight schedule.

    Example: vitrify deploy --cron "0 22 * * *" --timezone Europe/Berlin --until 07:00 --iterations 50
    """
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


# --------------------------------------------------------------------------- status


@app.command("status")
def status(
    top: int = typer.Option(10, min=1, max=10_000, help="How many best candidates to list"),
    campaign: Optional[int] = typer.Option(None, "--campaign", min=1, max=MAX_ID, help="One campaign: its file, objectives and last batch"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables (keys: campaigns, jobs, models, best)"),
) -> None:
    """Campaigns, jobs and the best candidates so far, from the database alone.

    Example: vitrify status --top 5   (or: vitrify status --campaign 1 --json)
    """
    from db.queries import best_candidates, campaign_overview, job_counts, latest_models
    from db.session import session_scope
    from vitrify.cli_lab import _when, compact_table

    if campaign is not None:
        from vitrify.cli_campaign import show_campaign

        show_campaign(campaign, as_json=as_json)
        return
    engine = _engine()
    with session_scope(engine) as session:
        campaigns = campaign_overview(session)
        jobs = job_counts(session)
        models = latest_models(session, limit=3)
        best = best_candidates(session, limit=top)
    if as_json:
        import json

        print(json.dumps({"campaigns": campaigns, "jobs": [{"kind": k, "status": st, "count": n} for (k, st), n in sorted(jobs.items())],
                          "models": models, "best": best}, indent=1, default=str))
        return
    console.print(compact_table(
        "campaigns (vitrify status --campaign ID for one)",
        [("id", {"justify": "right", "no_wrap": True}), ("name, file", {}), ("objectives", {}), ("status, started", {}),
         ("iter.", {"justify": "right", "no_wrap": True}), ("picks", {"justify": "right"}), ("glasses", {"justify": "right"})],
        [[c["id"], c["name"] + (f"\n{c['file']}" if c["file"] else ""), c["objectives"], f"{c['status']}\n{_when(c['created_at'])}",
          f"{c['iterations_done']}/{c['iterations_planned']}", c["proposals"], c["glasses"]]
         for c in campaigns], keep=("id", "name, file", "status, started")))
    if jobs:
        console.print("jobs: " + "; ".join(f"{kind} {st} {n}" for (kind, st), n in sorted(jobs.items())), highlight=False)
    console.print(compact_table(
        "latest models",
        [("version", {"justify": "right"}), ("kind", {}), ("campaign", {"justify": "right"}),
         ("iter.", {"justify": "right"}), ("trained on", {"justify": "right"}), ("CV ROC-AUC", {"justify": "right"}),
         ("made", {})],
        [[m["id"], m["kind"], m["campaign_id"] or "", "" if m["iteration"] is None else m["iteration"], m["train_size"],
          "" if m["metrics"].get("grouped_cv_roc_auc") is None else f"{m['metrics']['grouped_cv_roc_auc']:.3f}",
          _when(m["created_at"])] for m in models], keep=("version", "kind")))
    console.print(compact_table(
        f"best candidates (top {top} by P_GFA)",
        [("composition", {}), ("campaign", {"justify": "right"}), ("iter.", {"justify": "right"}),
         ("P_GFA", {"justify": "right"}), ("P(glass)", {"justify": "right"}), ("+/-", {"justify": "right"}), ("outcome", {})],
        [[b["composition"], b["campaign_id"], b["iteration"], f"{b['p_gfa']:.3f}",
          "" if b["glass_probability"] is None else f"{b['glass_probability']:.3f}",
          "" if b["uncertainty"] is None else f"{b['uncertainty']:.3f}", b["outcome"] or "pending"] for b in best],
        keep=("composition", "outcome")))


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
