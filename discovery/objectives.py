"""A campaign's objectives and constraints over predicted properties, as acquisition scores.

An :class:`Objective` names a property (:data:`discovery.properties.PROPERTIES`) with a
``goal`` (maximize or minimize), bounds (``at_least``, ``at_most``: a constraint), or both.

* **Constraints** enter as the probability of meeting them: the product over constraints of
  :func:`discovery.acquisition.probability_within` (a normal approximation from the
  ensemble's mean and spread: with 4-5 members, the share of members inside the bounds
  could only be 0, 1/4, 1/2...). The caller multiplies it into a non-negative acquisition.
* **One goal** (:class:`SingleObjectiveScorer`): the single-objective acquisitions of
  discovery.acquisition applied to that property (signs flipped for ``minimize``).
* **Two goals** (:class:`ParetoScorer`): hypervolume improvement over the campaign's
  observed Pareto front, with the acquisition's multi-objective counterpart: greedy = HVI
  of the predicted mean, UCB = HVI of the optimistic point (mean + kappa * std in each
  objective), EI = expected HVI over ensemble member samples, PI = probability of a
  positive HVI over those samples, Thompson = HVI of one joint member sample.
  Objectives are treated as independent: the joint samples are every pair of one member
  (or normal quantile) of each.

Scores must compare across the chunks a large space is streamed in, so everything a
scorer derives from the candidates (the hypervolume reference point, the objectives'
scales, the floor that makes a score non-negative, the incumbent before anything is
measured) is fixed from the first chunk it sees and reused for the rest of the proposal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
from scipy.special import ndtri

from discovery.acquisition import (
    dominance_gap,
    expected_improvement,
    hypervolume_improvement,
    pareto_front_mask,
    probability_of_improvement,
    probability_within,
)
from discovery.properties import Prediction, property_spec
from vitrify.errors import VitrifyError

GOALS = ("maximize", "minimize")
#: Acquisition names a scorer understands (agents.proposer maps agent names onto them).
SCORER_ACQUISITIONS = ("random", "exploit", "ucb", "ei", "pi", "uncertainty", "thompson")
#: Normal quantiles standing in for ensemble members where a model gives mean and spread only.
NORMAL_SAMPLES = 5
#: Candidates per block in the sample-based hypervolume computations (bounds memory).
_BLOCK = 20_000
# a tie-break far below any real difference in score, in the score's own unit
_TIE = 1e-6


class ObjectiveError(VitrifyError, ValueError):
    """An objective that cannot be scored: unknown goal or acquisition, inconsistent bounds."""


class ObjectiveUnavailable(ObjectiveError):
    """No model predicts a property an objective needs (every prediction is NaN)."""

    def __init__(self, name: str):
        spec = property_spec(name)
        self.name = name
        super().__init__(
            f"{name} ({spec.label}): no model predicts it yet (it needs a {spec.model_kind} model version)"
        )


@dataclass(frozen=True)
class Objective:
    name: str
    goal: str | None = "maximize"
    at_least: float | None = None
    at_most: float | None = None

    def __post_init__(self) -> None:
        property_spec(self.name)  # unknown names raise UnknownProperty
        if self.goal is not None and self.goal not in GOALS:
            raise ObjectiveError(f"{self.name}: goal must be maximize or minimize, got {self.goal!r}")
        if self.goal is None and not self.is_constraint:
            raise ObjectiveError(f"{self.name}: an objective needs a goal, a bound, or both")
        if self.at_least is not None and self.at_most is not None and self.at_least > self.at_most:
            raise ObjectiveError(f"{self.name}: at_least {self.at_least:g} > at_most {self.at_most:g}")

    @property
    def is_constraint(self) -> bool:
        return self.at_least is not None or self.at_most is not None

    @property
    def sign(self) -> float:
        """+1 to maximize, -1 to minimize: ``sign * value`` is always to be maximized."""
        return -1.0 if self.goal == "minimize" else 1.0

    @property
    def constraint_text(self) -> str | None:
        """``youngs_modulus_gpa >= 100``, ``50 <= tg_k <= 700``; None without bounds."""
        lo, hi = self.at_least, self.at_most
        if lo is not None and hi is not None:
            return f"{lo:g} <= {self.name} <= {hi:g}"
        if lo is not None:
            return f"{self.name} >= {lo:g}"
        if hi is not None:
            return f"{self.name} <= {hi:g}"
        return None

    def describe(self) -> str:
        spec = property_spec(self.name)
        unit = "" if spec.unit in ("1", "probability", "signed distance") else f" {spec.unit}"
        parts = [f"{self.goal} {self.name}"] if self.goal else [self.name]
        if self.at_least is not None:
            parts.append(f">= {self.at_least:g}{unit}")
        if self.at_most is not None:
            parts.append(f"<= {self.at_most:g}{unit}")
        return " ".join(parts)

    def satisfied(self, values) -> np.ndarray:
        """Whether measured (or predicted) ``values`` meet the bounds (NaN never does)."""
        v = np.asarray(values, dtype=float)
        ok = np.isfinite(v)
        if self.at_least is not None:
            ok &= v >= self.at_least
        if self.at_most is not None:
            ok &= v <= self.at_most
        return ok


def goals_of(objectives: Sequence[Objective]) -> list[Objective]:
    return [o for o in objectives if o.goal is not None]


def constraint_probability(predictions: Mapping[str, Prediction], objectives: Sequence[Objective]) -> np.ndarray | None:
    """P(every constraint is met) per candidate (independent normal approximations), or
    None when no objective has bounds."""
    constraints = [o for o in objectives if o.is_constraint]
    if not constraints:
        return None
    p = None
    for o in constraints:
        pred = predictions[o.name]
        q = probability_within(pred.mean, pred.std, o.at_least, o.at_most)
        p = q if p is None else p * q
    return p


def _clean_std(pred: Prediction) -> np.ndarray:
    std = np.asarray(pred.std, dtype=float)
    return np.where(np.isfinite(std) & (std > 0), std, 0.0)


def _sample_set(pred: Prediction) -> np.ndarray:
    """(s, n) samples of a property: the ensemble members, or normal quantiles of mean/std."""
    if pred.members is not None and pred.members.shape[0] >= 2:
        return np.asarray(pred.members, dtype=float)
    z = ndtri((np.arange(NORMAL_SAMPLES) + 0.5) / NORMAL_SAMPLES)
    return pred.mean[None, :] + z[:, None] * _clean_std(pred)[None, :]


def _span(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    if x.size == 0:
        return 1.0
    span = float(x.max() - x.min())
    return span if span > 0 else max(abs(float(x.max())), 1.0)


class SingleObjectiveScorer:
    """One goal other than P(glass): a non-negative acquisition over that property.

    ``best_observed``: the best measured value (natural units) for EI/PI; without one, the
    best predicted mean of the first chunk. Raw scores are shifted by a floor fixed on the
    first chunk so they can be multiplied by a constraint probability.
    """

    def __init__(self, goal: Objective, *, acquisition: str, kappa: float = 1.0, best_observed: float | None = None,
                 rng: np.random.Generator | None = None):
        if acquisition not in SCORER_ACQUISITIONS:
            raise ObjectiveError(f"unknown acquisition {acquisition!r}")
        self.goal, self.acquisition, self.kappa = goal, acquisition, float(kappa)
        self.best = None if best_observed is None else goal.sign * float(best_observed)
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.floor: float | None = None
        self.scale: float | None = None

    def __call__(self, pred: Prediction) -> tuple[np.ndarray, np.ndarray]:
        """(acquisition, exploration uncertainty), NaN where the property is not predicted."""
        n = len(pred.mean)
        mean = self.goal.sign * np.asarray(pred.mean, dtype=float)
        known = np.isfinite(mean)
        std = _clean_std(pred)
        if self.scale is None:
            self.scale = _span(mean)
            if self.best is None and known.any():
                self.best = float(mean[known].max())
        raw = np.full(n, np.nan)
        m, s = mean[known], std[known]
        name = self.acquisition
        if name == "random":
            raw[known] = self.rng.random(int(known.sum()))
        elif name == "exploit":
            raw[known] = m
        elif name == "ucb":
            raw[known] = m + self.kappa * s
        elif name == "ei":
            raw[known] = expected_improvement(m, s, self.best)
        elif name == "pi":
            raw[known] = probability_of_improvement(m, s, self.best)
        elif name == "uncertainty":
            raw[known] = s
        elif name == "thompson":
            if pred.members is not None and pred.members.shape[0] >= 2:
                row = self.goal.sign * pred.members[self.rng.integers(pred.members.shape[0])]
                raw[known] = row[known]
            else:
                raw[known] = m + s * self.rng.standard_normal(int(known.sum()))
        if self.floor is None:
            finite = raw[np.isfinite(raw)]
            self.floor = float(finite.min()) - 0.1 * _span(finite) if finite.size else 0.0
        acq = np.where(np.isfinite(raw), np.maximum(raw - self.floor, 0.0) + _TIE * self.scale, np.nan)
        return acq, np.where(known, std, 0.0)


class ParetoScorer:
    """Two goals: hypervolume-improvement acquisitions over the observed Pareto front.

    ``observed`` (p, 2): the campaign's results in natural units (NaN rows are ignored).
    The reference point is, per objective, its constraint bound on the worse side if it has
    one (anything beyond it is infeasible anyway), 0 for P(glass), else just below the
    worst of the first chunk's predictions and the observations.
    """

    def __init__(self, goals: Sequence[Objective], observed=None, *, acquisition: str, kappa: float = 1.0,
                 rng: np.random.Generator | None = None):
        if len(goals) != 2:
            raise ObjectiveError(f"the Pareto scorer takes two goals, got {len(goals)}")
        if acquisition not in SCORER_ACQUISITIONS:
            raise ObjectiveError(f"unknown acquisition {acquisition!r}")
        self.goals = list(goals)
        self.signs = np.array([g.sign for g in goals])
        self.acquisition, self.kappa = acquisition, float(kappa)
        self.rng = rng if rng is not None else np.random.default_rng(0)
        obs = np.asarray(observed if observed is not None else np.zeros((0, 2)), dtype=float).reshape(-1, 2)
        obs = obs[np.isfinite(obs).all(axis=1)] * self.signs
        self.observed = obs
        self.front = obs[pareto_front_mask(obs)] if len(obs) else obs
        self.reference: np.ndarray | None = None
        self.scale: np.ndarray | None = None

    def _fix_context(self, mean: np.ndarray) -> None:
        ref = np.empty(2)
        scale = np.empty(2)
        for j, goal in enumerate(self.goals):
            col = mean[:, j]
            both = np.concatenate([col[np.isfinite(col)], self.observed[:, j]])
            scale[j] = 1.0 if goal.name == "glass" else _span(both)
            bound = goal.at_least if goal.goal == "maximize" else goal.at_most
            if bound is not None:
                ref[j] = goal.sign * bound
            elif goal.name == "glass":
                ref[j] = 0.0 if goal.goal == "maximize" else -1.0
            else:
                ref[j] = (both.min() if both.size else 0.0) - 0.1 * scale[j]
        self.reference, self.scale = ref, scale

    def _hvi(self, points: np.ndarray) -> np.ndarray:
        return hypervolume_improvement(points, self.front, self.reference)

    def __call__(self, preds: Sequence[Prediction]) -> tuple[np.ndarray, np.ndarray]:
        """(acquisition, exploration uncertainty) for the candidates of one chunk."""
        a, b = preds
        n = len(a.mean)
        mean = np.column_stack([a.mean, b.mean]).astype(float) * self.signs
        known = np.isfinite(mean).all(axis=1)
        if self.reference is None:
            self._fix_context(mean)
        std = np.column_stack([_clean_std(a), _clean_std(b)])
        explore = np.where(known, (std / self.scale).sum(axis=1), 0.0)
        acq = np.full(n, np.nan)
        idx = np.flatnonzero(known)
        if idx.size == 0:
            return acq, explore
        name = self.acquisition
        hv_unit = float(np.prod(self.scale))
        if name == "random":
            acq[idx] = self.rng.random(idx.size)
            return acq, explore
        if name == "uncertainty":
            value, unit = explore[idx], 1.0
        elif name == "exploit":
            value, unit = self._hvi(mean[idx]), hv_unit
        elif name == "ucb":
            value, unit = self._hvi(mean[idx] + self.kappa * std[idx]), hv_unit
        else:
            samples_a = _sample_set(a)[:, idx] * self.signs[0]
            samples_b = _sample_set(b)[:, idx] * self.signs[1]
            if name == "thompson":
                i, k = self.rng.integers(len(samples_a)), self.rng.integers(len(samples_b))
                sample = np.column_stack([samples_a[i], samples_b[k]])
                ok = np.isfinite(sample).all(axis=1)
                value = np.zeros(idx.size)
                value[ok] = self._hvi(sample[ok])
                unit = hv_unit
            else:
                value = self._expected(samples_a, samples_b, probability=name == "pi")
                unit = 1.0 if name == "pi" else hv_unit
        shortfall = (np.maximum(self.reference - mean[idx], 0.0) / self.scale).sum(axis=1)
        gap = dominance_gap(mean[idx], self.front, self.scale) if len(self.front) else 0.0
        acq[idx] = value + _TIE * unit * np.exp(-(gap + shortfall))
        return acq, explore

    def _expected(self, samples_a: np.ndarray, samples_b: np.ndarray, *, probability: bool) -> np.ndarray:
        """Mean over every pair of samples of HVI (or of HVI > 0), in candidate blocks."""
        n = samples_a.shape[1]
        out = np.zeros(n)
        pairs = [(i, k) for i in range(len(samples_a)) for k in range(len(samples_b))]
        for start in range(0, n, _BLOCK):
            sl = slice(start, min(start + _BLOCK, n))
            total = np.zeros(sl.stop - sl.start)
            for i, k in pairs:
                pts = np.column_stack([samples_a[i, sl], samples_b[k, sl]])
                ok = np.isfinite(pts).all(axis=1)
                h = np.zeros(len(pts))
                if ok.any():
                    h[ok] = self._hvi(pts[ok])
                total += (h > 0) if probability else h
            out[sl] = total / len(pairs)
        return out
