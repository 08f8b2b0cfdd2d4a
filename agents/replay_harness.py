"""The arithmetic of a replay, and its pool: what ``vitrify replay`` reports (docs/replay.md).

A replay runs the campaign itself against a table of known outcomes (flows.replay); this
module holds what is pure about it:

* :class:`ReplayPool`: the pool's unique compositions, their true label (glass if any record
  says glass -- the rule the replay oracle answers by, agents.replay) and route;
* the baselines and factors, as small pure functions unit-tested on hand-computed pools:
  random is analytic -- after m picks from a pool of N rows holding G glasses, random
  selection finds ``m G / N`` glasses in expectation (the hypergeometric mean) and needs
  ``r (N + 1) / (G + 1)`` picks for its r-th glass (the negative-hypergeometric mean);
  the oracle finds ``min(m, G)``; the acceleration factor ``AF = E[picks random needs to
  find F] / picks the agent needed`` (F = the agent's final count, mean over seeds, at
  batch resolution) and the enhancement factor ``EF = agent found at the budget / random
  expected at the budget``;
* :class:`ReplayResult` and its ``summary.json``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from agents.config import AgentConfig
from discovery.composition import CompositionError, CompositionMatrix, parse_composition


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


# ===================================================================== pool


def system_of(text: str) -> frozenset[str]:
    """Element set of a system written ``Al-Ni-Zr`` (any order) or of a formula (``Al10Ni5Zr85``)."""
    from discovery.composition import ELEMENT_SYMBOLS, split_system

    parts = split_system(str(text).strip())
    if parts and all(p in ELEMENT_SYMBOLS for p in parts):
        return frozenset(parts)
    return frozenset(parse_composition(str(text).strip()).elements)


@dataclass
class ReplayPool:
    """Unique candidate compositions with their true label and route, read by the replay
    oracle (agents.replay.ReplayOracle: one reader of the format). A composition's label is
    glass if any record says glass -- what the oracle answers; its route is the most common
    route among its records."""

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
    def from_csv(cls, path: str | Path) -> "ReplayPool":
        from agents.replay import ReplayOracle
        from discovery.labelled_csv import LabelledCSVError
        from discovery.features import featurizable

        path = Path(path)
        try:
            oracle = ReplayOracle.from_csv(path)
        except LabelledCSVError as exc:
            raise ReplayError(str(exc)) from None  # names the file, row and field
        except (CompositionError, ValueError, KeyError) as exc:
            raise ReplayError(f"{path.name}: {exc}") from None
        if not len(oracle):
            raise ReplayError(f"{path.name}: the pool is empty")
        names = list(oracle.records)
        matrix = CompositionMatrix.from_compositions([parse_composition(n) for n in names])
        ok = featurizable(matrix)
        keep = np.flatnonzero(ok)
        names = [names[i] for i in keep]
        labels, routes, conflicts = [], [], 0
        for name in names:
            records = oracle.records[name]
            answer = oracle.answer(name)
            labels.append(int(answer.result.glass_label == 1))
            groups = [r.route.model_group for r in records]
            vals, cnt = np.unique(groups, return_counts=True)
            routes.append(str(vals[np.argmax(cnt)]))
            conflicts += len({r.result.glass_label for r in records}) > 1
        systems = {frozenset(parse_composition(n).elements) for n in names} | set(oracle.extra_systems)
        n_rows = sum(len(v) for v in oracle.records.values())
        stats = {
            "rows": n_rows,
            "unique_compositions": len(oracle.records),
            "merged_duplicates": n_rows - len(oracle.records),
            "conflicting_labels_merged_to_glass": conflicts,
            "dropped_unfeaturizable": int((~ok).sum()),
        }
        return cls(matrix.take(keep), np.array(labels, dtype=int), np.array(routes, dtype=object), frozenset(systems),
                   names, path.name, stats)

    def system_names(self) -> list[str]:
        """Maximal systems (not contained in another pool system), e.g. ['Al-Ni-Zr']."""
        maximal = [s for s in self.systems if not any(s < t for t in self.systems)]
        return sorted("-".join(sorted(s)) for s in maximal)


# ===================================================================== result


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
            "agent": self.agent.model_dump(),  # the resolved preset (agents.config.AGENT_PRESETS)
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
