"""Glass-formation models as scikit-learn estimators.

:class:`GlassFormingClassifier` is Sun et al. 2017's model: an RBF support vector
classifier on composition features whose ``decision_function`` -- the signed distance to
the separating hyperplane -- is P_GFA (> 0: predicted to form a glass). A Platt sigmoid
fitted on out-of-fold decision values turns P_GFA into a calibrated probability.

:class:`GFAEnsemble` adds a random forest, gradient boosting and an MLP to that SVM. Its
glass probability is the mean of the members' probabilities, its uncertainty the spread
(standard deviation) across members, and P_GFA stays the SVM's decision function.

:class:`GlassFormingModel` is what a campaign stores and loads: liquidus estimator +
featurizer + processing-route encoding + estimator (+ optionally a modulus model), fitted
on a :class:`~discovery.dataset.LabelledSet`, scoring a
:class:`~discovery.composition.CompositionMatrix` in chunks. Its default estimator is the
ensemble (``kind = "gfa-ensemble"``); passing a :class:`GlassFormingClassifier` gives the
single-SVM model (``kind = "gfa-svm"``).

Processing route. The one-hot :func:`encode_routes` becomes two columns (:func:`route_features`)
``route_sputtering`` and ``route_casting``: melt-spinning and an unstated route = (0, 0),
sputtering = (1, 0), casting = (0, 1). An unstated route is read as the rapid-quench
baseline on purpose: the records that state a route come mostly from compilations of
amorphous alloys (Landolt: 70 % glass; cast records: 99 % glass), those that do not from
grids across whole phase diagrams (Sun 2017: 21 % glass), so a "route stated" column learns
the compilers' selection, not physics -- with one, P(glass) of Ti50Zr50 or Cr50Mo50 at
melt-spinning rose from ~0.1 to ~0.5. The tree members are constrained monotone in both
columns: sputtering never lowers P(glass) (sputtering widens glass-forming ranges, Ren et
al. 2018), casting never raises it (a cast glass needs bulk glass-forming ability).

Scoring speed. Per chunk the composition features and the liquidus estimate are computed
once and shared by all members; the SVM's RBF decision function is evaluated with BLAS
(``exp(-gamma |x - s|^2) @ dual_coef``) instead of libsvm's per-row loop, and chunks can
be scored in threads (``n_jobs``), BLAS/OpenMP pools pinned to one thread each.
"""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.ensemble import ExtraTreesClassifier, HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.utils.validation import check_is_fitted

from discovery.composition import CompositionMatrix
from discovery.dataset import LabelledSet
from discovery.related import LENGTH_SCALES as RELATED_LENGTH_SCALES
from discovery.vocabulary import MODEL_ROUTE_GROUPS, ProcessingRoute
from vitrify.errors import VitrifyError

#: Members of the default ensemble (``et`` contributes one row per sub-forest to ``Scores.members``).
ENSEMBLE_MEMBERS: tuple[str, ...] = ("svm", "et", "gb")
#: Every member an ensemble can be built from.
KNOWN_MEMBERS: tuple[str, ...] = ("svm", "et", "rf", "gb", "mlp")
#: Route columns appended to the composition features (see :func:`route_features`).
ROUTE_FEATURE_NAMES: tuple[str, ...] = ("route_sputtering", "route_casting")
#: Monotonic constraint of each route column for the gradient-boosting member.
ROUTE_MONOTONIC: tuple[int, ...] = (1, -1)
_KERNEL_BLOCK = 4096  # rows per BLAS block in the RBF kernel (block x n_sv float64 in memory)


# --------------------------------------------------------------------------- SVM (Sun 2017)


def _rbf_decision(X: np.ndarray, support: np.ndarray, sq_support: np.ndarray, coef: np.ndarray,
                  intercept: float, gamma: float) -> np.ndarray:
    """sum_i coef_i exp(-gamma |x - s_i|^2) + intercept, in BLAS blocks.

    The kernel block is computed in the dtype of ``support`` (float32 by default: about
    9x faster than float64 -- SIMD exp and matmul -- and within ~1e-4 of libsvm's P_GFA).
    """
    dtype = support.dtype
    out = np.empty(len(X))
    neg_gamma = dtype.type(-gamma)
    for start in range(0, len(X), _KERNEL_BLOCK):
        xb = np.asarray(X[start : start + _KERNEL_BLOCK], dtype=dtype)
        d = xb @ support.T  # (b, n_sv)
        d *= dtype.type(-2.0)
        d += np.einsum("ij,ij->i", xb, xb)[:, None]
        d += sq_support[None, :]
        np.maximum(d, 0, out=d)
        d *= neg_gamma
        np.exp(d, out=d)
        out[start : start + len(xb)] = d @ coef
    out += intercept
    return out


