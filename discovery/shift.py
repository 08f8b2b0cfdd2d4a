"""Shift between prior (literature) data and a campaign: per-row training weights.

Literature glass-formation data are mostly melt-spun; a campaign may sputter (which
widens glass-forming ranges, Ren et al. 2018 Sci Adv 4:eaaq1566) or cast (which needs
bulk glass-forming ability). Two things let the campaign's own results win:

1. the processing route is a model input (``LabelledSet.routes``; see discovery.models);
2. :func:`campaign_sample_weights` -- the rows' training weights, passed as
   ``LabelledSet.weights`` and from there as ``sample_weight`` to the estimator's fit.

The weights
-----------
``route_weight(route)`` for a *literature* row (``source == "literature"``):

* 1 if its route is the campaign's route,
* ``unknown_route_weight`` if its route is ``unknown`` (mixed / unrecorded techniques,
  e.g. the Sun 2017 binaries),
* ``other_route_weight`` if it is a different known route.

Every *campaign* row (any other source: ``lab``, ``replay``, ``simulation``...) weighs

    w_campaign = max(1, L / half_weight_count)        L = sum of the literature weights

times its own route weight (a campaign row made by another route than the campaign's
counts like literature of that route). With n campaign rows their share of the total
weight is then ``n / (n + half_weight_count)`` (while the max() is inactive): the
campaign weighs as much as all the literature together after ``half_weight_count``
results, 80 % after four times as many, and keeps growing. A fixed per-row weight (not
one that grows with n) keeps early, noisy results from being amplified more than later
ones. If the literature is small (``L < half_weight_count``) every row simply weighs 1.

Finally the weights are rescaled to mean 1, so an estimator whose regularization
depends on the weight scale (the SVM's ``C`` multiplies ``sample_weight``) sees the same
overall scale as unweighted training.

:func:`weighted` returns a copy of a :class:`~discovery.dataset.LabelledSet` with these
weights set: the one call the campaign retraining and the replay harness make.
"""

from __future__ import annotations

import numpy as np

from discovery.properties import logit

from discovery.vocabulary import MODEL_ROUTE_GROUPS, ProcessingRoute

LITERATURE = "literature"
#: Defaults set by reasoning (equal weight after ~2 batches of 20; melt-spun literature still
#: informative for sputtering), not tuned; bench/bench_replay.py measures them with vs without.
DEFAULT_HALF_WEIGHT_COUNT = 40.0
DEFAULT_OTHER_ROUTE_WEIGHT = 0.3
DEFAULT_UNKNOWN_ROUTE_WEIGHT = 0.6


def route_group(route) -> str:
    """Coarse model route (MODEL_ROUTE_GROUPS) of any accepted spelling ("meltspin", "sputtered"...)."""
    if route is None or (isinstance(route, float) and route != route):
        return "unknown"
    text = str(route)
    if text in MODEL_ROUTE_GROUPS:
        return text
    return ProcessingRoute.parse(text).model_group


def campaign_sample_weights(
    sources: np.ndarray,
    routes: np.ndarray,
    campaign_route: str,
    *,
    half_weight_count: float = DEFAULT_HALF_WEIGHT_COUNT,
    other_route_weight: float = DEFAULT_OTHER_ROUTE_WEIGHT,
    unknown_route_weight: float = DEFAULT_UNKNOWN_ROUTE_WEIGHT,
    literature_source: str = LITERATURE,
) -> np.ndarray:
    """Training weight per row (mean 1). See the module docstring for the formula.

    ``sources``: per row ``literature`` or a campaign source (``lab``, ``replay``,
    ``simulation``...). ``routes``: per row any processing-route spelling.
    ``campaign_route``: the route the campaign's samples are made by (``unknown`` if
    not known: then no literature row is down-weighted for its route).
    """
    sources = np.asarray(sources, dtype=object).reshape(-1)
    routes = np.asarray(routes, dtype=object).reshape(-1)
    if sources.shape != routes.shape:
        raise ValueError(f"sources has {sources.size} rows, routes {routes.size}")
    if not half_weight_count > 0:
        raise ValueError(f"half_weight_count must be positive, got {half_weight_count}")
    for name, value in (("other_route_weight", other_route_weight), ("unknown_route_weight", unknown_route_weight)):
        if not 0.0 < value <= 1.0:
            raise ValueError(f"{name} must be in (0, 1], got {value}")
    n = sources.size
    if n == 0:
        return np.zeros(0)
    target = route_group(campaign_route)
    groups = {r: route_group(r) for r in set(routes.tolist())}
    group = np.array([groups[r] for r in routes.tolist()], dtype=object)
    if target == "unknown":
        route_w = np.ones(n)
    else:
        route_w = np.where(group == target, 1.0, np.where(group == "unknown", unknown_route_weight, other_route_weight))
    is_lit = sources == literature_source
    lit_total = float(route_w[is_lit].sum())
    per_campaign_row = max(1.0, lit_total / float(half_weight_count))
    w = np.where(is_lit, route_w, per_campaign_row * route_w)
    return w * (n / w.sum())


