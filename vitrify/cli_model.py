"""``vitrify model train|report`` and ``vitrify predict``: the model commands.

Registered at the end of vitrify/cli.py::

    from vitrify.cli_model import model_app, predict  # noqa: E402
    app.add_typer(model_app, name="model")
    app.command("predict")(predict)
"""

from __future__ import annotations

import csv
import io
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

model_app = typer.Typer(help="GFA and modulus models: train (Optuna, grouped CV), report, maps.", no_args_is_help=True)
# piped output (logs, CI) gets 140 columns instead of rich's 80, so metric tables stay readable
console = Console() if sys.stdout.isatty() else Console(width=140)
err = Console(stderr=True)

GFA_KIND = "gfa-ensemble"
MODULUS_KIND = "modulus-ensemble"
GFA_KINDS = ("gfa-ensemble", "gfa-svm")


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def _engine():
    from vitrify.cli import _engine as engine

    return engine()


def _shared_data_default() -> Path:
    from discovery.evaluation import shared_data_dir

    return shared_data_dir()


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


def _latest(session, kinds: tuple[str, ...]):
    from sqlalchemy import select

    from db.models import ModelVersion

    query = select(ModelVersion).where(ModelVersion.kind.in_(kinds)).order_by(ModelVersion.id.desc()).limit(1)
    return session.exec(query).scalars().first()


def load_current_models(session) -> tuple[object | None, object | None, dict]:
    """(GFA model, modulus model, {kind: version id}) -- the latest registered versions."""
    from db.registry import load_model

    gfa_version = _latest(session, GFA_KINDS)
    mod_version = _latest(session, (MODULUS_KIND,))
    gfa = load_model(gfa_version) if gfa_version is not None else None
    mod = load_model(mod_version) if mod_version is not None else None
    ids = {}
    if gfa_version is not None:
        ids[gfa_version.kind] = gfa_version.id
    if mod_version is not None:
        ids[MODULUS_KIND] = mod_version.id
    return gfa, mod, ids


# --------------------------------------------------------------------------- train


@model_app.command("train")
def train(
    trials: Optional[int] = typer.Option(None, "--trials", help="Optuna trials per tuned member (default VITRIFY_OPTUNA_TRIALS)"),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="Wall-time budget (s) per study run (default VITRIFY_OPTUNA_TIMEOUT_S)"),
    tune: list[str] = typer.Option(["svm"], "--tune", help="GFA members to tune: svm, rf, gb, mlp, or all"),
    modulus: bool = typer.Option(True, "--modulus/--no-modulus", help="Also train the modulus ensemble (needs the shared data)"),
    shared_data: Path = typer.Option(None, "--shared-data", help="Public data folder (default <repo>/../shared/data)"),
    seed: Optional[int] = typer.Option(None, help="Random seed (default VITRIFY_SEED)"),
) -> None:
    """Train the default models on the shipped data plus the database's outcomes, and register them."""
    from vitrify.cli import _ensure_shipped_data
    from vitrify.settings import get_settings

    from db.registry import save_model_version
    from db.session import session_scope
    from db.training import labelled_set
    from discovery.models import ENSEMBLE_MEMBERS
    from discovery.tuning import study_name_for, train_gfa_model, train_modulus_model

    settings = get_settings()
    n_trials = settings.optuna_trials if trials is None else trials
    timeout_s = settings.optuna_timeout_s if timeout is None else timeout
    seed = settings.seed if seed is None else seed
    members = tuple(ENSEMBLE_MEMBERS) if "all" in tune else tuple(tune)
    unknown = set(members) - set(ENSEMBLE_MEMBERS)
    if unknown:
        _fail(f"--tune: unknown member(s) {sorted(unknown)}; choose from {', '.join(ENSEMBLE_MEMBERS)} or all")
    engine = _engine()
    _ensure_shipped_data(engine)
    storage = settings.sqlalchemy_url
    with session_scope(engine) as session:
        data = labelled_set(session)
    console.print(f"training data: {len(data)} labelled outcomes ({int(data.labels.sum())} glass) from the database")

    modulus_model = None
    if modulus:
        from discovery.modulus import load_modulus_data

        root = shared_data or _shared_data_default()
        try:
            mdata = load_modulus_data(root)
        except FileNotFoundError as exc:
            err.print(f"[yellow]modulus model skipped:[/] {exc} (pass --shared-data or --no-modulus)")
        else:
            started = time.perf_counter()
            trained = train_modulus_model(mdata, n_trials=n_trials, timeout_s=timeout_s, storage=storage,
                                          study_name=study_name_for(MODULUS_KIND), seed=seed)
            with session_scope(engine) as session:
                version = save_model_version(session, trained.model, kind=trained.kind, data=mdata,
                                             hyperparameters=trained.hyperparameters, metrics=trained.metrics)
                vid = version.id
            modulus_model = trained.model
            console.print(f"registered {trained.kind} v{vid} ({len(mdata)} compositions, {time.perf_counter() - started:.0f} s)")
            _print_modulus_metrics(trained.metrics, f"{MODULUS_KIND} v{vid}: grouped-CV (GPa)")

    started = time.perf_counter()
    trained = train_gfa_model(data, n_trials=n_trials, timeout_s=timeout_s, storage=storage,
                              study_name=study_name_for(GFA_KIND), seed=seed, tune=members, modulus_model=modulus_model)
    with session_scope(engine) as session:
        version = save_model_version(session, trained.model, kind=trained.kind, data=data,
                                     hyperparameters=trained.hyperparameters, metrics=trained.metrics)
        vid = version.id
    console.print(f"registered {trained.kind} v{vid} ({trained.metrics.get('n_train')} rows, {time.perf_counter() - started:.0f} s)")
    _print_gfa_metrics({f"{trained.kind} v{vid}": trained.metrics})


