"""Figures of the structure analysis (matplotlib, Agg): softness and motif populations."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _save(plt, fig, path: Path | str) -> Path:
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def softness_figure(softness: dict, path: Path | str, title: str = "") -> Path:
    """Left: P(R | S) (log scale) from the report's bins. Right: the softness histogram per
    species (test frames), with the rearranging atoms' histogram dashed."""
    plt = _plt()
    arrays = softness["arrays"]
    S = np.asarray(arrays["softness"], dtype=float)
    R = np.asarray(arrays["rearranging"], dtype=bool)
    sym = np.asarray(arrays["symbols"])
    sym = np.broadcast_to(sym, S.shape) if S.ndim == 2 else sym
    S, R, sym = S.ravel(), R.ravel(), np.asarray(sym).ravel()
    ok = np.isfinite(S)
    S, R, sym = S[ok], R[ok], sym[ok]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    pr = softness["p_rearrange_given_s"]
    p = np.asarray(pr["p"], dtype=float)
    ax1.semilogy(pr["s"], np.where(p > 0, p, np.nan), "o-", color="C3")
    ax1.axvline(0, color="grey", lw=0.8, ls=":")
    ax1.set_xlabel("softness S")
    ax1.set_ylabel("P(R | S)")
    ax1.set_title("probability of rearranging")
    ax1.grid(alpha=0.3, which="both")
    bins = np.linspace(np.quantile(S, 0.001), np.quantile(S, 0.999), 50)
    for k, sp in enumerate(sorted(set(sym.tolist()))):
        sel = sym == sp
        ax2.hist(S[sel], bins=bins, density=True, histtype="step", lw=1.5, color=f"C{k}", label=f"{sp}: all")
        if (sel & R).sum() >= 5:
            ax2.hist(S[sel & R], bins=bins, density=True, histtype="step", lw=1.2, ls="--", color=f"C{k}", label=f"{sp}: rearranging")
    ax2.axvline(0, color="grey", lw=0.8, ls=":")
    ax2.set_xlabel("softness S")
    ax2.set_ylabel("density")
    fs, frs = softness.get("fraction_soft"), softness.get("fraction_rearranging_soft")
    ax2.set_title(f"soft: {fs:.0%} of all, {frs:.0%} of rearranging" if fs is not None and frs is not None else "softness")
    ax2.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(plt, fig, path)


def motif_figure(sro: dict, path: Path | str, title: str = "") -> Path:
    """Horizontal bars: population of each motif cluster, labelled by its representative
    Voronoi index, coloured by its icosahedral share."""
    plt = _plt()
    clusters = sro["clusters"]
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(clusters) + 1.5))
    labels = [f"#{c['cluster']} {c['representative_motif']} (CN {c['mean_coordination']:.1f})" for c in clusters]
    pops = [c["population"] for c in clusters]
    ico = [c["icosahedral_share"] for c in clusters]
    cmap = plt.get_cmap("viridis")
    bars = ax.barh(range(len(clusters)), pops, color=[cmap(v) for v in ico])
    ax.set_yticks(range(len(clusters)), labels)
    ax.invert_yaxis()
    for b, p in zip(bars, pops):
        ax.text(b.get_width() + 0.005, b.get_y() + b.get_height() / 2, f"{p:.0%}", va="center", fontsize=8)
    ax.set_xlabel("population (share of atoms)")
    ax.set_xlim(0, max(pops) * 1.2 if pops else 1)
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, 1))
    fig.colorbar(sm, ax=ax, label="<0,0,12,0> share in cluster")
    ax.set_title(title or f"short-range-order motifs (K-means, k={sro['k']})")
    return _save(plt, fig, path)
