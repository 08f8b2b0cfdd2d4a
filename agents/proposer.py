"""The proposer: enumerate a space in chunks, score with the current model, rank by the
agent's acquisition, and pick a diverse batch of compositions not yet measured or pending.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agents.config import AgentConfig
from discovery.composition import Composition, CompositionMatrix
from discovery.models import Scores
from discovery.shift import local_campaign_posterior


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
    prob = members.mean(axis=0)
    if members.shape[0] > 1:
        unc = members.std(axis=0)
    else:
        unc = np.sqrt(prob * (1 - prob)) if single_member_uncertainty is None else single_member_uncertainty
    eps = 1e-6
    return Scores(np.log((prob + eps) / (1 - prob + eps)), prob, unc, scores.modulus_gpa,
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


def _nan_safe(x: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(x), x, -np.inf)


def propose_batch(
    model,
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
) -> list[Candidate]:
    """Pick ``k`` candidates from ``space``.

    The space is streamed in chunks; only a shortlist of the best-scoring candidates (by
    acquisition) is kept between chunks, so a space of millions of points never sits in
    memory at once. Diversity and the exclusion of covered compositions are applied on
    the shortlist by :func:`discovery.batch.select_batch`.
    """
    from discovery.batch import select_batch
    from discovery.features import featurizable

    kept: list[tuple[CompositionMatrix, Scores, np.ndarray]] = []
    for chunk in space.iter_chunks(chunk_size=chunk_size):
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
        acq = _nan_safe(acquisition_scores(agent, s, incumbent=incumbent, rng=rng))
        keep = np.argsort(-acq)[:shortlist]
        kept.append((chunk.take(keep), _take_scores(s, keep), acq[keep]))
    if not kept:
        return []
    matrix = CompositionMatrix(kept[0][0].elements, np.vstack([m.fractions for m, _, _ in kept]))
    scores = _concat_scores([s for _, s, _ in kept])
    acq = np.concatenate([a for _, _, a in kept])
    chosen = select_batch(
        matrix,
        acq,
        k,
        exclude=exclude,
        diversity=agent.diversity,
        explore_fraction=agent.explore_fraction,
        uncertainty=scores.uncertainty,
        rng=rng,
    )
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
            )
        )
    return out


def _opt(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _take_scores(s: Scores, idx: np.ndarray) -> Scores:
    return s.take(idx)


def _concat_scores(parts: list[Scores]) -> Scores:
    return Scores.concat(parts)
