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

#: Kernel length (atomic-fraction units: 0.05 = a few at.% steps) and prior pseudo-count of
#: :func:`local_campaign_posterior`. Set by reasoning; a one-seed check of 0.03 / 0.08 on the
#: binary tuning pool of bench/bench_replay.py was within seed noise (never tuned on test pools).
DEFAULT_LOCAL_LENGTH = 0.05
DEFAULT_LOCAL_PRIOR_STRENGTH = 2.0


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


def local_campaign_posterior(
    prior,
    candidates,
    observed,
    labels,
    *,
    length_scale: float = DEFAULT_LOCAL_LENGTH,
    prior_strength: float = DEFAULT_LOCAL_PRIOR_STRENGTH,
) -> np.ndarray:
    """Update model glass probabilities with the campaign's nearby results (a Beta update).

    For candidate x with model probability ``p0`` (the prior: literature + campaign model),
    each campaign result i *in the same chemical system* counts as ``k_i`` observations,
    ``k_i = exp(-|x - x_i|^2 / (2 l^2))`` (atomic-fraction Euclidean distance, ``l =
    length_scale``), and

        P(glass | x) = (s p0 + sum_i k_i y_i) / (s + sum_i k_i)       s = prior_strength

    Far from any campaign result (or in another system) this is ``p0``; next to a measured
    composition the measurement dominates. This is what lets a campaign correct a wrong
    literature prior within a batch or two (a composition next to a sputtered glass is
    likely a sputtered glass, whatever the melt-spun literature says).

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
    if not (length_scale > 0 and prior_strength > 0):
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
    for key in np.unique(obs_key):
        rows = np.flatnonzero(cand_key == key)
        if rows.size == 0:
            continue
        o = obs[obs_key == key]
        y = labels[obs_key == key]
        d2 = ((x[rows, None, :] - o[None, :, :]) ** 2).sum(axis=2)
        k = np.exp(-0.5 * d2 / length_scale**2)
        k_sum[rows] = k.sum(axis=1)
        k_glass[rows] = k @ y
    post = (prior_strength * p0 + k_glass[None, :]) / (prior_strength + k_sum[None, :])
    return post[0] if squeeze else post
