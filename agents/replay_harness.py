"""Replay harness: measure a discovery agent on a labelled pool (the pool is the candidate
set and the oracle) against random picks and the oracle.

Public interface (also ``vitrify replay``, see docs/replay.md)::

    pool = ReplayPool.from_csv("pool.csv")          # formula, gfa [, processing, system]
    result = run_replay(pool, budget=200, batch=20, seeds=3, agent="ucb")
    result.summary()                                 # the summary.json dict

What one replay does
--------------------
* **Training data** start from the literature (the shipped Sun 2017 binaries,
  ``vitrify/data/glass_binary_v2.csv``, plus ``extra_literature``) minus every row whose
  chemical system is one of the pool's systems or a sub-system of one (binary edges of a
  ternary pool, ternary faces of a quaternary one) and minus every pool composition:
  otherwise the answers leak into the prior (:func:`holdout_mask`).
* **Per batch** (``budget / batch`` of them) and per seed: the model is retrained on
  literature + the pool rows picked so far (source ``replay``, the pool row's route),
  weighted by :func:`discovery.shift.campaign_sample_weights` (``shift_weights``), the
  not-yet-picked pool rows are scored, every ensemble member's P(glass) is updated by the
  campaign's nearby results (:func:`discovery.shift.local_campaign_posterior`,
  ``local_posterior``), the agent's acquisition
  (:func:`agents.proposer.acquisition_scores`) ranks them and
  :func:`discovery.batch.select_batch` picks ``batch`` of them, excluding every
  composition picked before (so nothing is ever picked twice). The oracle reveals their
  labels.
* **Random** is analytic: after m picks from a pool of N rows holding G glasses, random
  selection finds ``m G / N`` glasses in expectation (the hypergeometric mean; exact), and
  needs ``r (N + 1) / (G + 1)`` picks in expectation to find its r-th glass (the
  negative-hypergeometric mean; exact). ``random_simulated`` in the summary is the mean of
  ``seeds`` simulated random pickers, for reference.
* **Oracle**: ``min(m, G)``.

Metrics (pure functions below, unit-tested on hand-computed pools)
------------------------------------------------------------------
* acceleration factor ``AF = E[picks random needs to find F] / picks the agent needed to
  find F``, F = the agent's final count (mean over seeds; the agent's picks are counted
  at batch resolution: a batch is done as a whole);
* enhancement factor ``EF = agent found at the budget / random expected at the budget``;
* ``final_roc_auc``: ROC-AUC of the final model (retrained on every pick) on the pool rows
  never picked (glass probability as the score); NaN if those rows are one class.

The loop model
--------------
Retraining happens ``budget / batch + 1`` times per seed, so it must be cheap.
``model="fast"`` (default) is :class:`FastGlassModel`: the same composition features
(:func:`discovery.features.featurize`, computed once per composition and cached) and the
same three route columns as the campaign model, fed to a fixed-hyperparameter
extremely-randomized forest (scikit-learn ExtraTrees; ``forest="random"`` for a random
forest) whose trees are grouped into ``n_members`` sub-forests (the ensemble members:
mean = P(glass), spread = uncertainty, members = Thompson samples) plus a
gradient-boosting member constrained monotone in the route columns. It retrains in a few
seconds on ~10k rows. ``model="campaign"`` uses the campaign's
:class:`discovery.models.GlassFormingModel` through its stable API (``fit(LabelledSet)``,
``score(CompositionMatrix, routes)``): exact, and about 10x slower per retraining.
Any object with those two methods can be passed as a factory (``model=lambda: ...``).
"""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from agents.config import AGENT_NAMES, AGENT_PRESETS, AgentConfig
from discovery.composition import CompositionError, CompositionMatrix, parse_composition
from discovery.dataset import LabelledSet
from discovery.models import Scores
from agents.proposer import posterior_scores, with_members
from discovery.shift import (
    apply_logit_shift,
    campaign_logit_shift,
    campaign_sample_weights,
    route_group,
)

REPLAY_SOURCE = "replay"


class ReplayError(ValueError):
    """Bad replay input: unreadable pool, impossible budget, unknown agent."""


# ===================================================================== metrics (pure)


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
        raise ReplayError(f"budget and batch must be positive, got {budget} and {batch}")
    total = budget if n_pool is None else min(budget, n_pool)
    out = list(range(batch, total, batch))
    out.append(total)
    return out


