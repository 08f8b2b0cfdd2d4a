"""Ternary P_GFA maps in the spirit of Sun et al. 2017 (their Fig. 4: P_GFA over a
composition triangle, positive where a glass is predicted).

:func:`plot_pgfa_map` scores every grid point of a ternary system (edges and corners
included) with a fitted :class:`~discovery.models.GlassFormingModel`, draws P_GFA as filled
contours on the triangle with the P_GFA = 0 boundary, and optionally overlays labelled
compositions of that system (filled circles: glass; crosses: no glass).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from discovery.composition import CompositionMatrix

_SQRT3_2 = np.sqrt(3.0) / 2.0


def ternary_system(system: str | Sequence[str]) -> tuple[str, str, str]:
    """``"Cu-Zr-Al"`` -> ("Cu", "Zr", "Al"), order kept (corners: left, right, top)."""
    from discovery.composition import CompositionError, parse_system

    try:
        els = parse_system(system)
    except CompositionError as exc:
        raise ValueError(f"a ternary system needs three distinct known elements, e.g. Cu-Zr-Al; {exc}") from None
    if len(els) != 3:
        raise ValueError(f"a ternary system needs three distinct elements, e.g. Cu-Zr-Al; got {system!r}")
    return els[0], els[1], els[2]


def ternary_grid(system: str | Sequence[str], step: float = 1.0) -> CompositionMatrix:
    """Every grid point of the triangle (including binaries and pure elements), columns in system order."""
    from discovery.space import SearchSpace

    els = ternary_system(system)
    space = SearchSpace(elements=list(els), min_components=1, max_components=3, step=step)
    parts = list(space.iter_chunks(chunk_size=1_000_000))
    fractions = np.vstack([p.fractions for p in parts])
    order = [parts[0].elements.index(e) for e in els]
    return CompositionMatrix(els, fractions[:, order])


def to_cartesian(fractions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Barycentric (left, right, top) fractions -> triangle coordinates (unit side)."""
    f = np.asarray(fractions, dtype=float)
    f = f / f.sum(axis=1, keepdims=True)
    return f[:, 1] + 0.5 * f[:, 2], _SQRT3_2 * f[:, 2]