def _print_gfa_metrics(rows: dict[str, dict]) -> None:
    t = Table(title="GFA, grouped CV by chemical system (no system in two folds); "
                    "Sun E = P_target^2/P_whole, admissible if P_target > 0.3")
    for col in ("model", "n", "AUC", "bal.acc", "E", "P_tgt", "P_whl", "adm.", "ECE", "SVM AUC"):
        t.add_column(col, justify="right")
    for name, m in rows.items():
        t.add_row(name, _fmt(m.get("n_train")), _fmt(m.get("grouped_cv_roc_auc")), _fmt(m.get("grouped_cv_balanced_accuracy")),
                  _fmt(m.get("grouped_cv_sun_e"), 2), _fmt(m.get("grouped_cv_p_target"), 2), _fmt(m.get("grouped_cv_p_whole"), 2),
                  _fmt(m.get("grouped_cv_sun_e_valid")), _fmt(m.get("grouped_cv_ece")), _fmt(m.get("grouped_cv_svm_roc_auc")))
    console.print(t)


def _print_modulus_metrics(metrics: dict, title: str) -> None:
    t = Table(title=title)
    for col in ("target", "model", "MAE", "R^2"):
        t.add_column(col, justify="right")
    for target in ("E", "G", "K"):
        for model in ("rule_of_mixtures", "poly", "lasso", "rf", "mlp", "ensemble"):
            mae = metrics.get(f"grouped_cv_{target}_{model}_mae")
            if mae is None:
                continue
            t.add_row(target, model.replace("_", " "), _fmt(mae, 2), _fmt(metrics.get(f"grouped_cv_{target}_{model}_r2")))
    console.print(t)


# --------------------------------------------------------------------------- report


@model_app.command("report")
def report(
    system: str = typer.Option("Cu-Zr-Al", "--system", help="Ternary system of the P_GFA map (corners left-right-top)"),
    out: Optional[Path] = typer.Option(None, "--out", help="PNG path (default <data dir>/plots/pgfa-<system>.png)"),
    processing: str = typer.Option("unknown", "--processing", help="Route the map is drawn for"),
    step: float = typer.Option(1.0, "--step", help="Grid step of the map (at.%)"),
    benchmark: bool = typer.Option(False, "--benchmark", help="Also recompute the public-data CV tables (binary, Landolt, matbench; minutes)"),
    shared_data: Path = typer.Option(None, "--shared-data", help="Public data folder (default <repo>/../shared/data)"),
) -> None:
    """Print the registered models' grouped-CV metrics and draw a ternary P_GFA map."""
    from vitrify.settings import get_settings

    from db.session import session_scope
    from db.training import labelled_set
    from discovery.maps import parse_system, plot_pgfa_map
    from discovery.vocabulary import ProcessingRoute, VocabularyError

    try:
        els = parse_system(system)
        route = ProcessingRoute.parse(processing).model_group
    except (ValueError, VocabularyError) as exc:
        _fail(str(exc))
    engine = _engine()
    with session_scope(engine) as session:
        from db.models import ModelVersion

        gfa_version = _latest(session, GFA_KINDS)
        mod_version = _latest(session, (MODULUS_KIND,))
        if gfa_version is None:
            _fail("no GFA model is registered yet: run `vitrify model train` first")
        from db.registry import load_model

        gfa = load_model(gfa_version)
        gfa_metrics = dict(gfa_version.metrics)
        gfa_label = f"{gfa_version.kind} v{gfa_version.id}"
        mod_metrics = dict(mod_version.metrics) if mod_version is not None else None
        mod_label = f"{MODULUS_KIND} v{mod_version.id}" if mod_version is not None else None
        known = labelled_set(session)
        del ModelVersion
    _print_gfa_metrics({gfa_label: gfa_metrics})
    if mod_metrics is not None:
        _print_modulus_metrics(mod_metrics, f"{mod_label}: grouped-CV (GPa)")
    else:
        console.print("no modulus model registered (Young's modulus predictions are NaN)")
    if benchmark:
        from vitrify.settings import SHIPPED_BINARY_DATA

        from discovery.evaluation import gfa_benchmark, public_gfa_datasets

        root = shared_data or _shared_data_default()
        console.print("cross-validating on public data (a few minutes)...")
        rows = gfa_benchmark(public_gfa_datasets(root, SHIPPED_BINARY_DATA))
        print_benchmark_table(rows, console)
    settings = get_settings()
    path = out or settings.plots_dir / f"pgfa-{'-'.join(els)}.png"
    keep = np.array([set(c.elements) <= set(els) for c in known.compositions], dtype=bool)
    try:
        png = plot_pgfa_map(gfa, els, path, route=route, step=step, known=known.subset(keep))
    except Exception as exc:  # e.g. an element pair without mixing-enthalpy data
        _fail(f"cannot draw the {'-'.join(els)} map: {exc}")
    console.print(f"P_GFA map of {'-'.join(els)} ({route}): {png}")