# ===================================================================== pool and training data


def system_of(text: str) -> frozenset[str]:
    """Element set of a system written ``Al-Ni-Zr`` (any order) or of a formula (``Al10Ni5Zr85``)."""
    from discovery.composition import ELEMENT_SYMBOLS

    t = str(text).strip()
    parts = [p.strip() for p in t.replace(",", "-").split("-") if p.strip()]
    if parts and all(p in ELEMENT_SYMBOLS for p in parts):
        return frozenset(parts)
    return frozenset(parse_composition(t).elements)


def _read_rows(path: Path) -> list[dict]:
    with Path(path).open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        cols = {c.strip().lower() for c in (reader.fieldnames or []) if c}
        missing = {"formula", "gfa"} - cols
        if missing:
            raise ReplayError(f"{path}: missing column(s) {', '.join(sorted(missing))}; need formula, gfa [, processing, system]")
        return [{(k or "").strip().lower(): v for k, v in row.items()} for row in reader]


@dataclass
class ReplayPool:
    """Unique candidate compositions with their true label and route.

    Rows with the same composition are merged: glass if any row says glass (the
    matminer v2 convention), route = the most common route among them.
    """

    matrix: CompositionMatrix
    labels: np.ndarray
    routes: np.ndarray  # model route group per row
    systems: frozenset  # frozenset of frozenset(elements): the pool's chemical systems
    names: list[str]
    source: str = "pool"
    stats: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def n_glass(self) -> int:
        return int(self.labels.sum())

    @property
    def campaign_route(self) -> str:
        """The pool's most common route group (what the campaign is made by)."""
        values, counts = np.unique(self.routes.astype(str), return_counts=True)
        return str(values[np.argmax(counts)]) if len(values) else "unknown"

    @classmethod
    def from_records(cls, records: Iterable[dict], *, source: str = "pool") -> "ReplayPool":
        from discovery.features import featurizable

        by_name: dict[str, dict] = {}
        systems: set[frozenset] = set()
        n_rows = bad = 0
        for i, row in enumerate(records, start=1):
            n_rows += 1
            try:
                comp = parse_composition(row["formula"], field=f"row {i} formula")
                label = int(float(row["gfa"]))
                if label not in (0, 1):
                    raise ReplayError(f"row {i}: gfa must be 1 or 0, got {row['gfa']!r}")
                route = route_group(row.get("processing") or "unknown")
            except (CompositionError, ValueError) as exc:
                if isinstance(exc, ReplayError):
                    raise
                raise ReplayError(f"{source}: {exc}") from None
            if row.get("system"):
                systems.add(system_of(row["system"]))
            systems.add(frozenset(comp.elements))
            entry = by_name.setdefault(comp.canonical, {"comp": comp, "labels": [], "routes": []})
            entry["labels"].append(label)
            entry["routes"].append(route)
        if not by_name:
            raise ReplayError(f"{source}: the pool is empty")
        names = list(by_name)
        comps = [by_name[n]["comp"] for n in names]
        matrix = CompositionMatrix.from_compositions(comps)
        ok = featurizable(matrix)
        bad = int((~ok).sum())
        keep = np.flatnonzero(ok)
        names = [names[i] for i in keep]
        labels = np.array([max(by_name[n]["labels"]) for n in names], dtype=int)
        routes = []
        conflicts = 0
        for n in names:
            r = by_name[n]["routes"]
            vals, cnt = np.unique(r, return_counts=True)
            routes.append(str(vals[np.argmax(cnt)]))
            conflicts += len(set(by_name[n]["labels"])) > 1
        stats = {
            "rows": n_rows,
            "unique_compositions": len(by_name),
            "merged_duplicates": n_rows - len(by_name),
            "conflicting_labels_merged_to_glass": conflicts,
            "dropped_unfeaturizable": bad,
        }
        return cls(matrix.take(keep), labels, np.array(routes, dtype=object), frozenset(systems), names, source, stats)

    @classmethod
    def from_csv(cls, path: str | Path) -> "ReplayPool":
        return cls.from_records(_read_rows(Path(path)), source=Path(path).name)

    def system_names(self) -> list[str]:
        """Maximal systems (not contained in another pool system), e.g. ['Al-Ni-Zr']."""
        maximal = [s for s in self.systems if not any(s < t for t in self.systems)]
        return sorted("-".join(sorted(s)) for s in maximal)


