"""The proposer: enumerate a space in chunks, score with the current model, rank by the
agent's acquisition, and pick a diverse batch of compositions not yet measured or pending.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from agents.config import AgentConfig
from discovery.composition import Composition, CompositionMatrix
from discovery.models import Scores
from discovery.objectives import (
    Objective,
    ObjectiveUnavailable,
    ParetoScorer,
    SingleObjectiveScorer,
    constraint_probability,
    goals_of,
)
from discovery.protocols import GlassFormingScorer
from discovery.shift import local_campaign_posterior

#: Properties every GFA model predicts (never "no model yet").
_ALWAYS_PREDICTED = frozenset({"glass", "p_gfa"})


@dataclass(frozen=True)
class Candidate:
    composition: Composition
    p_gfa: float
    glass_probability: float
    uncertainty: float
    modulus_gpa: float | None
    modulus_uncertainty_gpa: float | None
    acquisition: float
    rank: int
    # each objective's predicted property: name -> {"mean", "std"} (None where not predicted)
    predictions: dict = field(default_factory=dict)
    p_feasible: float | None = None  # probability of meeting every constraint; None without constraints

    @property
    def canonical(self) -> str:
        return self.composition.canonical


def posterior_scores(scores: Scores, candidates: CompositionMatrix, observed: CompositionMatrix, labels,
                     **kwargs) -> Scores:
    """``scores`` with every member's P(glass) updated by the campaign's nearby results
    (:func:`discovery.shift.local_campaign_posterior`); mean and spread recomputed."""
    if len(observed) == 0:
        return scores
    members = scores.members if scores.members is not None else scores.glass_probability[None, :]
    post = local_campaign_posterior(members, candidates, observed, labels, **kwargs)
    return with_members(scores, post, single_member_uncertainty=None)


def with_members(scores: Scores, members: np.ndarray, *, single_member_uncertainty: np.ndarray | None) -> Scores:
    """``scores`` with new per-member P(glass): mean, spread and logit recomputed, modulus kept.

    With one member the spread is ``single_member_uncertainty`` (None: the Bernoulli
    ``sqrt(p (1 - p))``)."""
    from discovery.properties import ensemble_mean_spread, logit

    prob, unc = ensemble_mean_spread(members, single_member_spread=single_member_uncertainty, bernoulli=True)
    return Scores(logit(prob), prob, unc, scores.modulus_gpa,
                  scores.modulus_uncertainty_gpa, members=members, properties=scores.properties)


class CampaignCorrectedModel:
    """A fitted model whose P(glass) is corrected by the campaign's own nearby results
    (:func:`posterior_scores`, i.e. :func:`discovery.shift.local_campaign_posterior`): the
    correction the replay benchmark's agents use, applied to every chunk the proposer scores.

    Results with an element the scored chunk does not have are left out for that chunk (a
    lab may report compositions outside the campaign's space).
    """

    def __init__(self, model, observed: CompositionMatrix, labels, **posterior_options):
        self.model = model
        self.observed = observed
        self.labels = np.asarray(labels, dtype=int)
        self.posterior_options = posterior_options

    def score(self, matrix: CompositionMatrix, routes="unknown") -> Scores:
        scores = self.model.score(matrix, routes)
        if len(self.observed) == 0 or len(matrix) == 0:
            return scores
        inside = set(matrix.elements)
        foreign = [j for j, e in enumerate(self.observed.elements) if e not in inside]
        keep = ~np.any(self.observed.fractions[:, foreign] > 0, axis=1) if foreign else np.ones(len(self.observed), bool)
        if not keep.any():
            return scores
        return posterior_scores(scores, matrix, self.observed.take(np.flatnonzero(keep)), self.labels[keep],
                                **self.posterior_options)


def acquisition_scores(agent: AgentConfig, scores: Scores, *, incumbent: float, rng: np.random.Generator) -> np.ndarray:
    """Higher is better. ``random`` draws uniform scores (the baseline every agent must beat)."""
    from discovery.acquisition import acquire

    n = len(scores.glass_probability)
    if agent.name == "random":
        return rng.random(n)
    name = {"greedy": "exploit"}.get(agent.name, agent.name)
    params = {"kappa": agent.kappa} if name == "ucb" else {}
    return acquire(
        name,
        mean=scores.glass_probability,
        std=scores.uncertainty,
        members=scores.members,
        best=incumbent,
        rng=rng,
        **params,
    )


def _acquisition_name(agent: AgentConfig) -> str:
    return {"greedy": "exploit"}.get(agent.name, agent.name)


class ObjectiveAcquisition:
    """The agent's acquisition over a campaign's objectives, for one proposal (see
    :mod:`discovery.objectives`): a callable from a chunk's Scores to (acquisition,
    exploration uncertainty, constraint probability or None).

    Maximizing P(glass) alone is exactly :func:`acquisition_scores`; another single goal
    uses the same acquisition on that property; two goals work on the Pareto front of
    ``observed`` (p, 2 natural units: the campaign's results). Constraints multiply the
    probability of meeting them into the acquisition and into the exploration uncertainty
    (an exploration pick should be feasible too).
    """

    def __init__(self, agent: AgentConfig, objectives: Sequence[Objective] | None = None, *, incumbent: float,
                 rng: np.random.Generator, observed=None, best_observed: Mapping[str, float] | None = None):
        self.agent, self.incumbent, self.rng = agent, incumbent, rng
        self.objectives = list(objectives) if objectives else [Objective("glass", "maximize")]
        self.goals = goals_of(self.objectives)
        if not self.goals:
            raise ValueError("objectives need at least one goal")
        if len(self.goals) > 2:
            raise ValueError("at most two objectives can have a goal (the others can be constraints)")
        self.properties = list(dict.fromkeys(o.name for o in self.objectives))
        self.glass_only = len(self.goals) == 1 and self.goals[0].name == "glass" and self.goals[0].goal == "maximize"
        name = _acquisition_name(agent)
        if self.glass_only:
            self.scorer = None
        elif len(self.goals) == 1:
            best = (best_observed or {}).get(self.goals[0].name)
            self.scorer = SingleObjectiveScorer(self.goals[0], acquisition=name, kappa=agent.kappa, best_observed=best, rng=rng)
        else:
            self.scorer = ParetoScorer(self.goals, observed, acquisition=name, kappa=agent.kappa, rng=rng)
        self.predicted = {p: p in _ALWAYS_PREDICTED for p in self.properties}

    def __call__(self, scores: Scores) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        preds = {p: scores.prediction(p) for p in self.properties}
        for p, pred in preds.items():
            if not self.predicted[p] and np.isfinite(pred.mean).any():
                self.predicted[p] = True
        if self.scorer is None:
            acq = acquisition_scores(self.agent, scores, incumbent=self.incumbent, rng=self.rng)
            unc = scores.uncertainty
        elif isinstance(self.scorer, SingleObjectiveScorer):
            acq, unc = self.scorer(preds[self.goals[0].name])
        else:
            acq, unc = self.scorer([preds[g.name] for g in self.goals])
        p = constraint_probability(preds, self.objectives)
        if p is not None:
            acq = np.where(np.isfinite(acq), np.maximum(acq, 0.0) * p, acq)
            unc = np.where(np.isfinite(unc), unc, 0.0) * p
        return acq, unc, p

    def check_predicted(self) -> None:
        """Raise ObjectiveUnavailable for a property no candidate had a prediction of."""
        for p, ok in self.predicted.items():
            if not ok:
                raise ObjectiveUnavailable(p)


def candidate_chunks(space, chunk_size: int, rng: np.random.Generator, samples: int = 20_000):
    """The compositions to score: every point of a grid space or candidate list, in chunks;
    ``samples`` random points of a continuous space (drawn with ``rng``)."""
    if getattr(space, "is_grid", True):
        yield from space.iter_chunks(chunk_size=chunk_size)
        return
    drawn = space.sample(samples, rng)
    for start in range(0, len(drawn), chunk_size):
        yield drawn.take(np.arange(start, min(start + chunk_size, len(drawn))))


def _nan_safe(x: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(x), x, -np.inf)


def propose_batch(
    model: GlassFormingScorer,
    space,
    k: int,
    *,
    exclude: set[str],
    route: str,
    agent: AgentConfig,
    rng: np.random.Generator,
    incumbent: float = 0.5,
    chunk_size: int = 200_000,
    shortlist: int = 5_000,
    objectives: Sequence[Objective] | None = None,
    observed=None,
    best_observed: Mapping[str, float] | None = None,
    samples: int = 20_000,
) -> list[Candidate]:
    """Pick ``k`` candidates from ``space``.

    The space is streamed in chunks; only a shortlist of the best-scoring candidates (by
    acquisition) is kept between chunks, so a space of millions of points never sits in
    memory at once. Diversity and the exclusion of covered compositions are applied on
    the shortlist by :func:`discovery.batch.select_batch`.

    ``objectives`` (default: maximize P(glass)), ``observed`` and ``best_observed`` define the
    acquisition (:class:`ObjectiveAcquisition`). A property an objective needs that no
    candidate has a prediction of raises :class:`discovery.objectives.ObjectiveUnavailable`.
    """
    from discovery.batch import select_batch
    from discovery.features import featurizable

    acquisition = ObjectiveAcquisition(agent, objectives, incumbent=incumbent, rng=rng, observed=observed,
                                       best_observed=best_observed)
    kept: list[tuple[CompositionMatrix, Scores, np.ndarray, np.ndarray, np.ndarray | None]] = []
    for chunk in candidate_chunks(space, chunk_size, rng, samples):
        chunk = chunk.take(np.flatnonzero(featurizable(chunk)))
        if len(chunk) == 0:
            continue
        names = chunk.canonical_names() if exclude else None
        if names is not None:
            fresh = np.array([n not in exclude for n in names], dtype=bool)
            chunk = chunk.take(np.flatnonzero(fresh))
            if len(chunk) == 0:
                continue
        s = model.score(chunk, route)
        raw, unc, feasible = acquisition(s)
        acq = _nan_safe(raw)
        keep = np.argsort(-acq)[:shortlist]
        kept.append((chunk.take(keep), _take_scores(s, keep), acq[keep], unc[keep],
                     None if feasible is None else feasible[keep]))
    acquisition.check_predicted()
    if not kept:
        return []
    matrix = CompositionMatrix(kept[0][0].elements, np.vstack([part[0].fractions for part in kept]))
    scores = _concat_scores([part[1] for part in kept])
    acq = np.concatenate([part[2] for part in kept])
    unc = np.concatenate([part[3] for part in kept])
    feasible = None if kept[0][4] is None else np.concatenate([part[4] for part in kept])
    chosen = select_batch(
        matrix,
        acq,
        k,
        exclude=exclude,
        diversity=agent.diversity,
        explore_fraction=agent.explore_fraction,
        uncertainty=unc,
        rng=rng,
    )
    predictions = {p: scores.prediction(p) for p in acquisition.properties}
    out = []
    for rank, i in enumerate(chosen):
        out.append(
            Candidate(
                composition=matrix.composition(int(i)),
                p_gfa=float(scores.p_gfa[i]),
                glass_probability=float(scores.glass_probability[i]),
                uncertainty=float(scores.uncertainty[i]),
                modulus_gpa=_opt(scores.modulus_gpa[i]),
                modulus_uncertainty_gpa=_opt(scores.modulus_uncertainty_gpa[i]),
                acquisition=float(acq[i]),
                rank=rank,
                predictions={p: {"mean": _opt(pred.mean[i]), "std": _opt(pred.std[i])} for p, pred in predictions.items()},
                p_feasible=None if feasible is None else float(feasible[i]),
            )
        )
    return out


def _opt(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _take_scores(s: Scores, idx: np.ndarray) -> Scores:
    return s.take(idx)


def _concat_scores(parts: list[Scores]) -> Scores:
    return Scores.concat(parts)