def campaign_share(weights: np.ndarray, sources: np.ndarray, literature_source: str = LITERATURE) -> float:
    """Fraction of the total training weight carried by campaign (non-literature) rows."""
    w = np.asarray(weights, dtype=float)
    total = w.sum()
    if total <= 0:
        return 0.0
    return float(w[np.asarray(sources, dtype=object) != literature_source].sum() / total)


def weighted(data, campaign_route: str, **kwargs):
    """A copy of ``data`` (a LabelledSet) with ``weights = campaign_sample_weights(...)``."""
    from discovery.dataset import LabelledSet

    w = campaign_sample_weights(data.sources, data.routes, campaign_route, **kwargs)
    return LabelledSet(list(data.compositions), data.routes.copy(), data.labels.copy(), data.sources.copy(), w)


# --------------------------------------------------------------------------------------
# local correction of the literature prior by the campaign's own results
# --------------------------------------------------------------------------------------

#: Kernel length and prior pseudo-count of :func:`local_campaign_posterior`. ``"auto"``: twice
#: the median nearest-neighbour spacing of the system's compositions (0.028 on a 1 at.% binary
#: grid, 0.06-0.14 on sparse literature ternaries). Chosen on the tuning pools of
#: bench/bench_replay.py only (a fixed 0.05 was 1.6-9.7 glasses worse on all three, a fixed
#: 0.03 good on binaries and poor on ternaries, 0.08 the reverse; docs/replay.md).
DEFAULT_LOCAL_LENGTH = "auto"
DEFAULT_LOCAL_PRIOR_STRENGTH = 2.0
#: Bounds of the automatic length (atomic fractions) and its multiple of the spacing.
AUTO_LENGTH_BOUNDS = (0.02, 0.15)
AUTO_LENGTH_SPACINGS = 2.0


def _aligned(matrix, elements: tuple[str, ...]) -> np.ndarray:
    index = {e: j for j, e in enumerate(matrix.elements)}
    out = np.zeros((len(matrix), len(elements)))
    for k, e in enumerate(elements):
        j = index.get(e)
        if j is not None:
            out[:, k] = matrix.fractions[:, j]
    missing = set(matrix.elements) - set(elements)
    if missing and len(matrix):
        cols = [index[e] for e in missing]
        if np.any(matrix.fractions[:, cols] > 0):
            raise ValueError(f"observed compositions contain elements {sorted(missing)} absent from the candidates")
    return out


def _system_keys(fractions: np.ndarray) -> np.ndarray:
    """One hashable key per row: the packed present-element pattern."""
    packed = np.packbits(fractions > 0, axis=1)
    return np.array([row.tobytes() for row in packed], dtype=object)


