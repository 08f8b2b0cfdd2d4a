"""Analysis helpers of the MD engine: atom counts, Voigt-Reuss-Hill, Tg kink, Voronoi indices."""

from __future__ import annotations

import numpy as np
import pytest

from agents.simulation import analysis


def test_atom_counts_sum_and_keep_minor_elements():
    c = analysis.atom_counts({"Cu": 0.5, "Zr": 0.45, "Al": 0.05}, 256)
    assert c == {"Al": 13, "Cu": 128, "Zr": 115}
    c = analysis.atom_counts({"Cu": 0.499, "Zr": 0.499, "Al": 0.002}, 100)
    assert sum(c.values()) == 100 and c["Al"] == 1
    with pytest.raises(ValueError):
        analysis.atom_counts({"Cu": 0.5, "Zr": 0.5}, 1)


def test_vrh_of_isotropic_and_cubic_stiffness():
    iso = analysis.voigt_reuss_hill(analysis.isotropic_stiffness(110.0, 30.0))
    assert iso.K_voigt == pytest.approx(110) and iso.K_reuss == pytest.approx(110)
    assert iso.G == pytest.approx(30)
    assert iso.E == pytest.approx(9 * 110 * 30 / (3 * 110 + 30))
    assert iso.poisson == pytest.approx((3 * 110 - 60) / (2 * (330 + 30)))
    # cubic Cu (C11, C12, C44 = 168.4, 121.4, 75.4 GPa): textbook Voigt / Reuss shear moduli
    C = np.zeros((6, 6))
    C[:3, :3] = 121.4
    C[range(3), range(3)] = 168.4
    C[range(3, 6), range(3, 6)] = 75.4
    cu = analysis.voigt_reuss_hill(C)
    assert cu.K == pytest.approx((168.4 + 2 * 121.4) / 3)
    assert cu.G_voigt == pytest.approx((168.4 - 121.4 + 3 * 75.4) / 5)
    assert cu.G_reuss == pytest.approx(5 * (168.4 - 121.4) * 75.4 / (4 * 75.4 + 3 * (168.4 - 121.4)))


def test_kink_fit_finds_the_break_point():
    rng = np.random.default_rng(1)
    T = np.linspace(300, 2000, 170)
    tg = 780.0
    V = 17.0 + 4e-4 * (T - tg) + 5e-4 * np.maximum(T - tg, 0) + rng.normal(0, 0.01, T.size)
    fit = analysis.kink_fit(T, V)
    assert fit.tg == pytest.approx(tg, abs=40)
    assert fit.slope_high > fit.slope_low
    straight = analysis.kink_fit(T, 17 + 4e-4 * T + rng.normal(0, 1e-4, T.size))
    assert straight.tg is None or straight.slope_high - straight.slope_low < 1e-5


def _lattice(kind: str, n: int, a: float) -> np.ndarray:
    basis = {"fcc": [(0, 0, 0), (0.5, 0.5, 0), (0.5, 0, 0.5), (0, 0.5, 0.5)], "bcc": [(0, 0, 0), (0.5, 0.5, 0.5)]}[kind]
    cells = np.array([(i, j, k) for i in range(n) for j in range(n) for k in range(n)], dtype=float)
    return np.vstack([(cells + b) * a for b in basis])


def test_voronoi_indices_of_fcc_and_bcc():
    fcc = analysis.voronoi_indices(_lattice("fcc", 4, 3.6), np.zeros(3), np.full(3, 14.4))
    assert {analysis.VoronoiAnalysis.key(ix) for ix in fcc.indices} == {"<0,12,0,0>"}
    bcc = analysis.voronoi_indices(_lattice("bcc", 4, 3.0) + 0.01, np.zeros(3), np.full(3, 12.0))
    assert {analysis.VoronoiAnalysis.key(ix) for ix in bcc.indices} == {"<0,6,0,8>"}
    assert not fcc.is_icosahedral().any()


def test_voronoi_in_a_tilted_box_matches_the_orthogonal_one():
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 12, size=(120, 3))
    ortho = analysis.voronoi_indices(x, np.zeros(3), np.full(3, 12.0))
    # the same periodic point set described by a sheared cell (xy tilt of one box length)
    tilted = analysis.voronoi_indices(x, np.zeros(3), np.full(3, 12.0), tilt=(12.0, 0.0, 0.0))
    assert ortho.indices == tilted.indices
    # Euler: every face is shared by two cells, so total faces are even
    assert ortho.n_faces.sum() % 2 == 0


def test_voronoi_summary_shapes():
    x = _lattice("fcc", 3, 3.6)
    v = analysis.voronoi_indices(x, np.zeros(3), np.full(3, 10.8))
    types = np.array([1, 2] * (len(x) // 2))
    s = analysis.voronoi_summary(v, types, ["Cu", "Zr"])
    assert s["histogram"] == [{"index": "<0,12,0,0>", "fraction": 1.0}]
    assert s["icosahedral_fraction"] == 0.0 and s["mean_coordination"] == 12.0
    assert s["by_center"]["Zr"]["n_atoms"] == len(x) // 2
