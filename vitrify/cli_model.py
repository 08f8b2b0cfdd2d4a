"""``vitrify model train|report`` and ``vitrify predict``: the model commands.

Registered at the end of vitrify/cli.py::

    from vitrify.cli_model import model_app, predict  # noqa: E402
    app.add_typer(model_app, name="model")
    app.command("predict")(predict)
"""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path
from typing import Optional

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from vitrify.settings import MAX_ID
from vitrify.cli_common import _engine, _ensure_shipped_data, _fail, console, err

model_app = typer.Typer(help="GFA, modulus and bulk-GFA models: train (Optuna, grouped CV), report, maps.",
                        no_args_is_help=True)

GFA_KIND = "gfa-ensemble"
MODULUS_KIND = "modulus-ensemble"
BULK_KIND = "bulk-gfa-ensemble"
GFA_KINDS = ("gfa-ensemble", "gfa-svm")
#: Every measured quantity a property model learns from (db Measurement.quantity).
PROPERTY_QUANTITIES = ("youngs_modulus", "shear_modulus", "bulk_modulus", "Dmax", "Rc", "Tg", "Tx", "Tl")






def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    return "-" if not np.isfinite(v) else f"{v:.{digits}f}"


def _latest(session, kinds: tuple[str, ...], *, with_report: bool = False):
    from sqlalchemy import select

    from db.models import ModelVersion

    query = select(ModelVersion).where(ModelVersion.kind.in_(kinds)).order_by(ModelVersion.id.desc())
    if not with_report:
        return session.exec(query.limit(1)).scalars().first()
    for version in session.exec(query.limit(50)).scalars():
        if "report" in (version.metrics or {}):
            return version
    return None


def load_current_models(session) -> tuple[object | None, dict]:
    """The latest registered GFA model with the latest property models attached, and
    ``{kind: version id}`` of what was loaded."""
    from db.registry import load_model

    ids: dict[str, int] = {}
    gfa_version = _latest(session, GFA_KINDS)
    if gfa_version is None:
        return None, ids
    gfa = load_model(gfa_version)
    ids[gfa_version.kind] = gfa_version.id
    for kind, attach in ((MODULUS_KIND, gfa.with_modulus), (BULK_KIND, gfa.with_bulk)):
        version = _latest(session, (kind,))
        attach(load_model(version) if version is not None else None)
        if version is not None:
            ids[kind] = version.id
    return gfa, ids


# --------------------------------------------------------------------------- train


