"""Figures people would rather look at than read (PNG, headless): discovery curves, P_GFA
profiles, calibration (reliability) diagrams, parity plots."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence


def plot_discovery_curves(
    picks: Sequence[int],
    curves: Mapping[str, Sequence[float]],
    path: Path | str,
    *,
    title: str = "Glasses found",
) -> Path:
    """Cumulative glasses found vs number of picks, one line per picker (agent, random, oracle)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    styles = {"oracle": dict(color="0.3", linestyle="--"), "random": dict(color="tab:gray")}
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for name, values in curves.items():
        ax.plot(list(picks), list(values), marker="o", markersize=3, label=name, **styles.get(name, {}))
    ax.set_xlabel("compositions picked")
    ax.set_ylabel("glasses found (cumulative)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_pgfa_profiles(model, systems: Sequence[str], path: Path | str, *, route: str = "unknown", title: str = "P_GFA") -> Path:
    """P_GFA (and P(glass)) of ``model`` along each binary system, as in Sun 2017's maps.

    ``model`` is anything with ``score(CompositionMatrix, route) -> Scores``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from discovery.composition import CompositionMatrix
    from discovery.features import featurizable
    from discovery.vocabulary import ProcessingRoute

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    x = np.linspace(0.01, 0.99, 99)
    fig, ax = plt.subplots(figsize=(6.5, 4), dpi=120)
    for system in systems:
        a, b = system.split("-")
        matrix = CompositionMatrix((a, b), np.column_stack([x, 1 - x]))
        ok = featurizable(matrix)
        if not ok.all():
            continue
        p_gfa = model.score(matrix, ProcessingRoute.parse(route).model_group).p_gfa
        ax.plot(100 * x, p_gfa, label=f"{a}$_x${b}$_{{100-x}}$")
    ax.axhline(0, color="0.4", linewidth=0.8)
    ax.set_xlabel("x (at.% of the first element)")
    ax.set_ylabel("P_GFA (> 0: glass predicted)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_reliability(bins_by_subset: Mapping[str, Sequence[Sequence]], path: Path | str, *,
                     title: str = "Calibration of P(glass), system-grouped out-of-fold") -> Path:
    """Reliability diagram: observed glass fraction vs mean predicted P(glass) per bin, one
    line per subset (``[[mean predicted, observed, count], ...]``; empty bins skipped)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5.6, 5.2), dpi=120)
    ax.plot([0, 1], [0, 1], color="0.5", linestyle="--", lw=1, label="perfectly calibrated")
    for name, bins in bins_by_subset.items():
        pts = [(b[0], b[1], b[2]) for b in bins if b[0] is not None and b[1] is not None and b[2]]
        if not pts:
            continue
        x, y, n = zip(*pts)
        ax.plot(x, y, marker="o", lw=1.2, label=f"{name} (n={sum(n)})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean predicted P(glass) in bin")
    ax.set_ylabel("observed fraction of glasses in bin")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_parity(points_by_target: Mapping[str, Sequence[Sequence[float]]], path: Path | str, *,
                labels: Mapping[str, str] | None = None, log_targets: Sequence[str] = (),
                title: str = "Measured vs predicted (system-grouped out-of-fold)") -> Path:
    """One parity panel per target from ``[[measured, predicted], ...]`` pairs."""
    import math

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = [t for t, pts in points_by_target.items() if pts]
    cols = min(3, max(len(names), 1))
    rows = max(math.ceil(len(names) / cols), 1)
    fig, axes = plt.subplots(rows, cols, figsize=(4.0 * cols, 3.8 * rows), dpi=110, squeeze=False)
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    for ax, name in zip(axes.flat, names):
        pts = np.asarray(points_by_target[name], dtype=float)
        y, p = pts[:, 0], pts[:, 1]
        ax.scatter(y, p, s=5, alpha=0.4, color="tab:blue", linewidths=0)
        lo, hi = float(min(y.min(), p.min())), float(max(y.max(), p.max()))
        ax.plot([lo, hi], [lo, hi], color="0.3", lw=1, linestyle="--")
        if name in log_targets:
            ax.set_xscale("log")
            ax.set_yscale("log")
        mae = float(np.mean(np.abs(y - p)))
        ax.set_title(f"{(labels or {}).get(name, name)}\nMAE {mae:.3g}, n={len(y)}", fontsize=9)
        ax.set_xlabel("measured")
        ax.set_ylabel("predicted")
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
