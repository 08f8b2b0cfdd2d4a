import numpy as np
import pytest

from discovery.acquisition import (
    ACQUISITIONS,
    AcquisitionError,
    acquire,
    expected_hypervolume_improvement,
    expected_improvement,
    expected_improvement_mc,
    exploit,
    feasibility_weighted,
    hypervolume_2d,
    hypervolume_improvement,
    max_uncertainty,
    pareto_front_mask,
    pareto_rank,
    probability_of_improvement,
    thompson_sampling,
    upper_confidence_bound,
)


def test_simple_scores():
    mean = np.array([0.2, 0.9, 0.5])
    std = np.array([0.3, 0.0, 0.1])
    assert np.array_equal(exploit(mean), mean)
    assert np.allclose(upper_confidence_bound(mean, std, kappa=2.0), [0.8, 0.9, 0.7])
    assert np.array_equal(max_uncertainty(std), std)
    assert np.allclose(probability_of_improvement(mean, std, best=0.5), [0.158655254, 1.0, 0.5])


def test_expected_improvement_closed_form_matches_monte_carlo():
    rng = np.random.default_rng(0)
    mean = np.array([0.0, 0.5, 1.0, -1.0, 0.3])
    std = np.array([1.0, 0.2, 0.5, 0.3, 0.0])
    best = 0.4
    samples = rng.normal(mean, std, size=(400_000, mean.size))
    mc = np.maximum(samples - best, 0).mean(axis=0)
    closed = expected_improvement(mean, std, best)
    assert np.allclose(closed, mc, atol=3e-3)
    # hand values: z = 0 gives sigma * phi(0); sigma = 0 gives the plain improvement
    assert expected_improvement([1.0], [2.0], 1.0)[0] == pytest.approx(2.0 / np.sqrt(2 * np.pi))
    assert closed[4] == 0.0 and expected_improvement([0.7], [0.0], 0.4)[0] == pytest.approx(0.3)
    # the member-based estimator agrees with the samples it is given
    assert np.allclose(expected_improvement_mc(samples[:1000], best), np.maximum(samples[:1000] - best, 0).mean(0))
    assert (expected_improvement(mean, std, best, xi=0.1) <= closed + 1e-15).all()


def test_thompson_sampling_picks_members_deterministically():
    members = np.arange(12.0).reshape(4, 3)
    a = thompson_sampling(members, rng=3)
    assert any(np.array_equal(a, row) for row in members)
    assert np.array_equal(a, thompson_sampling(members, rng=np.random.default_rng(3)))
    slots = thompson_sampling(members, rng=0, slots=50)
    assert slots.shape == (50, 3)
    assert len({tuple(r) for r in slots}) > 1


def test_pareto_rank_small_known_set():
    pts = np.array(
        [
            [3.0, 1.0],  # front 0
            [1.0, 3.0],  # front 0
            [2.0, 2.0],  # front 0
            [1.0, 1.0],  # dominated by (2, 1), which is itself dominated -> 2
            [2.0, 1.0],  # dominated by (3, 1) and (2, 2) only -> 1
            [0.5, 0.5],  # dominated by (1, 1) -> 3
            [2.0, 2.0],  # duplicate of a front point: same rank
        ]
    )
    assert pareto_rank(pts).tolist() == [0, 0, 0, 2, 1, 3, 0]
    assert pareto_front_mask(pts).tolist() == [True, True, True, False, False, False, True]
    # minimizing both reverses the order of the chain
    assert pareto_rank(pts, maximize=False)[5] == 0
    assert pareto_rank(-pts, maximize=(False, False)).tolist() == pareto_rank(pts).tolist()


def _brute_rank(p):
    n = len(p)
    rank = np.full(n, -1)
    remaining = set(range(n))
    r = 0
    while remaining:
        front = [
            i for i in remaining if not any((p[j] >= p[i]).all() and (p[j] > p[i]).any() for j in remaining)
        ]
        rank[front] = r
        remaining -= set(front)
        r += 1
    return rank


def test_pareto_rank_matches_brute_force_and_scales():
    rng = np.random.default_rng(1)
    for _ in range(50):
        p = rng.integers(0, 5, size=(rng.integers(1, 30), 2)).astype(float)
        mx = tuple(bool(b) for b in rng.random(2) < 0.5)
        assert np.array_equal(pareto_rank(p, mx), _brute_rank(p * np.where(mx, 1, -1)))
    big = rng.random((100_000, 2))
    ranks = pareto_rank(big)
    assert ranks.shape == (100_000,) and ranks.min() == 0