def shipped_literature_paths() -> list[Path]:
    """The project's shipped labelled literature sets (training data of every replay)."""
    from vitrify.settings import SHIPPED_BINARY_DATA

    return [SHIPPED_BINARY_DATA]


def read_labelled(path: str | Path, *, source: str = "literature") -> LabelledSet:
    """A ``formula, gfa [, processing]`` CSV as a LabelledSet (rows that cannot be parsed are skipped)."""
    comps, routes, labels = [], [], []
    for row in _read_rows(Path(path)):
        try:
            comp = parse_composition(row["formula"])
        except CompositionError:
            continue
        comps.append(comp)
        routes.append(route_group(row.get("processing") or "unknown"))
        labels.append(int(float(row["gfa"])))
    return LabelledSet(comps, np.array(routes, dtype=object), np.array(labels, dtype=int),
                       np.full(len(comps), source, dtype=object))


def concat(sets: Sequence[LabelledSet]) -> LabelledSet:
    sets = [s for s in sets if len(s)]
    if not sets:
        return LabelledSet([], np.zeros(0, object), np.zeros(0, int), np.zeros(0, object))
    return LabelledSet(
        [c for s in sets for c in s.compositions],
        np.concatenate([s.routes for s in sets]),
        np.concatenate([s.labels for s in sets]),
        np.concatenate([s.sources for s in sets]),
    )


def holdout_mask(data: LabelledSet, pool: ReplayPool) -> np.ndarray:
    """True for training rows to drop: the row's system is a (sub-)system of a pool
    system with >= 2 elements (so binary edges of a ternary pool go too), or the row's
    composition is in the pool."""
    systems = list(pool.systems)
    pool_names = set(pool.names)
    cache: dict[tuple, bool] = {}
    out = np.zeros(len(data), dtype=bool)
    for i, comp in enumerate(data.compositions):
        els = comp.elements
        hit = cache.get(els)
        if hit is None:
            s = frozenset(els)
            hit = cache[els] = len(s) >= 2 and any(s <= p for p in systems)
        out[i] = hit or comp.canonical in pool_names
    return out


def training_literature(pool: ReplayPool, extra_literature: Sequence[str | Path | LabelledSet] = (),
                        *, shipped: bool = True) -> tuple[LabelledSet, dict]:
    """Literature rows the replay may train on, and what was removed."""
    parts = [read_labelled(p) for p in (shipped_literature_paths() if shipped else [])]
    for extra in extra_literature:
        parts.append(extra if isinstance(extra, LabelledSet) else read_labelled(extra))
    data = concat(parts)
    drop = holdout_mask(data, pool)
    kept = data.subset(~drop)
    # Deduplicate by (composition, route): glass if any record says glass (as the pool).
    seen: dict[tuple[str, str], int] = {}
    keep_idx, labels = [], kept.labels.copy()
    for i, (name, route) in enumerate(zip(kept.canonical, kept.routes)):
        j = seen.get((name, route))
        if j is None:
            seen[(name, route)] = i
            keep_idx.append(i)
        else:
            labels[j] = max(labels[j], labels[i])
    kept = LabelledSet(kept.compositions, kept.routes, labels, kept.sources).subset(np.array(keep_idx, dtype=int))
    info = {"literature_rows": len(data), "removed_pool_systems_and_edges": int(drop.sum()), "training_rows": len(kept)}
    return kept, info


# ===================================================================== the fast loop model

ROUTE_COLUMNS = ("route_known", "route_sputtering", "route_casting")


def route_columns(routes: Sequence[str]) -> np.ndarray:
    """(route_known, route_sputtering, route_casting) per row, as the campaign model encodes them."""
    g = np.array([route_group(r) for r in routes], dtype=object)
    return np.column_stack([(g != "unknown"), (g == "sputtering"), (g == "casting")]).astype(float)


