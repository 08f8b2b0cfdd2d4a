"""Honest evaluation of glass-formation models: cross-validation grouped by chemical system.

Compositions of one system (Cu-Zr at 1 at.% steps, say) are near-duplicates of each other:
a random K-fold split puts Cu50Zr50 in the test fold and Cu49Zr51 in the training fold and
measures interpolation along a grid, not prediction for a new system -- which is what a
campaign asks of the model. Here every composition of an element set lands in the same
fold (:func:`grouped_splits`, checked by :func:`check_grouping`). Random K-fold figures
(:func:`random_splits`) are computed beside the grouped ones, never instead.

Metrics (:func:`classification_metrics`):

* ROC-AUC of the score (P_GFA for the SVM, the glass probability otherwise);
* balanced accuracy of the hard prediction (P_GFA > 0 for the SVM, probability > 0.5 else);
* Sun et al. 2017's E = P_target^2 / P_whole, where P_target is the fraction of known glass
  formers predicted positive and P_whole the fraction of all compositions predicted
  positive; a model is admissible only if P_target > 0.3 (``sun_e_valid``).
* :func:`expected_calibration_error` / :func:`reliability_table` for the probabilities.

Out-of-fold predictions are pooled over folds before computing a metric.

Liquidus honesty: the GFA features use an estimated liquidus. ``liquidus_for_fold`` lets a
benchmark refit the liquidus regressor without the held-out systems' measured liquidus
(otherwise their T_liq data inform the features of the test fold).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np
from sklearn.metrics import balanced_accuracy_score, mean_absolute_error, r2_score, roc_auc_score
from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold

from discovery.dataset import LabelledSet

#: Matbench v0.1 glass leaderboard (ROC-AUC, random 5-fold on deduplicated Landolt compositions).
MATBENCH_GLASS_LEADERBOARD = {"RF-SCM/Magpie": 0.859, "MODNet": 0.960}
#: Matbench's fold seed (KFold(5, shuffle=True, random_state=18012019)).
MATBENCH_SEED = 18012019
#: Sun 2017's admissibility rule: keep models with P_target above this.
SUN_P_TARGET_MIN = 0.3


# --------------------------------------------------------------------------- splits


def grouped_splits(groups: Sequence, n_splits: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index pairs with every group (chemical system) in exactly one test fold."""
    groups = np.asarray(groups, dtype=object).astype(str)
    n_groups = len(set(groups.tolist()))
    if n_groups < 2:
        raise ValueError(f"grouped CV needs at least 2 chemical systems, got {n_groups}")
    k = min(int(n_splits), n_groups)
    cv = GroupKFold(n_splits=k, shuffle=True, random_state=seed)
    splits = [(train, test) for train, test in cv.split(np.zeros(len(groups)), groups=groups)]
    check_grouping(splits, groups)
    return splits


def random_splits(labels: Sequence, n_splits: int = 5, seed: int = 0, *, stratified: bool = True):
    """Random (stratified) K-fold: only ever reported beside :func:`grouped_splits`."""
    y = np.asarray(labels)
    cv = StratifiedKFold(n_splits, shuffle=True, random_state=seed) if stratified else KFold(
        n_splits, shuffle=True, random_state=seed)
    return list(cv.split(np.zeros(len(y)), y))


def check_grouping(splits: Iterable[tuple[np.ndarray, np.ndarray]], groups: Sequence) -> None:
    """Raise if a group appears in two test folds or in both the train and test part of a fold."""
    groups = np.asarray(groups, dtype=object).astype(str)
    seen: dict[str, int] = {}
    covered = np.zeros(len(groups), dtype=int)
    for k, (train, test) in enumerate(splits):
        overlap = set(groups[train].tolist()) & set(groups[test].tolist())
        if overlap:
            raise AssertionError(f"fold {k}: systems in both train and test: {sorted(overlap)[:5]}")
        for g in set(groups[test].tolist()):
            if g in seen:
                raise AssertionError(f"system {g} in test folds {seen[g]} and {k}")
            seen[g] = k
        covered[test] += 1
    if np.any(covered != 1):
        raise AssertionError(f"{int(np.sum(covered != 1))} rows not in exactly one test fold")


# --------------------------------------------------------------------------- metrics


