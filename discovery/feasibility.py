"""Feasibility: will the evaluation of a composition produce a result at all?

The failure taxonomy (issue 4, science side):

* a **crystalline** (or partially crystalline) result is a *negative label*: it trains the
  glass-forming model like any other outcome;
* a **synthesis or instrument failure** (crucible cracked, XRD down) is *no label*: the
  job is re-queued up to a limit (db side) and nothing is learned about the alloy;
* a **simulation crash** (the MD run blew up, the potential has no parameters for the
  alloy, the melt never equilibrated) is a *feasibility signal*: some compositions cannot
  be simulated with the current set-up, and proposing them again wastes the budget.

:class:`FeasibilityModel` learns P(the evaluation succeeds) from past crashes and the
acquisition is multiplied by it (constrained acquisition, Gelbart et al. 2014)::

    p_ok = FeasibilityModel().fit(matrix_tried, crashed).predict_feasible(candidates)
    scores = discovery.acquisition.acquire(name, p_feasible=p_ok, mean=..., std=...)

Model: a random forest (scikit-learn) on the composition features of
:func:`discovery.features.featurize` plus one presence column per element seen in
training (crashes are often element-specific: a missing potential). Its probability is
shrunk towards the smoothed observed success rate by the number of examples
(``prior_strength`` pseudo-examples), so a handful of crashes does not zero out a
region. Without data the prior ``prior_feasible`` (default 1.0: assume success) is
returned for every candidate; with one class only, the Laplace-smoothed observed
success rate ``(n_ok + 1) / (n + 2)`` (a constant: it does not change the ranking).
Candidates that cannot be featurized (elements without tabulated data) get the
observed rate.
"""

from __future__ import annotations

import numpy as np

from discovery.composition import CompositionMatrix


class FeasibilityModel:
    """P(evaluation succeeds | composition); sklearn-style ``fit`` / ``predict_feasible``."""

    def __init__(self, *, prior_feasible: float = 1.0, prior_strength: float = 2.0, n_estimators: int = 100,
                 min_samples_leaf: int = 2, random_state: int = 0):
        if not 0.0 <= prior_feasible <= 1.0:
            raise ValueError(f"prior_feasible must be in [0, 1], got {prior_feasible}")
        if prior_strength < 0:
            raise ValueError("prior_strength must be >= 0")
        self.prior_feasible = prior_feasible
        self.prior_strength = prior_strength
        self.n_estimators = n_estimators
        self.min_samples_leaf = min_samples_leaf
        self.random_state = random_state

    # ---------------------------------------------------------------- features

    def _design(self, matrix: CompositionMatrix) -> tuple[np.ndarray, np.ndarray]:
        """(design matrix of the featurizable rows, mask of featurizable rows)."""
        from discovery.features import featurizable, featurize

        ok = featurizable(matrix) if len(matrix) else np.zeros(0, bool)
        rows = np.flatnonzero(ok)
        sub = matrix.take(rows)
        feats = featurize(sub) if len(rows) else np.zeros((0, 0))
        presence = np.zeros((len(rows), len(self.elements_)))
        index = {e: j for j, e in enumerate(matrix.elements)}
        for k, el in enumerate(self.elements_):
            j = index.get(el)
            if j is not None:
                presence[:, k] = sub.fractions[:, j] > 0
        X = np.hstack([feats.reshape(len(rows), -1), presence]) if len(rows) else np.zeros((0, 0))
        return X, ok

    # ---------------------------------------------------------------- fit / predict

    def fit(self, matrix: CompositionMatrix, crashed) -> "FeasibilityModel":
        crashed = np.asarray(crashed, dtype=bool).reshape(-1)
        if len(matrix) != crashed.size:
            raise ValueError(f"{crashed.size} crash flags for {len(matrix)} compositions")
        self.n_ = int(crashed.size)
        self.n_ok_ = int((~crashed).sum())
        self.rate_ = (self.n_ok_ + 1.0) / (self.n_ + 2.0) if self.n_ else float(self.prior_feasible)
        present = matrix.fractions > 0 if len(matrix) else np.zeros((0, len(matrix.elements)), bool)
        self.elements_ = tuple(e for j, e in enumerate(matrix.elements) if present[:, j].any())
        self.forest_ = None
        if self.n_ and 0 < self.n_ok_ < self.n_:
            X, ok = self._design(matrix)
            y = ~crashed[ok]
            if len(y) and 0 < y.sum() < len(y):
                from sklearn.ensemble import RandomForestClassifier

                self.forest_ = RandomForestClassifier(
                    n_estimators=self.n_estimators, min_samples_leaf=self.min_samples_leaf,
                    class_weight="balanced_subsample", random_state=self.random_state, n_jobs=1,
                ).fit(X, y.astype(int))
                self.n_fit_ = int(len(y))
        return self

    def predict_feasible(self, matrix: CompositionMatrix) -> np.ndarray:
        """P(success) in [0, 1] per composition."""
        if not hasattr(self, "n_"):
            raise RuntimeError("FeasibilityModel is not fitted: call fit(matrix, crashed) first")
        n = len(matrix)
        if self.n_ == 0:
            return np.full(n, float(self.prior_feasible))
        out = np.full(n, float(self.rate_))
        if self.forest_ is None or n == 0:
            return out
        X, ok = self._design(matrix)
        if ok.any():
            p = self.forest_.predict_proba(X)[:, list(self.forest_.classes_).index(1)]
            # shrink towards the observed rate: prior_strength pseudo-examples at rate_
            a = float(self.prior_strength)
            out[ok] = (self.n_fit_ * p + a * self.rate_) / (self.n_fit_ + a)
        return np.clip(out, 0.0, 1.0)
