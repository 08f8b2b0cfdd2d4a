import time

import numpy as np
import pytest

from discovery.batch import BatchError, select_batch
from discovery.composition import CompositionMatrix
from discovery.space import SearchSpace


@pytest.fixture(scope="module")
def ternary():
    """Al-Cu-Zr ternaries at 1 at.% with a smooth score peaked at Al10Cu45Zr45."""
    space = SearchSpace(["Al", "Cu", "Zr"], min_components=3)
    cands = next(space.iter_chunks())
    peak = np.array([0.10, 0.45, 0.45])
    scores = -np.sum((cands.fractions - peak) ** 2, axis=1)
    return cands, scores


def min_pairwise(x):
    d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    d[np.eye(len(x), dtype=bool)] = np.inf
    return d.min()


def test_pure_greedy_is_top_k(ternary):
    cands, scores = ternary
    idx = select_batch(cands, scores, 10, diversity=0.0)
    assert set(idx) == set(np.argsort(-scores, kind="stable")[:10])
    assert cands.canonical_names()[idx[0]] == "Al10Cu45Zr45"


def test_diversity_spreads_the_batch(ternary):
    cands, scores = ternary
    greedy = select_batch(cands, scores, 10, diversity=0.0)
    spread = select_batch(cands, scores, 10, diversity=0.5)
    d_greedy = min_pairwise(cands.fractions[greedy])
    d_spread = min_pairwise(cands.fractions[spread])
    assert d_greedy < 0.02  # neighbours one grid step apart
    assert d_spread > 5 * d_greedy
    assert spread[0] == greedy[0]  # the best point is still picked first
    more = min_pairwise(cands.fractions[select_batch(cands, scores, 10, diversity=1.0)])
    assert more >= d_spread * 0.9


def test_min_distance_is_a_hard_floor(ternary):
    cands, scores = ternary
    idx = select_batch(cands, scores, 8, diversity=0.0, min_distance=0.1)
    assert len(idx) == 8 and min_pairwise(cands.fractions[idx]) >= 0.1


def test_excluded_and_duplicate_names_are_never_proposed(ternary):
    cands, scores = ternary
    names = cands.canonical_names()
    top = [names[i] for i in np.argsort(-scores)[:30]]
    exclude = set(top[:25])
    for diversity in (0.0, 0.5):
        idx = select_batch(cands, scores, 10, exclude=exclude, diversity=diversity)
        assert not exclude & {names[i] for i in idx}
    # the same composition twice (e.g. two routes to one alloy) is proposed at most once
    doubled = CompositionMatrix(cands.elements, np.vstack([cands.fractions, cands.fractions]))
    idx = select_batch(doubled, np.concatenate([scores, scores]), 20, diversity=0.0)
    doubled_names = doubled.canonical_names()
    assert len(set(doubled_names[i] for i in idx)) == 20
    # everything excluded except three candidates -> only those three come back
    keep = set(names[:3])
    idx = select_batch(cands, scores, 10, exclude=set(names) - keep, pool_size=10)
    assert sorted(names[i] for i in idx) == sorted(keep)


def test_non_finite_scores_are_ineligible(ternary):
    cands, scores = ternary
    s = scores.copy()
    best = int(np.argmax(s))
    s[best] = -np.inf
    s[best + 1] = np.nan
    idx = select_batch(cands, s, 20, diversity=0.3)
    assert best not in idx and best + 1 not in idx
    with pytest.raises(BatchError):
        select_batch(cands, np.full(len(cands), np.inf), 2)


def test_deterministic_and_explore_share(ternary):
    cands, scores = ternary
    a = select_batch(cands, scores, 10, diversity=0.5, explore_fraction=0.4, rng=11)
    b = select_batch(cands, scores, 10, diversity=0.5, explore_fraction=0.4, rng=np.random.default_rng(11))
    assert np.array_equal(a, b) and len(a) == 10 and len(set(a)) == 10
    exploit_only = select_batch(cands, scores, 6, diversity=0.5)
    assert np.array_equal(a[:6], exploit_only)  # exploit picks first, then 4 random ones
    c = select_batch(cands, scores, 10, diversity=0.5, explore_fraction=0.4, rng=12)
    assert not np.array_equal(a[6:], c[6:])
    # exploration by uncertainty: the most uncertain candidate is picked
    unc = np.zeros(len(cands))
    far = int(np.argmin(scores))
    unc[far] = 1.0
    d = select_batch(cands, scores, 5, diversity=0.5, explore_fraction=0.2, uncertainty=unc)
    assert d[-1] == far


def test_other_chemical_systems_count_as_far():
    space = SearchSpace.from_systems(["Cu-Zr", "Al-Ni"], step=1)
    cands = next(space.iter_chunks())
    x = cands.fractions
    cu = x[:, cands.elements.index("Cu")]
    # Cu-Zr scores higher everywhere, peaked at Cu50Zr50; Al-Ni is slightly worse
    scores = np.where(cu > 0, 1.0 - np.abs(cu - 0.5), 0.9 - np.abs(x[:, cands.elements.index("Al")] - 0.5))
    systems = cands.systems()
    idx = select_batch(cands, scores, 2, diversity=0.5)
    assert {systems[i] for i in idx} == {"Cu-Zr", "Al-Ni"}
    plain = select_batch(cands, scores, 2, diversity=0.0)
    assert {systems[i] for i in plain} == {"Cu-Zr"}

    # Cu-Zr and Al-Cu-Zr: Al1Cu49Zr50 is 0.014 from Cu50Zr50 in fraction space but in
    # another system, so it is not penalized unless cross-system distance is switched off
    space = SearchSpace.from_systems(["Cu-Zr", "Al-Cu-Zr"], step=1)
    cands = next(space.iter_chunks())
    scores = -np.sum((cands.fractions - [0.0, 0.5, 0.5]) ** 2, axis=1)
    names = cands.canonical_names()
    first, second = select_batch(cands, scores, 2, diversity=0.5)
    assert names[first] == "Cu50Zr50" and cands.systems()[second] == "Al-Cu-Zr"
    assert np.linalg.norm(cands.fractions[first] - cands.fractions[second]) < 0.03
    first, second = select_batch(cands, scores, 2, diversity=0.5, cross_system_distance=None)
    assert np.linalg.norm(cands.fractions[first] - cands.fractions[second]) > 0.1


def test_bad_arguments(ternary):
    cands, scores = ternary
    with pytest.raises(BatchError):
        select_batch(cands, scores[:-1], 3)
    with pytest.raises(BatchError):
        select_batch(cands, scores, -1)
    with pytest.raises(BatchError):
        select_batch(cands, scores, 3, diversity=1.5)
    with pytest.raises(BatchError):
        select_batch(cands, scores, 3, explore_fraction=-0.1)
    assert select_batch(cands, scores, 0).size == 0


def test_a_million_candidates_in_seconds():
    rng = np.random.default_rng(0)
    n = 1_000_000
    raw = rng.integers(1, 40, size=(n, 4)).astype(float)
    cands = CompositionMatrix(("Al", "Cu", "Ni", "Zr"), raw / raw.sum(1, keepdims=True))
    scores = rng.random(n)
    t0 = time.perf_counter()
    idx = select_batch(cands, scores, 100, diversity=0.5, explore_fraction=0.2, rng=0)
    elapsed = time.perf_counter() - t0
    assert len(idx) == 100 and len(set(idx)) == 100
    assert elapsed < 10.0