def sun_e(y_true, predicted_glass, whole_predicted=None) -> dict:
    """Sun 2017's E = P_target^2 / P_whole.

    ``predicted_glass``: hard predictions for the labelled rows; the target group is the
    rows with ``y_true == 1``. ``whole_predicted``: predictions for the whole candidate
    group (default: all labelled rows -- for the 1 at.% binary grids these are the whole
    composition range of each system).
    """
    y = np.asarray(y_true, dtype=int)
    pred = np.asarray(predicted_glass, dtype=bool)
    whole = pred if whole_predicted is None else np.asarray(whole_predicted, dtype=bool)
    p_target = float(pred[y == 1].mean()) if np.any(y == 1) else float("nan")
    p_whole = float(whole.mean()) if len(whole) else float("nan")
    e = p_target**2 / p_whole if p_whole > 0 else float("nan")
    return {"p_target": p_target, "p_whole": p_whole, "sun_e": e, "sun_e_valid": bool(p_target > SUN_P_TARGET_MIN)}


def expected_calibration_error(y_true, prob, n_bins: int = 10) -> float:
    """Count-weighted mean |observed glass fraction - mean predicted probability| over equal-width bins."""
    mean_pred, frac_pos, counts = reliability_table(y_true, prob, n_bins)
    ok = counts > 0
    return float(np.sum(counts[ok] * np.abs(frac_pos[ok] - mean_pred[ok])) / counts.sum())