def _spacing_lengths(x, cand_keys, cand_group, obs, obs_key, multiple: float, bounds: tuple[float, float]) -> np.ndarray:
    """Per candidate: ``multiple`` x the median nearest-neighbour distance among the
    compositions (candidates and results) of its chemical system, clipped to ``bounds``.

    A result should inform its neighbours out to a couple of grid steps, whatever the grid:
    1 at.% binaries (spacing 0.014) get ~0.03, a sparse literature ternary (spacing
    0.03-0.07) ~0.06-0.14."""
    from scipy.spatial import cKDTree

    out = np.full(len(x), bounds[1])
    for g, key in enumerate(cand_keys):  # cand_keys[cand_group] is each candidate's system key
        rows = np.flatnonzero(cand_group == g)
        pts = np.vstack([x[rows], obs[obs_key == key]])
        if len(pts) < 2:
            continue
        d, _ = cKDTree(pts).query(pts, k=2)
        nn = d[:, 1][d[:, 1] > 0]
        if nn.size:
            out[rows] = np.clip(multiple * float(np.median(nn)), *bounds)
    return out


#: Candidate-result pairs x elements held at once by :func:`local_campaign_posterior`.
_PAIR_BLOCK = 4_000_000


def _nested(a: np.ndarray, b: np.ndarray) -> bool:
    both = a & b
    return bool(np.array_equal(both, a) or np.array_equal(both, b))


