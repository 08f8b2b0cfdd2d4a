"""Structure of a simulated glass: softness and short-range-order motifs (pure science).

Softness (Cubuk et al. 2015, PRL 114:108001; Schoenholz et al. 2016, Nat. Phys. 12:469):

* every atom i gets structure functions, radial ``G(i; mu) = sum_j exp(-(r_ij - mu)^2 / L^2)``
  per neighbour species and angular ``Psi(i; xi, lambda, zeta) = sum_jk exp(-(r_ij^2 + r_ik^2 +
  r_jk^2) / xi^2) (1 + lambda cos theta_ijk)^zeta`` per neighbour-species pair. They are
  dscribe's ACSF G2 and G4 (both multiplied by dscribe's cosine cut-off, which we put well past
  the last shell used), with ``eta = 1 / L^2`` and ``eta = 1 / xi^2``; lengths are given in units
  of ``length_scale`` (sigma_AA for a Lennard-Jones glass, the first RDF peak for a metal);
* an atom *rearranges* at frame t when its p_hop (Candelier, Dauchot & Biroli 2010, PRL
  105:135702; :func:`p_hop`) exceeds ``p_c``; the training set is atoms that rearrange
  (p_hop > p_c) and atoms that are quiescent (p_hop < p_c at every frame of a window around t),
  taken from the *training* frames only;
* per species, a standardizing scaler and scikit-learn's :class:`~sklearn.svm.LinearSVC`
  (``class_weight="balanced"``, C chosen by grouped cross-validation over frames); softness S is
  the signed distance to the hyperplane in the standardized space (the decision function
  divided by ``|w|``), computed on frames not used for training.

Short-range order: Voronoi indices per atom come from :mod:`agents.simulation.analysis`;
:func:`motif_clusters` clusters the per-atom Voronoi face-count vectors with K-means (the number
of clusters chosen by silhouette score, no hand-set cut-off) and reports each cluster's
population, mean Voronoi index and its most common (representative) index.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

# ----------------------------------------------------------------------------- structure functions


@dataclass(frozen=True)
class StructureFunctionSpec:
    """Parameters of the structure functions, lengths in units of ``length_scale``."""

    radial_mu: tuple[float, ...] = tuple(np.round(np.arange(0.7, 2.55, 0.1), 3))
    radial_width: float = 0.1  # L
    angular_xi: tuple[float, ...] = (1.0, 1.5, 2.0)
    angular_zeta: tuple[int, ...] = (1, 2, 4)
    angular_lambda: tuple[int, ...] = (-1, 1)
    r_cut: float = 3.0  # cosine cut-off of the radial functions (dscribe ACSF)
    r_cut_angular: float = 2.0  # of the angular ones: first shell and the start of the second

    def to_dict(self) -> dict:
        return {
            "radial_mu": list(self.radial_mu),
            "radial_width": self.radial_width,
            "angular_xi": list(self.angular_xi),
            "angular_zeta": list(self.angular_zeta),
            "angular_lambda": list(self.angular_lambda),
            "r_cut": self.r_cut,
            "r_cut_angular": self.r_cut_angular,
            "library": "dscribe ACSF (G2 radial, G4 angular)",
        }


def _acsf(species: list[str], spec: StructureFunctionSpec, length_scale: float):
    """Two dscribe ACSF objects: radial (G1, G2; long cut-off) and angular (G4; short cut-off,
    which keeps the triplet count, and the time, down by an order of magnitude)."""
    from dscribe.descriptors import ACSF

    a = float(length_scale)
    g2 = [[1.0 / (spec.radial_width * a) ** 2, mu * a] for mu in spec.radial_mu]
    g4 = [
        [1.0 / (xi * a) ** 2, float(z), float(lam)]
        for xi in spec.angular_xi
        for z in spec.angular_zeta
        for lam in spec.angular_lambda
    ]
    radial = ACSF(species=species, r_cut=spec.r_cut * a, g2_params=g2, periodic=True)
    angular = ACSF(species=species, r_cut=spec.r_cut_angular * a, g4_params=g4, periodic=True) if g4 else None
    return radial, angular


def structure_functions(
    positions: np.ndarray,
    symbols: list[str] | np.ndarray,
    cell: np.ndarray,
    *,
    species: list[str] | None = None,
    length_scale: float = 1.0,
    spec: StructureFunctionSpec = StructureFunctionSpec(),
    n_jobs: int = 1,
) -> np.ndarray:
    """Per-atom structure functions (n_atoms x n_features) of one periodic configuration.

    ``cell`` is a 3x3 matrix (rows: box vectors) or the three edge lengths of an orthorhombic
    box. ``symbols`` are chemical symbols (any ASE symbols: a Lennard-Jones glass uses "H"/"He"
    as labels). dscribe's G1 (a smooth coordination number per neighbour species) is kept.
    """
    from ase import Atoms

    symbols = [str(s) for s in symbols]
    species = species or sorted(set(symbols))
    cell = np.asarray(cell, dtype=float)
    if cell.ndim == 1:
        cell = np.diag(cell)
    atoms = Atoms(symbols=symbols, positions=np.asarray(positions, dtype=float), cell=cell, pbc=True)
    atoms.wrap()
    radial, angular = _acsf(species, spec, length_scale)
    parts = [np.asarray(radial.create(atoms, n_jobs=n_jobs), dtype=float)]
    if angular is not None:
        # dscribe puts G1 (one per species) first, then the G4 per species pair
        parts.append(np.asarray(angular.create(atoms, n_jobs=n_jobs), dtype=float)[:, len(species):])
    return np.hstack(parts)


# ----------------------------------------------------------------------------- rearrangements


def p_hop(trajectory: np.ndarray, half_window: int) -> np.ndarray:
    """Candelier's hop indicator for every atom and frame of an unwrapped trajectory.

    ``trajectory`` is (n_frames, n_atoms, 3). For frame t, A = frames [t - w, t] and
    B = [t, t + w] (w = ``half_window``); p_hop(i, t) = sqrt(<(r_i - <r_i>_B)^2>_A
    <(r_i - <r_i>_A)^2>_B). It is large when the atom's mean position jumps near t, small when
    the atom rattles in one cage. Frames closer than w to either end are NaN.
    Returns (n_frames, n_atoms), in squared length units.
    """
    x = np.asarray(trajectory, dtype=float)
    nf, na, _ = x.shape
    w = int(half_window)
    out = np.full((nf, na), np.nan)
    if nf < 2 * w + 1 or w < 1:
        return out
    # cumulative sums give window means of r and r^2 in O(n_frames)
    c1 = np.concatenate([np.zeros((1, na, 3)), np.cumsum(x, axis=0)])
    c2 = np.concatenate([np.zeros((1, na)), np.cumsum((x**2).sum(axis=2), axis=0)])
    n = w + 1
    for t in range(w, nf - w):
        a0, a1, b0, b1 = t - w, t + 1, t, t + w + 1
        mean_a = (c1[a1] - c1[a0]) / n
        mean_b = (c1[b1] - c1[b0]) / n
        sq_a = (c2[a1] - c2[a0]) / n
        sq_b = (c2[b1] - c2[b0]) / n
        # <(r - m)^2>_X = <r^2>_X - 2 <r>_X . m + m^2
        da = sq_a - 2 * (mean_a * mean_b).sum(axis=1) + (mean_b**2).sum(axis=1)
        db = sq_b - 2 * (mean_b * mean_a).sum(axis=1) + (mean_a**2).sum(axis=1)
        out[t] = np.sqrt(np.clip(da, 0, None) * np.clip(db, 0, None))
    return out


def quiescent(phop: np.ndarray, p_c: float, window: int) -> np.ndarray:
    """True where an atom's p_hop stayed below ``p_c`` at every frame within ``window`` of t
    (frames whose window leaves the defined range are False)."""
    nf = len(phop)
    ok = np.zeros_like(phop, dtype=bool)
    below = np.where(np.isnan(phop), False, phop < p_c)
    defined = ~np.isnan(phop)
    for t in range(nf):
        lo, hi = t - window, t + window + 1
        if lo < 0 or hi > nf or not defined[lo:hi].all():
            continue
        ok[t] = below[lo:hi].all(axis=0)
    return ok


# ----------------------------------------------------------------------------- softness


@dataclass
class SoftnessModel:
    """One standardizer + LinearSVC per species; softness = signed distance to the hyperplane."""

    species: list[str]
    scalers: dict = field(default_factory=dict)
    svms: dict = field(default_factory=dict)
    offsets: dict = field(default_factory=dict)  # subtracted from the distance (0: the SVM's own plane)
    C: dict = field(default_factory=dict)
    cv_accuracy: dict = field(default_factory=dict)
    n_train: dict = field(default_factory=dict)

    def softness(self, features: np.ndarray, symbols: np.ndarray, *, raw: bool = False) -> np.ndarray:
        symbols = np.asarray(symbols)
        out = np.full(len(features), np.nan)
        for sp in self.species:
            sel = symbols == sp
            if not sel.any() or sp not in self.svms:
                continue
            svm = self.svms[sp]
            z = self.scalers[sp].transform(features[sel])
            s = svm.decision_function(z) / np.linalg.norm(svm.coef_)
            out[sel] = s if raw else s - self.offsets.get(sp, 0.0)
        return out


def train_softness(
    features: np.ndarray,
    symbols: np.ndarray,
    labels: np.ndarray,
    groups: np.ndarray,
    *,
    C_grid: tuple[float, ...] = (0.001, 0.01, 0.1, 1.0),
    max_per_class: int = 6000,
    seed: int = 0,
) -> SoftnessModel:
    """Fit the per-species softness hyperplanes.

    ``labels``: 1 rearranging, 0 quiescent (only the training set: clear cases); ``groups``:
    the frame each row came from, so that cross-validation choosing C never scores a frame it
    trained on. The classes are balanced by subsampling to ``max_per_class`` each and by
    ``class_weight="balanced"``; C maximizes the grouped-CV balanced accuracy.
    """
    from sklearn.model_selection import GroupKFold, cross_val_score
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    symbols = np.asarray(symbols)
    labels = np.asarray(labels).astype(int)
    rng = np.random.default_rng(seed)
    model = SoftnessModel(species=sorted(set(symbols.tolist())))
    for sp in model.species:
        idx = np.flatnonzero(symbols == sp)
        keep = []
        for cls in (0, 1):
            c = idx[labels[idx] == cls]
            if len(c) > max_per_class:
                c = rng.choice(c, max_per_class, replace=False)
            keep.append(c)
        if min(len(k) for k in keep) < 10:
            continue  # too few rearrangements of this species to train on
        sel = np.sort(np.concatenate(keep))
        X, y, g = features[sel], labels[sel], np.asarray(groups)[sel]
        scaler = StandardScaler().fit(X)
        Z = scaler.transform(X)
        n_groups = len(np.unique(g))
        best = (-1.0, C_grid[0])
        for C in C_grid:
            svm = LinearSVC(C=C, class_weight="balanced", max_iter=20000, dual=False)
            if n_groups >= 3:
                score = cross_val_score(svm, Z, y, groups=g, cv=GroupKFold(min(5, n_groups)), scoring="balanced_accuracy").mean()
            else:
                score = svm.fit(Z, y).score(Z, y)
            if score > best[0]:
                best = (float(score), C)
        svm = LinearSVC(C=best[1], class_weight="balanced", max_iter=20000, dual=False).fit(Z, y)
        model.scalers[sp], model.svms[sp] = scaler, svm
        model.C[sp], model.cv_accuracy[sp] = best[1], best[0]
        model.n_train[sp] = {"rearranging": int((y == 1).sum()), "quiescent": int((y == 0).sum())}
    return model


def cap_fraction_soft(model: SoftnessModel, features: np.ndarray, symbols: np.ndarray, cap: float) -> None:
    """Shift each species' hyperplane (parallel to itself) so that ``cap`` of its atoms in the
    given frames (training frames) have S > 0: the SVM fixes the direction, the offset is the
    operating point "this share of atoms is soft"."""
    symbols = np.asarray(symbols)
    raw = model.softness(features, symbols, raw=True)
    for sp in model.species:
        s = raw[symbols == sp]
        s = s[np.isfinite(s)]
        if len(s) == 0:
            continue
        q = float(np.quantile(s, 1.0 - cap))
        model.offsets[sp] = q


def softness_report(
    softness: np.ndarray,
    rearranging: np.ndarray,
    symbols: np.ndarray,
    *,
    clear: np.ndarray | None = None,
    bins: np.ndarray | None = None,
) -> dict:
    """The headline numbers on evaluation frames (atoms x frames flattened).

    ``rearranging``: p_hop > p_c; ``clear``: rows in the clear training-style classes
    (rearranging or quiescent), where ``classification_accuracy`` (balanced) is measured.
    """
    S = np.asarray(softness, dtype=float)
    R = np.asarray(rearranging, dtype=bool)
    symbols = np.asarray(symbols)
    ok = np.isfinite(S)
    S, R, symbols = S[ok], R[ok], symbols[ok]
    clear = np.ones_like(R) if clear is None else np.asarray(clear, dtype=bool)[ok]
    soft = S > 0

    def balanced(sel):
        r, q = sel & R, sel & ~R
        if not r.any() or not q.any():
            return None
        return float(0.5 * (soft[r].mean() + (~soft[q]).mean()))

    if bins is None:  # 12 equal bins over the central 99 % of S
        lo_q, hi_q = np.quantile(S, [0.005, 0.995]) if len(S) else (-1.0, 1.0)
        bins = np.linspace(lo_q, hi_q, 13)
    centers, p_r, counts = [], [], []
    for lo, hi in zip(bins[:-1], bins[1:]):
        sel = (S >= lo) & (S < hi)
        if sel.sum() >= 20:
            centers.append(float(0.5 * (lo + hi)))
            p_r.append(float(R[sel].mean()))
            counts.append(int(sel.sum()))
    per_species = {}
    for sp in sorted(set(symbols.tolist())):
        sel = symbols == sp
        per_species[sp] = {
            "n": int(sel.sum()),
            "fraction_soft": float(soft[sel].mean()),
            "fraction_rearranging_soft": float(soft[sel & R].mean()) if (sel & R).any() else None,
            "mean_softness": float(S[sel].mean()),
        }
    return {
        "n_atom_frames": int(len(S)),
        "n_rearranging": int(R.sum()),
        "fraction_soft": float(soft.mean()),
        "fraction_rearranging_soft": float(soft[R].mean()) if R.any() else None,
        "classification_accuracy": balanced(clear),
        "mean_softness": float(S.mean()),
        "p_rearrange_given_s": {"s": centers, "p": p_r, "n": counts},
        "by_species": per_species,
    }


# ----------------------------------------------------------------------------- motifs


def voronoi_vectors(indices: list[tuple[int, ...]]) -> np.ndarray:
    """Per-atom <n3, n4, n5, n6, n7+> face counts as a float matrix."""
    return np.asarray(indices, dtype=float).reshape(-1, 5)


def _key(index) -> str:
    n3, n4, n5, n6, n7 = (int(v) for v in index)
    return f"<{n3},{n4},{n5},{n6}>" + (f"+{n7}" if n7 else "")


def motif_clusters(
    indices: list[tuple[int, ...]],
    symbols: np.ndarray,
    *,
    k_range: tuple[int, int] = (2, 8),
    seed: int = 0,
) -> tuple[dict, np.ndarray]:
    """Cluster local environments (Voronoi face-count vectors) with K-means.

    The number of clusters is the one in ``k_range`` with the best silhouette score (on at most
    3,000 atoms), so no cut-off is set by hand. Returns the ``sro`` summary (clusters sorted by
    population, each with its population share, mean Voronoi index, representative motif = the
    most common index in it and its share, species make-up, icosahedral share) and the per-atom
    cluster labels (ranked: 0 is the most populated cluster).
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    X = voronoi_vectors(indices)
    symbols = np.asarray(symbols)
    n = len(X)
    rng = np.random.default_rng(seed)
    sample = rng.choice(n, min(n, 3000), replace=False)
    best = None
    distinct = len(np.unique(X, axis=0))
    for k in range(k_range[0], min(k_range[1], distinct - 1) + 1):
        km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(X)
        score = float(silhouette_score(X[sample], km.labels_[sample]))
        if best is None or score > best[0]:
            best = (score, k, km)
    if best is None:  # fewer than three distinct environments
        labels = np.zeros(n, dtype=int)
        score, k = None, 1
    else:
        score, k, km = best
        labels = km.labels_
    order = np.argsort(-np.bincount(labels, minlength=k), kind="stable")
    rank = np.empty(k, dtype=int)
    rank[order] = np.arange(k)
    labels = rank[labels]
    keys = [_key(ix) for ix in indices]
    clusters = []
    for c in range(k):
        sel = labels == c
        members = Counter(k_ for k_, s in zip(keys, sel) if s)
        rep, rep_n = members.most_common(1)[0]
        clusters.append(
            {
                "cluster": c,
                "population": float(sel.mean()),
                "n_atoms": int(sel.sum()),
                "mean_voronoi_index": [round(float(v), 2) for v in X[sel].mean(axis=0)],
                "mean_coordination": round(float(X[sel].sum(axis=1).mean()), 2),
                "representative_motif": rep,
                "representative_share": float(rep_n / sel.sum()),
                "top_motifs": [{"index": m, "fraction": c_ / sel.sum()} for m, c_ in members.most_common(3)],
                "species": {sp: float((symbols[sel] == sp).mean()) for sp in sorted(set(symbols.tolist()))},
                "icosahedral_share": float(members.get("<0,0,12,0>", 0) / sel.sum()),
            }
        )
    summary = {
        "method": "K-means on per-atom Voronoi <n3,n4,n5,n6,n7+> vectors; k by silhouette score",
        "k": int(k),
        "silhouette": score,
        "n_atoms": int(n),
        "clusters": clusters,
    }
    return summary, labels