class GlassFormingClassifier(ClassifierMixin, BaseEstimator):
    """RBF-SVM glass-formation classifier (Sun et al. 2017); ``decision_function`` is P_GFA.

    ``gamma="scale"`` is resolved at fit time to ``1 / (n_features * var(X_scaled))`` (as
    scikit-learn does) and stored in ``gamma_``. ``calibration_folds`` >= 2: Platt sigmoid
    fitted on out-of-fold decision values; 0 or 1: on the training decision values (cheap,
    over-confident; what hyperparameter search uses, where only the ranking matters).
    """

    def __init__(self, C: float = 10.0, gamma: float | str = "scale", class_weight: str | None = "balanced",
                 calibration_folds: int = 3, random_state: int = 0, kernel_dtype: str = "float32"):
        self.C = C
        self.kernel_dtype = kernel_dtype
        self.gamma = gamma
        self.class_weight = class_weight
        self.calibration_folds = calibration_folds
        self.random_state = random_state

    def _resolve_gamma(self, Xs: np.ndarray) -> float:
        if self.gamma == "scale":
            var = float(Xs.var())
            return 1.0 / (Xs.shape[1] * var) if var > 0 else 1.0
        if self.gamma == "auto":
            return 1.0 / Xs.shape[1]
        return float(self.gamma)

    def _fit_svc(self, Xs: np.ndarray, y: np.ndarray, gamma: float, sample_weight=None) -> SVC:
        svc = SVC(C=self.C, gamma=gamma, kernel="rbf", class_weight=self.class_weight)
        return svc.fit(Xs, y, sample_weight=sample_weight)

    def fit(self, X, y, sample_weight=None):
        X = np.asarray(X, dtype=float)
        y = np.asarray(y, dtype=int)
        self.classes_ = np.unique(y)
        if len(self.classes_) != 2:
            raise ValueError(f"need both glass (1) and non-glass (0) examples, got classes {self.classes_.tolist()}")
        sw = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        self.scaler_ = StandardScaler().fit(X)
        Xs = self.scaler_.transform(X)
        self.gamma_ = self._resolve_gamma(Xs)
        self.svc_ = self._fit_svc(Xs, y, self.gamma_, sw)
        self._pack()
        # Platt scaling on out-of-fold P_GFA, so the probability is not fitted on the SVM's own training margins.
        folds = min(int(self.calibration_folds), int(np.bincount(y).min()))
        if folds >= 2:
            oof = np.empty(len(y))
            cv = StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
            for train, test in cv.split(Xs, y):
                svc = self._fit_svc(Xs[train], y[train], self.gamma_, None if sw is None else sw[train])
                oof[test] = svc.decision_function(Xs[test])
        else:
            oof = self.svc_.decision_function(Xs)
        self.calibrator_ = LogisticRegression().fit(oof.reshape(-1, 1), y)
        self.n_features_in_ = X.shape[1]
        return self

    def _pack(self) -> None:
        """Support vectors and dual coefficients as contiguous arrays for the BLAS kernel."""
        dtype = np.dtype(self.kernel_dtype)
        sv = np.ascontiguousarray(self.svc_.support_vectors_, dtype=dtype)
        self.support_ = sv
        self.sq_support_ = np.einsum("ij,ij->i", sv, sv)
        # scikit-learn's public dual_coef_/intercept_ are oriented so that > 0 means classes_[1]
        self.dual_coef_ = np.ascontiguousarray(self.svc_.dual_coef_[0], dtype=dtype)
        self.intercept_ = float(self.svc_.intercept_[0])

    def decision_function(self, X, *, scaled: bool = False) -> np.ndarray:
        """P_GFA: signed distance to the hyperplane (in the scaled feature space)."""
        check_is_fitted(self, "svc_")
        X = np.asarray(X, dtype=float)
        Xs = X if scaled else self.scaler_.transform(X)
        return _rbf_decision(Xs, self.support_, self.sq_support_, self.dual_coef_, self.intercept_, self.gamma_)

    def probability_from_decision(self, p_gfa: np.ndarray) -> np.ndarray:
        """Calibrated P(glass) from P_GFA (the Platt sigmoid)."""
        a = float(self.calibrator_.coef_[0, 0])
        b = float(self.calibrator_.intercept_[0])
        return 1.0 / (1.0 + np.exp(-(a * np.asarray(p_gfa) + b)))

    def predict_proba(self, X) -> np.ndarray:
        p = self.probability_from_decision(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X) -> np.ndarray:
        return (self.decision_function(X) > 0).astype(int)


# --------------------------------------------------------------------------- ensemble


def _single_threaded():
    """Pin OpenMP (HistGradientBoosting) and BLAS (MLP) pools to one thread. On a shared
    2-core machine their default pools spin-wait against other processes: HGB fit took
    14 s instead of 0.8 s, MLP 16 s instead of ~3 s. The matrices here are small."""
    return _threadpool_controller().limit(limits=1)


@lru_cache(maxsize=1)
def _threadpool_controller():
    # found once: threadpool_limits() scans the loaded libraries on every call (~7 ms, more
    # than a property model's prediction on a few thousand rows)
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _route_constraints(p: "GFAEnsemble", n_features: int) -> list[int] | None:
    """Monotone constraints of the tree members: sputtering never lowers P(glass), casting
    never raises it (route_features makes each a one-column change from melt-spinning)."""
    if not (p.monotonic_route and p.n_route_columns == len(ROUTE_MONOTONIC) and n_features > len(ROUTE_MONOTONIC)):
        return None
    return [0] * (n_features - len(ROUTE_MONOTONIC)) + list(ROUTE_MONOTONIC)


def _bin_thresholds(column: np.ndarray, max_bins: int) -> np.ndarray:
    """scikit-learn's unweighted HistGradientBoosting bin edges of one column: midpoints of
    the distinct values when there are at most ``max_bins``, else quantiles."""
    distinct = np.unique(column)
    if len(distinct) <= 1:
        return np.zeros(0)
    if len(distinct) <= max_bins:
        return 0.5 * (distinct[1:] + distinct[:-1])
    edges = np.percentile(column, np.linspace(0, 100, max_bins + 1)[1:-1], method="averaged_inverted_cdf")
    return np.unique(edges)