class FeatureCache:
    """discovery.features.featurize rows keyed by canonical composition (computed once)."""

    def __init__(self):
        self.rows: dict[str, np.ndarray] = {}

    def get(self, matrix: CompositionMatrix, names: Sequence[str] | None = None) -> np.ndarray:
        from discovery.features import featurize

        names = list(names) if names is not None else matrix.canonical_names()
        missing = [i for i, n in enumerate(names) if n not in self.rows]
        if missing:
            feats = featurize(matrix.take(np.array(missing)))
            for i, row in zip(missing, feats):
                self.rows[names[i]] = row
        return np.vstack([self.rows[n] for n in names]) if names else np.zeros((0, 0))


class FastGlassModel:
    """Cheap retrainable GFA ensemble for replay loops (see the module docstring).

    Same inputs as the campaign model (composition features + route columns) and the same
    output type (:class:`discovery.models.Scores`).
    """

    def __init__(self, *, n_members: int = 5, trees_per_member: int = 20, gb_member: bool = True,
                 forest: str = "extra", min_samples_leaf: int = 1, max_features: float = 0.5,
                 random_state: int = 0, cache: FeatureCache | None = None):
        if forest not in ("extra", "random"):
            raise ValueError(f"forest must be 'extra' or 'random', got {forest!r}")
        self.forest = forest
        self.n_members = n_members
        self.trees_per_member = trees_per_member
        self.gb_member = gb_member
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.random_state = random_state
        self.cache = cache if cache is not None else FeatureCache()

    def _design(self, matrix: CompositionMatrix, routes, names=None) -> np.ndarray:
        n = len(matrix)
        if routes is None or isinstance(routes, str):
            routes = [routes or "unknown"] * n
        return np.hstack([self.cache.get(matrix, names), route_columns(list(routes))])

    def fit(self, data: LabelledSet) -> "FastGlassModel":
        from sklearn.ensemble import ExtraTreesClassifier, HistGradientBoostingClassifier, RandomForestClassifier

        from discovery.features import featurizable

        matrix = data.matrix()
        ok = featurizable(matrix)
        idx = np.flatnonzero(ok)
        canonical = data.canonical  # a property: compute once
        names = [canonical[i] for i in idx]
        X = self._design(matrix.take(idx), np.asarray(data.routes)[idx], names)
        y = np.asarray(data.labels)[idx]
        w = None if data.weights is None else np.asarray(data.weights, dtype=float)[idx]
        if len(np.unique(y)) < 2:
            raise ReplayError("training data need both glass and non-glass rows")
        forest = ExtraTreesClassifier if self.forest == "extra" else RandomForestClassifier
        self.forest_ = forest(
            n_estimators=self.n_members * self.trees_per_member, min_samples_leaf=self.min_samples_leaf,
            max_features=self.max_features, random_state=self.random_state, n_jobs=1,
        ).fit(X, y, sample_weight=w)
        self.gb_ = None
        if self.gb_member:
            cst = [0] * (X.shape[1] - 3) + [0, 1, -1]  # sputtering never lowers, casting never raises P(glass)
            self.gb_ = HistGradientBoostingClassifier(
                max_iter=150, learning_rate=0.1, max_leaf_nodes=15, min_samples_leaf=10, monotonic_cst=cst,
                early_stopping=False, random_state=self.random_state,
            ).fit(X, y, sample_weight=w)
        self.n_train_ = int(len(y))
        self.n_unfeaturizable_ = int((~ok).sum())
        return self

    @property
    def member_names(self) -> tuple[str, ...]:
        return tuple(f"rf{k}" for k in range(self.n_members)) + (("gb",) if self.gb_member else ())

    def score(self, matrix: CompositionMatrix, routes="unknown", *, names=None) -> Scores:
        X = self._design(matrix, routes, names)
        trees = self.forest_.estimators_
        k = self.trees_per_member
        members = []
        for m in range(self.n_members):
            p = np.zeros(len(X))
            for t in trees[m * k : (m + 1) * k]:
                p += t.predict_proba(X)[:, 1]
            members.append(p / k)
        if self.gb_ is not None:
            members.append(self.gb_.predict_proba(X)[:, 1])
        members = np.vstack(members)
        prob = members.mean(axis=0)
        eps = 1e-6
        p_gfa = np.log((prob + eps) / (1 - prob + eps))
        nan = np.full(len(X), np.nan)
        return Scores(p_gfa, prob, members.std(axis=0), nan, nan.copy(), members=members)