def motif_shares(sro: dict, n: int = 3) -> dict[str, float]:
    """Population shares of the ``n`` most populated motif clusters (0 where absent): the
    measurements ``motif_1_share`` ... that the models may use."""
    pops = [c["population"] for c in sro.get("clusters", [])]
    return {f"motif_{i + 1}_share": float(pops[i]) if i < len(pops) else 0.0 for i in range(n)}


# ----------------------------------------------------------------------------- the whole protocol


@dataclass(frozen=True)
class SoftnessProtocol:
    """How rearrangements are defined and which frames train and test (frames, not time)."""

    half_window: int  # p_hop half window w (t_R = 2 w frames)
    p_c: float  # rearrangement threshold on p_hop (squared length units)
    quiet_window: int  # quiescent: p_hop < p_c at every frame within this many of t
    sample_every: int  # frames between the analysed frames
    train_fraction: float = 0.5  # the earliest analysed frames train, the later ones test
    cap_fraction_soft: float | None = 0.5  # shift the plane so this share of (training) atoms is soft
    min_rearranging: int = 20  # per species in training; else p_c falls to a p_hop quantile
    fallback_quantile: float = 0.95
    average_frames: int = 0  # structure of positions averaged over frames t - this .. t (0: frame t alone)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def softness_from_trajectory(
    trajectory: np.ndarray,
    symbols: list[str] | np.ndarray,
    cell: np.ndarray,
    protocol: SoftnessProtocol,
    *,
    length_scale: float = 1.0,
    spec: StructureFunctionSpec = StructureFunctionSpec(),
    n_jobs: int = 1,
    seed: int = 0,
) -> dict:
    """p_hop -> training set -> per-species LinearSVC -> softness on held-out later frames.

    Returns ``{"report": softness_report(...) on the test frames, "raw_plane": the same with the
    SVM's own hyperplane (no cap), "model": C, CV accuracy, offsets, training counts,
    "protocol": ..., "arrays": per-atom softness / p_hop / rearranging on the test frames}``.
    """
    x = np.asarray(trajectory, dtype=float)
    symbols = np.asarray([str(s) for s in symbols])
    nf = len(x)
    w, q = protocol.half_window, protocol.quiet_window
    ph = p_hop(x, w)
    valid = np.arange(max(w + q, protocol.average_frames), nf - max(w + q, protocol.average_frames))
    frames = valid[:: max(1, protocol.sample_every)]
    if len(frames) < 4:
        raise ValueError(f"trajectory of {nf} frames too short for p_hop window {w} and quiet window {q}")
    n_train = max(2, int(round(protocol.train_fraction * len(frames))))
    train_frames, test_frames = frames[:n_train], frames[n_train:]
    if len(test_frames) == 0:
        raise ValueError("no frames left for testing")
    p_c = float(protocol.p_c)
    p_c_rule = "given"
    r_train = ph[train_frames] > p_c
    per_species = [int(r_train[:, symbols == sp].sum()) for sp in sorted(set(symbols.tolist()))]
    if min(per_species) < protocol.min_rearranging:
        p_c = float(np.nanquantile(ph[frames], protocol.fallback_quantile))
        p_c_rule = f"too few atoms above the given p_c ({protocol.p_c:g}): {protocol.fallback_quantile:g} quantile of p_hop"
    quiet = quiescent(ph, p_c, q)
    species = sorted(set(symbols.tolist()))
    k = int(protocol.average_frames)
    feats = {int(t): structure_functions(x[t - k:t + 1].mean(axis=0), symbols, cell, species=species, length_scale=length_scale, spec=spec, n_jobs=n_jobs) for t in frames}

    def stack(ts):
        F = np.vstack([feats[int(t)] for t in ts])
        sym = np.tile(symbols, len(ts))
        R = np.concatenate([ph[t] > p_c for t in ts])
        Q = np.concatenate([quiet[t] for t in ts])
        grp = np.repeat(np.asarray(ts), len(symbols))
        return F, sym, R, Q, grp

    F, sym, R, Q, grp = stack(train_frames)
    clear = R | Q
    model = train_softness(F[clear], sym[clear], R[clear].astype(int), grp[clear], seed=seed)
    Ft, symt, Rt, Qt, grpt = stack(test_frames)
    raw_plane = softness_report(model.softness(Ft, symt, raw=True), Rt, symt, clear=Rt | Qt)
    if protocol.cap_fraction_soft is not None:
        cap_fraction_soft(model, F, sym, protocol.cap_fraction_soft)
    S_test = model.softness(Ft, symt)
    report = softness_report(S_test, Rt, symt, clear=Rt | Qt)
    report["p_c"] = p_c
    return {
        "report": report,
        "raw_plane": raw_plane,
        "model": {
            "C": model.C,
            "cv_balanced_accuracy": model.cv_accuracy,
            "offsets": model.offsets,
            "n_train": model.n_train,
            "n_features": int(F.shape[1]),
        },
        "protocol": protocol.to_dict() | {"p_c_used": p_c, "p_c_rule": p_c_rule, "train_frames": [int(t) for t in train_frames], "test_frames": [int(t) for t in test_frames]},
        "structure_functions": spec.to_dict() | {"length_scale": length_scale},
        "arrays": {
            "softness": S_test.reshape(len(test_frames), -1),
            "p_hop": ph[test_frames],
            "rearranging": Rt.reshape(len(test_frames), -1),
            "test_frames": np.asarray(test_frames),
            "symbols": symbols,
        },
        "_model": model,
    }