class PrebinnedGradientBoosting(ClassifierMixin, BaseEstimator):
    """A HistGradientBoostingClassifier fitted on inputs binned up front.

    With sample weights, scikit-learn (1.9) finds each column's bin edges by 254 weighted
    percentile calls: a fit on 2,000 x 130 took 16 s instead of 0.6 s without weights, and a
    campaign passes covariate-shift weights (discovery.shift) at every retrain. Binning here,
    by the unweighted quantiles scikit-learn uses without weights, hands the booster at most
    255 distinct values per column, which it bins by their midpoints at once. The weights
    still weight every gradient; only the bin edges are unweighted. Monotone constraints
    carry over (the binning is monotone).
    """

    def __init__(self, estimator=None, max_bins: int = 255):
        self.estimator = estimator
        self.max_bins = max_bins

    def _binned(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        out = np.empty(X.shape, dtype=np.float32)
        for j, edges in enumerate(self.thresholds_):
            # bin i holds edges[i - 1] < x <= edges[i], as scikit-learn's own mapping
            out[:, j] = np.searchsorted(edges, X[:, j], side="left")
        return out

    def fit(self, X, y, sample_weight=None):
        X = np.asarray(X, dtype=float)
        self.thresholds_ = [_bin_thresholds(X[:, j], int(self.max_bins)) for j in range(X.shape[1])]
        base = self.estimator if self.estimator is not None else HistGradientBoostingClassifier()
        self.estimator_ = clone(base).fit(self._binned(X), y, sample_weight=sample_weight)
        self.booster_thresholds_ = None  # of this fit: built on first prediction
        self.classes_ = self.estimator_.classes_
        self.n_features_in_ = X.shape[1]
        return self

    def booster_thresholds(self) -> list[np.ndarray]:
        """Per column, the raw-input edges of the booster's own bins: the booster bins the
        binned values by their midpoints, so its threshold between bins a and a + 1 is the
        raw edge ``thresholds_[j][a]``. ``booster_bins(X)`` is then the booster's bin index."""
        cached = getattr(self, "booster_thresholds_", None)
        if cached is None:
            mapper = self.estimator_._bin_mapper
            cached = self.booster_thresholds_ = [
                edges[np.floor(t).astype(int)] if len(t) else np.zeros(0)
                for edges, t in zip(self.thresholds_, mapper.bin_thresholds_)]
        return cached

    def booster_bins(self, X) -> np.ndarray:
        """(n, n_features) uint8: the bins the booster's trees compare against (its own
        binning of the binned input, in one pass over the raw input)."""
        X = np.asarray(X, dtype=float)
        out = np.empty(X.shape, dtype=np.uint8)
        for j, edges in enumerate(self.booster_thresholds()):
            out[:, j] = np.searchsorted(edges, X[:, j], side="left")
        return out

    def predict_proba_binned(self, bins: np.ndarray) -> np.ndarray:
        """predict_proba from :meth:`booster_bins` (uint8).

        Exactly ``predict_proba(X)``: a tree sends a row left when its raw value is at most
        the node's threshold, i.e. when its bin is at most the node's bin. Predicting on
        the uint8 bins moves an eighth of the bytes of scikit-learn's float64 copy of the
        input: ~3x faster on the proposer's chunks. (scikit-learn's predictors'
        ``predict_binned``, as its fit uses for early stopping.)"""
        h = self.estimator_
        raw = np.zeros((len(bins), h.n_trees_per_iteration_), dtype=h._baseline_prediction.dtype, order="F")
        raw += h._baseline_prediction
        missing = h._bin_mapper.missing_values_bin_idx_
        for per_iteration in h._predictors:
            for k, predictor in enumerate(per_iteration):
                raw[:, k] += predictor.predict_binned(bins, missing_values_bin_idx=missing, n_threads=1)
        return h._loss.predict_proba(raw)

    def predict_proba(self, X) -> np.ndarray:
        return self.predict_proba_binned(self.booster_bins(X))

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def _member_estimator(name: str, p: "GFAEnsemble", n_features: int, copy: int = 0):
    seed = p.random_state + copy
    if name == "svm":
        return GlassFormingClassifier(C=p.svm_C, gamma=p.svm_gamma, class_weight="balanced",
                                      calibration_folds=p.calibration_folds, random_state=seed)
    if name == "et":
        # one forest whose trees are split into et_members sub-forests (the members)
        return ExtraTreesClassifier(n_estimators=p.et_members * p.et_trees_per_member,
                                    min_samples_leaf=p.et_min_samples_leaf, max_features=p.et_max_features,
                                    monotonic_cst=_route_constraints(p, n_features), random_state=seed, n_jobs=1)
    if name == "rf":
        return RandomForestClassifier(n_estimators=p.rf_n_estimators, min_samples_leaf=p.rf_min_samples_leaf,
                                      max_features=p.rf_max_features, max_depth=p.rf_max_depth,
                                      random_state=seed, n_jobs=1)
    if name == "gb":
        cst = _route_constraints(p, n_features)
        return PrebinnedGradientBoosting(HistGradientBoostingClassifier(
            learning_rate=p.gb_learning_rate, max_iter=p.gb_max_iter, max_leaf_nodes=p.gb_max_leaf_nodes,
            min_samples_leaf=p.gb_min_samples_leaf, max_features=p.gb_max_features,
            l2_regularization=p.gb_l2_regularization, monotonic_cst=cst, early_stopping=False, random_state=seed))
    if name == "mlp":
        width = int(p.mlp_width)
        return MLPClassifier(hidden_layer_sizes=(width, max(width // 2, 2)), alpha=p.mlp_alpha,
                             learning_rate_init=p.mlp_learning_rate, max_iter=p.mlp_max_iter,
                             early_stopping=True, validation_fraction=0.1, n_iter_no_change=15,
                             random_state=seed)
    raise ValueError(f"unknown ensemble member {name!r}; known: {KNOWN_MEMBERS}")


def member_estimator(name: str, params: dict | None = None, n_features: int = 0):
    """A fresh, unfitted member (``svm`` | ``et`` | ``rf`` | ``gb`` | ``mlp``) with ensemble-level ``params``."""
    return _member_estimator(name, GFAEnsemble(**(params or {})), n_features)


def _svm_subsample(y: np.ndarray, max_rows: int | None, seed: int, keep: np.ndarray | None = None) -> np.ndarray:
    """Rows the SVM is fitted on: all of them, or a seeded class-stratified subsample of at
    most ``max_rows`` that always contains the ``keep`` rows (a campaign's own results).

    An RBF-SVM's fit grows with the square of the rows (and its Platt calibration fits it
    three more times); P_GFA from a few thousand literature rows ranks as well as from all
    of them (docs/models.md), the tree members see every row."""
    n = len(y)
    if max_rows is None or n <= max_rows:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    forced = np.zeros(n, bool) if keep is None else np.asarray(keep, bool).copy()
    rest = np.flatnonzero(~forced)
    budget = max(int(max_rows) - int(forced.sum()), 0)
    chosen = []
    for cls in (0, 1):
        idx = rest[y[rest] == cls]
        take = int(round(budget * len(idx) / max(len(rest), 1)))
        chosen.append(rng.choice(idx, size=min(take, len(idx)), replace=False))
    return np.sort(np.concatenate([np.flatnonzero(forced), *chosen]))


class GFAEnsemble(ClassifierMixin, BaseEstimator):
    """Sun et al.'s RBF-SVM + extremely randomized trees + gradient boosting (+ optionally a
    random forest and an MLP) on one standardized design matrix.

    * ``decision_function`` = the SVM's P_GFA (Sun 2017), on the ``svm_columns`` only (the
      physics features and the route: the SVM of the seed paper, not the statistics);
    * the tree members see every column, and, when ``fraction_columns`` names the design
      matrix's element-fraction columns, the related-system evidence of the training set
      (discovery.related: what the measured edges, faces and extensions of a composition's
      system say), inserted before the route columns;
    * ``member_probabilities`` = (n_members, n) glass probabilities (SVM: Platt-calibrated;
      the extra-trees forest counts as ``et_members`` members, one per sub-forest; gradient
      boosting as ``gb_members`` models that differ in seed and so in their feature
      subsamples);
    * ``predict_proba`` = their mean; uncertainty = their standard deviation.

    The last ``n_route_columns`` inputs are the route columns of :func:`route_features`.
    Hyperparameters are flat scalars so they store as JSON (``ModelVersion.hyperparameters``).
    ``fit(..., keep=mask)``: rows the SVM subsample must contain (``svm_max_rows``).
    """

    def __init__(
        self,
        members: tuple[str, ...] = ENSEMBLE_MEMBERS,
        svm_C: float = 10.0,
        svm_gamma: float | str = "scale",
        svm_columns: tuple[int, ...] | None = None,
        svm_max_rows: int | None = 6000,
        calibration_folds: int = 3,
        fraction_columns: tuple[int, ...] | None = None,
        related_length_scales: tuple[float, ...] = RELATED_LENGTH_SCALES,
        et_members: int = 2,
        et_trees_per_member: int = 30,
        et_min_samples_leaf: int = 6,
        et_max_features: float = 0.3,
        rf_n_estimators: int = 60,
        rf_min_samples_leaf: int = 2,
        rf_max_features: float = 0.5,
        rf_max_depth: int | None = 14,
        gb_max_iter: int = 150,
        gb_learning_rate: float = 0.1,
        gb_max_leaf_nodes: int = 15,
        gb_min_samples_leaf: int = 20,
        gb_l2_regularization: float = 0.0,
        gb_max_features: float = 0.3,
        gb_members: int = 3,
        mlp_width: int = 64,
        mlp_alpha: float = 1e-3,
        mlp_learning_rate: float = 1e-3,
        mlp_max_iter: int = 300,
        monotonic_route: bool = True,
        n_route_columns: int = len(ROUTE_FEATURE_NAMES),
        random_state: int = 0,
    ):
        self.members = members
        self.svm_C = svm_C
        self.svm_gamma = svm_gamma
        self.svm_columns = svm_columns
        self.svm_max_rows = svm_max_rows
        self.calibration_folds = calibration_folds
        self.fraction_columns = fraction_columns
        self.related_length_scales = related_length_scales
        self.et_members = et_members
        self.et_trees_per_member = et_trees_per_member
        self.et_min_samples_leaf = et_min_samples_leaf
        self.et_max_features = et_max_features
        self.rf_n_estimators = rf_n_estimators
        self.rf_min_samples_leaf = rf_min_samples_leaf
        self.rf_max_features = rf_max_features
        self.rf_max_depth = rf_max_depth
        self.gb_max_iter = gb_max_iter
        self.gb_learning_rate = gb_learning_rate
        self.gb_max_leaf_nodes = gb_max_leaf_nodes
        self.gb_min_samples_leaf = gb_min_samples_leaf
        self.gb_l2_regularization = gb_l2_regularization
        self.gb_max_features = gb_max_features
        self.gb_members = gb_members
        self.mlp_width = mlp_width
        self.mlp_alpha = mlp_alpha
        self.mlp_learning_rate = mlp_learning_rate
        self.mlp_max_iter = mlp_max_iter
        self.monotonic_route = monotonic_route
        self.n_route_columns = n_route_columns
        self.random_state = random_state

    def _svm_cols(self, n_features: int) -> np.ndarray:
        return np.arange(n_features) if self.svm_columns is None else np.asarray(self.svm_columns, dtype=int)

    def fit(self, X, y, sample_weight=None, keep=None):
        X = np.asarray(X, dtype=float)
        y = np.asarray(y, dtype=int)
        self.classes_ = np.unique(y)
        if len(self.classes_) != 2:
            raise ValueError(f"need both glass (1) and non-glass (0) examples, got classes {self.classes_.tolist()}")
        names = tuple(self.members)
        if "svm" not in names:
            raise ValueError("the ensemble needs the svm member: P_GFA is its decision function")
        unknown = set(names) - set(KNOWN_MEMBERS)
        if unknown:
            raise ValueError(f"unknown ensemble member(s) {sorted(unknown)}; known: {KNOWN_MEMBERS}")
        sw = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        Xs, Xt = self.fit_inputs(X, y)
        self.svm_cols_ = self._svm_cols(X.shape[1])
        self.gb_shared_bins_ = None  # of this fit: checked on first prediction
        self.members_ = {}
        for name in names:
            with _single_threaded():
                if name == "svm":
                    est = _member_estimator(name, self, X.shape[1])
                    rows = _svm_subsample(y, self.svm_max_rows, self.random_state, keep)
                    self.members_[name] = est.fit(Xs[np.ix_(rows, self.svm_cols_)], y[rows],
                                                  sample_weight=None if sw is None else sw[rows])
                    self.n_svm_rows_ = int(len(rows))
                elif name == "gb":
                    self.members_[name] = [_member_estimator(name, self, Xt.shape[1], copy=k).fit(Xt, y, sample_weight=sw)
                                           for k in range(max(int(self.gb_members), 1))]
                else:
                    est = _member_estimator(name, self, Xt.shape[1])
                    self.members_[name] = est.fit(Xt, y, sample_weight=sw)
        self.member_names_ = tuple(n for name in names for n in self._expanded(name))
        self.n_features_in_ = X.shape[1]
        return self

    def _expanded(self, name: str) -> list[str]:
        if name == "et":
            return [f"et{k}" for k in range(self.et_members)]
        if name == "gb" and int(self.gb_members) > 1:
            return [f"gb{k}" for k in range(int(self.gb_members))]
        return [name]

    def fit_inputs(self, X, y) -> tuple[np.ndarray, np.ndarray]:
        """Fit the scaler and the related-system evidence on (X, y); returns (scaled X, what
        the tree members see). Hyperparameter tuning builds its folds' inputs with it, so a
        tuned tree member saw the inputs it is used with."""
        X = np.asarray(X, dtype=float)
        self.scaler_ = StandardScaler().fit(X)
        Xs = self.scaler_.transform(X)
        self.related_ = None
        if self.fraction_columns is not None and self.related_length_scales:
            from discovery.related import RelatedSystemEvidence

            self.related_ = RelatedSystemEvidence(tuple(self.related_length_scales)).fit(
                X[:, list(self.fraction_columns)], np.asarray(y, dtype=int))
        return Xs, self._tree_inputs(X, Xs)

    def tree_inputs(self, X) -> np.ndarray:
        """What the fitted tree members see for a design matrix ``X``."""
        X = np.asarray(X, dtype=float)
        return self._tree_inputs(X, self.transform_inputs(X))

    def _tree_inputs(self, X: np.ndarray, Xs: np.ndarray) -> np.ndarray:
        """What the tree members see: the scaled design matrix with the related-system evidence
        (from the raw fraction columns) inserted before the route columns, so the route
        columns stay last for the monotone constraints."""
        related = getattr(self, "related_", None)
        if related is None:
            return Xs
        evidence = related.transform(np.asarray(X, dtype=float)[:, list(self.fraction_columns)])
        r = int(self.n_route_columns)
        if r == 0:
            return np.hstack([Xs, evidence])
        return np.hstack([Xs[:, :-r], evidence, Xs[:, -r:]])

    def transform_inputs(self, X) -> np.ndarray:
        check_is_fitted(self, "scaler_")
        return self.scaler_.transform(np.asarray(X, dtype=float))

    def decision_function(self, X, *, scaled: bool = False) -> np.ndarray:
        Xs = X if scaled else self.transform_inputs(X)
        return self.members_["svm"].decision_function(np.asarray(Xs)[:, self.svm_cols_], scaled=False)

    def _forest_members(self, est, Xs: np.ndarray) -> np.ndarray:
        """(et_members, n) glass probability of each sub-forest (trees in fitted order)."""
        k = self.et_trees_per_member
        trees = est.estimators_
        out = np.empty((self.et_members, len(Xs)))
        X32 = np.ascontiguousarray(Xs, dtype=np.float32)  # what sklearn's trees predict on
        for m in range(self.et_members):
            acc = np.zeros(len(Xs))
            for tree in trees[m * k : (m + 1) * k]:
                acc += tree.predict_proba(X32, check_input=False)[:, 1]
            out[m] = acc / k
        return out

    def _boosting_members(self, models: list, Xt: np.ndarray) -> np.ndarray:
        """(gb_members, n) glass probability of each boosting model. Fitted on the same
        inputs, they share their bins: the input is binned once for all of them."""
        shared = getattr(self, "gb_shared_bins_", None)
        if shared is None:
            first = models[0].booster_thresholds()
            shared = self.gb_shared_bins_ = all(
                len(m.booster_thresholds()) == len(first) and all(map(np.array_equal, m.booster_thresholds(), first))
                for m in models[1:])
        out = np.empty((len(models), len(Xt)))
        bins = models[0].booster_bins(Xt) if shared else None
        for i, m in enumerate(models):
            out[i] = m.predict_proba_binned(bins if shared else m.booster_bins(Xt))[:, 1]
        return out

    def member_probabilities(self, X, *, p_gfa: np.ndarray | None = None) -> np.ndarray:
        """(n_members, n) glass probabilities in ``member_names_`` order."""
        X = np.asarray(X, dtype=float)
        return self._member_rows(X, self.transform_inputs(X), p_gfa)

    def _member_rows(self, X: np.ndarray, Xs: np.ndarray, p_gfa: np.ndarray | None) -> np.ndarray:
        Xt = None
        rows = []
        for name in self.members:
            est = self.members_[name]
            if name == "svm":
                d = est.decision_function(Xs[:, self.svm_cols_], scaled=False) if p_gfa is None else p_gfa
                rows.append(est.probability_from_decision(d)[None, :])
                continue
            if Xt is None:
                Xt = self._tree_inputs(X, Xs)
            with _single_threaded():
                if name == "et":
                    rows.append(self._forest_members(est, Xt))
                elif name == "gb":
                    rows.append(self._boosting_members(est, Xt))
                else:
                    rows.append(est.predict_proba(Xt)[:, 1][None, :])
        return np.vstack(rows)

    def score_arrays(self, X) -> tuple[np.ndarray, np.ndarray]:
        """(P_GFA, member probabilities) from one scaling of ``X``."""
        X = np.asarray(X, dtype=float)
        Xs = self.transform_inputs(X)
        p_gfa = self.decision_function(Xs, scaled=True)
        return p_gfa, self._member_rows(X, Xs, p_gfa)

    def predict_proba(self, X) -> np.ndarray:
        p = self.member_probabilities(X).mean(axis=0)
        return np.column_stack([1.0 - p, p])

    def predict(self, X) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] > 0.5).astype(int)


# --------------------------------------------------------------------------- routes


def encode_routes(routes, n: int) -> np.ndarray:
    """One-hot columns for the coarse processing route (MODEL_ROUTE_GROUPS order)."""
    if routes is None or isinstance(routes, str):
        routes = np.full(n, routes or "unknown", dtype=object)
    routes = np.asarray(routes, dtype=object)
    out = np.zeros((n, len(MODEL_ROUTE_GROUPS)))
    for j, group in enumerate(MODEL_ROUTE_GROUPS):
        out[:, j] = routes == group
    return out


def normalize_routes(routes, n: int) -> np.ndarray:
    """Route group per row (MODEL_ROUTE_GROUPS); accepts any ProcessingRoute spelling, raises otherwise."""
    if routes is None or isinstance(routes, str):
        routes = np.full(n, routes or "unknown", dtype=object)
    routes = np.asarray(routes, dtype=object)
    if len(routes) != n:
        raise ValueError(f"{len(routes)} routes for {n} compositions")
    uniq = {r for r in np.unique(routes.astype(str))}
    mapping = {u: (u if u in MODEL_ROUTE_GROUPS else ProcessingRoute.parse(u).model_group) for u in uniq}
    if all(k == v for k, v in mapping.items()):
        return routes
    return np.array([mapping[str(r)] for r in routes], dtype=object)


def route_features(routes, n: int) -> np.ndarray:
    """``(route_sputtering, route_casting)`` per row: melt-spinning and unknown are the
    baseline (0, 0); each named alternative changes one column, so the monotone constraints
    apply (see the module docstring for why an unstated route is not a column of its own)."""
    onehot = encode_routes(normalize_routes(routes, n), n)
    g = {name: onehot[:, j] for j, name in enumerate(MODEL_ROUTE_GROUPS)}
    return np.column_stack([g["sputtering"], g["casting"]])


# --------------------------------------------------------------------------- campaign model


@dataclass
class Scores:
    """Per-candidate model outputs. ``modulus_gpa`` (Young's modulus) is NaN where no modulus
    model exists. ``properties`` holds every regressed property by its
    :data:`discovery.properties.PROPERTIES` name (``youngs_modulus_gpa``, ``dmax_mm``, ...);
    :meth:`prediction` reads any property, ``glass`` and ``p_gfa`` included."""

    p_gfa: np.ndarray
    glass_probability: np.ndarray
    uncertainty: np.ndarray
    modulus_gpa: np.ndarray
    modulus_uncertainty_gpa: np.ndarray
    members: np.ndarray | None = None  # (n_members, n) glass probabilities, for Thompson sampling / EHVI
    properties: dict = field(default_factory=dict)  # name -> discovery.properties.Prediction

    def __len__(self) -> int:
        return len(self.glass_probability)

    def prediction(self, name: str):
        """:class:`discovery.properties.Prediction` of property ``name`` (NaN if no model predicts it)."""
        from discovery.properties import Prediction, property_spec

        property_spec(name)  # unknown names raise UnknownProperty
        if name == "glass":
            return Prediction(self.glass_probability, self.uncertainty, self.members)
        if name == "p_gfa":
            return Prediction(self.p_gfa, np.zeros(len(self)), None)
        if name in self.properties:
            return self.properties[name]
        if name == "youngs_modulus_gpa":
            return Prediction(self.modulus_gpa, self.modulus_uncertainty_gpa, None)
        return Prediction.missing(len(self))

    def take(self, idx) -> "Scores":
        idx = np.asarray(idx)
        return Scores(self.p_gfa[idx], self.glass_probability[idx], self.uncertainty[idx], self.modulus_gpa[idx],
                      self.modulus_uncertainty_gpa[idx], None if self.members is None else self.members[:, idx],
                      {k: v.take(idx) for k, v in self.properties.items()})

    @staticmethod
    def concat(parts: list["Scores"]) -> "Scores":
        from discovery.properties import Prediction

        members = None if any(p.members is None for p in parts) else np.concatenate([p.members for p in parts], axis=1)
        names = set().union(*(p.properties for p in parts)) if parts else set()
        props = {k: Prediction.concat([p.prediction(k) for p in parts]) for k in sorted(names)}
        return Scores(*(np.concatenate([getattr(p, f) for p in parts]) for f in
                        ("p_gfa", "glass_probability", "uncertainty", "modulus_gpa", "modulus_uncertainty_gpa")),
                      members=members, properties=props)


def _full_features(base: np.ndarray, t_liquidus: np.ndarray) -> np.ndarray:
    """:data:`discovery.features.FEATURE_NAMES` columns from ``base_features`` + T_liq (no recomputation)."""
    from discovery.features import BASE_FEATURE_NAMES, FEATURE_NAMES

    out = np.empty((len(base), len(FEATURE_NAMES)))
    for j, name in enumerate(BASE_FEATURE_NAMES):
        out[:, FEATURE_NAMES.index(name)] = base[:, j]
    t_fic = base[:, BASE_FEATURE_NAMES.index("T_fic")]
    out[:, FEATURE_NAMES.index("dT_liq")] = (t_fic - t_liquidus) / t_fic
    return out


class ModelFormatError(VitrifyError, RuntimeError):
    """A stored model was trained by an older vitrify whose features differ from today's."""


#: Bumped when the design matrix changes (features, route encoding): older models cannot score.
MODEL_FORMAT = 3


class GlassFormingModel:
    """Liquidus estimate + features + route encoding + classifier: what a campaign trains, stores and scores with.

    ``liquidus``: a fitted :class:`discovery.liquidus.LiquidusRegressor` (default: the
    shipped :func:`discovery.liquidus.default_regressor`). It is pickled with the model, so a
    loaded model version reproduces its predictions even after the shipped liquidus table
    changes. ``modulus_model`` (a fitted :class:`discovery.modulus.ModulusEnsemble`) and
    ``bulk_model`` (a fitted :class:`discovery.bulk.BulkGFAEnsemble`) add their properties to
    every :class:`Scores` (NaN without them); they can be attached after fitting. ``domain_``
    (:class:`discovery.domain.TrainingDomain`) keeps what the classifier was trained on, for
    :meth:`assess_domain`.
    """

    def __init__(self, estimator: BaseEstimator | None = None, *, liquidus=None, modulus_model=None, bulk_model=None,
                 n_jobs: int = 1):
        self.estimator = estimator if estimator is not None else GFAEnsemble()
        self.liquidus = liquidus
        self.modulus_model = modulus_model
        self.bulk_model = bulk_model
        self.n_jobs = n_jobs

    @property
    def kind(self) -> str:
        return "gfa-svm" if isinstance(self.estimator, GlassFormingClassifier) else "gfa-ensemble"

    @property
    def uses_statistics(self) -> bool:
        """The single SVM (``gfa-svm``) sees Sun's physics features only; the ensemble adds the
        Magpie element statistics and the element fractions for its tree members."""
        return not isinstance(self.estimator, GlassFormingClassifier)

    @property
    def feature_names(self) -> tuple[str, ...]:
        from discovery.descriptors import FRACTION_FEATURE_NAMES
        from discovery.features import FEATURE_NAMES, STAT_FEATURE_NAMES

        stats = tuple(STAT_FEATURE_NAMES) + FRACTION_FEATURE_NAMES if self.uses_statistics else ()
        return tuple(FEATURE_NAMES) + stats + ROUTE_FEATURE_NAMES

    def svm_columns(self) -> tuple[int, ...]:
        """Design-matrix columns of the SVM: the physics features and the route."""
        from discovery.features import FEATURE_NAMES

        n = len(self.feature_names)
        return tuple(range(len(FEATURE_NAMES))) + tuple(range(n - len(ROUTE_FEATURE_NAMES), n))

    def fraction_columns(self) -> tuple[int, ...] | None:
        """Design-matrix columns of the element fractions (the related-system evidence reads them)."""
        from discovery.descriptors import FRACTION_FEATURE_NAMES

        if not self.uses_statistics:
            return None
        start = self.feature_names.index(FRACTION_FEATURE_NAMES[0])
        return tuple(range(start, start + len(FRACTION_FEATURE_NAMES)))

    def _liquidus(self):
        est = getattr(self, "liquidus_", None) or self.liquidus
        if est is None:
            from discovery.liquidus import default_regressor

            est = default_regressor()
        return est

    def composition_features(self, matrix: CompositionMatrix) -> tuple[np.ndarray, np.ndarray]:
        """(composition columns of the design matrix, base features) -- base shared with the property models."""
        from discovery.descriptors import element_fractions
        from discovery.features import base_features, element_statistics

        base = base_features(matrix)
        t_liq = self._liquidus().predict(base)
        physics = _full_features(base, t_liq)
        if not self.uses_statistics:
            return physics, base
        return np.hstack([physics, element_statistics(matrix), element_fractions(matrix)]), base

    def design_matrix(self, matrix: CompositionMatrix, routes) -> np.ndarray:
        features, _ = self.composition_features(matrix)
        return np.hstack([features, route_features(routes, len(matrix))])

    def _new_estimator(self):
        est = clone(self.estimator)
        if isinstance(est, GFAEnsemble) and est.svm_columns is None:
            est.set_params(svm_columns=self.svm_columns())
        if isinstance(est, GFAEnsemble) and est.fraction_columns is None:
            est.set_params(fraction_columns=self.fraction_columns())
        return est

    def fit(self, data: LabelledSet) -> "GlassFormingModel":
        from discovery.features import featurizable

        self.liquidus_ = self._liquidus()
        matrix = data.matrix()
        usable = featurizable(matrix)
        # Rows whose elements lack tabulated data (e.g. Ge-Te has no Takeuchi-Inoue pair) cannot be featurized.
        self.n_unfeaturizable_ = int((~usable).sum())
        weights = None if data.weights is None else np.asarray(data.weights)[usable]
        X = self.design_matrix(matrix.take(np.flatnonzero(usable)), np.asarray(data.routes)[usable])
        keep = np.asarray(data.sources, dtype=object)[usable] != "literature"
        self.fit_design(X, data.labels[usable], weights, keep=keep, n_unfeaturizable=self.n_unfeaturizable_)
        return self.with_domain(matrix.take(np.flatnonzero(usable)))

    def with_domain(self, matrix: CompositionMatrix, names=None) -> "GlassFormingModel":
        """Remember the training compositions (for :meth:`assess_domain`); ``names``: their
        canonical names when the caller has them."""
        from discovery.domain import TrainingDomain

        self.domain_ = TrainingDomain(matrix, names)
        return self

    def __getstate__(self) -> dict:
        # the property models are registered as model versions of their own; a stored GFA
        # model does not carry copies of them (attach them after loading)
        state = dict(self.__dict__)
        state["modulus_model"] = None
        state["bulk_model"] = None
        return state

    def assess_domain(self, matrix: CompositionMatrix):
        """:class:`discovery.domain.DomainAssessment` of candidates (None for a model fitted on a bare design matrix)."""
        domain = getattr(self, "domain_", None)
        return None if domain is None else domain.assess(matrix)

    def fit_design(self, X: np.ndarray, y: np.ndarray, sample_weight=None, *, keep=None,
                   n_unfeaturizable: int = 0) -> "GlassFormingModel":
        """Fit on a precomputed :meth:`design_matrix` (cross-validation reuses one featurization).
        ``keep``: rows the SVM's subsample must contain (a campaign's own results)."""
        self.liquidus_ = self._liquidus()
        est = self._new_estimator()
        if isinstance(est, GFAEnsemble):
            est.fit(X, y, sample_weight=sample_weight, keep=keep)
        else:
            est.fit(X, y, sample_weight=sample_weight)
        self.estimator_ = est
        self.n_train_ = int(len(y))
        self.n_unfeaturizable_ = int(n_unfeaturizable)
        self.format_ = MODEL_FORMAT
        return self

    def with_modulus(self, modulus_model) -> "GlassFormingModel":
        self.modulus_model = modulus_model
        return self

    def with_bulk(self, bulk_model) -> "GlassFormingModel":
        self.bulk_model = bulk_model
        return self

    def property_models(self) -> list:
        return [m for m in (getattr(self, "modulus_model", None), getattr(self, "bulk_model", None)) if m is not None]

    @property
    def member_names(self) -> tuple[str, ...]:
        return tuple(getattr(self.estimator_, "member_names_", ("svm",)))

    def get_params(self, deep: bool = True) -> dict:
        """The estimator's scalar hyperparameters (``deep``: its members' too, as sklearn names them)."""
        out = {}
        for k, v in self.estimator.get_params(deep=deep).items():
            if isinstance(v, tuple):
                v = list(v)
            if np.isscalar(v) or v is None or isinstance(v, list):
                out[k] = v
        return out

    def score_design(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(P_GFA, (n_members, n) member probabilities) for a design matrix."""
        est = self.estimator_
        if hasattr(est, "score_arrays"):
            return est.score_arrays(X)
        p_gfa = est.decision_function(X)
        return p_gfa, est.probability_from_decision(p_gfa)[None, :]

    _score_block_rows = 2048  # rows per score_design call in _score_chunk

    def _statistics_in(self, features: np.ndarray) -> np.ndarray | None:
        """The element-statistics columns of :meth:`composition_features` (the property models
        need them too), or None when its columns are not laid out as :attr:`feature_names` says."""
        from discovery.features import STAT_FEATURE_NAMES

        names, stat = self.feature_names, tuple(STAT_FEATURE_NAMES)
        if len(names) != features.shape[1] + len(ROUTE_FEATURE_NAMES) or stat[0] not in names:
            return None
        j = names.index(stat[0])
        return features[:, j : j + len(stat)] if names[j : j + len(stat)] == stat else None

    def _score_chunk(self, part: CompositionMatrix, part_routes):
        features, base = self.composition_features(part)
        X = np.hstack([features, route_features(part_routes, len(part))])
        # in row blocks that stay in cache across the tree members' trees (gradient boosting
        # on a whole 25,000-row chunk of ~130 features ran ~3x slower, memory-bound)
        step = self._score_block_rows
        blocks = [self.score_design(X[s : s + step]) for s in range(0, max(len(X), 1), step)]
        p_gfa = np.concatenate([b[0] for b in blocks])
        members = np.concatenate([b[1] for b in blocks], axis=1)
        props = {}
        models = self.property_models()
        stats = self._statistics_in(features) if models else None
        for model in models:
            props.update(model.predict_properties(part, base=base, stats=stats))
        youngs = props.get("youngs_modulus_gpa")
        nan = np.full(len(part), np.nan)
        e, e_std = (youngs.mean, youngs.std) if youngs is not None else (nan, nan.copy())
        return p_gfa, members, e, e_std, props

    def score(self, matrix: CompositionMatrix, routes="unknown", *, chunk_size: int = 50_000,
              n_jobs: int | None = None) -> Scores:
        """Score candidates in chunks (bounded memory for millions of compositions).

        ``n_jobs`` > 1 scores chunks in threads (numpy, BLAS and scikit-learn's tree code
        release the GIL); BLAS/OpenMP pools are pinned to one thread each.
        """
        if not hasattr(self, "estimator_"):
            raise RuntimeError("GlassFormingModel is not fitted: call fit(LabelledSet) first")
        if getattr(self, "format_", 1) != MODEL_FORMAT:
            raise ModelFormatError("this GFA model was trained by an older vitrify (other features): "
                                   "run `vitrify model train` to train a current one")
        n = len(matrix)
        n_jobs = int(n_jobs or getattr(self, "n_jobs", 1) or 1)
        if not (routes is None or isinstance(routes, str)):
            routes = np.asarray(routes, dtype=object)
            if len(routes) != n:
                raise ValueError(f"{len(routes)} routes for {n} compositions")
        starts = list(range(0, n, chunk_size))

        def job(start: int):
            part = matrix.take(np.arange(start, min(start + chunk_size, n)))
            part_routes = routes if routes is None or isinstance(routes, str) else routes[start : start + len(part)]
            return self._score_chunk(part, part_routes)

        # BLAS/OpenMP pools pinned to one thread: parallelism comes from n_jobs chunk threads
        # (idle pool threads spin-wait, which costs more than it gains on a shared 2-core box).
        with _single_threaded():
            if n_jobs > 1 and len(starts) > 1:
                with warnings.catch_warnings():
                    # scikit-learn's forests warn that their inner joblib calls run outside sklearn's
                    # Parallel when called from a plain thread: harmless here (n_jobs=1 inside).
                    warnings.filterwarnings("ignore", message=".*sklearn.utils.parallel.delayed.*")
                    with ThreadPoolExecutor(max_workers=n_jobs) as pool:
                        parts = list(pool.map(job, starts))
            else:
                parts = [job(s) for s in starts]
        n_members = len(self.member_names)
        if not parts:
            empty = np.zeros(0)
            return Scores(empty, empty.copy(), empty.copy(), empty.copy(), empty.copy(), members=np.zeros((n_members, 0)))
        p_gfa = np.concatenate([p[0] for p in parts])
        members = np.concatenate([p[1] for p in parts], axis=1)
        e = np.concatenate([p[2] for p in parts])
        e_std = np.concatenate([p[3] for p in parts])
        from discovery.properties import Prediction

        props = {k: Prediction.concat([p[4][k] for p in parts]) for k in parts[0][4]}
        from discovery.properties import ensemble_mean_spread

        # a single SVM has no member disagreement: the Bernoulli std of its calibrated probability stands in
        prob, unc = ensemble_mean_spread(members, bernoulli=True)
        return Scores(p_gfa, prob, unc, e, e_std, members=members, properties=props)
