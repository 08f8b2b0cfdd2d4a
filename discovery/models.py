"""Glass-formation models as scikit-learn estimators.

:class:`GlassFormingClassifier` is Sun et al. 2017's model: an RBF support vector
classifier on composition features whose ``decision_function`` -- the signed distance to
the separating hyperplane -- is P_GFA (> 0: predicted to form a glass). A Platt sigmoid
fitted on out-of-fold decision values turns P_GFA into a calibrated probability.

:class:`GlassFormingModel` is what a campaign stores and loads: featurizer + processing
route encoding + estimator, fitted on a :class:`~discovery.dataset.LabelledSet`, scoring a
:class:`~discovery.composition.CompositionMatrix` in chunks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.utils.validation import check_is_fitted

from discovery.composition import CompositionMatrix
from discovery.dataset import LabelledSet
from discovery.vocabulary import MODEL_ROUTE_GROUPS


class GlassFormingClassifier(ClassifierMixin, BaseEstimator):
    """RBF-SVM glass-formation classifier (Sun et al. 2017); ``decision_function`` is P_GFA."""

    def __init__(self, C: float = 10.0, gamma: float | str = "scale", class_weight: str | None = "balanced",
                 calibration_folds: int = 3, random_state: int = 0):
        self.C = C
        self.gamma = gamma
        self.class_weight = class_weight
        self.calibration_folds = calibration_folds
        self.random_state = random_state

    def _svm(self):
        return make_pipeline(StandardScaler(), SVC(C=self.C, gamma=self.gamma, kernel="rbf", class_weight=self.class_weight))

    def fit(self, X, y, sample_weight=None):
        X = np.asarray(X, dtype=float)
        y = np.asarray(y, dtype=int)
        self.classes_ = np.unique(y)
        if len(self.classes_) != 2:
            raise ValueError(f"need both glass (1) and non-glass (0) examples, got classes {self.classes_.tolist()}")
        fit_params = {} if sample_weight is None else {"svc__sample_weight": np.asarray(sample_weight, dtype=float)}
        self.pipeline_ = self._svm().fit(X, y, **fit_params)
        # Platt scaling on out-of-fold P_GFA, so the probability is not fitted on the SVM's own training margins.
        folds = min(self.calibration_folds, int(np.bincount(y).min()))
        if folds >= 2:
            cv = StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
            oof = cross_val_predict(self._svm(), X, y, cv=cv, method="decision_function", params=fit_params)
        else:
            oof = self.pipeline_.decision_function(X)
        self.calibrator_ = LogisticRegression().fit(oof.reshape(-1, 1), y)
        return self

    def decision_function(self, X) -> np.ndarray:
        """P_GFA: signed distance to the hyperplane (in the scaled feature space)."""
        check_is_fitted(self, "pipeline_")
        return self.pipeline_.decision_function(np.asarray(X, dtype=float))

    def predict_proba(self, X) -> np.ndarray:
        p = self.calibrator_.predict_proba(self.decision_function(X).reshape(-1, 1))
        return p

    def predict(self, X) -> np.ndarray:
        return (self.decision_function(X) > 0).astype(int)


def encode_routes(routes, n: int) -> np.ndarray:
    """One-hot columns for the coarse processing route (MODEL_ROUTE_GROUPS order)."""
    if routes is None or isinstance(routes, str):
        routes = np.full(n, routes or "unknown", dtype=object)
    routes = np.asarray(routes, dtype=object)
    out = np.zeros((n, len(MODEL_ROUTE_GROUPS)))
    for j, group in enumerate(MODEL_ROUTE_GROUPS):
        out[:, j] = routes == group
    return out


@dataclass
class Scores:
    """Per-candidate model outputs. ``modulus_gpa`` is NaN where no modulus model exists."""

    p_gfa: np.ndarray
    glass_probability: np.ndarray
    uncertainty: np.ndarray
    modulus_gpa: np.ndarray
    modulus_uncertainty_gpa: np.ndarray
    members: np.ndarray | None = None  # (n_members, n) glass probabilities, for Thompson sampling / EHVI


class GlassFormingModel:
    """Featurizer + route encoding + classifier: what a campaign trains, stores and scores with."""

    kind = "gfa-svm"

    def __init__(self, estimator: BaseEstimator | None = None):
        self.estimator = estimator if estimator is not None else GlassFormingClassifier()

    def design_matrix(self, matrix: CompositionMatrix, routes) -> np.ndarray:
        from discovery.features import featurize

        return np.hstack([featurize(matrix), encode_routes(routes, len(matrix))])

    def fit(self, data: LabelledSet) -> "GlassFormingModel":
        from discovery.features import featurizable

        matrix = data.matrix()
        usable = featurizable(matrix)
        # Rows whose elements lack tabulated data (e.g. Ge-Te has no Takeuchi-Inoue pair) cannot be featurized.
        self.n_unfeaturizable_ = int((~usable).sum())
        weights = None if data.weights is None else np.asarray(data.weights)[usable]
        X = self.design_matrix(matrix.take(np.flatnonzero(usable)), np.asarray(data.routes)[usable])
        self.estimator_ = clone(self.estimator).fit(X, data.labels[usable], sample_weight=weights)
        self.n_train_ = int(usable.sum())
        return self

    def get_params(self) -> dict:
        return {k: v for k, v in self.estimator.get_params().items() if np.isscalar(v) or v is None}

    def score(self, matrix: CompositionMatrix, routes="unknown", *, chunk_size: int = 50_000) -> Scores:
        """Score candidates in chunks (bounded memory for millions of compositions)."""
        p_gfa, prob = [], []
        for start in range(0, len(matrix), chunk_size):
            part = matrix.take(np.arange(start, min(start + chunk_size, len(matrix))))
            part_routes = routes if isinstance(routes, str) or routes is None else np.asarray(routes)[start : start + len(part)]
            X = self.design_matrix(part, part_routes)
            p_gfa.append(self.estimator_.decision_function(X))
            prob.append(self.estimator_.predict_proba(X)[:, 1])
        p_gfa_arr = np.concatenate(p_gfa) if p_gfa else np.zeros(0)
        prob_arr = np.concatenate(prob) if prob else np.zeros(0)
        # A single SVM has no member disagreement; the Bernoulli std of its calibrated
        # probability is the honest stand-in until the ensemble scores.
        unc = np.sqrt(prob_arr * (1 - prob_arr))
        nan = np.full(len(prob_arr), np.nan)
        return Scores(p_gfa_arr, prob_arr, unc, nan, nan.copy(), members=prob_arr[None, :])
