"""Acquisition functions: turn ensemble predictions into scores (higher = better).

Inputs are plain arrays over ``n`` candidates:

* ``mean`` (n,) and ``std`` (n,): the ensemble's predictive mean and spread (e.g. of
  P(glass) or of a modulus);
* ``members`` (m, n): each ensemble member's prediction (Thompson sampling, Monte Carlo EI);
* ``best``: the incumbent (best value measured so far);
* two objectives: ``mean`` (n, 2) and ``member_samples`` (m, n, 2), a current Pareto
  ``front`` (p, 2) and a hypervolume ``reference`` point (2,).

Every function returns a float array of shape (n,) where higher is better, so any of them
can feed :func:`discovery.batch.select_batch`. :data:`ACQUISITIONS` maps names to
functions and :func:`acquire` dispatches by name.

Feasibility weighting
---------------------
When some candidates may fail to produce a result at all (an MD simulation that crashes,
a melt that cannot be cast), a separate classifier gives ``p_feasible`` (n,) and the
acquisition is multiplied by it (constrained EI, Gardner et al. 2014; Gelbart et al.
2014): ``weighted = score * p_feasible``. See :func:`feasibility_weighted`; pass
``p_feasible=`` to :func:`acquire` to apply it.

Constraints on predicted properties (``E >= 100 GPa``) enter the same way: their
probability of being met, :func:`probability_within` of a normal approximation of the
ensemble's mean and spread, is the feasibility factor.
"""

from __future__ import annotations

import inspect
from bisect import bisect_right
from typing import Callable

import numpy as np
from scipy.special import ndtr

from vitrify.errors import VitrifyError

_SQRT_2PI = np.sqrt(2.0 * np.pi)


class AcquisitionError(VitrifyError, ValueError):
    """Bad acquisition input: wrong shapes, NaN, negative std, unknown name or parameter."""


# --------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------


