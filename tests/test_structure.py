"""Softness and motif analysis (discovery.structure) on real, small LAMMPS runs of the
Kob-Andersen mixture: p_hop finds a real jump, structure functions are translation-invariant
and species-resolved, the SVM beats chance on frames it never saw, the 50 % cap holds, and the
motif clusters partition the atoms."""

import json

import numpy as np
import pytest

from agents.simulation.analysis import voronoi_indices
from agents.simulation.trajectory import kob_andersen
from discovery import structure as st
from discovery import structure_plots


@pytest.fixture(scope="module")
def ka():
    # a warm liquid (T = 0.6): many rearrangements in a short run; ~5 s of one core
    return kob_andersen(400, 0.6, melt_tau=5, equilibrate_tau=10, production_tau=80, frame_tau=0.5, seed=7)


def test_p_hop_marks_a_jump_and_not_a_rattle():
    rng = np.random.default_rng(0)
    n = 101
    x = rng.normal(0, 0.05, (n, 2, 3))  # two atoms rattling in their cages
    x[50:, 0, 0] += 1.0  # atom 0 hops by one diameter at frame 50
    ph = st.p_hop(x, 10)
    assert np.isnan(ph[:10]).all() and np.isnan(ph[-10:]).all()
    assert int(np.nanargmax(ph[:, 0])) in (49, 50)
    assert np.nanmax(ph[:, 0]) > 0.2 > np.nanmax(ph[:, 1])
    q = st.quiescent(ph, 0.2, 5)
    assert q[30:70, 1].all() and not q[45:55, 0].any()


def test_real_trajectory_is_unwrapped_and_moves(ka):
    assert ka.positions.shape == (161, 400, 3)
    assert np.bincount(ka.types).tolist() == [0, 320, 80]
    msd = ((ka.positions[-1] - ka.positions[0]) ** 2).sum(axis=1).mean()
    assert msd > 0.5  # a liquid at T = 0.6 diffuses beyond its cage in 80 tau (unwrapped: no box jumps)
    assert np.abs(ka.positions[1] - ka.positions[0]).max() < 1.0


def test_structure_functions_are_translation_invariant_and_species_resolved(ka):
    sym = np.where(ka.types == 1, "H", "He")
    F = st.structure_functions(ka.positions[-1], sym, ka.box)
    spec = st.StructureFunctionSpec()
    n_rad = 2 * (1 + len(spec.radial_mu))
    n_ang = 3 * len(spec.angular_xi) * len(spec.angular_zeta) * len(spec.angular_lambda)
    assert F.shape == (400, n_rad + n_ang) and np.isfinite(F).all()
    shifted = st.structure_functions(ka.positions[-1] + np.array([3.3, -1.7, 12.9]), sym, ka.box)
    assert np.allclose(F, shifted, atol=1e-8)
    # G1 per neighbour species: A atoms have far more A neighbours than B neighbours
    g1_a, g1_b = F[:, 0], F[:, 1 + len(spec.radial_mu)]
    assert g1_a[sym == "H"].mean() > 2 * g1_b[sym == "H"].mean()


def test_softness_beats_chance_on_unseen_frames_and_respects_the_cap(ka, tmp_path):
    sym = np.where(ka.types == 1, "H", "He")
    proto = st.SoftnessProtocol(half_window=10, p_c=0.2, quiet_window=10, sample_every=4)
    out = st.softness_from_trajectory(ka.positions, sym, ka.box, proto)
    rep = out["report"]
    train, test = out["protocol"]["train_frames"], out["protocol"]["test_frames"]
    assert set(train).isdisjoint(test) and max(train) < min(test)
    assert rep["n_rearranging"] > 50
    assert rep["classification_accuracy"] > 0.6  # balanced: chance is 0.5
    assert rep["fraction_rearranging_soft"] > rep["fraction_soft"]
    assert rep["fraction_soft"] < 0.6  # capped at 0.5 on the training frames
    # P(R|S) rises with S
    p = rep["p_rearrange_given_s"]["p"]
    assert len(p) >= 3 and p[-1] > p[0]
    model = out["_model"]
    assert set(model.svms) == {"H", "He"} and all(c in (0.001, 0.01, 0.1, 1.0) for c in model.C.values())
    json.dumps({k: v for k, v in out.items() if k not in ("arrays", "_model")})  # JSON-ready
    png = structure_plots.softness_figure({**rep, "arrays": out["arrays"]}, tmp_path / "s.png", title="KA test")
    assert png.stat().st_size > 10_000


def test_motif_clusters_partition_the_atoms(ka, tmp_path):
    L = ka.box
    vor = voronoi_indices(ka.positions[-1] % L, np.zeros(3), L)
    sym = np.where(ka.types == 1, "A", "B")
    sro, labels = st.motif_clusters(vor.indices, sym)
    assert 2 <= sro["k"] <= 8 and len(labels) == 400
    pops = [c["population"] for c in sro["clusters"]]
    assert abs(sum(pops) - 1) < 1e-9 and pops == sorted(pops, reverse=True)
    keys = np.array([vor.key(ix) for ix in vor.indices])
    for c in sro["clusters"]:
        members = keys[labels == c["cluster"]]
        values, counts = np.unique(members, return_counts=True)
        assert c["representative_motif"] == values[np.argmax(counts)]
        assert abs(sum(c["mean_voronoi_index"][:4]) + c["mean_voronoi_index"][4] - c["mean_coordination"]) < 0.05
    shares = st.motif_shares(sro)
    assert shares["motif_1_share"] == pops[0]
    png = structure_plots.motif_figure(sro, tmp_path / "m.png")
    assert png.stat().st_size > 5_000
