"""Predictions for a list of formulas: what ``vitrify predict`` (and anything else that scores
user-given compositions) returns, as plain columns.

Every row is parsed with the one formula parser (strict at.% unless ``normalize``; wt.%
behind ``wt_percent``), scored at its route by the GFA model and the property models
attached to it, and judged by the model's training domain (discovery.domain). A row that
cannot be parsed or featurized gets NaN scores and an error naming its row and field;
nothing else about the batch changes.

The verdict column: ``glass_former`` is ``yes`` when the ensemble's P(glass) >= 0.5 (the
better-measured score under system-grouped CV, docs/models.md), ``no`` otherwise.
``models_agree`` says whether the SVM's P_GFA (> 0 means glass, Sun et al. 2017) points
the same way: where it does not, the verdict still follows P(glass), and the disagreement
is shown, never hidden.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from discovery.composition import CompositionError, CompositionMatrix, parse_composition
from discovery.vocabulary import ProcessingRoute, VocabularyError

GLASS_THRESHOLD = 0.5
#: Regressed properties written by ``vitrify predict``, in column order (discovery.properties names).
PROPERTY_COLUMNS = ("youngs_modulus_gpa", "shear_modulus_gpa", "bulk_modulus_gpa", "dmax_mm", "log10_rc", "tg_k",
                    "tx_k", "tl_k", "trg", "gamma")
COLUMNS = (
    "row", "formula", "composition", "processing", "glass_former", "p_gfa", "glass_probability",
    "glass_probability_uncertainty", "models_agree", "domain", "domain_reason", "nearest_measured",
    "nearest_at_pct", "youngs_modulus_gpa", "youngs_modulus_uncertainty_gpa",
    *(c for p in PROPERTY_COLUMNS[1:] for c in (p, f"{p}_uncertainty")), "error",
)
FLOAT_COLUMNS = tuple(c for c in COLUMNS if c not in (
    "row", "formula", "composition", "processing", "glass_former", "models_agree", "domain", "domain_reason",
    "nearest_measured", "error"))


@dataclass(frozen=True)
class RowProblem:
    row: int  # 1-based
    field: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, field '{self.field}': {self.message}"


def _missing_data_reason(one_row: CompositionMatrix) -> str:
    from discovery.descriptors import base_features, element_statistics

    try:
        base_features(one_row)
        element_statistics(one_row)
    except Exception as exc:  # MissingElementData names the element(s) or pair(s)
        return f"cannot be featurized: {exc}"
    return "cannot be featurized"


def predict_rows(formulas: list[str], routes: list[str | None], gfa_model, *, default_route: str | None = None,
                 normalize: bool = False, wt_percent: bool = False, n_jobs: int = 1,
                 domain: bool = True) -> tuple[dict[str, np.ndarray], list[RowProblem]]:
    """Validate and score rows; returns (columns by :data:`COLUMNS` name, problems)."""
    n = len(formulas)
    problems: list[RowProblem] = []
    comps: list = [None] * n
    groups = np.full(n, "unknown", dtype=object)
    route_cache: dict[str | None, str] = {}
    for i in range(n):
        raw_route = routes[i] if routes[i] not in (None, "") else default_route
        try:
            group = route_cache.get(raw_route)
            if group is None:
                group = route_cache[raw_route] = ProcessingRoute.parse(raw_route).model_group
            groups[i] = group
        except VocabularyError as exc:
            problems.append(RowProblem(i + 1, "processing", exc.reason))
            continue
        try:
            comps[i] = parse_composition(formulas[i], percent=True, normalize=normalize, wt_percent=wt_percent,
                                         field="formula")
        except CompositionError as exc:
            problems.append(RowProblem(i + 1, "formula", exc.reason + (f" (got {formulas[i]!r})" if formulas[i] else "")))
    cols: dict[str, np.ndarray] = {c: np.full(n, np.nan) for c in FLOAT_COLUMNS}
    for c in ("composition", "glass_former", "models_agree", "domain", "domain_reason", "nearest_measured", "error"):
        cols[c] = np.full(n, "", dtype=object)
    cols["row"] = np.arange(1, n + 1)
    cols["formula"] = np.asarray(formulas, dtype=object)
    cols["processing"] = groups
    idx = np.array([i for i in range(n) if comps[i] is not None], dtype=int)
    if len(idx):
        from discovery.descriptors import featurizable

        matrix = CompositionMatrix.from_compositions([comps[i] for i in idx])
        ok = featurizable(matrix)
        for j in np.flatnonzero(~ok):
            problems.append(RowProblem(int(idx[j]) + 1, "formula",
                                       _missing_data_reason(matrix.take([j])) + f" (got {formulas[idx[j]]!r})"))
        scored = idx[ok]
        if len(scored):
            sub = matrix.take(np.flatnonzero(ok))
            cols["composition"][scored] = np.array([comps[i].canonical for i in scored], dtype=object)
            # one chunk per thread: a prediction file is usually smaller than the proposer's chunks
            chunk = max(1000, -(-len(sub) // max(n_jobs, 1)))
            with ThreadPoolExecutor(max_workers=1) as pool:
                # the domain search (matrix products, k-d trees) releases the GIL: it runs beside the scoring threads
                pending = pool.submit(gfa_model.assess_domain, sub) if domain and n_jobs > 1 else None
                s = gfa_model.score(sub, groups[scored], n_jobs=n_jobs, chunk_size=chunk)
                verdict = pending.result() if pending is not None else None
            cols["p_gfa"][scored] = s.p_gfa
            cols["glass_probability"][scored] = s.glass_probability
            cols["glass_probability_uncertainty"][scored] = s.uncertainty
            glass = s.glass_probability >= GLASS_THRESHOLD
            cols["glass_former"][scored] = np.where(glass, "yes", "no")
            cols["models_agree"][scored] = np.where(glass == (s.p_gfa > 0), "yes", "no")
            for name in PROPERTY_COLUMNS:
                pred = s.prediction(name)
                out = "youngs_modulus_uncertainty_gpa" if name == "youngs_modulus_gpa" else f"{name}_uncertainty"
                cols[name][scored] = pred.mean
                cols[out][scored] = pred.std
            if domain and pending is None:
                verdict = gfa_model.assess_domain(sub)
            if verdict is not None:
                cols["domain"][scored] = verdict.verdict
                cols["domain_reason"][scored] = verdict.reason
                cols["nearest_measured"][scored] = verdict.nearest_measured
                cols["nearest_at_pct"][scored] = verdict.nearest_at_pct
    problems.sort(key=lambda e: e.row)
    for e in problems:
        cols["error"][e.row - 1] = str(e)
    return cols, problems