@model_app.command("train")
def train(
    trials: Optional[int] = typer.Option(None, "--trials", help="Optuna trials per tuned member (default VITRIFY_OPTUNA_TRIALS)"),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="Wall-time budget (s) per study run (default VITRIFY_OPTUNA_TIMEOUT_S)"),
    tune: list[str] = typer.Option(["svm"], "--tune", help="GFA members to tune: svm, et, gb, or all"),
    report: bool = typer.Option(True, "--report/--no-report",
                                help="Cross-validate on the shipped literature for `vitrify model report` (about a minute)"),
    seed: Optional[int] = typer.Option(None, help="Random seed (default VITRIFY_SEED)"),
    selection: str = typer.Option("roc_auc", "--selection",
                                  help="How the SVM is tuned: roc_auc (grouped-CV ROC-AUC, the default) or sun_e "
                                  "(Sun et al. 2017's E = P_target^2/P_whole, admissible if P_target > 0.3)"),
) -> None:
    """Train every model on the database (seeded with the shipped literature) and register them.

    Fits the modulus ensemble (E, G, K), the bulk-GFA ensemble (Dmax, Rc, Tg, Tx, Tl) and the
    GFA ensemble (P_GFA and P(glass)), each tuned with Optuna under system-grouped CV.

    Example: vitrify model train
    """
    from vitrify.settings import get_settings

    from agents.retrain import property_counts
    from db.registry import save_model_version
    from db.session import session_scope
    from db.training import labelled_set, measured_values
    from discovery.bulk import bulk_data
    from discovery.models import ENSEMBLE_MEMBERS, GFAEnsemble, GlassFormingModel
    from discovery.modulus import modulus_data_from_values
    from discovery.tuning import study_name_for, train_gfa_model, train_property_model

    settings = get_settings()
    n_trials = settings.optuna_trials if trials is None else trials
    timeout_s = settings.optuna_timeout_s if timeout is None else timeout
    seed = settings.seed if seed is None else seed
    if selection not in ("roc_auc", "sun_e"):
        _fail(f"--selection: {selection!r} is not roc_auc or sun_e", code=2)
    members = tuple(ENSEMBLE_MEMBERS) if "all" in tune else tuple(tune)
    unknown = set(members) - set(ENSEMBLE_MEMBERS)
    if unknown:
        _fail(f"--tune: unknown member(s) {sorted(unknown)}; choose from {', '.join(ENSEMBLE_MEMBERS)} or all")
    engine = _engine()
    _ensure_shipped_data(engine)
    storage = settings.sqlalchemy_url
    with session_scope(engine) as session:
        data = labelled_set(session)
        values, sources = measured_values(session, PROPERTY_QUANTITIES)
    console.print(f"training data: {len(data)} labelled outcomes ({int(data.labels.sum())} glass), "
                  f"{sum(len(v) for v in values.values())} measured properties")
    trained_props = {}
    for kind, prop_data in ((MODULUS_KIND, modulus_data_from_values(values, sources)),
                            (BULK_KIND, bulk_data(values, sources))):
        counts = ", ".join(f"{t} {n}" for t, n in prop_data.counts().items())
        if len(prop_data) < 10:
            err.print(f"{kind}: too few measurements to train ({counts}); skipped", markup=False)
            continue
        started = time.perf_counter()
        console.print(f"{kind}: tuning and grouped CV on {len(prop_data)} compositions ({counts}) ...")
        trained = train_property_model(prop_data, kind=kind, n_trials=n_trials, timeout_s=timeout_s, storage=storage,
                                       study_name=study_name_for(kind), seed=seed, parity=report)
        counts = property_counts(prop_data)
        with session_scope(engine) as session:
            vid = save_model_version(session, trained.model, kind=kind, data=prop_data,
                                     hyperparameters=trained.hyperparameters, metrics=trained.metrics,
                                     training_set={"rows": len(prop_data), "by_source": counts}).id
        trained_props[kind] = trained.model
        console.print(f"registered {kind} v{vid} ({time.perf_counter() - started:.0f} s)")
        print_property_metrics(kind, trained.metrics, f"{kind} v{vid}")

    started = time.perf_counter()
    console.print(f"{GFA_KIND}: tuning {', '.join(members)} and fitting on {len(data)} outcomes ...")
    trained = train_gfa_model(data, n_trials=n_trials, timeout_s=timeout_s, storage=storage,
                              study_name=study_name_for(GFA_KIND), seed=seed, tune=members, selection=selection,
                              modulus_model=trained_props.get(MODULUS_KIND), bulk_model=trained_props.get(BULK_KIND))
    metrics = dict(trained.metrics)
    if report:
        from discovery.evaluation import literature_gfa_benchmark

        console.print("cross-validating on the shipped literature, grouped by chemical system ...")
        accepted = set(GFAEnsemble().get_params())
        hyper = {k: (tuple(v) if isinstance(v, list) else v) for k, v in trained.hyperparameters.items() if k in accepted}
        metrics["report"] = _json_safe(literature_gfa_benchmark(
            model_factory=lambda: GlassFormingModel(GFAEnsemble(**hyper), liquidus=trained.model.liquidus_),
            seed=seed))
    by_source = {str(k): int(v) for k, v in zip(*np.unique(np.asarray(data.sources, dtype=object).astype(str),
                                                         return_counts=True))}
    with session_scope(engine) as session:
        vid = save_model_version(session, trained.model, kind=trained.kind, data=data,
                                 hyperparameters=trained.hyperparameters, metrics=metrics,
                                 training_set={"rows": len(data), "by_source": by_source}).id
    console.print(f"registered {trained.kind} v{vid} ({metrics.get('n_train')} rows, "
                  f"{time.perf_counter() - started:.0f} s)")
    _print_gfa_metrics({f"v{vid}": metrics})
    if report:
        print_benchmark_table(metrics["report"]["rows"], console)


