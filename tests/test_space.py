import itertools
import json
import math
import time
import tracemalloc

import numpy as np
import pytest
from scipy.stats import chisquare

from discovery.composition import CompositionMatrix, parse_composition
from discovery.space import SearchSpace, SpaceError

THIRTY = [
    "Ag", "Al", "Au", "B", "Be", "C", "Ca", "Ce", "Co", "Cr", "Cu", "Fe", "Gd", "Hf", "La",
    "Mg", "Mn", "Mo", "Nb", "Nd", "Ni", "Pd", "Si", "Sn", "Ta", "Ti", "V", "Y", "Zn", "Zr",
]


def enumerate_all(space, chunk_size=100_000):
    chunks = list(space.iter_chunks(chunk_size))
    if not chunks:
        return np.zeros((0, len(space.elements)))
    return np.concatenate([c.fractions for c in chunks])


def brute_force(space):
    """Independent count: every integer vector on the grid, filtered by the rules."""
    n = space.divisions
    els = space.elements
    count = 0
    for k in itertools.product(range(n + 1), repeat=len(els)):
        if sum(k) != n:
            continue
        d = dict(zip(els, k))
        present = {e for e, v in d.items() if v > 0}
        if not space.min_components <= len(present) <= space.max_components:
            continue
        if present & set(space.forbidden) or not set(space.required) <= present:
            continue
        if space.systems is not None and tuple(sorted(present)) not in space.systems:
            continue
        if any(not lo - 1e-9 <= d[e] * space.step <= hi + 1e-9 for e, (lo, hi) in space.bounds.items()):
            continue
        count += 1
    return count


SMALL_SPACES = [
    dict(elements=["Cu", "Zr", "Al"], step=10, min_components=1),
    dict(elements=["Cu", "Zr", "Al", "Ni"], step=5, max_components=4),
    dict(elements=["Cu", "Zr", "Al", "Ni"], step=5, bounds={"Zr": (30, 60), "Al": (0, 10)}, max_components=4),
    dict(elements=["Cu", "Zr", "Al", "Ni", "Ti"], step=10, required=["Zr"], forbidden=["Ti"], max_components=3),
    dict(elements=["Cu", "Zr", "Al", "Ni"], step=12.5, bounds={"Cu": (20, 40)}, min_components=3, max_components=4),
    dict(elements=["Cu", "Zr", "Al", "Ni"], step=10, bounds={"Al": (0.5, 100)}, max_components=2),
]


@pytest.mark.parametrize("kwargs", SMALL_SPACES)
def test_size_matches_enumeration_and_brute_force(kwargs):
    space = SearchSpace(**kwargs)
    pts = enumerate_all(space, chunk_size=37)
    assert space.size() == len(pts) == brute_force(space)
    names = CompositionMatrix(space.elements, pts).canonical_names()
    assert len(set(names)) == len(names)
    assert space.contains_matrix(CompositionMatrix(space.elements, pts)).all()


def test_points_respect_every_constraint():
    space = SearchSpace(
        ["Al", "Cu", "Ni", "Ti", "Zr", "Hf"],
        required=["Zr"],
        forbidden=["Hf"],
        min_components=2,
        max_components=4,
        bounds={"Zr": (30, 70), "Al": (0, 10)},
        step=2,
    )
    pts = enumerate_all(space, chunk_size=5000)
    assert len(pts) == space.size() > 0
    assert np.abs(pts.sum(axis=1) - 1).max() <= 1e-12
    idx = {e: j for j, e in enumerate(space.elements)}
    assert list(space.elements) == sorted(space.elements)
    pct = 100 * pts
    assert (pct[:, idx["Zr"]] >= 30 - 1e-9).all() and (pct[:, idx["Zr"]] <= 70 + 1e-9).all()
    assert (pct[:, idx["Al"]] <= 10 + 1e-9).all()
    assert (pts[:, idx["Hf"]] == 0).all()
    present = pts > 0
    assert ((present.sum(1) >= 2) & (present.sum(1) <= 4)).all()
    assert (pct[present] >= 2 - 1e-9).all()  # present means at least one step
    assert np.allclose(pct / 2, np.round(pct / 2), atol=1e-9)  # on the grid