def _vector(x, name: str, n: int | None = None) -> np.ndarray:
    arr = np.asarray(x, dtype=float)
    if arr.ndim != 1:
        raise AcquisitionError(f"{name} must be 1-D (n,), got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise AcquisitionError(f"{name} has {arr.shape[0]} entries, expected {n}")
    if not np.all(np.isfinite(arr)):
        raise AcquisitionError(f"{name} contains NaN or infinite values")
    return arr


def _std(std, n: int) -> np.ndarray:
    s = _vector(std, "std", n)
    if np.any(s < 0):
        raise AcquisitionError("std must be non-negative")
    return s


def _scalar(x, name: str) -> float:
    try:
        value = float(x)
    except (TypeError, ValueError):
        raise AcquisitionError(f"{name} must be a number, got {x!r}") from None
    if not np.isfinite(value):
        raise AcquisitionError(f"{name} must be finite")
    return value


def _members(members, n: int | None = None) -> np.ndarray:
    arr = np.asarray(members, dtype=float)
    if arr.ndim != 2 or arr.shape[0] < 1:
        raise AcquisitionError(f"members must be (m, n) with m >= 1, got shape {arr.shape}")
    if n is not None and arr.shape[1] != n:
        raise AcquisitionError(f"members has {arr.shape[1]} candidates, expected {n}")
    if not np.all(np.isfinite(arr)):
        raise AcquisitionError("members contains NaN or infinite values")
    return arr


def _maximize(maximize) -> np.ndarray:
    if isinstance(maximize, (bool, np.bool_)):
        maximize = (bool(maximize), bool(maximize))
    signs = np.array([1.0 if bool(m) else -1.0 for m in maximize])
    if signs.shape != (2,):
        raise AcquisitionError(f"maximize must be a bool or two bools, got {maximize!r}")
    return signs


def _points2(x, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=float)
    if arr.ndim < 1 or arr.shape[-1] != 2:
        raise AcquisitionError(f"{name} must have a last axis of length 2 (two objectives), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise AcquisitionError(f"{name} contains NaN or infinite values")
    return arr


# --------------------------------------------------------------------------------------
# single-objective acquisitions
# --------------------------------------------------------------------------------------


def exploit(mean) -> np.ndarray:
    """Pure exploitation: the predicted mean (e.g. highest P(glass) first)."""
    return _vector(mean, "mean").copy()


def upper_confidence_bound(mean, std, kappa: float = 2.0) -> np.ndarray:
    """``mean + kappa * std`` (kappa >= 0; kappa = 0 is :func:`exploit`)."""
    mu = _vector(mean, "mean")
    kappa = _scalar(kappa, "kappa")
    if kappa < 0:
        raise AcquisitionError("kappa must be >= 0")
    return mu + kappa * _std(std, mu.size)


def expected_improvement(mean, std, best, xi: float = 0.0) -> np.ndarray:
    """Closed-form EI for a Gaussian predictive: ``E[max(Y - best - xi, 0)]``.

    ``(mu - best - xi) * Phi(z) + sigma * phi(z)`` with ``z = (mu - best - xi) / sigma``;
    the ``sigma = 0`` limit is ``max(mu - best - xi, 0)``.
    """
    mu = _vector(mean, "mean")
    sigma = _std(std, mu.size)
    improvement = mu - _scalar(best, "best") - _scalar(xi, "xi")
    safe = np.where(sigma > 0, sigma, 1.0)
    z = improvement / safe
    ei = improvement * ndtr(z) + sigma * np.exp(-0.5 * z * z) / _SQRT_2PI
    ei = np.where(sigma > 0, ei, np.maximum(improvement, 0.0))
    return np.maximum(ei, 0.0)


def expected_improvement_mc(members, best, xi: float = 0.0) -> np.ndarray:
    """Monte Carlo EI over ensemble members: ``mean_m max(members[m] - best - xi, 0)``.

    No Gaussian assumption; use when the ensemble is skewed (probabilities near 0 or 1).
    """
    arr = _members(members)
    return np.maximum(arr - _scalar(best, "best") - _scalar(xi, "xi"), 0.0).mean(axis=0)


def probability_of_improvement(mean, std, best, xi: float = 0.0) -> np.ndarray:
    """``P(Y > best + xi) = Phi((mu - best - xi) / sigma)`` (step function at sigma = 0)."""
    mu = _vector(mean, "mean")
    sigma = _std(std, mu.size)
    improvement = mu - _scalar(best, "best") - _scalar(xi, "xi")
    safe = np.where(sigma > 0, sigma, 1.0)
    return np.where(sigma > 0, ndtr(improvement / safe), (improvement > 0).astype(float))


def max_uncertainty(std) -> np.ndarray:
    """Pure exploration: the ensemble spread."""
    s = _vector(std, "std")
    if np.any(s < 0):
        raise AcquisitionError("std must be non-negative")
    return s.copy()


def thompson_sampling(members, rng: np.random.Generator | int | None = None, slots: int | None = None) -> np.ndarray:
    """Thompson sampling over ensemble members.

    Each slot draws one member uniformly at random and uses its predictions as the score.
    ``slots=None`` returns one score vector (n,); ``slots=k`` returns (k, n), one row per
    batch slot (take the argmax of each row, skipping already-picked candidates).
    Deterministic for a seeded ``rng``.
    """
    arr = _members(members)
    rng = np.random.default_rng(rng)
    if slots is None:
        return arr[rng.integers(arr.shape[0])].copy()
    if isinstance(slots, bool) or not isinstance(slots, (int, np.integer)) or slots < 1:
        raise AcquisitionError(f"slots must be a positive integer, got {slots!r}")
    return arr[rng.integers(arr.shape[0], size=int(slots))]


# --------------------------------------------------------------------------------------
# two objectives
# --------------------------------------------------------------------------------------


def pareto_rank(objectives, maximize=(True, True)) -> np.ndarray:
    """Non-dominated sorting of 2-D objectives: rank 0 = Pareto front, 1 = next front...

    O(n log n): sort by the first objective (best first, ties by the second), then each
    point joins the first front whose latest point does not dominate it (binary search
    over the fronts' current second-objective values). Identical points share a rank.
    """
    pts = _points2(objectives, "objectives")
    if pts.ndim != 2:
        raise AcquisitionError(f"objectives must be (n, 2), got {pts.shape}")
    n = pts.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    pts = pts * _maximize(maximize)  # now maximize both
    order = np.lexsort((-pts[:, 1], -pts[:, 0]))  # x descending, then y descending
    sp = pts[order]
    is_new = np.ones(n, dtype=bool)
    is_new[1:] = np.any(sp[1:] != sp[:-1], axis=1)  # duplicates follow their twin
    ys = sp[:, 1].tolist()
    # neg_last[k] = -(largest y in front k so far); non-decreasing in k
    neg_last: list[float] = []
    ranks_sorted = [0] * n
    k = 0
    for i, (y, new) in enumerate(zip(ys, is_new.tolist())):
        if new:
            # earlier distinct points dominate this one iff their y >= y: the point joins
            # the first front whose largest y is < y
            k = bisect_right(neg_last, -y)
            if k == len(neg_last):
                neg_last.append(-y)
            else:
                neg_last[k] = -y
        ranks_sorted[i] = k
    ranks = np.empty(n, dtype=np.int64)
    ranks[order] = ranks_sorted
    return ranks


def pareto_front_mask(objectives, maximize=(True, True)) -> np.ndarray:
    """Boolean mask of the non-dominated points (rank 0)."""
    return pareto_rank(objectives, maximize) == 0


def pareto_score(mean, maximize=(True, True)) -> np.ndarray:
    """Acquisition form of :func:`pareto_rank` on predicted means (n, 2): ``-rank``."""
    return -pareto_rank(mean, maximize).astype(float)


def _front_staircase(front, reference, signs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Non-dominated front points beating the reference, in maximize form, x ascending."""
    ref = _points2(reference, "reference").reshape(2) * signs
    f = _points2(front, "front").reshape(-1, 2) * signs
    f = f[(f[:, 0] > ref[0]) & (f[:, 1] > ref[1])]
    if len(f):
        f = f[pareto_rank(f) == 0]
        f = np.unique(f, axis=0)  # sorted by x ascending; on a front y is then descending
    return f[:, 0], f[:, 1], ref


def hypervolume_2d(points, reference, maximize=(True, True)) -> float:
    """Exact hypervolume (area) dominated by ``points`` (p, 2) and bounded by ``reference``."""
    signs = _maximize(maximize)
    x, y, ref = _front_staircase(points, reference, signs)
    if x.size == 0:
        return 0.0
    widths = np.diff(np.concatenate([[ref[0]], x]))
    return float(np.sum(widths * (y - ref[1])))


def hypervolume_improvement(points, front, reference, maximize=(True, True)) -> np.ndarray:
    """Exact 2-D hypervolume gained by adding each point (shape (..., 2)) alone to ``front``.

    Vectorized, O(N log p): the area of the box [reference, point] minus the part already
    dominated by the front's staircase (prefix sums over the staircase steps).
    """
    signs = _maximize(maximize)
    pts = _points2(points, "points")
    fx, fy, ref = _front_staircase(front, reference, signs)
    q = pts.reshape(-1, 2) * signs
    X = q[:, 0] - ref[0]
    Y = q[:, 1] - ref[1]
    box = np.where((X > 0) & (Y > 0), X * Y, 0.0)
    if fx.size == 0:
        return box.reshape(pts.shape[:-1])
    w = np.diff(np.concatenate([[ref[0]], fx]))  # step widths; step j covers (fx[j-1], fx[j]]
    h = fy - ref[1]  # step heights, descending
    W = np.concatenate([[0.0], np.cumsum(w)])
    H = np.concatenate([[0.0], np.cumsum(w * h)])
    Xc = np.maximum(X, 0.0)
    Yc = np.maximum(Y, 0.0)
    jx = np.searchsorted(fx - ref[0], Xc, side="right")  # steps fully inside [0, X]
    jy = np.searchsorted(-h, -Yc, side="right")  # steps with height >= Y (a prefix)
    jm = np.minimum(jx, jy)
    covered = Yc * W[jm] + (H[jx] - H[jm])
    partial = np.zeros_like(Xc)
    has_next = jx < fx.size
    nxt = np.minimum(jx, fx.size - 1)
    left = np.where(jx > 0, fx[np.maximum(jx - 1, 0)] - ref[0], 0.0)
    partial = np.where(has_next, (Xc - left) * np.minimum(h[nxt], Yc), 0.0)
    gain = np.where((X > 0) & (Y > 0), box - covered - partial, 0.0)
    return np.maximum(gain, 0.0).reshape(pts.shape[:-1])


def expected_hypervolume_improvement(member_samples, front, reference, maximize=(True, True)) -> np.ndarray:
    """EHVI by Monte Carlo over ensemble members: mean over m of the exact 2-D HVI.

    ``member_samples`` (m, n, 2): member m's prediction of both objectives for candidate
    n. ``front`` (p, 2): measured non-dominated points (may be empty). ``reference``
    (2,): the hypervolume reference point (worse than anything of interest).
    """
    samples = _points2(member_samples, "member_samples")
    if samples.ndim != 3:
        raise AcquisitionError(f"member_samples must be (m, n, 2), got {samples.shape}")
    front = np.asarray(front, dtype=float).reshape(-1, 2)
    return hypervolume_improvement(samples, front, reference, maximize).mean(axis=0)


# --------------------------------------------------------------------------------------
# feasibility, registry, dispatch
# --------------------------------------------------------------------------------------


def feasibility_weighted(score, p_feasible) -> np.ndarray:
    """Multiply an acquisition by the probability that the evaluation succeeds at all.

    ``weighted = score * p_feasible`` where ``p_feasible`` (n,) in [0, 1] comes from a
    feasibility model (e.g. "the MD simulation of this alloy will not crash"). The product
    is the standard constrained acquisition for non-negative scores (EI, PI, EHVI,
    uncertainty, probabilities). Signed scores (UCB, -rank, signed distances) are first
    shifted to be positive (``score - min + 1e-6 * range``) so that a candidate that is
    certainly infeasible ranks last instead of being promoted by a sign flip.
    """
    s = _vector(score, "score")
    p = _vector(p_feasible, "p_feasible", s.size)
    if np.any((p < 0) | (p > 1)):
        raise AcquisitionError("p_feasible must lie in [0, 1]")
    if s.size and s.min() < 0:
        span = s.max() - s.min()
        s = s - s.min() + (1e-6 * span if span > 0 else 1.0)
    return s * p


def probability_within(mean, std, lower=None, upper=None) -> np.ndarray:
    """P(lower <= Y <= upper) for a normal predictive ``N(mean, std^2)`` (either bound may
    be None): the probability that a candidate satisfies a constraint on a predicted
    property (the feasibility factor of :func:`feasibility_weighted`).

    ``std = 0`` gives the indicator of the bound on the mean. NaN means (no prediction)
    give 0: a constraint nothing predicts is never assumed satisfied.
    """
    mu = np.asarray(mean, dtype=float)
    if mu.ndim != 1:
        raise AcquisitionError(f"mean must be 1-D (n,), got shape {mu.shape}")
    sigma = np.asarray(std, dtype=float)
    if sigma.shape != mu.shape:
        raise AcquisitionError(f"std has shape {sigma.shape}, expected {mu.shape}")
    sigma = np.where(np.isfinite(sigma), sigma, 0.0)
    if np.any(sigma < 0):
        raise AcquisitionError("std must be non-negative")
    lo = -np.inf if lower is None else _scalar(lower, "lower")
    hi = np.inf if upper is None else _scalar(upper, "upper")
    if lo > hi:
        raise AcquisitionError(f"lower {lo} > upper {hi}")
    known = np.isfinite(mu)
    safe_mu = np.where(known, mu, 0.0)
    safe_sigma = np.where(sigma > 0, sigma, 1.0)
    spread = ndtr((hi - safe_mu) / safe_sigma) - ndtr((lo - safe_mu) / safe_sigma)
    exact = ((safe_mu >= lo) & (safe_mu <= hi)).astype(float)
    return np.where(known, np.clip(np.where(sigma > 0, spread, exact), 0.0, 1.0), 0.0)


def dominance_gap(points, front, scale) -> np.ndarray:
    """How far each point (n, 2), maximize form, lies inside the region ``front`` (p, 2)
    dominates: ``min over f of max_j (f_j - x_j) / scale_j``, 0 for points no front point
    dominates. A tie-break between candidates whose hypervolume improvement is zero."""
    pts = _points2(points, "points").reshape(-1, 2)
    f = np.asarray(front, dtype=float).reshape(-1, 2)
    if f.size == 0:
        return np.zeros(len(pts))
    sc = _points2(scale, "scale").reshape(2)
    if np.any(sc <= 0):
        raise AcquisitionError("scale must be positive")
    gaps = ((f[None, :, :] - pts[:, None, :]) / sc).max(axis=2)  # (n, p): > 0 means f dominates x
    return np.maximum(gaps.min(axis=1), 0.0)


ACQUISITIONS: dict[str, Callable[..., np.ndarray]] = {
    "exploit": exploit,
    "ucb": upper_confidence_bound,
    "ei": expected_improvement,
    "ei_mc": expected_improvement_mc,
    "pi": probability_of_improvement,
    "uncertainty": max_uncertainty,
    "thompson": thompson_sampling,
    "pareto": pareto_score,
    "ehvi": expected_hypervolume_improvement,
}

# Inputs a caller may compute once and pass to any acquisition: each function takes what
# it needs and the rest are ignored. Anything else must be a parameter of the function.
ARRAY_INPUTS = frozenset({"mean", "std", "members", "best", "member_samples", "front", "reference", "rng"})


def acquire(name: str, p_feasible=None, **inputs) -> np.ndarray:
    """Scores (n,), higher = better, from the acquisition registered as ``name``.

    ``inputs`` are the arrays of :data:`ARRAY_INPUTS` (unused ones are ignored, so one
    call site can switch acquisitions by name) plus the function's own parameters
    (``kappa``, ``xi``, ``maximize``...; unknown ones raise AcquisitionError). If
    ``p_feasible`` is given the result is :func:`feasibility_weighted`.
    """
    try:
        fn = ACQUISITIONS[name]
    except KeyError:
        raise AcquisitionError(f"unknown acquisition {name!r}; known: {', '.join(sorted(ACQUISITIONS))}") from None
    params = inspect.signature(fn).parameters
    kwargs = {}
    for key, value in inputs.items():
        if key in params:
            kwargs[key] = value
        elif key not in ARRAY_INPUTS:
            raise AcquisitionError(f"{name}: unknown parameter {key!r}; accepts {', '.join(params)}")
    missing = [p for p, spec in params.items() if spec.default is inspect.Parameter.empty and p not in kwargs]
    if missing:
        raise AcquisitionError(f"{name}: missing input(s) {', '.join(missing)}")
    if name == "thompson" and "slots" in kwargs and kwargs["slots"] is not None:
        raise AcquisitionError("acquire() returns one score vector; call thompson_sampling(slots=...) directly")
    scores = np.asarray(fn(**kwargs), dtype=float)
    if p_feasible is not None:
        scores = feasibility_weighted(scores, p_feasible)
    return scores
