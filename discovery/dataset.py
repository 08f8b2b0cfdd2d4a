"""Labelled glass-formation data as plain arrays: what models train on.

The database builds one of these from current outcomes (db.training); replay pools and
benchmarks build them from CSV files. Nothing here touches a database.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from discovery.composition import Composition, CompositionError, CompositionMatrix, parse_composition


@dataclass
class LabelledSet:
    compositions: list[Composition]
    routes: np.ndarray  # model route group per row (discovery.vocabulary.MODEL_ROUTE_GROUPS)
    labels: np.ndarray  # 1 glass, 0 not
    sources: np.ndarray = field(default=None)  # literature | lab | replay | simulation
    weights: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.compositions)
        self.routes = np.asarray(self.routes, dtype=object)
        self.labels = np.asarray(self.labels, dtype=int)
        if self.sources is None:
            self.sources = np.full(n, "literature", dtype=object)
        self.sources = np.asarray(self.sources, dtype=object)
        for name in ("routes", "labels", "sources"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} rows, compositions {n}")

    def __len__(self) -> int:
        return len(self.compositions)

    @property
    def systems(self) -> np.ndarray:
        return np.array([c.system for c in self.compositions], dtype=object)

    @property
    def canonical(self) -> list[str]:
        return [c.canonical for c in self.compositions]

    def matrix(self, elements=None) -> CompositionMatrix:
        return CompositionMatrix.from_compositions(self.compositions, elements)

    def concat(self, other: "LabelledSet") -> "LabelledSet":
        """The rows of ``self`` then those of ``other`` (unweighted sets only)."""
        if self.weights is not None or other.weights is not None:
            raise ValueError("concatenate before weighting: weights are relative to the whole set")
        return LabelledSet(
            self.compositions + other.compositions,
            np.concatenate([self.routes, other.routes]),
            np.concatenate([self.labels, other.labels]),
            np.concatenate([self.sources, other.sources]),
        )

    def subset(self, mask: np.ndarray) -> "LabelledSet":
        idx = np.flatnonzero(mask) if np.asarray(mask).dtype == bool else np.asarray(mask)
        return LabelledSet(
            [self.compositions[i] for i in idx],
            self.routes[idx],
            self.labels[idx],
            self.sources[idx],
            None if self.weights is None else np.asarray(self.weights)[idx],
        )

    def sample_literature(self, max_rows: int, *, seed: int) -> "LabelledSet":
        """Every row that is not literature, and at most ``max_rows`` literature rows drawn
        without replacement, stratified by (route, label) so the sample keeps the table's
        class balance and route mix; rows stay in their order.

        The draw depends only on the literature rows and ``seed``: a campaign that adds its
        own results between retrains keeps training on the same sample.
        """
        sources = np.asarray(self.sources, dtype=object)
        literature = np.flatnonzero(sources == "literature")
        if len(literature) <= max_rows:
            return self
        strata: dict[tuple[str, int], list[int]] = {}
        for i in literature:
            strata.setdefault((str(self.routes[i]), int(self.labels[i])), []).append(int(i))
        keys = sorted(strata)
        exact = np.array([max_rows * len(strata[k]) / len(literature) for k in keys])
        take = np.floor(exact).astype(int)
        # largest remainders get the rows the floors left over (ties: the earlier stratum)
        for j in np.argsort(-(exact - take), kind="stable")[: max_rows - int(take.sum())]:
            take[j] += 1
        rng = np.random.default_rng(seed)
        keep = [np.flatnonzero(sources != "literature")]
        for key, k in zip(keys, take):
            keep.append(rng.choice(np.asarray(strata[key]), size=int(k), replace=False))
        return self.subset(np.sort(np.concatenate(keep)))

    def content_hash(self) -> str:
        """sha256 over (canonical, route, label, source) rows in a stable order."""
        rows = sorted(zip(self.canonical, map(str, self.routes), map(int, self.labels), map(str, self.sources)))
        # one update over the joined rows: the same digest as one update per row, faster
        return hashlib.sha256("".join(map(repr, rows)).encode()).hexdigest()


def held_out_systems(systems) -> list[str]:
    """The hold-out rule of a replay (an after-the-fact experiment): every system it can
    answer in and each of that system's sub-systems with two or more elements (the binary
    edges of a ternary, the ternary faces of a quaternary). Their literature is hidden from
    training, or the answers leak into the prior: the Sun 2017 binaries are on a 1 at.%
    grid, so an edge composition of a ternary pool almost always has a training twin."""
    from itertools import combinations

    from discovery.composition import split_system

    out: set[str] = set()
    for system in systems:
        els = sorted(set(split_system(str(system))))
        for k in range(2, len(els) + 1):
            out.update("-".join(c) for c in combinations(els, k))
    return sorted(out)


def with_canonical_compositions(frame, column: str = "formula"):
    """Rows of a pandas DataFrame whose ``column`` parses as a composition, with added
    ``composition`` (canonical name) and ``system`` columns; unparsable rows are dropped."""
    canon, systems, keep = [], [], []
    for i, text in enumerate(frame[column].astype(str)):
        try:
            comp = parse_composition(text)
        except CompositionError:
            continue
        keep.append(i)
        canon.append(comp.canonical)
        systems.append(comp.system)
    return frame.iloc[keep].assign(composition=canon, system=systems)