def test_chunks_never_exceed_chunk_size():
    space = SearchSpace(["Al", "Cu", "Ni", "Zr"], max_components=4, min_components=4, step=2)
    sizes = [len(c) for c in space.iter_chunks(1000)]
    assert max(sizes) == 1000 and all(s == 1000 for s in sizes[:-1])
    assert sum(sizes) == space.size() == math.comb(50 - 1, 3)


def test_huge_space_first_chunk_fast_and_small():
    space = SearchSpace(THIRTY, min_components=2, max_components=5, step=1)
    expected = sum(math.comb(30, c) * math.comb(99, c - 1) for c in range(2, 6))
    assert space.size() == expected > 5e11
    tracemalloc.start()
    t0 = time.perf_counter()
    chunks = space.iter_chunks(100_000)
    first = next(chunks)
    second = next(chunks)
    elapsed = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert first.fractions.shape == (100_000, 30) and len(second) == 100_000
    assert elapsed < 5.0
    assert peak < 200e6
    # a single subset larger than a chunk (quinaries: C(99, 4) = 3.7M points each)
    quinary = SearchSpace(THIRTY, min_components=5, max_components=5)
    chunk = next(quinary.iter_chunks(50_000))
    assert len(chunk) == 50_000 and ((chunk.fractions > 0).sum(1) == 5).all()
    assert np.abs(chunk.fractions.sum(1) - 1).max() <= 1e-12


def test_size_exact_beyond_int64():
    space = SearchSpace(THIRTY, min_components=5, max_components=5, step=0.01)
    assert space.size() == math.comb(30, 5) * math.comb(9999, 4) > 2**63


def test_sample_uniform_over_grid_points():
    space = SearchSpace(["Cu", "Zr", "Al"], step=10, min_components=1, bounds={"Zr": (0, 60)})
    allpts = enumerate_all(space)
    names = CompositionMatrix(space.elements, allpts).canonical_names()
    draws = space.sample(30 * len(names), rng=1)
    assert space.contains_matrix(draws).all()
    counts = {n: 0 for n in names}
    for n in draws.canonical_names():
        counts[n] += 1
    assert chisquare(list(counts.values())).pvalue > 1e-4


def test_sample_constraints_determinism_and_distinct():
    space = SearchSpace(
        THIRTY, required=["Zr"], forbidden=["Be"], max_components=5, bounds={"Zr": (20, 70), "Cu": (0, 30)}
    )
    a = space.sample(20_000, rng=7)
    b = space.sample(20_000, rng=np.random.default_rng(7))
    assert np.array_equal(a.fractions, b.fractions)
    assert space.contains_matrix(a).all()
    assert np.abs(a.fractions.sum(1) - 1).max() <= 1e-12
    small = SearchSpace(["Cu", "Zr"], step=10)
    distinct = small.sample(9, rng=0, replace=False)
    assert len(set(distinct.canonical_names())) == 9
    with pytest.raises(SpaceError):
        small.sample(10, rng=0, replace=False)
    many = space.sample(2000, rng=0, replace=False)
    assert len(set(many.canonical_names())) == 2000


def test_continuous_sampling():
    space = SearchSpace(["Al", "Cu", "Ni", "Zr"], step=None, max_components=4, bounds={"Zr": (30, 60), "Al": (0, 10)})
    x = space.sample(5000, rng=0)
    assert space.contains_matrix(x).all()
    assert np.abs(x.fractions.sum(1) - 1).max() <= 1e-12
    zr = x.fractions[:, x.elements.index("Zr")]
    assert zr.min() >= 0.3 - 1e-12 and zr.max() <= 0.6 + 1e-12
    assert set((x.fractions > 0).sum(1)) == {2, 3, 4}
    with pytest.raises(SpaceError):
        space.size()
    with pytest.raises(SpaceError):
        next(space.iter_chunks())