def _json_safe(value):
    from discovery.tuning import _clean_metrics

    return _clean_metrics({"v": value})["v"]


def _print_gfa_metrics(rows: dict[str, dict]) -> None:
    t = Table(title="GFA, grouped CV (by system) at training; Sun E = P_target^2/P_whole")
    for col in ("version", "n", "AUC", "bal.acc", "E", "P_tgt", "adm.", "ECE", "SVM AUC"):
        t.add_column(col, justify="right")
    for name, m in rows.items():
        t.add_row(name, _fmt(m.get("n_train")), _fmt(m.get("grouped_cv_roc_auc")),
                  _fmt(m.get("grouped_cv_balanced_accuracy")), _fmt(m.get("grouped_cv_sun_e"), 2),
                  _fmt(m.get("grouped_cv_p_target"), 2), _fmt(m.get("grouped_cv_sun_e_valid")),
                  _fmt(m.get("grouped_cv_ece")), _fmt(m.get("grouped_cv_svm_roc_auc")))
    console.print(t)


_PROPERTY_LABELS = {"E": "E (GPa)", "G": "G (GPa)", "K": "K (GPa)", "dmax_mm": "Dmax (mm)",
                    "log10_rc": "log10 Rc", "tg_k": "Tg (K)", "tx_k": "Tx (K)", "tl_k": "Tl (K)"}


def print_property_metrics(kind: str, metrics: dict, title: str) -> None:
    """Baseline vs ensemble per target, grouped CV by chemical system."""
    from discovery.bulk import PUBLISHED
    from discovery.modulus import TARGETS as MODULUS_TARGETS

    targets = MODULUS_TARGETS if kind == MODULUS_KIND else ("dmax_mm", "log10_rc", "tg_k", "tx_k", "tl_k")
    short = {"rule of mixtures": "rule of mix.", "training mean": "mean", "training geometric mean": "geo. mean",
             "linear in T_fic": "linear T_fic"}
    t = Table(title=f"{title}: grouped CV by chemical system")
    for col in ("target", "n", "baseline", "MAE", "RMSE", "model MAE", "RMSE ", "R^2"):
        t.add_column(col, justify="right")
    n_train = metrics.get("n_train", {})
    for target in targets:
        base = metrics.get(f"grouped_cv_{target}_baseline")
        if base is None:
            continue
        key = base.replace(" ", "_")
        t.add_row(_PROPERTY_LABELS.get(target, target), _fmt(n_train.get(target)), short.get(base, base),
                  _fmt(metrics.get(f"grouped_cv_{target}_{key}_mae"), 2),
                  _fmt(metrics.get(f"grouped_cv_{target}_{key}_rmse"), 2),
                  _fmt(metrics.get(f"grouped_cv_{target}_ensemble_mae"), 2),
                  _fmt(metrics.get(f"grouped_cv_{target}_ensemble_rmse"), 2),
                  _fmt(metrics.get(f"grouped_cv_{target}_ensemble_r2"), 2))
    console.print(t)
    if kind == BULK_KIND:
        for target, text in PUBLISHED.items():
            console.print(f"  published {_PROPERTY_LABELS[target]}: {text}", markup=False)


def print_benchmark_table(rows: list[dict], out: Console) -> None:
    from discovery.evaluation import MATBENCH_GLASS_LEADERBOARD

    t = Table(title="GFA on the shipped literature (out-of-fold ROC-AUC)")
    for col in ("data set", "folds", "model", "n", "AUC", "bal.acc", "ECE"):
        t.add_column(col, justify="right" if col not in ("data set", "folds", "model") else "left")
    for r in rows:
        t.add_row(r["dataset"], r["protocol"], r["model"], _fmt(r.get("n")), _fmt(r.get("roc_auc")),
                  _fmt(r.get("balanced_accuracy")), _fmt(r.get("ece")))
    for name, auc in MATBENCH_GLASS_LEADERBOARD.items():
        t.add_row("matbench_glass", "random 5-fold", f"{name} (board)", "5680", _fmt(auc), "-", "-")
    out.print(t)
    out.print("system folds hold every chemical system out of training at once (all sets together); "
              "random folds are matbench's own, optimistic", markup=False)