def shifted_scores(scores: Scores, shift: float) -> Scores:
    """``scores`` with every member's P(glass) moved by a logit ``shift``
    (:func:`discovery.shift.campaign_logit_shift`); mean and spread recomputed."""
    if shift == 0:
        return scores
    members = scores.members if scores.members is not None else scores.glass_probability[None, :]
    return with_members(scores, apply_logit_shift(members, shift), single_member_uncertainty=scores.uncertainty)


def make_model_factory(model: str | Callable[[], object], seed: int, cache: FeatureCache,
                       model_options: dict | None = None) -> Callable[[], object]:
    if callable(model):
        return model
    if model == "fast":
        return lambda: FastGlassModel(random_state=seed, cache=cache, **(model_options or {}))
    if model == "campaign":
        from discovery.models import GlassFormingModel

        return lambda: GlassFormingModel()
    raise ReplayError(f"unknown model {model!r}: fast | campaign | a factory")


# ===================================================================== agents

# The agent settings behind each ``--agent`` name are defined once, in agents.config
# (AGENT_PRESETS, imported above): a replay and a campaign given the same name run the same agent.


def agent_config(agent: str | AgentConfig) -> AgentConfig:
    if isinstance(agent, AgentConfig):
        return agent
    if agent not in AGENT_NAMES:
        raise ReplayError(f"unknown agent {agent!r}; known: {', '.join(AGENT_NAMES)}")
    return AGENT_PRESETS[agent]


@dataclass
class _SeedRun:
    seed: int
    rng: np.random.Generator
    model_factory: Callable[[], object]
    picked: list[int] = field(default_factory=list)
    predicted: list[float] = field(default_factory=list)  # model P(glass) of each pick when it was picked
    fit_seconds: float = 0.0
    final_auc: float = math.nan


def _training_set(literature: LabelledSet, pool: ReplayPool, picked: list[int]) -> LabelledSet:
    picks = LabelledSet(
        [pool.matrix.composition(i) for i in picked],
        pool.routes[picked] if picked else np.zeros(0, object),
        pool.labels[picked] if picked else np.zeros(0, int),
        np.full(len(picked), REPLAY_SOURCE, dtype=object),
    )
    return concat([literature, picks])


@dataclass
class ReplayResult:
    pool: ReplayPool
    agent: AgentConfig
    budget: int
    batch: int
    picks: list[int]
    agent_curves: list[list[int]]  # per seed
    random_simulated: list[list[int]]
    final_auc: list[float]
    seconds: float
    settings: dict
    picked: list[list[str]] = field(default_factory=list)  # per seed, canonical names in pick order

    @property
    def found_agent(self) -> list[float]:
        return np.mean(np.asarray(self.agent_curves, dtype=float), axis=0).tolist()

    @property
    def found_random(self) -> list[float]:
        return random_expected_found(self.picks, len(self.pool), self.pool.n_glass).tolist()

    @property
    def found_oracle(self) -> list[int]:
        return oracle_found(self.picks, self.pool.n_glass).astype(int).tolist()

    def summary(self) -> dict:
        n, g = len(self.pool), self.pool.n_glass
        agent = self.found_agent
        af = acceleration_factor(self.picks, agent, n, g)
        ef = enhancement_factor(agent[-1], self.picks[-1], n, g)
        aucs = [a for a in self.final_auc if np.isfinite(a)]

        def num(x):
            return None if x is None or not np.isfinite(x) else round(float(x), 4)

        return {
            "budget": self.budget,
            "batch": self.batch,
            "picks": list(self.picks),
            "found": {
                "agent": [round(v, 4) for v in agent],
                "random": [round(v, 4) for v in self.found_random],
                "oracle": self.found_oracle,
            },
            "acceleration_factor": num(af),
            "enhancement_factor": num(ef),
            "final_roc_auc": num(np.mean(aucs)) if aucs else None,
            "agent": self.agent.model_dump(),
            "seeds": len(self.agent_curves),
            "found_per_seed": {"agent": self.agent_curves},
            "random_simulated": {
                "mean": np.mean(np.asarray(self.random_simulated, dtype=float), axis=0).round(4).tolist(),
                "per_seed": self.random_simulated,
            },
            "random_method": "analytic: hypergeometric expectation m*G/N (AF uses the negative-hypergeometric "
                             "mean r*(N+1)/(G+1)); random_simulated = seeded uniform picks, for reference",
            "final_roc_auc_per_seed": [num(a) for a in self.final_auc],
            "picked_per_seed": self.picked,
            "oracle_fraction": num(agent[-1] / self.found_oracle[-1]) if self.found_oracle[-1] else None,
            "pool": {"source": self.pool.source, "size": n, "glasses": g, "systems": self.pool.system_names(),
                     "campaign_route": self.pool.campaign_route, **self.pool.stats},
            "seconds": round(self.seconds, 2),
            **self.settings,
        }