def test_contains():
    space = SearchSpace(["Al", "Cu", "Zr", "Ni"], forbidden=["Ni"], bounds={"Zr": (40, 60)}, step=5)
    assert space.contains("Cu50Zr50")
    assert space.contains(parse_composition("Al5Cu45Zr50"))
    assert space.contains({"Cu": 0.45, "Zr": 0.45, "Al": 0.10})
    assert not space.contains("Cu51Zr49")  # off the 5 at.% grid
    assert not space.contains("Cu30Zr70")  # Zr bound
    assert not space.contains("Ni50Zr50")  # forbidden
    assert not space.contains("Fe50Zr50")  # not an element of the space
    assert not space.contains("Zr100")  # one component < min_components
    assert not space.contains("Al5Cu40Zr50Ni5")


def test_from_systems_is_exactly_those_systems():
    space = SearchSpace.from_systems(["Cu-Zr", "Al-Ni-Zr", "Zr-Cu"], step=1)
    assert space.systems == (("Al", "Ni", "Zr"), ("Cu", "Zr"))
    assert (space.min_components, space.max_components) == (2, 3)
    pts = enumerate_all(space)
    assert space.size() == len(pts) == 99 + math.comb(99, 2)
    systems = set(CompositionMatrix(space.elements, pts).systems())
    assert systems == {"Cu-Zr", "Al-Ni-Zr"}
    assert not space.contains("Al50Zr50")  # a subsystem, not one of the listed systems
    assert space.contains("Al10Ni20Zr70")
    assert space.contains_matrix(space.sample(500, rng=0)).all()
    dropped = SearchSpace.from_systems(["Cu-Zr", "Be-Cu-Zr"], step=10, forbidden=["Be"])
    assert dropped.size() == 9


def test_serialization_round_trip():
    space = SearchSpace(
        ["Zr", "Cu", "Al"], required=["Zr"], bounds={"Al": (0, 15)}, max_components=3, step=0.5
    )
    data = json.loads(json.dumps(space.to_dict()))
    assert data["format"] == "vitrify.search_space/1"
    assert data["elements"] == ["Al", "Cu", "Zr"] and data["bounds"] == {"Al": [0.0, 15.0]}
    again = SearchSpace.from_dict(data)
    assert again == space and hash(again) == hash(space)
    sys_space = SearchSpace.from_systems(["Cu-Zr"], step=None)
    assert SearchSpace.from_dict(json.loads(json.dumps(sys_space.to_dict()))) == sys_space
    with pytest.raises(SpaceError):
        SearchSpace.from_dict({**data, "colour": "red"})
    with pytest.raises(SpaceError):
        SearchSpace.from_dict({**data, "format": "other/9"})


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(elements=["Cu", "Xx"]), "elements"),
        (dict(elements=["Cu", "Cu", "Zr"]), "elements"),
        (dict(elements=["Cu", "Zr"], required=["Al"]), "required"),
        (dict(elements=["Cu", "Zr", "Al"], required=["Al"], forbidden=["Al"]), "required"),
        (dict(elements=["Cu", "Zr"], max_components=6), "max_components"),
        (dict(elements=["Cu", "Zr"], min_components=3), "elements"),
        (dict(elements=["Cu", "Zr", "Al", "Ni"], min_components=4, max_components=3), "min_components"),
        (dict(elements=["Cu", "Zr"], min_components=0), "min_components"),
        (dict(elements=["Cu", "Zr"], step=3), "step"),
        (dict(elements=["Cu", "Zr"], step=0.001), "step"),
        (dict(elements=["Cu", "Zr"], bounds={"Cu": (60, 40)}), "bounds"),
        (dict(elements=["Cu", "Zr"], bounds={"Al": (0, 10)}), "bounds"),
        (dict(elements=["Cu", "Zr"], bounds={"Cu": (0, 10), "Zr": (0, 10)}), "bounds"),
        (dict(elements=["Cu", "Zr", "Al", "Ni"], required=["Cu", "Zr"], bounds={"Al": (5, 10)}, max_components=2),
         "max_components"),
        (dict(elements=["Cu", "Zr", "Al"], forbidden=["Al"], bounds={"Al": (5, 10)}), "bounds"),
    ],
)
def test_invalid_spaces_raise_space_error(kwargs, field):
    with pytest.raises(SpaceError) as info:
        SearchSpace(**kwargs)
    assert info.value.field == field