# --------------------------------------------------------------------------- report


@model_app.command("report")
def report(
    system: list[str] = typer.Option(["Al-Cu-Zr"], "--system",
                                     help="Ternary system(s) to map, corners left-right-top (repeat the option)"),
    out: Optional[Path] = typer.Option(None, "--out", help="Directory for the PNGs (default <data dir>/plots)"),
    processing: str = typer.Option("melt-spinning", "--processing", help="Route the maps are drawn for: melt-spinning | suction-casting | copper-mould-casting | sputtering | other"),
    step: float = typer.Option(1.0, "--step", help="Grid step of the maps (at.%)"),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON instead of tables"),
) -> None:
    """Print the registered models' grouped-CV metrics and draw calibration, parity and ternary maps.

    Example: vitrify model report --system Al-Cu-Zr --system B-Fe-Si
    """
    from vitrify.settings import get_settings

    from db.registry import load_model
    from db.session import session_scope
    from db.training import labelled_set
    from discovery.maps import plot_pgfa_map, ternary_system
    from discovery.plots import plot_parity, plot_reliability
    from discovery.vocabulary import ProcessingRoute, VocabularyError

    try:
        systems = [ternary_system(s) for s in system]
        route = ProcessingRoute.parse(processing, field="--processing").model_group
    except (ValueError, VocabularyError) as exc:
        _fail(str(exc))
    engine = _engine()
    with session_scope(engine) as session:
        gfa_version = _latest(session, GFA_KINDS, with_report=True) or _latest(session, GFA_KINDS)
        if gfa_version is None:
            _fail("no GFA model is registered yet: run `vitrify model train` first")
        gfa = load_model(gfa_version)
        gfa_label = f"{gfa_version.kind} v{gfa_version.id}"
        gfa_metrics = dict(gfa_version.metrics)
        props = {}
        for kind, attach in ((MODULUS_KIND, gfa.with_modulus), (BULK_KIND, gfa.with_bulk)):
            version = _latest(session, (kind,))
            if version is not None:
                props[kind] = (f"{kind} v{version.id}", dict(version.metrics))
                attach(load_model(version))
        known = labelled_set(session)
    if as_json:
        print(json.dumps({"gfa": {"version": gfa_label, "metrics": gfa_metrics},
                          **{k: {"version": v[0], "metrics": v[1]} for k, v in props.items()}}, indent=1))
        return
    _print_gfa_metrics({f"v{gfa_version.id}": gfa_metrics})
    bench = gfa_metrics.get("report")
    if bench:
        print_benchmark_table(bench["rows"], console)
    else:
        console.print("this GFA version has no literature benchmark: `vitrify model train` (with --report) adds one")
    for kind, (label, metrics) in props.items():
        print_property_metrics(kind, metrics, label)
    plots = out or get_settings().plots_dir
    written = []
    if bench and bench.get("reliability"):
        written.append(plot_reliability(bench["reliability"], plots / "gfa-calibration.png"))
    parity, labels = {}, {}
    for kind, (_, metrics) in props.items():
        for target, pts in (metrics.get("parity") or {}).items():
            parity[target] = pts
            labels[target] = _PROPERTY_LABELS.get(target, target)
    if parity:
        written.append(plot_parity(parity, plots / "regressors-parity.png", labels=labels, log_targets=("dmax_mm",)))
    for els in systems:
        keep = np.array([set(c.elements) <= set(els) for c in known.compositions], dtype=bool)
        name = "-".join(els)
        try:
            for quantity, stem in (("glass", "pglass"), ("p_gfa", "pgfa")):
                written.append(plot_pgfa_map(gfa, els, plots / f"{stem}-{name}-{route}.png", route=route, step=step,
                                             known=known.subset(keep), quantity=quantity))
        except Exception as exc:  # an element pair without mixing-enthalpy data cannot be mapped
            err.print(f"cannot draw the {name} map: {exc}", markup=False)
    for path in written:
        console.print(f"wrote {path}", markup=False)


