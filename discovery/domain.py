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
_RERANK = 1e-5  # float32 distance margin re-ranked in float64 (_nearest_full)


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

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_dense_cache", None)  # rebuilt on first use; kept out of model artifacts
        return state

    def _dense(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(dense training fractions, half their squared norms, both again in float32), built
        once per process. The norms are those of the stored (float32-rounded) fractions: norms
        of the unrounded ones made near-ties (0.01 at.%) pick the farther row."""
        cached = getattr(self, "_dense_cache", None)
        if cached is None:
            t = self.fractions.toarray().astype(np.float64)
            half_sq = 0.5 * np.einsum("ij,ij->i", t, t)
            cached = self._dense_cache = (t, half_sq, np.ascontiguousarray(t, dtype=np.float32),
                                          half_sq.astype(np.float32))
        return cached

    def _nearest_full(self, matrix: CompositionMatrix, rows: np.ndarray, block: int = 256):
        """:meth:`_nearest` for queries of many element sets at once: exact distances over all
        training elements, one matrix product per block of queries (a prediction file of many
        systems would otherwise cost one pass over the training set per element set). A k-d
        tree over all ~60 element columns was 3x faster for queries near the training data
        but 50x slower for compositions far from all of it."""
        if len(self) == 0:
            return np.zeros(len(rows), dtype=int), np.full(len(rows), 100.0)
        index = {e: j for j, e in enumerate(self.elements)}
        cols = [j for j, e in enumerate(matrix.elements) if e in index]
        q_all = matrix.fractions[rows]
        q_all = q_all / q_all.sum(axis=1, keepdims=True)
        q = np.zeros((len(rows), len(self.elements)))
        q[:, [index[matrix.elements[j]] for j in cols]] = q_all[:, cols]
        outside = q_all.sum(axis=1) - q.sum(axis=1)  # the share on elements no training row holds
        t, half_sq, t32, half_sq32 = self._dense()
        q32 = q.astype(np.float32)
        best = np.empty(len(rows), dtype=int)
        for start in range(0, len(rows), block):
            # argmin |q - t|^2 = argmin (|t|^2 / 2 - q.t): one product and one pass per block,
            # in float32 (half the memory traffic of the block's distances, which is what this
            # costs); rows within _RERANK of the float32 minimum are re-ranked in float64, so
            # the answer is the float64 one (float32 errors here are ~1e-7)
            d = q32[start:start + block] @ t32.T
            np.subtract(half_sq32, d, out=d)
            b = np.argmin(d, axis=1)
            close = d <= (d[np.arange(len(b)), b] + _RERANK)[:, None]
            tied = np.flatnonzero(np.count_nonzero(close, axis=1) > 1)
            if len(tied):
                r, c = np.nonzero(close[tied])
                r = tied[r]
                exact = half_sq[c] - np.einsum("ij,ij->i", q[start + r], t[c])
                order = np.lexsort((c, exact, r))  # per row: smallest exact value, then lowest index
                r, c = r[order], c[order]
                first = np.ones(len(r), dtype=bool)
                first[1:] = r[1:] != r[:-1]
                b[r[first]] = c[first]
            best[start:start + block] = b
        # as in _nearest: over the query's own elements, plus what the training row holds elsewhere
        tb = t[best]
        mine = q > 0
        l1 = (np.abs(q - tb) * mine).sum(axis=1) + (1.0 - (tb * mine).sum(axis=1)) + outside
        return best, 50.0 * l1

    def assess(self, matrix: CompositionMatrix) -> DomainAssessment:
        n, k = matrix.fractions.shape
        present = matrix.fractions > 0
        # rows grouped by element set: system, unseen elements and the distance search are per set
        keys, group = np.unique(np.packbits(present, axis=1), axis=0, return_inverse=True)
        group = np.asarray(group).reshape(-1)
        set_cols = [np.flatnonzero(s) for s in np.unpackbits(keys, axis=1, count=k).astype(bool)]
        known = np.array([e in self.element_rows for e in matrix.elements], dtype=bool)
        set_system = ["-".join(matrix.elements[j] for j in cols) for cols in set_cols]
        set_unseen = [tuple(matrix.elements[j] for j in cols if not known[j]) for cols in set_cols]
        systems = np.array(set_system, dtype=object)[group] if n else np.zeros(0, dtype=object)
        sys_rows = np.array([self.system_rows.get(s, 0) for s in set_system], dtype=int)[group]
        unseen = [set_unseen[g] for g in group]
        nearest = np.full(n, "", dtype=object)
        moved = np.full(n, np.nan)
        counts = np.bincount(group, minlength=len(set_cols))
        order = np.argsort(group, kind="stable")  # each set's rows in ascending order
        ends = np.cumsum(counts)
        for g in np.flatnonzero(counts >= _TREE_FROM):
            rows = order[ends[g] - counts[g] : ends[g]]
            key = list(set_cols[g])
            q = matrix.fractions[np.ix_(rows, key)]
            q = q / q.sum(axis=1, keepdims=True)
            best, dist = self._nearest(q, tuple(matrix.elements[j] for j in key))
            nearest[rows] = self.names[best] if len(self) else ""
            moved[rows] = dist
        few = np.flatnonzero(counts[group] < _TREE_FROM)  # element sets with few queries: answered together
        if len(few):
            best, dist = self._nearest_full(matrix, few)
            nearest[few] = self.names[best] if len(self) else ""
            moved[few] = dist
        has_unseen = np.array([bool(u) for u in set_unseen], dtype=bool)[group]
        far = ~has_unseen & (moved > FAR_AT_PCT)
        edge = ~has_unseen & ~far & (sys_rows == 0) & (moved > NEAR_AT_PCT)
        verdict = np.full(n, "inside", dtype=object)
        verdict[has_unseen | far] = "outside"
        verdict[edge] = "edge"
        reason = np.full(n, "", dtype=object)
        for r in np.flatnonzero(has_unseen):
            reason[r] = f"no training data contain {', '.join(unseen[r])}"
        for r in np.flatnonzero(far):
            reason[r] = f"nearest measured composition {nearest[r]} is {moved[r]:.0f} at.% away"
        for r in np.flatnonzero(edge):
            reason[r] = f"system {systems[r]} never measured; nearest {nearest[r]} is {moved[r]:.0f} at.% away"
        return DomainAssessment(verdict, reason, unseen, nearest, moved, sys_rows)
