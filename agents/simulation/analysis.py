"""Pure-numpy analysis of MD output: atom counts, elastic averages, Tg from a kink, Voronoi indices."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np


def atom_counts(fractions: dict[str, float], n_atoms: int) -> dict[str, int]:
    """Integer atom counts summing to ``n_atoms`` (largest remainder); every element gets >= 1."""
    elements = sorted(fractions)
    if n_atoms < len(elements):
        raise ValueError(f"{n_atoms} atoms cannot hold {len(elements)} elements")
    exact = np.array([fractions[e] * n_atoms for e in elements])
    counts = np.floor(exact).astype(int)
    order = np.argsort(-(exact - counts), kind="stable")
    for k in order[: n_atoms - counts.sum()]:
        counts[k] += 1
    for i in range(len(counts)):  # minor elements: keep at least one atom
        if counts[i] == 0:
            counts[i] = 1
            counts[int(np.argmax(counts))] -= 1
    return {e: int(c) for e, c in zip(elements, counts)}


# ----------------------------------------------------------------------------- elasticity
@dataclass(frozen=True)
class ElasticAverages:
    K_voigt: float
    K_reuss: float
    G_voigt: float
    G_reuss: float

    @property
    def K(self) -> float:  # Hill
        return 0.5 * (self.K_voigt + self.K_reuss)

    @property
    def G(self) -> float:
        return 0.5 * (self.G_voigt + self.G_reuss)

    @property
    def E(self) -> float:
        return 9.0 * self.K * self.G / (3.0 * self.K + self.G)

    @property
    def poisson(self) -> float:
        return (3.0 * self.K - 2.0 * self.G) / (2.0 * (3.0 * self.K + self.G))


def voigt_reuss_hill(C: np.ndarray) -> ElasticAverages:
    """Voigt, Reuss (and Hill) bulk and shear moduli of a 6x6 stiffness matrix (Voigt notation)."""
    C = np.asarray(C, dtype=float)
    C = 0.5 * (C + C.T)
    S = np.linalg.inv(C)
    a = C[0, 0] + C[1, 1] + C[2, 2]
    b = C[0, 1] + C[0, 2] + C[1, 2]
    c = C[3, 3] + C[4, 4] + C[5, 5]
    sa = S[0, 0] + S[1, 1] + S[2, 2]
    sb = S[0, 1] + S[0, 2] + S[1, 2]
    sc = S[3, 3] + S[4, 4] + S[5, 5]
    return ElasticAverages(
        K_voigt=(a + 2.0 * b) / 9.0,
        K_reuss=1.0 / (sa + 2.0 * sb),
        G_voigt=(a - b + 3.0 * c) / 15.0,
        G_reuss=15.0 / (4.0 * sa - 4.0 * sb + 3.0 * sc),
    )


def isotropic_stiffness(K: float, G: float) -> np.ndarray:
    lam = K - 2.0 * G / 3.0
    C = np.zeros((6, 6))
    C[:3, :3] = lam
    C[np.arange(3), np.arange(3)] = lam + 2.0 * G
    C[np.arange(3, 6), np.arange(3, 6)] = G
    return C


# ----------------------------------------------------------------------------- Tg
@dataclass(frozen=True)
class KinkFit:
    tg: float | None
    slope_low: float  # d y / d T below the kink (glass)
    slope_high: float  # above (liquid)
    r2: float
    n_points: int


def kink_fit(T: np.ndarray, y: np.ndarray, margin: float = 0.1, margin_high: float = 0.25) -> KinkFit:
    """Two straight lines joined at a break point (hinge regression); the break point is Tg.

    The break point is scanned over the temperature range less ``margin`` at the low end and
    ``margin_high`` at the high end (the liquid line needs points; with fast quenches the
    curvature of the hot liquid otherwise pulls the break to the top), and refined by
    golden-section on the residual sum of squares. ``tg`` is None when the fitted
    high-temperature slope is not larger than the low one (no glass-transition kink).
    """
    T = np.asarray(T, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(T) & np.isfinite(y)
    T, y = T[ok], y[ok]
    if len(T) < 8:
        return KinkFit(None, float("nan"), float("nan"), float("nan"), len(T))
    lo, hi = T.min(), T.max()
    span = hi - lo

    def fit(tb: float):
        X = np.column_stack([np.ones_like(T), T - tb, np.maximum(T - tb, 0.0)])
        coef, *_ = np.linalg.lstsq(X, y, rcond=None)
        sse = float(np.sum((X @ coef - y) ** 2))
        return sse, coef

    grid = np.linspace(lo + margin * span, hi - margin_high * span, 121)
    sses = [fit(t)[0] for t in grid]
    k = int(np.argmin(sses))
    a, b = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
    g = (np.sqrt(5.0) - 1.0) / 2.0
    for _ in range(40):
        c, d = b - g * (b - a), a + g * (b - a)
        if fit(c)[0] < fit(d)[0]:
            b = d
        else:
            a = c
    tb = 0.5 * (a + b)
    sse, coef = fit(tb)
    sst = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - sse / sst if sst > 0 else float("nan")
    slope_low, slope_high = float(coef[1]), float(coef[1] + coef[2])
    tg = float(tb) if slope_high > slope_low else None
    return KinkFit(tg, slope_low, slope_high, r2, len(T))


# ----------------------------------------------------------------------------- Voronoi
@dataclass
class VoronoiAnalysis:
    indices: list[tuple[int, ...]]  # per atom: faces with 3, 4, 5, 6, 7+ edges
    n_faces: np.ndarray  # per atom coordination (number of faces)
    edge_histogram: np.ndarray  # number of faces (counted per atom) with k edges, k = 0..max

    @staticmethod
    def key(index: tuple[int, ...]) -> str:
        n3, n4, n5, n6, n7 = index
        return f"<{n3},{n4},{n5},{n6}>" + (f"+{n7}" if n7 else "")

    def is_icosahedral(self) -> np.ndarray:
        return np.array([ix == (0, 0, 12, 0, 0) for ix in self.indices])


def voronoi_indices(
    positions: np.ndarray,
    box_lo: np.ndarray,
    box_hi: np.ndarray,
    tilt: tuple[float, float, float] = (0.0, 0.0, 0.0),
    skin: float = 8.0,
) -> VoronoiAnalysis:
    """Plain (non-weighted) Voronoi tessellation of atoms in a periodic (triclinic) box.

    ``tilt`` is LAMMPS's (xy, yz, xz).

    Periodicity is handled with image atoms within ``skin`` of the box faces. Each atom's
    Voronoi index counts its faces by number of edges (no small-face or short-edge threshold,
    as LAMMPS's voronoi/atom with default settings).
    """
    from scipy.spatial import Voronoi

    lo = np.asarray(box_lo, dtype=float)
    L = np.asarray(box_hi, dtype=float) - lo
    xy, yz, xz = tilt
    # rows are the box vectors a, b, c
    H = np.array([[L[0], 0.0, 0.0], [xy, L[1], 0.0], [xz, yz, L[2]]])
    frac = np.mod(np.linalg.solve(H.T, (np.asarray(positions, dtype=float) - lo).T).T, 1.0)
    x = frac @ H
    n = len(x)
    # keep images whose fractional coordinates lie within the skin (converted per axis)
    heights = np.abs(np.linalg.det(H)) / np.linalg.norm(np.cross(H[[1, 2, 0]], H[[2, 0, 1]]), axis=1)
    fskin = np.minimum(skin / heights, 1.0)
    pts = [x]
    for sx in (-1, 0, 1):
        for sy in (-1, 0, 1):
            for sz in (-1, 0, 1):
                if sx == sy == sz == 0:
                    continue
                f = frac + np.array([sx, sy, sz])
                keep = np.all((f > -fskin) & (f < 1.0 + fskin), axis=1)
                pts.append(f[keep] @ H)
    allpts = np.vstack(pts)
    vor = Voronoi(allpts)
    counts = np.zeros((n, 16), dtype=int)
    for (p, q), verts in zip(vor.ridge_points, vor.ridge_vertices):
        ne = len(verts)
        if p < n:
            counts[p, min(ne, 15)] += 1
        if q < n:
            counts[q, min(ne, 15)] += 1
    indices = [
        (int(c[3]), int(c[4]), int(c[5]), int(c[6]), int(c[7:].sum())) for c in counts
    ]
    return VoronoiAnalysis(indices=indices, n_faces=counts.sum(axis=1), edge_histogram=counts.sum(axis=0))


def voronoi_summary(analysis: VoronoiAnalysis, types: np.ndarray, elements: list[str], top: int = 20) -> dict:
    """Histogram of Voronoi indices (most common ``top``), icosahedral fractions overall and per
    central element, mean coordination per central element."""
    types = np.asarray(types)
    keys = [VoronoiAnalysis.key(ix) for ix in analysis.indices]
    n = len(keys)
    hist = Counter(keys).most_common()
    ico = analysis.is_icosahedral()
    by_center = {}
    for t, el in enumerate(elements, start=1):
        sel = types == t
        if not sel.any():
            continue
        sub = Counter(k for k, s in zip(keys, sel) if s).most_common(5)
        by_center[el] = {
            "n_atoms": int(sel.sum()),
            "icosahedral_fraction": float(ico[sel].mean()),
            "mean_coordination": float(analysis.n_faces[sel].mean()),
            "top_indices": [{"index": k, "fraction": c / sel.sum()} for k, c in sub],
        }
    return {
        "method": "plain Voronoi (scipy Qhull, periodic images), faces counted by edges, no threshold",
        "icosahedral_fraction": float(ico.mean()),
        "mean_coordination": float(analysis.n_faces.mean()),
        "histogram": [{"index": k, "fraction": c / n} for k, c in hist[:top]],
        "other_fraction": float(sum(c for _, c in hist[top:]) / n),
        "by_center": by_center,
        "edge_histogram": [int(v) for v in analysis.edge_histogram[:11]],
    }
