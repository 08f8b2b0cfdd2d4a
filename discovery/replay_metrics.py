"""The arithmetic of a replay (docs/replay.md): baselines and factors as small pure functions.

Random is analytic: after m picks from a pool of N rows holding G glasses, random selection
finds ``m G / N`` glasses in expectation (the hypergeometric mean) and needs
``r (N + 1) / (G + 1)`` picks for its r-th glass (the negative-hypergeometric mean); the
oracle finds ``min(m, G)``; the acceleration factor ``AF = E[picks random needs to find F] /
picks the agent needed`` (F = the agent's final count, mean over seeds, at batch resolution)
and the enhancement factor ``EF = agent found at the budget / random expected at the budget``.
Unit-tested on hand-computed pools (tests/test_replay.py).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def random_expected_found(picks, n_pool: int, n_glass: int) -> np.ndarray:
    """Expected glasses found by uniformly random picks without replacement after each of
    ``picks``: the hypergeometric mean ``m * G / N`` (exact)."""
    m = np.minimum(np.asarray(picks, dtype=float), n_pool)
    return m * n_glass / n_pool if n_pool else np.zeros_like(m)


def oracle_found(picks, n_glass: int) -> np.ndarray:
    """Glasses found by a picker that knows the answers: ``min(m, G)``."""
    return np.minimum(np.asarray(picks, dtype=float), n_glass)


def random_expected_picks_to_reach(target: float, n_pool: int, n_glass: int) -> float:
    """Expected number of random picks (without replacement) until the ``target``-th glass:
    the negative-hypergeometric mean ``r (N + 1) / (G + 1)``; inf if ``target > G``.

    Non-integer targets (a mean over seeds) use the same linear formula.
    """
    if target <= 0:
        return 0.0
    if target > n_glass:
        return math.inf
    return target * (n_pool + 1) / (n_glass + 1)


def picks_needed(picks, found, target: float) -> float:
    """Smallest ``picks[i]`` with ``found[i] >= target`` (inf if never; 0 for target <= 0)."""
    if target <= 0:
        return 0.0
    for p, f in zip(picks, found):
        if f >= target - 1e-9:
            return float(p)
    return math.inf


def acceleration_factor(picks, found, n_pool: int, n_glass: int) -> float:
    """AF = E[random picks to reach the agent's final count] / picks the agent needed.

    ``picks``/``found``: the agent's cumulative curve (found may be a mean over seeds).
    NaN when the agent found nothing (no count to reach).
    """
    picks = list(picks)
    found = list(found)
    if not found or found[-1] <= 0:
        return math.nan
    target = float(found[-1])
    need = picks_needed(picks, found, target)
    return random_expected_picks_to_reach(target, n_pool, n_glass) / need


def enhancement_factor(found_at_budget: float, budget: int, n_pool: int, n_glass: int) -> float:
    """EF = agent found at the budget / random expected at the budget (NaN if G = 0)."""
    expected = float(random_expected_found([budget], n_pool, n_glass)[0])
    return found_at_budget / expected if expected > 0 else math.nan


def curve_from_labels(picked_labels: Sequence[int], picks: Sequence[int]) -> list[int]:
    """Cumulative glasses after each of ``picks`` for labels in pick order."""
    cum = np.concatenate([[0], np.cumsum(np.asarray(picked_labels, dtype=int))])
    return [int(cum[min(p, len(picked_labels))]) for p in picks]


def batch_picks(budget: int, batch: int, n_pool: int | None = None) -> list[int]:
    """Cumulative pick counts at the end of each batch: [K, 2K, ..., budget] (capped by the pool)."""
    if budget < 1 or batch < 1:
        raise ValueError(f"budget and batch must be positive, got {budget} and {batch}")
    total = budget if n_pool is None else min(budget, n_pool)
    out = list(range(batch, total, batch))
    out.append(total)
    return out