def plot_pgfa_map(
    model,
    system: str | Sequence[str],
    path: str | Path,
    *,
    route: str = "unknown",
    step: float = 1.0,
    known=None,
    title: str | None = None,
    quantity: str = "p_gfa",
) -> Path:
    """Draw the ``quantity`` map (``p_gfa`` or ``glass`` = P(glass)) of ``system`` to ``path``
    (PNG, at.% ticks on every edge); returns the path.

    ``known``: optional :class:`~discovery.dataset.LabelledSet`; its compositions inside the
    triangle are overlaid with their labels.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm

    els = ternary_system(system)
    grid = ternary_grid(els, step)
    scores = model.score(grid, route)
    x, y = to_cartesian(grid.fractions)
    if quantity == "glass":
        z, centre = np.asarray(scores.glass_probability, dtype=float), 0.5
        label = "P(glass) (ensemble; > 0.5: predicted glass former)"
    elif quantity == "p_gfa":
        z, centre = np.asarray(scores.p_gfa, dtype=float), 0.0
        label = "P_GFA (SVM decision function; > 0: glass predicted)"
    else:
        raise ValueError(f"quantity must be 'p_gfa' or 'glass', got {quantity!r}")
    ok = np.isfinite(z)
    fig, ax = plt.subplots(figsize=(7.0, 6.2))
    if quantity == "glass":
        norm = TwoSlopeNorm(vmin=0.0, vcenter=0.5, vmax=1.0)
        levels = np.linspace(0, 1, 21)
    else:
        lim = max(float(np.nanmax(np.abs(z[ok]))), 1e-6) if ok.any() else 1.0
        norm = TwoSlopeNorm(vmin=-lim, vcenter=0.0, vmax=lim)
        levels = 21
    cf = ax.tricontourf(x[ok], y[ok], z[ok], levels=levels, cmap="RdBu_r", norm=norm)
    if ok.any() and np.nanmin(z) < centre < np.nanmax(z):
        ax.tricontour(x[ok], y[ok], z[ok], levels=[centre], colors="k", linewidths=1.4)
    cbar = fig.colorbar(cf, ax=ax, shrink=0.8)
    cbar.set_label(label)
    ax.plot([0, 1, 0.5, 0], [0, 0, _SQRT3_2, 0], color="k", lw=1.0)
    for frac in (0.2, 0.4, 0.6, 0.8):  # light grid lines of constant content
        for a in range(3):
            pts = np.zeros((2, 3))
            b, c = (a + 1) % 3, (a + 2) % 3
            pts[:, a] = frac
            pts[0, b], pts[1, c] = 1 - frac, 1 - frac
            gx, gy = to_cartesian(pts)
            ax.plot(gx, gy, color="0.6", lw=0.4, zorder=1)
    _edge_ticks(ax, els)
    ax.text(-0.03, -0.04, els[0], ha="right", va="top", fontsize=13)
    ax.text(1.03, -0.04, els[1], ha="left", va="top", fontsize=13)
    ax.text(0.5, _SQRT3_2 + 0.03, els[2], ha="center", va="bottom", fontsize=13)
    if known is not None and len(known):
        _overlay_known(ax, known, els)
    ax.set_aspect("equal")
    ax.set_xlim(-0.08, 1.08)
    ax.set_ylim(-0.12, _SQRT3_2 + 0.08)
    ax.axis("off")
    kind = getattr(model, "kind", "model")
    shown = "P(glass)" if quantity == "glass" else "P_GFA"
    ax.set_title(title or f"{'-'.join(els)}: {shown} ({kind}, route {route}, {step:g} at.% grid)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130, bbox_inches="tight")
    plt.close(fig)
    return path


def _edge_ticks(ax, els: tuple[str, str, str]) -> None:
    """at.% tick labels along each edge: the content of the corner element the edge runs to
    (left edge: top element, bottom edge: right element, right edge: left element)."""
    for pct in (20, 40, 60, 80):
        f = pct / 100.0
        # bottom edge (left -> right corner): content of the right-corner element
        x, y = to_cartesian(np.array([[1 - f, f, 0.0]]))
        ax.text(x[0], y[0] - 0.035, f"{pct}", ha="center", va="top", fontsize=7, color="0.25")
        # right edge (right -> top corner): content of the top element
        x, y = to_cartesian(np.array([[0.0, 1 - f, f]]))
        ax.text(x[0] + 0.03, y[0], f"{pct}", ha="left", va="center", fontsize=7, color="0.25")
        # left edge (top -> left corner): content of the left element
        x, y = to_cartesian(np.array([[f, 0.0, 1 - f]]))
        ax.text(x[0] - 0.03, y[0], f"{pct}", ha="right", va="center", fontsize=7, color="0.25")
    ax.text(0.5, -0.075, f"at.% {els[1]}", ha="center", va="top", fontsize=8)
    ax.text(0.82, 0.48, f"at.% {els[2]}", ha="left", va="center", fontsize=8, rotation=-60)
    ax.text(0.18, 0.48, f"at.% {els[0]}", ha="right", va="center", fontsize=8, rotation=60)


def _overlay_known(ax, known, els: tuple[str, str, str]) -> None:
    inside_x, inside_y, labels = [], [], []
    for comp, label in zip(known.compositions, known.labels):
        if not set(comp.elements) <= set(els):
            continue
        f = comp.as_dict()
        fx, fy = to_cartesian(np.array([[f.get(e, 0.0) for e in els]]))
        inside_x.append(fx[0])
        inside_y.append(fy[0])
        labels.append(int(label))
    if not labels:
        return
    xs, ys, lab = np.array(inside_x), np.array(inside_y), np.array(labels)
    ax.scatter(xs[lab == 0], ys[lab == 0], s=10, c="0.35", marker="x", linewidths=0.7, label="no glass (data)", zorder=3)
    ax.scatter(xs[lab == 1], ys[lab == 1], s=9, c="k", marker="o", label="glass (data)", zorder=4)
    ax.legend(loc="upper right", fontsize=8, frameon=False)