def test_hypervolume_of_known_front():
    front = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]])
    assert hypervolume_2d(front, [0.0, 0.0]) == pytest.approx(6.0)
    assert hypervolume_2d(np.vstack([front, [[0.5, 0.5]]]), [0.0, 0.0]) == pytest.approx(6.0)
    assert hypervolume_2d(-front, [0.0, 0.0], maximize=False) == pytest.approx(6.0)
    assert hypervolume_2d(front, [1.0, 1.0]) == pytest.approx(1.0)  # only (2, 2) beats the reference
    assert hypervolume_2d(np.zeros((0, 2)), [0.0, 0.0]) == 0.0
    # (2.5, 2.5) adds the L-shaped strips 1.5 * 0.5 + 0.5 * 1.0 = 1.25 (HV 7.25 vs 6)
    gains = hypervolume_improvement(np.array([[2.5, 2.5], [0.5, 0.5], [4.0, 4.0], [-1.0, 5.0]]), front, [0.0, 0.0])
    assert np.allclose(gains, [1.25, 0.0, 16.0 - 6.0, 0.0])


def test_hypervolume_improvement_equals_difference_of_volumes():
    rng = np.random.default_rng(2)
    for _ in range(100):
        front = rng.random((rng.integers(0, 8), 2))
        ref = np.array([0.1, 0.05])
        q = rng.random((20, 2)) * 1.2 - 0.1
        base = hypervolume_2d(front, ref)
        expected = [hypervolume_2d(np.vstack([front, p[None]]), ref) - base for p in q]
        assert np.allclose(hypervolume_improvement(q, front, ref), expected, atol=1e-12)


def test_expected_hypervolume_improvement_monte_carlo():
    front = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]])
    ref = [0.0, 0.0]
    # two members, two candidates: EHVI is the mean of the members' exact HVI
    samples = np.array([[[2.5, 2.5], [0.5, 0.5]], [[4.0, 4.0], [0.5, 0.5]]])
    assert np.allclose(expected_hypervolume_improvement(samples, front, ref), [(1.25 + 10.0) / 2, 0.0])
    assert np.allclose(expected_hypervolume_improvement(samples, np.zeros((0, 2)), ref), [(6.25 + 16) / 2, 0.25])


def test_feasibility_weighting():
    score = np.array([1.0, 2.0, 0.0])
    p = np.array([0.5, 0.1, 1.0])
    assert np.allclose(feasibility_weighted(score, p), [0.5, 0.2, 0.0])
    signed = feasibility_weighted(np.array([-1.0, 1.0]), np.array([1.0, 0.0]))
    assert signed[0] > signed[1]  # a certain crash ranks last even with a higher raw score
    with pytest.raises(AcquisitionError):
        feasibility_weighted(score, np.array([0.5, 1.5, 0.0]))


def test_registry_and_acquire():
    assert {"exploit", "ucb", "ei", "pi", "uncertainty", "thompson", "pareto", "ehvi"} <= set(ACQUISITIONS)
    mean = np.array([0.1, 0.6, 0.4])
    std = np.array([0.2, 0.1, 0.3])
    members = np.array([[0.0, 0.5, 0.7], [0.2, 0.7, 0.1]])
    arrays = dict(mean=mean, std=std, members=members, best=0.5)
    for name in ("exploit", "ucb", "ei", "pi", "uncertainty", "ei_mc"):
        assert acquire(name, **arrays).shape == (3,)
    assert np.allclose(acquire("ucb", **arrays, kappa=1.0), mean + std)
    assert np.allclose(acquire("ei", **arrays), expected_improvement(mean, std, 0.5))
    assert np.array_equal(acquire("thompson", **arrays, rng=4), thompson_sampling(members, rng=4))
    assert np.allclose(acquire("ei", **arrays, p_feasible=np.array([1.0, 0.5, 0.0]))[2], 0.0)
    two = np.array([[1.0, 3.0], [2.0, 2.0], [0.5, 0.5]])
    assert acquire("pareto", mean=two).tolist() == [0.0, 0.0, -1.0]
    samples = np.stack([two, two])
    assert np.allclose(acquire("ehvi", member_samples=samples, front=np.zeros((0, 2)), reference=[0, 0]), [3, 4, 0.25])
    with pytest.raises(AcquisitionError, match="unknown acquisition"):
        acquire("nope", **arrays)
    with pytest.raises(AcquisitionError, match="unknown parameter"):
        acquire("ucb", **arrays, kapa=1.0)
    with pytest.raises(AcquisitionError, match="missing"):
        acquire("ei", mean=mean, std=std)


@pytest.mark.parametrize(
    "call",
    [
        lambda: upper_confidence_bound([1.0, 2.0], [0.1]),
        lambda: upper_confidence_bound([1.0], [-0.1]),
        lambda: expected_improvement([np.nan], [0.1], 0.0),
        lambda: exploit(np.zeros((2, 2))),
        lambda: pareto_rank(np.zeros((3, 3))),
        lambda: expected_hypervolume_improvement(np.zeros((3, 2)), np.zeros((0, 2)), [0, 0]),
        lambda: thompson_sampling(np.zeros(3)),
    ],
)
def test_bad_inputs_raise(call):
    with pytest.raises(AcquisitionError):
        call()
