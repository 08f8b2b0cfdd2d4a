"""Figures people would rather look at than read: discovery curves (PNG, headless)."""

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
