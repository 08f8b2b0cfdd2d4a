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