def local_campaign_posterior(
    prior,
    candidates,
    observed,
    labels,
    *,
    length_scale: float | str = DEFAULT_LOCAL_LENGTH,
    prior_strength: float = DEFAULT_LOCAL_PRIOR_STRENGTH,
    related_systems: bool = True,
    spacing_multiple: float = AUTO_LENGTH_SPACINGS,
    length_bounds: tuple[float, float] = AUTO_LENGTH_BOUNDS,
) -> np.ndarray:
    """Update model glass probabilities with the campaign's nearby results (a Beta update).

    For candidate x with model probability ``p0`` (the prior: literature + campaign model),
    each campaign result i *in a related chemical system* counts as ``k_i`` observations,
    ``k_i = exp(-|x - x_i|^2 / (2 l^2))`` (atomic-fraction Euclidean distance, ``l =
    length_scale``), and

        P(glass | x) = (s p0 + sum_i k_i y_i) / (s + sum_i k_i)       s = prior_strength

    Far from any campaign result (or in an unrelated system) this is ``p0``; next to a
    measured composition the measurement dominates. This is what lets a campaign correct a
    wrong literature prior within a batch or two (a composition next to a sputtered glass is
    likely a sputtered glass, whatever the melt-spun literature says).

    Related systems: the same element set, or (``related_systems=True``) one contained in
    the other, so a result on the Cu-Zr edge informs Cu-Zr-Al compositions next to that
    edge and vice versa; Cu-Zr and Cu-Ti never inform each other.
    ``length_scale="auto"``: per system, ``spacing_multiple`` x the median nearest-neighbour
    distance among its candidates and results, clipped to ``length_bounds``: a result
    informs about two grid steps around it, on a 1 at.% grid as on a sparse one.

    ``prior``: (n,) or (m, n) (e.g. ensemble members; each row is updated).
    ``candidates`` / ``observed``: CompositionMatrix; ``labels`` (n_observed,) 1/0.
    """
    p0 = np.asarray(prior, dtype=float)
    squeeze = p0.ndim == 1
    p0 = np.atleast_2d(p0)
    labels = np.asarray(labels, dtype=float).reshape(-1)
    if p0.shape[1] != len(candidates):
        raise ValueError(f"prior has {p0.shape[1]} columns, candidates {len(candidates)}")
    if len(observed) != labels.size:
        raise ValueError(f"{labels.size} labels for {len(observed)} observed compositions")
    auto = isinstance(length_scale, str)
    if auto and length_scale != "auto":
        raise ValueError(f"length_scale must be a positive number or 'auto', got {length_scale!r}")
    if not ((auto or length_scale > 0) and prior_strength > 0):
        raise ValueError("length_scale and prior_strength must be positive")
    if labels.size == 0 or len(candidates) == 0:
        return p0[0].copy() if squeeze else p0.copy()
    x = np.asarray(candidates.fractions, dtype=float)
    obs = _aligned(observed, tuple(candidates.elements))
    # group by chemical system (present-element pattern): results only inform their own system
    cand_key = _system_keys(x)
    obs_key = _system_keys(obs)
    k_sum = np.zeros(len(x))
    k_glass = np.zeros(len(x))
    cand_keys, cand_group = np.unique(cand_key, return_inverse=True)
    if auto:
        lengths = _spacing_lengths(x, cand_keys, cand_group, obs, obs_key, spacing_multiple, length_bounds)
    else:
        lengths = np.full(len(x), float(length_scale))
    for key in np.unique(obs_key):
        if related_systems:
            # a binary edge informs its ternary and vice versa: subset or superset patterns
            a = np.frombuffer(key, dtype=np.uint8)
            near = np.array([_nested(a, np.frombuffer(c, dtype=np.uint8)) for c in cand_keys], dtype=bool)
            rows = np.flatnonzero(near[cand_group])  # per system, not per candidate
        else:
            rows = np.flatnonzero(cand_key == key)
        if rows.size == 0:
            continue
        o = obs[obs_key == key]
        y = labels[obs_key == key]
        # in blocks of rows: a proposer chunk may hold 10^5 candidates of one system
        block = max(1, _PAIR_BLOCK // max(1, len(o) * x.shape[1]))
        for start in range(0, rows.size, block):
            r = rows[start : start + block]
            d2 = ((x[r, None, :] - o[None, :, :]) ** 2).sum(axis=2)
            k = np.exp(-0.5 * d2 / lengths[r, None] ** 2)
            k_sum[r] += k.sum(axis=1)
            k_glass[r] += k @ y
    post = (prior_strength * p0 + k_glass[None, :]) / (prior_strength + k_sum[None, :])
    return post[0] if squeeze else post


# --------------------------------------------------------------------------------------
# global correction: how the model's predictions have fared on this campaign
# --------------------------------------------------------------------------------------

#: Prior standard deviation of the logit shift of :func:`campaign_logit_shift` (a shift of
#: 1 turns P = 0.5 into 0.73): four results move it about half-way, dozens of them decide it.
DEFAULT_SHIFT_PRIOR_SD = 1.0


def _logit(p: np.ndarray) -> np.ndarray:
    # clipped at 1e-4: a member's P = 0 or 1 must not dominate the campaign's shift
    return logit(p, clip=1e-4)


def campaign_logit_shift(predicted, labels, *, prior_sd: float = DEFAULT_SHIFT_PRIOR_SD) -> float:
    """The logit offset ``b`` that best calibrates the model's predictions on the campaign.

    ``predicted``: the P(glass) the model gave each campaign composition *when it was
    proposed* (out-of-sample: after retraining on it the model would just echo its label);
    ``labels``: what the lab or oracle then found. MAP estimate of ``b`` in
    ``P(glass) = sigmoid(logit(predicted) + b)`` under a N(0, prior_sd^2) prior (a few
    Newton steps). A sputtering campaign judged by a melt-spun literature finds more
    glasses than predicted: ``b > 0`` lifts every candidate, also in the systems the
    campaign has not touched yet. 0 without results.
    """
    y = np.asarray(labels, dtype=float).reshape(-1)
    z = _logit(np.asarray(predicted, dtype=float).reshape(-1))
    if z.size != y.size:
        raise ValueError(f"{z.size} predictions for {y.size} labels")
    if not prior_sd > 0:
        raise ValueError("prior_sd must be positive")
    b = 0.0
    for _ in range(25):
        p = 1.0 / (1.0 + np.exp(-(z + b)))
        grad = float(np.sum(y - p)) - b / prior_sd**2
        hess = -float(np.sum(p * (1 - p))) - 1.0 / prior_sd**2
        step = grad / hess
        b -= step
        if abs(step) < 1e-8:
            break
    return float(b)


def apply_logit_shift(prob, shift: float) -> np.ndarray:
    """``sigmoid(logit(prob) + shift)`` elementwise (members or means alike)."""
    if shift == 0:
        return np.asarray(prob, dtype=float).copy()
    return 1.0 / (1.0 + np.exp(-(_logit(prob) + shift)))