def print_benchmark_table(rows: list[dict], out: Console) -> None:
    from discovery.evaluation import MATBENCH_GLASS_LEADERBOARD

    t = Table(title="GFA cross-validation on public data (pooled out-of-fold)")
    for col in ("data set", "protocol", "model", "n", "ROC-AUC", "bal. acc.", "Sun E", "P_target", "ECE"):
        t.add_column(col, justify="right")
    for r in rows:
        t.add_row(r["dataset"], r["protocol"], r["model"], _fmt(r["n"]), _fmt(r["roc_auc"]), _fmt(r["balanced_accuracy"]),
                  _fmt(r["sun_e"], 2), _fmt(r["p_target"], 2), _fmt(r.get("ece")))
    for name, auc in MATBENCH_GLASS_LEADERBOARD.items():
        t.add_row("matbench_glass", "random 5-fold (matbench)", f"{name} (leaderboard)", "5680", _fmt(auc), "-", "-", "-", "-")
    out.print(t)


# --------------------------------------------------------------------------- predict


PREDICT_COLUMNS = ("row", "formula", "processing", "p_gfa", "glass_probability", "glass_probability_uncertainty",
                   "youngs_modulus_gpa", "youngs_modulus_uncertainty_gpa", "error")


def predict_rows(formulas: list[str], routes: list[str | None], gfa_model, modulus_model=None, *,
                 default_route: str | None = None, n_jobs: int = 1) -> tuple[dict[str, np.ndarray], list]:
    """Validate and score rows; returns (column arrays, [RowError]). Bad rows get NaN scores and an error."""
    from db.ingest import RowError
    from discovery.composition import CompositionError, CompositionMatrix, parse_composition
    from discovery.features import featurizable
    from discovery.vocabulary import ProcessingRoute, VocabularyError

    n = len(formulas)
    errors: list = []
    error_text = np.full(n, "", dtype=object)
    comps: list = [None] * n
    groups = np.full(n, "unknown", dtype=object)
    cache: dict[str, object] = {}
    route_cache: dict[str | None, str] = {}
    for i in range(n):
        text = formulas[i]
        raw_route = routes[i] if routes[i] not in (None, "") else default_route
        try:
            group = route_cache.get(raw_route)
            if group is None:
                group = route_cache[raw_route] = ProcessingRoute.parse(raw_route).model_group
            groups[i] = group
        except VocabularyError as exc:
            e = RowError(i + 1, "processing", exc.reason)
            errors.append(e)
            error_text[i] = str(e)
            continue
        comp = cache.get(text)
        if comp is None:
            try:
                comp = cache[text] = parse_composition(text, field="formula")
            except CompositionError as exc:
                e = RowError(i + 1, "formula", exc.reason + (f" (got {text!r})" if text else ""))
                errors.append(e)
                error_text[i] = str(e)
                cache[text] = exc
                continue
        elif isinstance(comp, CompositionError):
            e = RowError(i + 1, "formula", comp.reason + (f" (got {text!r})" if text else ""))
            errors.append(e)
            error_text[i] = str(e)
            continue
        comps[i] = comp
    good = np.array([c is not None for c in comps], dtype=bool)
    idx = np.flatnonzero(good)
    p_gfa = np.full(n, np.nan)
    prob = np.full(n, np.nan)
    unc = np.full(n, np.nan)
    e_mod = np.full(n, np.nan)
    e_unc = np.full(n, np.nan)
    if len(idx):
        matrix = CompositionMatrix.from_compositions([comps[i] for i in idx])
        ok = featurizable(matrix)
        for j in np.flatnonzero(~ok):
            i = idx[j]
            e = RowError(int(i) + 1, "formula", _missing_data_reason(matrix.take([j])) + f" (got {formulas[i]!r})")
            errors.append(e)
            error_text[i] = str(e)
        scored = idx[ok]
        if len(scored):
            sub = matrix.take(np.flatnonzero(ok))
            if modulus_model is not None:
                gfa_model.modulus_model = modulus_model
            s = gfa_model.score(sub, groups[scored], n_jobs=n_jobs)
            p_gfa[scored], prob[scored], unc[scored] = s.p_gfa, s.glass_probability, s.uncertainty
            e_mod[scored], e_unc[scored] = s.modulus_gpa, s.modulus_uncertainty_gpa
    errors.sort(key=lambda e: e.row)
    columns = {
        "row": np.arange(1, n + 1),
        "formula": np.asarray(formulas, dtype=object),
        "processing": groups,
        "p_gfa": p_gfa,
        "glass_probability": prob,
        "glass_probability_uncertainty": unc,
        "youngs_modulus_gpa": e_mod,
        "youngs_modulus_uncertainty_gpa": e_unc,
        "error": error_text,
    }
    return columns, errors


