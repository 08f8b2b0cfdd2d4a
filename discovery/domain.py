"""Domain of applicability: how far a prediction reaches beyond the data it was learned from.

A model trained on Zr-, Cu- and Pd-based alloys knows nothing of P- or B-bearing Fe glasses
unless such rows are in its data (science.md). :class:`TrainingDomain` keeps what a model
saw -- the element set of every training composition, per element and per chemical system
the number of rows, and the compositions themselves -- and :meth:`TrainingDomain.assess`
gives every candidate:

* ``unseen_elements``: elements no training row contains;
* ``nearest_measured`` and ``nearest_at_pct``: the closest training composition and the
  at.% that would have to change to reach it (half the L1 distance; the neighbour is the
  Euclidean nearest one);
* ``system_rows``: training rows of exactly the candidate's chemical system;
* ``verdict``: ``inside`` (elements known and either the system measured or a measured
  composition within :data:`NEAR_AT_PCT`), ``edge`` (elements known, system unmeasured,
  nearest measured composition within :data:`FAR_AT_PCT`), ``outside`` (an unseen element,
  or nothing measured within :data:`FAR_AT_PCT`), with a one-line ``reason``.

Thresholds are judgement, documented here and in docs/models.md: 5 at.% is about the step
of a composition library; 15 at.% moves most of a minority element.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from discovery.composition import CompositionMatrix

NEAR_AT_PCT = 5.0
FAR_AT_PCT = 15.0
_TREE_FROM = 256  # queries of one element set from which a k-d tree pays


@dataclass
class DomainAssessment:
    verdict: np.ndarray  # inside | edge | outside
    reason: np.ndarray
    unseen_elements: list[tuple[str, ...]]
    nearest_measured: np.ndarray
    nearest_at_pct: np.ndarray
    system_rows: np.ndarray

    def __len__(self) -> int:
        return len(self.verdict)


class TrainingDomain:
    """The compositions a model was trained on, for :meth:`assess`."""

    def __init__(self, matrix: CompositionMatrix, names=None):
        names = np.array(matrix.canonical_names() if names is None else list(names), dtype=object)
        _, first = np.unique(names, return_index=True)
        first = np.sort(first)
        used = matrix.fractions[first].sum(axis=0) > 0
        from scipy.sparse import csc_matrix

        self.elements = tuple(e for e, u in zip(matrix.elements, used) if u)
        dense = matrix.fractions[np.ix_(first, np.flatnonzero(used))]
        # sparse by column (a few elements per row): small when pickled with a model, and
        # _nearest reads a handful of element columns at a time
        self.fractions = csc_matrix(dense.astype(np.float32))
        self.names = names[first]
        self.sq_norms = np.einsum("ij,ij->i", dense, dense)
        present = matrix.fractions > 0
        self.element_rows = {e: int(n) for e, n in zip(matrix.elements, present.sum(axis=0)) if n}
        systems, counts = np.unique(np.array(matrix.systems(), dtype=object), return_counts=True)
        self.system_rows = dict(zip(systems.tolist(), counts.tolist()))

    def __len__(self) -> int:
        return len(self.names)

    def _nearest(self, q: np.ndarray, q_elements: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        """(index of the Euclidean-nearest training row, at.% to move) for queries over ``q_elements``.

        With E the queries' elements, |q - t|^2 = |q - t_E|^2 + |t_rest|^2: embedding every
        training row as (t_E, |t_rest|) and every query as (q, 0) keeps distances exact in
        len(E) + 1 dimensions, where a k-d tree answers a million queries in seconds."""
        from scipy.spatial import cKDTree

        if len(self) == 0:
            return np.zeros(len(q), dtype=int), np.full(len(q), 100.0)
        index = {e: j for j, e in enumerate(self.elements)}
        qi = [i for i, e in enumerate(q_elements) if e in index]
        ti = [index[q_elements[i]] for i in qi]
        t_shared = self.fractions[:, ti].toarray().astype(np.float64)
        rest = np.sqrt(np.maximum(self.sq_norms - np.einsum("ij,ij->i", t_shared, t_shared), 0.0))
        if len(q) < _TREE_FROM:
            # a few queries (a prediction file of many systems): a k-d tree's build costs more
            # than the distances themselves
            d2 = (np.einsum("ij,ij->i", q, q)[:, None] + self.sq_norms[None, :]
                  - 2.0 * (q[:, qi] @ t_shared.T))
            best = np.argmin(d2, axis=1)
        else:
            points = np.zeros((len(self), len(q_elements) + 1))
            points[:, qi] = t_shared
            points[:, -1] = rest
            queries = np.hstack([q, np.zeros((len(q), 1))])
            _, best = cKDTree(points).query(queries, k=1)
        # the at.% to move to the nearest row: half the L1 distance over the union of elements
        # (training rows sum to 1: what they hold outside the shared columns is 1 - their share)
        tb = t_shared[best]
        l1 = np.abs(q[:, qi] - tb).sum(axis=1) + np.delete(q, qi, axis=1).sum(axis=1) + (1.0 - tb.sum(axis=1))
        return best, 50.0 * l1

    def _nearest_full(self, matrix: CompositionMatrix, rows: np.ndarray, block: int = 1024):
        """:meth:`_nearest` for queries of many element sets at once: exact distances over all
        training elements, one matrix product per block of queries (a prediction file of many
        systems would otherwise cost one pass over the training set per element set)."""
        if len(self) == 0:
            return np.zeros(len(rows), dtype=int), np.full(len(rows), 100.0)
        index = {e: j for j, e in enumerate(self.elements)}
        cols = [j for j, e in enumerate(matrix.elements) if e in index]
        q_all = matrix.fractions[rows]
        q_all = q_all / q_all.sum(axis=1, keepdims=True)
        q = np.zeros((len(rows), len(self.elements)))
        q[:, [index[matrix.elements[j]] for j in cols]] = q_all[:, cols]
        outside = q_all.sum(axis=1) - q.sum(axis=1)  # the share on elements no training row holds
        # one matrix product per block of queries (BLAS), distances row-major for the argmin
        t = self.fractions.toarray().astype(np.float64)
        best = np.empty(len(rows), dtype=int)
        for start in range(0, len(rows), block):
            d2 = q[start:start + block] @ t.T
            d2 *= -2.0
            d2 += self.sq_norms
            best[start:start + block] = np.argmin(d2, axis=1)
        # as in _nearest: over the query's own elements, plus what the training row holds elsewhere
        tb = t[best]
        mine = q > 0
        l1 = (np.abs(q - tb) * mine).sum(axis=1) + (1.0 - (tb * mine).sum(axis=1)) + outside
        return best, 50.0 * l1

    def assess(self, matrix: CompositionMatrix) -> DomainAssessment:
        n = len(matrix)
        present = matrix.fractions > 0
        systems = matrix.systems()
        verdict = np.full(n, "inside", dtype=object)
        reason = np.full(n, "", dtype=object)
        unseen: list[tuple[str, ...]] = []
        nearest = np.full(n, "", dtype=object)
        moved = np.full(n, np.nan)
        sys_rows = np.array([self.system_rows.get(s, 0) for s in systems], dtype=int)
        known = np.array([e in self.element_rows for e in matrix.elements], dtype=bool)
        for r in range(n):
            unseen.append(tuple(e for e, p, k in zip(matrix.elements, present[r], known) if p and not k))
        # group rows by element set: distances only need each group's own columns
        keys = [tuple(np.flatnonzero(row)) for row in present]
        groups: dict[tuple, list[int]] = {}
        for r, key in enumerate(keys):
            groups.setdefault(key, []).append(r)
        few = []  # rows of element sets with few queries: answered together below
        for key, rows in groups.items():
            if len(rows) < _TREE_FROM:
                few += rows
                continue
            rows = np.array(rows)
            els = tuple(matrix.elements[j] for j in key)
            q = matrix.fractions[np.ix_(rows, list(key))]
            q = q / q.sum(axis=1, keepdims=True)
            best, dist = self._nearest(q, els)
            nearest[rows] = self.names[best] if len(self) else ""
            moved[rows] = dist
        if few:
            rows = np.array(sorted(few))
            best, dist = self._nearest_full(matrix, rows)
            nearest[rows] = self.names[best] if len(self) else ""
            moved[rows] = dist
        for r in range(n):
            if unseen[r]:
                verdict[r] = "outside"
                reason[r] = f"no training data contain {', '.join(unseen[r])}"
            elif moved[r] > FAR_AT_PCT:
                verdict[r] = "outside"
                reason[r] = f"nearest measured composition {nearest[r]} is {moved[r]:.0f} at.% away"
            elif sys_rows[r] == 0 and moved[r] > NEAR_AT_PCT:
                verdict[r] = "edge"
                reason[r] = f"system {systems[r]} never measured; nearest {nearest[r]} is {moved[r]:.0f} at.% away"
        return DomainAssessment(verdict, reason, unseen, nearest, moved, sys_rows)
