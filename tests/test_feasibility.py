"""discovery.feasibility: P(an evaluation succeeds), multiplied into the acquisition."""

import numpy as np
import pytest

from discovery.acquisition import acquire
from discovery.composition import CompositionMatrix
from discovery.feasibility import FeasibilityModel


def _grid(elements, step=0.1):
    rows = []
    for a in np.arange(step, 1.0, step):
        for j in range(1, len(elements)):
            r = np.zeros(len(elements))
            r[0], r[j] = a, 1 - a
            rows.append(r)
    return CompositionMatrix(tuple(elements), np.array(rows))


def test_no_data_gives_the_prior():
    m = _grid(["Cu", "Zr", "Ti"])
    empty = CompositionMatrix(("Cu", "Zr"), np.zeros((0, 2)))
    assert np.all(FeasibilityModel().fit(empty, []).predict_feasible(m) == 1.0)
    assert np.all(FeasibilityModel(prior_feasible=0.8).fit(empty, []).predict_feasible(m) == 0.8)


def test_one_class_gives_the_smoothed_observed_rate():
    m = _grid(["Cu", "Zr", "Ti"])
    ok = FeasibilityModel().fit(m, np.zeros(len(m), bool)).predict_feasible(m)
    assert np.allclose(ok, (len(m) + 1) / (len(m) + 2))
    bad = FeasibilityModel().fit(m, np.ones(len(m), bool)).predict_feasible(m)
    assert np.allclose(bad, 1 / (len(m) + 2))


def test_learns_element_specific_crashes_and_demotes_them_in_the_acquisition():
    # simulations with W crash (no potential), the others run
    train = _grid(["Cu", "Zr", "W", "Ti"], step=0.05)
    crashed = train.fractions[:, 2] > 0
    model = FeasibilityModel().fit(train, crashed)
    test = _grid(["Cu", "W", "Ni"], step=0.07)  # new compositions; Ni unseen in training
    p = model.predict_feasible(test)
    assert p.shape == (len(test),) and np.all((0 <= p) & (p <= 1))
    has_w = test.fractions[:, 1] > 0
    assert p[has_w].max() < 0.3 and p[~has_w].min() > 0.5
    # equal glass probabilities: the feasible candidates rank first after weighting
    mean = np.full(len(test), 0.6)
    scores = acquire("ucb", p_feasible=p, mean=mean, std=np.full(len(test), 0.1), kappa=1.0)
    top = np.argsort(-scores)[: int((~has_w).sum())]
    assert not has_w[top].any()


def test_unfeaturizable_rows_get_the_rate_and_bad_input_fails():
    train = _grid(["Cu", "Zr", "W"], step=0.1)
    model = FeasibilityModel().fit(train, train.fractions[:, 2] > 0)
    odd = CompositionMatrix(("Ge", "Te"), np.array([[0.5, 0.5]]))  # no Ge-Te mixing enthalpy
    assert model.predict_feasible(odd)[0] == pytest.approx(model.rate_)
    with pytest.raises(ValueError):
        model.fit(train, [True])
    with pytest.raises(RuntimeError):
        FeasibilityModel().predict_feasible(train)


def test_campaign_feasibility_reads_finished_simulation_jobs(engine):
    """agents.loop.simulation_feasibility on a real database: crashed vs succeeded simulation
    jobs (synthetic compositions) give a lower P(runs) next to the crashes."""
    from agents.loop import simulation_feasibility
    from db.compositions import get_or_create_compositions
    from db.models import FailureKind, Job, JobKind, JobStatus
    from db.session import session_scope
    from discovery.composition import parse_composition

    crashing = [parse_composition(f"Cu{x}Zr{100 - x}") for x in range(20, 80, 5)]
    running = [parse_composition(f"Al{x}Ni{100 - x}") for x in range(20, 80, 5)]
    with session_scope(engine) as s:
        rows = get_or_create_compositions(s, crashing + running)
        for comp in crashing + running:
            crashed = comp in crashing
            s.add(Job(kind=JobKind.SIMULATION.value, composition_id=rows[comp.canonical].id, processing="other",
                      status=(JobStatus.FAILED if crashed else JobStatus.SUCCEEDED).value,
                      failure_kind=FailureKind.SIMULATION_CRASHED.value if crashed else None))
    with session_scope(engine) as s:
        p = simulation_feasibility(s, [parse_composition("Cu50Zr50"), parse_composition("Al50Ni50")])
    assert p.shape == (2,) and p[0] < p[1]
