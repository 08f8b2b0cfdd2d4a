"""Batch selection: pick k candidates from scored compositions without redundancy.

:func:`select_batch` turns acquisition scores (higher = better) into a batch of indices:

1. candidates whose canonical name is in ``exclude`` (measured or pending) and duplicates
   of the same canonical name are never proposed; non-finite scores are ineligible;
2. the exploit part is picked greedily from a pool of the best-scoring candidates
   (``pool_size``, a few thousand; grown automatically if exclusions or ``min_distance``
   leave too few), with a local penalty on candidates near those already picked:

       adjusted_i = (u_i + eps) * (1 - exp(-d_i^2 / (2 l^2)))

   where ``u`` is the score min-max normalized over the pool, ``d_i`` the distance from
   candidate i to its nearest pick and ``l = length_scale`` (default ``0.3 * diversity``
   in fraction units). ``diversity = 0`` is pure greedy top-k; larger values spread the
   batch. Distances are Euclidean in atomic-fraction space, except that two candidates
   in different chemical systems count as far apart (``cross_system_distance``, default
   sqrt(2), the diameter of the simplex). ``min_distance`` is a hard floor on the
   distance between any two picks;
3. an ``explore_fraction`` share of the batch is picked for exploration: the same
   penalized greedy on ``uncertainty`` when given, otherwise uniformly at random among the
   remaining eligible candidates (``rng``).

The result is deterministic for given inputs and seeded ``rng`` (ties go to the lower
index). Only the pool and the randomly drawn candidates are ever named or measured, so a
million candidates take well under a second.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from discovery.composition import CompositionMatrix, canonical_name
from vitrify.errors import VitrifyError

DEFAULT_POOL = 5000
LENGTH_SCALE_PER_DIVERSITY = 0.3
_EPS = 1e-9


class BatchError(VitrifyError, ValueError):
    """Invalid batch-selection input (shapes, k, diversity, fractions...)."""


def _check_fraction(value, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise BatchError(f"{name} must be a number in [0, 1], got {value!r}") from None
    if not 0.0 <= v <= 1.0:
        raise BatchError(f"{name} must be in [0, 1], got {v}")
    return v


class _Picker:
    """Shared state: names seen, picks so far, nearest-pick distances on demand."""

    def __init__(self, candidates: CompositionMatrix, exclude: set[str], cross_system_distance: float | None):
        self.x = candidates.fractions
        self.elements = candidates.elements
        self.exclude = exclude
        self.cross = cross_system_distance
        self.names: dict[int, str] = {}
        self.taken_names: set[str] = set()
        self.picks: list[int] = []

    def name(self, i: int) -> str:
        n = self.names.get(i)
        if n is None:
            row = self.x[i]
            nz = np.flatnonzero(row)
            # same result as canonical_name(elements, row); Python floats round much faster
            n = self.names[i] = canonical_name([self.elements[j] for j in nz], row[nz].tolist())
        return n

    def ok(self, i: int) -> bool:
        nm = self.name(i)
        return nm not in self.exclude and nm not in self.taken_names

    def distances(self, rows: np.ndarray, j: int) -> np.ndarray:
        """Distance from candidates ``rows`` to candidate ``j`` (system-aware)."""
        xs = self.x[rows]
        d = np.sqrt(np.sum((xs - self.x[j]) ** 2, axis=1))
        if self.cross is not None:
            other = np.any((xs > 0) != (self.x[j] > 0), axis=1)
            d = np.where(other, np.maximum(d, self.cross), d)
        return d

    def nearest(self, rows: np.ndarray) -> np.ndarray:
        dmin = np.full(rows.size, np.inf)
        for j in self.picks:
            dmin = np.minimum(dmin, self.distances(rows, j))
        return dmin

    def add(self, i: int) -> None:
        self.picks.append(int(i))
        self.taken_names.add(self.name(int(i)))

    def greedy(self, values: np.ndarray, pool: np.ndarray, k: int, length_scale: float, min_distance: float | None):
        """Penalized greedy over ``pool`` (candidate indices sorted by value, best first).

        Names are checked only when a candidate would be picked, so excluded or repeated
        names cost one lookup each instead of naming the whole pool.
        """
        if pool.size == 0 or k <= 0:
            return 0
        got = 0
        if length_scale <= 0 and min_distance is None:
            for i in pool.tolist():
                if self.ok(i):
                    self.add(i)
                    got += 1
                    if got == k:
                        break
            return got
        v = values[pool]
        span = v.max() - v.min()
        u = (v - v.min()) / span if span > 0 else np.ones_like(v)
        dmin = self.nearest(pool)
        alive = np.ones(pool.size, dtype=bool)

        def adjusted_scores() -> np.ndarray:
            if length_scale > 0:
                with np.errstate(over="ignore", invalid="ignore"):
                    factor = np.where(np.isinf(dmin), 1.0, -np.expm1(-0.5 * (dmin / length_scale) ** 2))
            else:
                factor = 1.0
            ok = alive if min_distance is None else alive & (dmin >= min_distance)
            return np.where(ok, (u + _EPS) * factor, -np.inf)

        adjusted = adjusted_scores()
        while got < k:
            j = int(np.argmax(adjusted))
            if adjusted[j] == -np.inf:
                break
            alive[j] = False
            adjusted[j] = -np.inf
            i = int(pool[j])
            if not self.ok(i):  # excluded or already-taken name: costs one lookup
                continue
            self.add(i)
            got += 1
            dmin = np.minimum(dmin, self.distances(pool, i))
            adjusted = adjusted_scores()
        return got


def _top_order(values: np.ndarray, eligible: np.ndarray, size: int) -> np.ndarray:
    """Indices of the ``size`` best eligible values, best first (ties: lower index first)."""
    idx = np.flatnonzero(eligible)
    if size < idx.size:
        part = np.argpartition(-values[idx], size - 1)[:size]
        cutoff = values[idx[part]].min()
        above = idx[values[idx] > cutoff]
        ties = idx[values[idx] == cutoff][: size - above.size]  # lowest indices: deterministic
        idx = np.concatenate([above, ties])
    return idx[np.lexsort((idx, -values[idx]))]


def select_batch(
    candidates: CompositionMatrix,
    scores: np.ndarray,
    k: int,
    *,
    exclude: Iterable[str] | None = None,
    diversity: float = 0.5,
    min_distance: float | None = None,
    explore_fraction: float = 0.0,
    uncertainty: np.ndarray | None = None,
    length_scale: float | None = None,
    cross_system_distance: float | None = math.sqrt(2.0),
    pool_size: int = DEFAULT_POOL,
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """Indices (into ``candidates``) of a batch of at most ``k`` compositions, in pick order.

    Fewer than ``k`` are returned only when not enough eligible candidates exist (or
    ``min_distance`` cannot be met). See the module docstring for the algorithm.

    Parameters
    ----------
    exclude: canonical names (``Al5Cu50Zr45``) already measured or pending.
    diversity: 0 = greedy top-k by score, 1 = strongly spread (sets the default
        ``length_scale = 0.3 * diversity`` in atomic-fraction units).
    min_distance: hard minimum distance (atomic-fraction Euclidean) between picks.
    explore_fraction: share of the batch (rounded) chosen for exploration: by
        ``uncertainty`` (penalized greedy) if given, else uniformly at random.
    cross_system_distance: distance assigned to pairs in different chemical systems (at
        least); None = plain Euclidean.
    pool_size: candidates considered by the greedy step (best by score); grown as needed.
    rng: Generator or seed for the random exploration share.
    """
    if not isinstance(candidates, CompositionMatrix):
        raise BatchError(f"candidates must be a CompositionMatrix, got {type(candidates).__name__}")
    n = len(candidates)
    s = np.asarray(scores, dtype=float)
    if s.shape != (n,):
        raise BatchError(f"scores must have shape ({n},), got {s.shape}")
    if np.any(np.isposinf(s)):
        raise BatchError("scores contain +inf")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise BatchError(f"k must be a non-negative integer, got {k!r}")
    k = int(k)
    diversity = _check_fraction(diversity, "diversity")
    explore_fraction = _check_fraction(explore_fraction, "explore_fraction")
    if length_scale is None:
        length_scale = LENGTH_SCALE_PER_DIVERSITY * diversity
    elif not (np.isfinite(length_scale) and length_scale >= 0):
        raise BatchError(f"length_scale must be a non-negative number, got {length_scale!r}")
    if min_distance is not None and not (np.isfinite(min_distance) and min_distance >= 0):
        raise BatchError(f"min_distance must be a non-negative number, got {min_distance!r}")
    if min_distance == 0:
        min_distance = None
    if pool_size < 1:
        raise BatchError("pool_size must be positive")
    unc = None
    if uncertainty is not None:
        unc = np.asarray(uncertainty, dtype=float)
        if unc.shape != (n,):
            raise BatchError(f"uncertainty must have shape ({n},), got {unc.shape}")
    exclude_set = set(exclude or ())

    picker = _Picker(candidates, exclude_set, cross_system_distance)
    eligible = np.isfinite(s)
    k_explore = int(round(explore_fraction * k))
    k_exploit = k - k_explore

    def run_greedy(values: np.ndarray, ok: np.ndarray, want: int) -> None:
        size = max(pool_size, 4 * want)
        total = int(ok.sum())
        while True:
            start = len(picker.picks)
            order = _top_order(values, ok, min(size, total))
            got = picker.greedy(values, order, want, length_scale, min_distance)
            if got >= want or size >= total:
                return
            # too few admissible in the pool: undo and retry on a larger pool
            for i in picker.picks[start:]:
                picker.taken_names.discard(picker.name(i))
            del picker.picks[start:]
            size *= 4

    if k_exploit:
        run_greedy(s, eligible, k_exploit)
    if k_explore:
        chosen = np.zeros(n, dtype=bool)
        chosen[picker.picks] = True
        if unc is not None:
            run_greedy(unc, eligible & np.isfinite(unc) & ~chosen, k_explore)
        else:
            _random_picks(picker, eligible & ~chosen, k_explore, min_distance, np.random.default_rng(rng))
    return np.asarray(picker.picks, dtype=np.int64)


def _random_picks(picker: _Picker, ok: np.ndarray, want: int, min_distance: float | None, rng) -> None:
    idx = np.flatnonzero(ok)
    target = len(picker.picks) + want
    tried = 0
    while len(picker.picks) < target and tried < idx.size:
        draw = min(idx.size - tried, max(64, 8 * want))
        # a fresh random permutation prefix each round (without replacement overall)
        if tried == 0:
            perm = rng.permutation(idx.size)
        batch = idx[perm[tried : tried + draw]]
        tried += draw
        for i in batch.tolist():
            if not picker.ok(i):
                continue
            if min_distance is not None and picker.picks:
                if picker.nearest(np.array([i])).min() < min_distance:
                    continue
            picker.add(int(i))
            if len(picker.picks) >= target:
                return