def _missing_data_reason(one_row) -> str:
    from discovery.features import base_features

    try:
        base_features(one_row)
    except Exception as exc:  # MissingElementData names the element(s) or pair(s)
        return f"cannot be featurized: {exc}"
    return "cannot be featurized"


def _read_predict_csv(path: Path) -> tuple[list[str], list[str | None]]:
    text = path.read_bytes().decode("utf-8-sig")
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise ValueError("the file is empty") from None
    if "formula" not in header:
        raise ValueError(f"required column 'formula' missing from the header (got {header})")
    fi = header.index("formula")
    pi = header.index("processing") if "processing" in header else None
    formulas, routes = [], []
    for row in reader:
        if not row or not any(cell.strip() for cell in row):
            continue
        formulas.append(row[fi].strip() if fi < len(row) else "")
        routes.append((row[pi].strip() or None) if pi is not None and pi < len(row) else None)
    return formulas, routes


def _write_predictions(path: Path, columns: dict[str, np.ndarray]) -> None:
    n = len(columns["row"])
    floats = ("p_gfa", "glass_probability", "glass_probability_uncertainty", "youngs_modulus_gpa",
              "youngs_modulus_uncertainty_gpa")
    formatted = {}
    for name in floats:
        v = columns[name]
        text = np.char.mod("%.6g", np.where(np.isfinite(v), v, 0.0)).astype(object)
        text[~np.isfinite(v)] = ""
        formatted[name] = text
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(PREDICT_COLUMNS)
        cols = [columns["row"], columns["formula"], columns["processing"], *(formatted[f] for f in floats), columns["error"]]
        writer.writerows(zip(*cols)) if n else None


def predict(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV with a 'formula' column (optional 'processing')"),
    out: Path = typer.Option(..., "--out", help="Output CSV: one row per input row"),
    processing: Optional[str] = typer.Option(None, "--processing", help="Route for rows without one: melt-spinning | sputtering | casting | unknown"),
    jobs: int = typer.Option(2, "--jobs", help="Threads for scoring"),
) -> None:
    """Score formulas with the current models: P_GFA, glass probability +/- spread, Young's modulus +/- spread.

    Bad rows are written with an 'error' naming row and field and empty scores; the exit
    code is then 1 (0 when every row was scored).
    """
    from db.ingest import RowError
    from db.session import session_scope
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
        _fail(f"{file}: {RowError(None, 'formula', str(exc))}")
    engine = _engine()
    with session_scope(engine) as session:
        gfa, modulus, ids = load_current_models(session)
    if gfa is None:
        _fail("no GFA model is registered yet: run `vitrify model train` first")
    columns, errors = predict_rows(formulas, routes, gfa, modulus, default_route=processing, n_jobs=jobs)
    _write_predictions(out, columns)
    versions = ", ".join(f"{k} v{v}" for k, v in ids.items())
    console.print(f"scored {len(formulas) - len(errors)} of {len(formulas)} rows with {versions} "
                  f"in {time.perf_counter() - started:.1f} s -> {out}")
    if modulus is None:
        console.print("no modulus model registered: youngs_modulus columns are empty")
    if errors:
        for e in errors[:20]:
            err.print(f"{file.name}: {e}", highlight=False)
        if len(errors) > 20:
            err.print(f"... and {len(errors) - 20} more bad rows (see the 'error' column of {out})")
        raise typer.Exit(1)