# --------------------------------------------------------------------------- lineage


@model_app.command("history")
def history(
    kind: Optional[str] = typer.Option(None, "--kind", help="gfa-ensemble | modulus-ensemble | bulk-gfa-ensemble"),
    campaign: Optional[int] = typer.Option(None, "--campaign", min=1, max=MAX_ID, help="A campaign's versions and those they descend from"),
    limit: int = typer.Option(30, "--limit", min=1, help="Versions to list, newest first"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table"),
) -> None:
    """List model versions with their parent, what triggered them, metrics and proposals scored.

    Example: vitrify model history --campaign 3 --kind modulus-ensemble
    """
    from db.queries import model_history
    from db.session import session_scope

    engine = _engine()
    with session_scope(engine) as session:
        rows = model_history(session, kind=kind, campaign_id=campaign, limit=limit)
    if as_json:
        print(json.dumps(rows, indent=1, default=str))
        return
    if not rows:
        console.print("no model versions" + (f" of kind {kind}" if kind else "") + (f" for campaign {campaign}" if campaign else ""),
                      markup=False)
        return
    t = Table(title="model versions, newest first")
    for col in ("ver", "kind", "from", "camp.", "it.", "rows", "metric", "scored", "trigger"):
        t.add_column(col, justify="right" if col in ("ver", "from", "camp.", "it.", "rows", "scored") else "left",
                     overflow="fold")
    short = {"gfa-ensemble": "GFA", "gfa-svm": "GFA svm", "modulus-ensemble": "modulus", "bulk-gfa-ensemble": "bulk"}
    for r in rows:
        metric = ", ".join(f"{k} {_fmt(v, 2)}" for k, v in r["metrics"].items() if v is not None) or "-"
        t.add_row(str(r["id"]), short.get(r["kind"], r["kind"]), str(r["parent"] or "-"), str(r["campaign_id"] or "-"),
                  "-" if r["iteration"] is None else str(r["iteration"]), str(r["train_size"]), metric,
                  str(r["proposals_scored"]), r["trigger"] or "model train")
    console.print(t)


@model_app.command("show")
def show(
    version: int = typer.Argument(..., min=1, max=MAX_ID, help="Model version id (see `vitrify model history`)"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Print one model version: lineage, trigger, hyperparameters, metrics and its training set by source.

    Example: vitrify model show 12
    """
    from db.queries import model_detail
    from db.session import session_scope

    engine = _engine()
    with session_scope(engine) as session:
        row = model_detail(session, version)
    if row is None:
        _fail(f"no model version {version}: see `vitrify model history`", code=2)
    if as_json:
        print(json.dumps(row, indent=1, default=str))
        return
    out = [f"model version {row['id']}: {row['kind']}, registered {row['created_at']}",
           f"  parent: {row['parent'] or '-'}   campaign: {row['campaign_id'] or '-'}   iteration: "
           f"{'-' if row['iteration'] is None else row['iteration']}",
           f"  trigger: {row['trigger'] or 'vitrify model train'}",
           f"  training set: {row['train_size']} rows (sha256 {row['train_hash'][:12]})"]
    ts = row.get("training_set") or {}
    for source, n in (ts.get("by_source") or {}).items():
        out.append(f"    {source}: {n if not isinstance(n, dict) else ', '.join(f'{q} {c}' for q, c in n.items())}")
    if ts.get("held_out_systems"):
        out.append(f"    literature held out: {', '.join(ts['held_out_systems'][:12])}"
                   + (" ..." if len(ts["held_out_systems"]) > 12 else ""))
    rows = ts.get("campaign_rows") or []
    if rows:
        out.append(f"  the campaign's own rows ({len(rows)}):")
        for r in rows[:40]:
            out.append("    " + "  ".join(str(x) if not isinstance(x, dict) else
                                          ", ".join(f"{k} {v}" for k, v in x.items() if v is not None) for x in r))
        if len(rows) > 40:
            out.append(f"    ... and {len(rows) - 40} more (--json lists them all)")
    if row.get("selection"):
        out.append(f"  model selection: {row['selection']}")
    metrics = {k: v for k, v in row["all_metrics"].items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    keys = [k for k in metrics if k.startswith("grouped_cv_")][:16]
    if keys:
        out.append("  metrics (grouped CV by system):")
        out += [f"    {k[len('grouped_cv_'):]}: {_fmt(metrics[k], 3)}" for k in keys]
    out.append(f"  proposals scored: {row['proposals_scored']}")
    for line in out:
        console.print(line, markup=False)


# --------------------------------------------------------------------------- predict


def _read_predict_csv(path: Path) -> tuple[list[str], list[str | None]]:
    text = path.read_bytes().decode("utf-8-sig")
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise ValueError("the file is empty (a header with a 'formula' column is needed)") from None
    if "formula" not in header:
        raise ValueError(f"required column 'formula' missing from the header (got {header})")
    fi = header.index("formula")
    # "route" is what many tables (vitrify's own reference list among them) call the column
    if "processing" in header and "route" in header:
        raise ValueError("columns 'processing' and 'route' both name the processing route: keep one")
    name = "processing" if "processing" in header else "route"
    pi = header.index(name) if name in header else None
    formulas, routes = [], []
    for row in reader:
        if not row or not any(cell.strip() for cell in row):
            continue
        formulas.append(row[fi].strip() if fi < len(row) else "")
        routes.append((row[pi].strip() or None) if pi is not None and pi < len(row) else None)
    return formulas, routes


def _write_predictions(path: Path, columns: dict[str, np.ndarray]) -> None:
    from discovery.predict import COLUMNS, FLOAT_COLUMNS

    n = len(columns["row"])
    formatted = {}
    for name in COLUMNS:
        v = columns[name]
        if name in FLOAT_COLUMNS:
            text = np.char.mod("%.6g", np.where(np.isfinite(v), v, 0.0)).astype(object)
            text[~np.isfinite(v)] = ""
            formatted[name] = text
        else:
            formatted[name] = v
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(COLUMNS)
        if n:
            writer.writerows(zip(*(formatted[c] for c in COLUMNS)))


def _print_predictions(columns: dict[str, np.ndarray], limit: int) -> None:
    t = Table(title="predictions (verdict: P(glass) >= 0.5)")
    for col, justify in (("row", "right"), ("composition", "left"), ("route", "left"), ("glass?", "left"),
                         ("P(glass)", "right"), ("P_GFA", "right"), ("domain", "left")):
        t.add_column(col, justify=justify, no_wrap=col == "composition")
    n = len(columns["row"])
    for i in range(min(n, limit)):
        if columns["error"][i]:
            t.add_row(str(columns["row"][i]), str(columns["formula"][i]), "", "error", "", "", "")
            continue
        prob = f"{columns['glass_probability'][i]:.2f}±{columns['glass_probability_uncertainty'][i]:.2f}"
        verdict = columns["glass_former"][i] + ("" if columns["models_agree"][i] == "yes" else "*")
        t.add_row(str(columns["row"][i]), columns["composition"][i], columns["processing"][i], verdict, prob,
                  f"{columns['p_gfa'][i]:+.2f}", columns["domain"][i])
    console.print(t)
    if n > limit:
        console.print(f"... {n - limit} more rows in the output file")


def predict(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV with a 'formula' column (optional 'processing' or 'route')"),
    out: Path = typer.Option(..., "--out", help="Output CSV: one row per input row"),
    processing: Optional[str] = typer.Option(None, "--processing",
                                             help="Route for rows without one: melt-spinning | suction-casting | copper-mould-casting | sputtering | other | unknown"),
    normalize: bool = typer.Option(False, "--normalize", help="Rescale amounts that do not sum to 100 at.% (or 1)"),
    wt_percent: bool = typer.Option(False, "--wt-percent", help="The amounts are wt.% (converted to at.%)"),
    jobs: int = typer.Option(2, "--jobs", min=1, help="Threads for scoring"),
    show: int = typer.Option(20, "--show", min=0, help="Rows to print (all are written to --out)"),
    as_json: bool = typer.Option(False, "--json", help="Print the rows as JSON lines instead of a table"),
) -> None:
    """Score formulas with the current models: verdict, P(glass) +/- spread, P_GFA, domain of
    applicability, moduli and bulk-GFA properties.

    Formulas are read in at.% (Cu47.5Zr47.5Al5), as fractions (Cu0.5Zr0.5) or in the
    nested notation ((Cu50Zr50)95Al5); a sum off 100 +/- 0.5 is refused unless --normalize.
    Bad rows are written with an 'error' naming row and field and empty scores; the exit
    code is then 1 (0 when every row was scored).

    Example: vitrify predict famous.csv --out scored.csv --processing melt-spinning
    """
    from db.session import session_scope
    from discovery.predict import predict_rows
    from discovery.vocabulary import ProcessingRoute, VocabularyError

    started = time.perf_counter()
    if processing is not None:
        try:
            ProcessingRoute.parse(processing, field="--processing")
        except VocabularyError as exc:
            _fail(str(exc))
    try:
        formulas, routes = _read_predict_csv(file)
    except (ValueError, UnicodeDecodeError) as exc:
        _fail(f"{file}: {exc}")
    engine = _engine()
    with session_scope(engine) as session:
        gfa, ids = load_current_models(session)
    if gfa is None:
        _fail("no GFA model is registered yet: run `vitrify model train` first")
    columns, problems = predict_rows(formulas, routes, gfa, default_route=processing, normalize=normalize,
                                     wt_percent=wt_percent, n_jobs=jobs)
    _write_predictions(out, columns)
    if as_json:
        from discovery.predict import COLUMNS

        for i in range(len(formulas)):
            row = {c: columns[c][i] for c in COLUMNS}
            print(json.dumps({k: (None if isinstance(v, float) and not np.isfinite(v) else
                                  v.item() if hasattr(v, "item") else v) for k, v in row.items()}))
    elif show:
        _print_predictions(columns, show)
    versions = ", ".join(f"{k} v{v}" for k, v in ids.items())
    out_stream = err if as_json else console
    out_stream.print(f"scored {len(formulas) - len(problems)} of {len(formulas)} rows with {versions} "
                     f"in {time.perf_counter() - started:.1f} s -> {out}", markup=False)
    domain = columns["domain"]
    outside = [i for i in range(len(domain)) if domain[i] == "outside"]
    edge = [i for i in range(len(domain)) if domain[i] == "edge"]
    for label, rows in (("outside the model's domain", outside), ("at the edge of the model's domain", edge)):
        if rows:
            shown = "; ".join(f"row {columns['row'][i]}: {columns['domain_reason'][i]}" for i in rows[:5])
            more = f" (and {len(rows) - 5} more)" if len(rows) > 5 else ""
            err.print(f"warning: {len(rows)} prediction(s) {label}: {shown}{more}", markup=False)
    disagree = [str(columns["row"][i]) for i in range(len(domain)) if columns["models_agree"][i] == "no"]
    if disagree:
        err.print(f"note: P_GFA (SVM) and P(glass) disagree on row(s) {', '.join(disagree[:20])} (marked *); "
                  "the verdict follows P(glass)", markup=False)
    if "modulus-ensemble" not in ids:
        err.print("note: no modulus model registered: the modulus columns are empty", markup=False)
    if problems:
        for e in problems[:20]:
            err.print(f"{file.name}: {e}", markup=False)
        if len(problems) > 20:
            err.print(f"... and {len(problems) - 20} more bad rows (see the 'error' column of {out})", markup=False)
        raise typer.Exit(1)