def reliability_table(y_true, prob, n_bins: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean predicted probability, observed glass fraction, count) per equal-width bin (NaN if empty)."""
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(prob, dtype=float)
    bins = np.clip((p * n_bins).astype(int), 0, n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_pred = np.bincount(bins, weights=p, minlength=n_bins) / counts
        frac_pos = np.bincount(bins, weights=y, minlength=n_bins) / counts
    return mean_pred, frac_pos, counts


def classification_metrics(y_true, score, predicted=None, *, threshold: float = 0.5, prob=None) -> dict:
    """ROC-AUC of ``score``, balanced accuracy and Sun's E of ``predicted`` (default score > threshold).

    ``prob`` (optional): probabilities for the calibration error.
    """
    y = np.asarray(y_true, dtype=int)
    s = np.asarray(score, dtype=float)
    pred = (s > threshold) if predicted is None else np.asarray(predicted, dtype=bool)
    out = {"n": int(len(y)), "n_glass": int(y.sum())}
    out["roc_auc"] = float(roc_auc_score(y, s)) if len(set(y.tolist())) == 2 else float("nan")
    out["balanced_accuracy"] = float(balanced_accuracy_score(y, pred.astype(int)))
    out.update(sun_e(y, pred))
    if prob is not None:
        out["ece"] = expected_calibration_error(y, prob)
    return out


def regression_metrics(y_true, pred) -> dict:
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(pred, dtype=float)
    return {"n": int(len(y)), "mae": float(mean_absolute_error(y, p)), "rmse": float(np.sqrt(np.mean((y - p) ** 2))),
            "r2": float(r2_score(y, p))}


# --------------------------------------------------------------------------- GFA cross-validation


@dataclass
class GFACVResult:
    """Pooled out-of-fold predictions of a GFA model under one CV protocol."""

    protocol: str  # "grouped" (by chemical system) | "random"
    n_splits: int
    labels: np.ndarray
    systems: np.ndarray
    p_gfa: np.ndarray  # SVM decision function (Sun's P_GFA)
    members: np.ndarray  # (n_members, n) member glass probabilities
    member_names: tuple[str, ...]
    fold: np.ndarray  # test fold of every row
    extra: dict = field(default_factory=dict)

    @property
    def probability(self) -> np.ndarray:
        return self.members.mean(axis=0)

    @property
    def uncertainty(self) -> np.ndarray:
        from discovery.properties import ensemble_mean_spread

        return ensemble_mean_spread(self.members)[1]

    def metrics(self) -> dict[str, dict]:
        """Metrics per member (``svm`` on P_GFA > 0) and for the ``ensemble`` mean probability."""
        y = self.labels
        out = {}
        for k, name in enumerate(self.member_names):
            if name == "svm":
                out[name] = classification_metrics(y, self.p_gfa, self.p_gfa > 0, prob=self.members[k])
            else:
                out[name] = classification_metrics(y, self.members[k], prob=self.members[k])
        if len(self.member_names) > 1:
            out["ensemble"] = classification_metrics(y, self.probability, prob=self.probability)
        return out


def cross_validate_gfa(
    data: LabelledSet,
    model_factory: Callable[[], object] | None = None,
    *,
    protocol: str = "grouped",
    n_splits: int = 5,
    seed: int = 0,
    liquidus_for_fold: Callable[[set[str]], object] | None = None,
    design: np.ndarray | None = None,
) -> GFACVResult:
    """Out-of-fold predictions of ``model_factory()`` (default: the GFA ensemble).

    Rows that cannot be featurized are dropped first (``extra['n_dropped']``). The design
    matrix is computed once (all features depend on composition and route only), unless
    ``liquidus_for_fold`` is given: then each fold refits the liquidus estimate without
    the held-out systems (``liquidus_for_fold(test_systems) -> fitted regressor``).
    ``design``: a precomputed design matrix of the featurizable rows (skips featurization).
    """
    from discovery.features import featurizable
    from discovery.models import GlassFormingModel

    factory = model_factory or GlassFormingModel
    usable = featurizable(data.matrix())
    dropped = int((~usable).sum())
    data = data.subset(usable)
    y = data.labels
    systems = data.systems
    if protocol == "grouped":
        splits = grouped_splits(systems, n_splits, seed)
    elif protocol == "random":
        splits = random_splits(y, n_splits, seed)
    else:
        raise ValueError(f"protocol must be 'grouped' or 'random', got {protocol!r}")
    weights = None if data.weights is None else np.asarray(data.weights, dtype=float)
    matrix = data.matrix()
    template = factory()
    if liquidus_for_fold is not None:
        X_all = None
    elif design is not None:
        X_all = np.asarray(design, dtype=float)
        if len(X_all) != len(y):
            raise ValueError(f"design has {len(X_all)} rows, the featurizable data {len(y)}")
    else:
        X_all = template.design_matrix(matrix, data.routes)
    p_gfa = np.full(len(y), np.nan)
    members = None
    names: tuple[str, ...] = ()
    fold = np.full(len(y), -1)
    for k, (train, test) in enumerate(splits):
        model = factory()
        if liquidus_for_fold is not None:
            model.liquidus = liquidus_for_fold(set(systems[test].tolist()))
            X_train = model.design_matrix(matrix.take(train), data.routes[train])
            X_test = model.design_matrix(matrix.take(test), data.routes[test])
        else:
            X_train, X_test = X_all[train], X_all[test]
        if len(set(y[train].tolist())) < 2:
            raise ValueError(f"fold {k}: training part has only one class")
        model.fit_design(X_train, y[train], None if weights is None else weights[train])
        pg, mem = model.score_design(X_test)
        if members is None:
            names = model.member_names
            members = np.full((len(names), len(y)), np.nan)
        p_gfa[test] = pg
        members[:, test] = mem
        fold[test] = k
    return GFACVResult(protocol, len(splits), y, systems, p_gfa, members, names, fold, extra={"n_dropped": dropped})


# --------------------------------------------------------------------------- data loading


def load_labelled_csv(path, *, source: str = "literature") -> LabelledSet:
    """A labelled CSV (discovery.labelled_csv: the one reader of the format) as a
    :class:`LabelledSet`. Rows are kept as they are (no deduplication: conflicting reports
    of one composition stay side by side, and grouped CV keeps them in one fold); a bad row
    raises :class:`discovery.labelled_csv.LabelledCSVError` naming it."""
    from discovery.labelled_csv import load_labelled_csv_rows

    rows = load_labelled_csv_rows(path)
    return LabelledSet([r.composition for r in rows], np.array([r.route.model_group for r in rows], dtype=object),
                       np.array([r.result.glass_label for r in rows], dtype=int), np.full(len(rows), source, dtype=object))


# --------------------------------------------------------------------------- literature benchmark

#: Subsets of the literature table the GFA report evaluates (out-of-fold predictions of one
#: grouped CV over the whole table, so every subset is held out by chemical system).
def literature_subsets(records) -> dict[str, np.ndarray]:
    src = records["sources"].str
    route = records["route"]
    return {
        "binary (Sun 2017)": src.contains("sun2017").to_numpy(),
        "Landolt melt-spun": (src.contains("landolt") & (route == "melt-spinning")).to_numpy(),
        "Landolt sputtered": (src.contains("landolt") & (route == "sputtering")).to_numpy(),
        "all literature": np.ones(len(records), dtype=bool),
    }


def literature_gfa_benchmark(table=None, model_factory: Callable[[], object] | None = None, *, n_splits: int = 5,
                             seed: int = 0, matbench: bool = True) -> dict:
    """System-grouped CV of the GFA model on the literature table, reported per subset.

    One GroupKFold over every featurizable record (all sets together: they share roots, so a
    system must be held out from all of them at once); metrics on the out-of-fold
    predictions of each :func:`literature_subsets` entry, the ensemble's P(glass) and the
    SVM's P_GFA. ``matbench``: matbench_glass on its own, under system-grouped folds and
    under matbench's random folds (beside, for the leaderboard's numbers).

    Returns ``{"rows": [metric rows], "reliability": {subset: [[mean predicted, observed,
    count], ...]}}`` (JSON-ready).
    """
    from discovery.features import featurizable
    from discovery.literature import load_literature

    table = load_literature() if table is None else table
    data = table.labelled_set()
    usable = featurizable(data.matrix())
    records = table.records[usable].reset_index(drop=True)
    result = cross_validate_gfa(data.subset(usable), model_factory, protocol="grouped", n_splits=n_splits, seed=seed)
    rows, reliability = [], {}
    prob = result.probability
    for name, mask in literature_subsets(records).items():
        if mask.sum() == 0 or len(set(result.labels[mask].tolist())) < 2:
            continue
        y = result.labels[mask]
        ens = classification_metrics(y, prob[mask], prob=prob[mask])
        svm = classification_metrics(y, result.p_gfa[mask], result.p_gfa[mask] > 0)
        rows.append({"dataset": name, "protocol": f"system {result.n_splits}-fold", "model": "ensemble", **ens})
        rows.append({"dataset": name, "protocol": f"system {result.n_splits}-fold", "model": "P_GFA (SVM)", **svm})
        mean_pred, frac, counts = reliability_table(y, prob[mask])
        reliability[name] = [[None if not np.isfinite(a) else round(float(a), 4),
                              None if not np.isfinite(b) else round(float(b), 4), int(c)]
                             for a, b, c in zip(mean_pred, frac, counts)]
    if matbench:
        from discovery.literature import read_source

        reader = read_source("matbench")
        from discovery.composition import Composition

        comps = [Composition(r["fractions"]) for r in reader.records]
        labels = np.array([1 if r["outcome"] == "glass" else 0 for r in reader.records])
        mb = LabelledSet(comps, np.full(len(comps), "unknown", dtype=object), labels)
        grouped = cross_validate_gfa(mb, model_factory, protocol="grouped", n_splits=n_splits, seed=seed)
        rows += _rows_from_cv("matbench_glass", f"system {grouped.n_splits}-fold", grouped, ("ensemble", "svm"))
        rnd = _matbench_cv(mb, model_factory, 5)
        rows += _rows_from_cv("matbench_glass", "random 5-fold", rnd, ("ensemble", "svm"))
        for row in rows:
            if row["model"] == "svm":
                row["model"] = "P_GFA (SVM)"
    return {"rows": rows, "reliability": reliability, "n_records": int(usable.sum()), "n_splits": result.n_splits}


def _rows_from_cv(dataset: str, protocol: str, result: GFACVResult, models: Sequence[str] | None = None) -> list[dict]:
    rows = []
    for name, m in result.metrics().items():
        if models is not None and name not in models:
            continue
        rows.append({"dataset": dataset, "protocol": protocol, "model": name, **m})
    return rows


def _matbench_cv(data: LabelledSet, model_factory, n_splits: int) -> GFACVResult:
    """matbench's folds: KFold(5, shuffle=True, random_state=18012019) over the rows in file order."""
    from discovery.features import featurizable
    from discovery.models import GlassFormingModel

    factory = model_factory or GlassFormingModel
    usable = featurizable(data.matrix())
    data = data.subset(usable)
    y = data.labels
    template = factory()
    X = template.design_matrix(data.matrix(), data.routes)
    p_gfa = np.full(len(y), np.nan)
    members = None
    names: tuple[str, ...] = ()
    fold = np.full(len(y), -1)
    for k, (train, test) in enumerate(KFold(n_splits, shuffle=True, random_state=MATBENCH_SEED).split(X)):
        model = factory().fit_design(X[train], y[train])
        pg, mem = model.score_design(X[test])
        if members is None:
            names = model.member_names
            members = np.full((len(names), len(y)), np.nan)
        p_gfa[test], members[:, test], fold[test] = pg, mem, k
    return GFACVResult("random", n_splits, y, data.systems, p_gfa, members, names, fold,
                       extra={"n_dropped": int((~usable).sum())})


def liquidus_refit_factory(table=None):
    """``liquidus_for_fold`` for :func:`cross_validate_gfa`: refit the liquidus regressor on the
    measured liquidus data minus the held-out systems."""
    from discovery import liquidus

    data = liquidus.liquidus_data(table)
    systems = np.asarray(data.systems, dtype=object)

    def factory(held_out: set[str]):
        keep = np.flatnonzero(~np.isin(systems, sorted(held_out)))
        return liquidus.LiquidusRegressor().fit(data.matrix.take(keep), data.t_liquidus[keep])

    return factory