def _auc(labels: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if len(labels) == 0 or len(np.unique(labels)) < 2:
        return math.nan
    return float(roc_auc_score(labels, score))


def _loop(runs, picks, pool, cfg, train, score, on_batch, started, final_auc) -> None:
    """The batch loop of :func:`run_replay` (all seeds advance batch by batch)."""
    from agents.proposer import acquisition_scores
    from discovery.batch import select_batch

    n, g, names = len(pool), pool.n_glass, pool.names
    done = 0
    for b, target in enumerate(picks):
        k = target - done
        agent = cfg.for_batch(b + 1, len(picks))  # greedy in its final batches if so configured
        for run in runs:
            remaining = np.setdiff1d(np.arange(n), np.array(run.picked, dtype=int), assume_unique=True)
            if agent.name == "random":
                chosen = run.rng.permutation(remaining)[:k]
            else:
                fitted = train(run)
                s, raw = score(fitted, remaining, run)
                incumbent = 1.0 if pool.labels[run.picked].sum() > 0 else 0.5
                acq = acquisition_scores(agent, s, incumbent=incumbent, rng=run.rng)
                acq = np.where(np.isfinite(acq), acq, -np.inf)
                sub = select_batch(
                    pool.matrix.take(remaining), acq, k,
                    exclude={names[i] for i in run.picked},
                    diversity=agent.diversity, explore_fraction=agent.explore_fraction,
                    uncertainty=s.uncertainty, rng=run.rng,
                )
                chosen = remaining[sub]
                run.predicted.extend(float(v) for v in raw[sub])
            assert not set(chosen.tolist()) & set(run.picked), "re-pick"
            run.picked.extend(int(i) for i in chosen)
        done = target
        if on_batch is not None:
            curves = [curve_from_labels(pool.labels[r.picked], [target])[0] for r in runs]
            on_batch({
                "batch": b + 1, "picks": target, "agent": float(np.mean(curves)),
                "random": float(random_expected_found([target], n, g)[0]), "oracle": int(min(target, g)),
                "seconds": round(time.perf_counter() - started, 1),
            })

    for run in runs:
        if final_auc:
            rest = np.setdiff1d(np.arange(n), np.array(run.picked, dtype=int), assume_unique=True)
            if len(rest) and len(np.unique(pool.labels[rest])) == 2:
                fitted = train(run)
                run.final_auc = _auc(pool.labels[rest], score(fitted, rest, run)[0].glass_probability)


def run_replay(
    pool: ReplayPool,
    *,
    budget: int,
    batch: int,
    seeds: int = 1,
    agent: str | AgentConfig = "ucb",
    model: str | Callable[[], object] = "fast",
    extra_literature: Sequence[str | Path | LabelledSet] = (),
    shipped_literature: bool = True,
    shift_weights: bool | dict = True,
    local_posterior: bool | dict = True,
    calibration: bool | dict = False,
    final_auc: bool = True,
    model_options: dict | None = None,
    cache: FeatureCache | None = None,
    on_batch: Callable[[dict], None] | None = None,
) -> ReplayResult:
    """Replay ``agent`` on ``pool`` (see the module docstring). Seeds 0..seeds-1.

    ``shift_weights``: True = :func:`discovery.shift.campaign_sample_weights` with its
    defaults, a dict = those keyword arguments, False = unweighted training.
    ``local_posterior``: likewise for :func:`discovery.shift.local_campaign_posterior`.
    ``calibration``: likewise for :func:`discovery.shift.campaign_logit_shift` (off by default:
    it did not help on the tuning pools; bench/bench_replay.py measures it on the sputtered pool).
    ``model``: ``"fast"`` (:class:`FastGlassModel`, ``model_options`` its keyword
    arguments), ``"campaign"`` (:class:`discovery.models.GlassFormingModel`) or a factory.
    ``on_batch`` is called after every batch with a dict (picks, agent, random, oracle).
    """
    started = time.perf_counter()
    cfg = agent_config(agent)
    if seeds < 1:
        raise ReplayError("seeds must be >= 1")
    n = len(pool)
    picks = batch_picks(budget, batch, n)
    literature, train_info = training_literature(pool, extra_literature, shipped=shipped_literature)
    if len(np.unique(literature.labels)) < 2:
        raise ReplayError("after removing the pool's systems the literature has fewer than two classes")
    weight_kwargs = shift_weights if isinstance(shift_weights, dict) else {}
    local_kwargs = local_posterior if isinstance(local_posterior, dict) else {}
    calibration_kwargs = calibration if isinstance(calibration, dict) else {}
    campaign_route = pool.campaign_route
    cache = cache if cache is not None else FeatureCache()
    runs = [_SeedRun(s, np.random.default_rng([s, 7919]), make_model_factory(model, s, cache, model_options))
            for s in range(seeds)]
    names = pool.names

    def train(run: _SeedRun):
        data = _training_set(literature, pool, run.picked)
        if shift_weights is not False:
            data.weights = campaign_sample_weights(data.sources, data.routes, campaign_route, **weight_kwargs)
        t = time.perf_counter()
        fitted = run.model_factory().fit(data)
        run.fit_seconds += time.perf_counter() - t
        return fitted

    def score(fitted, rows: np.ndarray, run: _SeedRun) -> tuple[Scores, np.ndarray]:
        """Scores of pool ``rows`` after the campaign corrections, and the model's own P(glass)."""
        sub = pool.matrix.take(rows)
        if isinstance(fitted, FastGlassModel):
            out = fitted.score(sub, pool.routes[rows], names=[names[i] for i in rows])
        else:
            out = fitted.score(sub, pool.routes[rows])
        raw = out.glass_probability
        picked = run.picked
        if calibration is not False and run.predicted:
            shift = campaign_logit_shift(run.predicted, pool.labels[picked], **calibration_kwargs)
            out = shifted_scores(out, shift)
        if local_posterior is not False and picked:
            out = posterior_scores(out, sub, pool.matrix.take(picked), pool.labels[picked], **local_kwargs)
        return out, raw

    from threadpoolctl import threadpool_limits

    # One thread per BLAS/OpenMP pool: on a shared 2-core machine OpenMP's spinning threads
    # (HistGradientBoosting) make a fit ~20x slower in CPU time than single-threaded.
    with threadpool_limits(limits=1):
        _loop(runs, picks, pool, cfg, train, score, on_batch, started, final_auc)

    rs_rng = np.random.default_rng(12345)
    random_sim = [curve_from_labels(pool.labels[rs_rng.permutation(n)[: picks[-1]]], picks) for _ in range(seeds)]
    settings = {
        "model": model if isinstance(model, str) else getattr(model, "__name__", "custom"),
        "model_options": model_options or {},
        "shift_weights": (weight_kwargs or "defaults") if shift_weights is not False else None,
        "local_posterior": (local_kwargs or "defaults") if local_posterior is not False else None,
        "calibration": (calibration_kwargs or "defaults") if calibration is not False else None,
        "training": train_info,
        "fit_seconds_per_seed": [round(r.fit_seconds, 2) for r in runs],
    }
    return ReplayResult(
        pool=pool, agent=cfg, budget=budget, batch=batch, picks=picks,
        agent_curves=[curve_from_labels(pool.labels[r.picked], picks) for r in runs],
        random_simulated=random_sim, final_auc=[r.final_auc for r in runs],
        seconds=time.perf_counter() - started, settings=settings,
        picked=[[names[i] for i in r.picked] for r in runs],
    )


def write_outputs(result: ReplayResult, out_dir: str | Path) -> tuple[Path, Path]:
    """``out_dir/summary.json`` and ``out_dir/discovery.png``."""
    from discovery.plots import plot_discovery_curves

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = result.summary()
    path = out / "summary.json"
    path.write_text(json.dumps(summary, indent=2) + "\n")
    png = plot_discovery_curves(
        result.picks,
        {f"agent ({result.agent.name})": result.found_agent, "random": result.found_random, "oracle": result.found_oracle},
        out / "discovery.png",
        title=f"Replay on {result.pool.source}: glasses found",
    )
    return path, png
