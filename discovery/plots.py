"""Figures people would rather look at than read (PNG, headless): discovery curves, P_GFA
profiles, calibration (reliability) diagrams, parity plots, Pareto fronts."""

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
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # picks and glasses are counts
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
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


def plot_pareto_front(
    observed,
    measured,
    candidates,
    path: Path | str,
    *,
    labels: Sequence[str],
    maximize: Sequence[bool | None] = (True, True),
    bounds: Sequence[tuple[float | None, float | None]] = ((None, None), (None, None)),
    candidates_std=None,
    title: str = "Pareto front",
) -> Path:
    """Two objectives: the campaign's results, their Pareto front and the latest batch.

    ``observed`` (n, 2) are the results (NaN rows skipped); ``measured`` (n, 2) says which
    coordinates were measured (filled markers) rather than predicted at proposal time
    (hollow markers). ``candidates`` (k, 2) is the batch as predicted, with error bars from
    ``candidates_std``. ``bounds`` are constraints per axis (lo, hi); the infeasible side is
    shaded. ``maximize`` None marks an axis that is only constrained (no goal): its better
    side is taken to be away from its bound. The front is drawn as the staircase its points
    dominate.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from discovery.acquisition import pareto_front_mask

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    obs = np.asarray(observed, dtype=float).reshape(-1, 2)
    meas = np.asarray(measured, dtype=bool).reshape(-1, 2)
    cand = np.asarray(candidates, dtype=float).reshape(-1, 2)
    ok = np.isfinite(obs).all(axis=1)
    obs, meas = obs[ok], meas[ok]
    goal = [m for m in maximize]
    directions = tuple(bool(m) if m is not None else bounds[j][0] is not None for j, m in enumerate(maximize))
    maximize = directions
    fig, ax = plt.subplots(figsize=(6.5, 4.5), dpi=120)
    if len(obs):
        front = pareto_front_mask(obs, maximize=maximize)
        full = meas.all(axis=1)
        for sel, style, name in (
            (full & ~front, dict(color="tab:blue", alpha=0.6), "measured"),
            (~full & ~front, dict(facecolors="none", edgecolors="tab:blue", alpha=0.6), "measured in part (rest predicted)"),
            (front & full, dict(color="tab:red"), "Pareto front (measured)"),
            (front & ~full, dict(facecolors="none", edgecolors="tab:red"), "Pareto front (in part predicted)"),
        ):
            if sel.any():
                ax.scatter(obs[sel, 0], obs[sel, 1], s=28, label=name, zorder=3, **style)
        f = obs[front]
        order = np.argsort(f[:, 0] * (1 if maximize[0] else -1))[::-1]
        f = f[order]
        if len(f) > 1:
            ax.step(f[:, 0], f[:, 1], where="post" if maximize[0] == maximize[1] else "pre", color="tab:red",
                    alpha=0.5, linewidth=1)
    cand_ok = np.isfinite(cand).all(axis=1)
    if cand_ok.any():
        err = None
        if candidates_std is not None:
            std = np.nan_to_num(np.asarray(candidates_std, dtype=float).reshape(-1, 2)[cand_ok])
            err = (std[:, 0], std[:, 1])
        ax.errorbar(cand[cand_ok, 0], cand[cand_ok, 1], xerr=None if err is None else err[0],
                    yerr=None if err is None else err[1], fmt="x", color="tab:green", ecolor="tab:green",
                    elinewidth=0.7, alpha=0.9, label="latest batch (predicted)", zorder=4)
    for axis, (lo, hi) in enumerate(bounds):
        for value, below in ((lo, True), (hi, False)):
            if value is None:
                continue
            line = ax.axvline if axis == 0 else ax.axhline
            line(value, color="0.3", linestyle="--", linewidth=0.8)
            lim = ax.get_xlim() if axis == 0 else ax.get_ylim()
            span = (lim[0], value) if below else (value, lim[1])
            name = labels[axis].split(" (")[0]
            (ax.axvspan if axis == 0 else ax.axhspan)(*span, color="0.5", alpha=0.12, linewidth=0,
                                                      label=f"outside the constraint {name} {'>=' if below else '<='} {value:g}")
            (ax.set_xlim if axis == 0 else ax.set_ylim)(lim)
    if not len(obs):
        ax.text(0.02, 0.97, "no results measured yet", transform=ax.transAxes, va="top", fontsize=8, color="0.3")
    arrow = {True: "higher is better", False: "lower is better", None: "constraint"}
    ax.set_xlabel(f"{labels[0]} ({arrow[goal[0]]})")
    ax.set_ylabel(f"{labels[1]} ({arrow[goal[1]]})")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
