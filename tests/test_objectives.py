"""Objectives and constraints as acquisition scores (discovery.objectives, agents.proposer),
checked against hand-computed values and against today's single-objective acquisition."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from agents.config import AGENT_PRESETS, AgentConfig
from agents.proposer import ObjectiveAcquisition, acquisition_scores, propose_batch
from discovery.acquisition import hypervolume_improvement, probability_within
from discovery.models import Scores
from discovery.objectives import (
    Objective,
    ObjectiveError,
    ObjectiveUnavailable,
    ParetoScorer,
    SingleObjectiveScorer,
    constraint_probability,
)
from discovery.properties import Prediction


def _scores(p, unc, e=None, e_std=None, members=None, e_members=None) -> Scores:
    p, unc = np.asarray(p, float), np.asarray(unc, float)
    n = len(p)
    props = {}
    if e is not None:
        props["youngs_modulus_gpa"] = Prediction(np.asarray(e, float), np.asarray(e_std, float),
                                                 None if e_members is None else np.asarray(e_members, float))
    e_arr = np.full(n, np.nan) if e is None else np.asarray(e, float)
    e_std_arr = np.full(n, np.nan) if e_std is None else np.asarray(e_std, float)
    return Scores(np.log(p / (1 - p)), p, unc, e_arr, e_std_arr,
                  members=None if members is None else np.asarray(members, float), properties=props)


def test_probability_within_is_the_normal_probability_of_the_bounds():
    mean, std = np.array([110.0, 90.0, 100.0, np.nan, 95.0]), np.array([10.0, 5.0, 0.0, 3.0, 0.0])
    p = probability_within(mean, std, 100, None)
    assert p[0] == pytest.approx(1 - norm.cdf(-1.0)) and p[1] == pytest.approx(1 - norm.cdf(2.0))
    assert p[2] == 1.0 and p[3] == 0.0 and p[4] == 0.0  # std 0: the bound on the mean; NaN: never assumed met
    both = probability_within(np.array([50.0]), np.array([10.0]), 40, 70)
    assert both[0] == pytest.approx(norm.cdf(2.0) - norm.cdf(-1.0))


def test_constraint_probability_multiplies_every_constraint():
    preds = {"youngs_modulus_gpa": Prediction(np.array([110.0, 120.0]), np.array([10.0, 10.0])),
             "glass": Prediction(np.array([0.9, 0.4]), np.array([0.1, 0.1]))}
    objectives = [Objective("glass", None, 0.5, None), Objective("youngs_modulus_gpa", "maximize", 100, None)]
    p = constraint_probability(preds, objectives)
    expected = (1 - norm.cdf((0.5 - np.array([0.9, 0.4])) / 0.1)) * (1 - norm.cdf((100 - np.array([110.0, 120.0])) / 10))
    assert np.allclose(p, expected)
    assert constraint_probability(preds, [Objective("glass")]) is None
    with pytest.raises(ObjectiveError):
        Objective("glass", None)  # neither a goal nor a bound
    with pytest.raises(ObjectiveError):
        Objective("tg_k", "maximize", 800, 700)


@pytest.mark.parametrize("name", ["greedy", "ucb", "ei", "pi", "uncertainty", "thompson", "random"])
def test_maximizing_glass_alone_is_todays_acquisition(name):
    rng_members = np.random.default_rng(3).random((4, 6))
    scores = _scores(rng_members.mean(axis=0), rng_members.std(axis=0), members=rng_members)
    agent = AgentConfig(name=name, kappa=0.7)
    today = acquisition_scores(agent, scores, incumbent=0.5, rng=np.random.default_rng(9))
    acq, unc, p = ObjectiveAcquisition(agent, [Objective("glass")], incumbent=0.5, rng=np.random.default_rng(9))(scores)
    assert np.array_equal(acq, today) and np.array_equal(unc, scores.uncertainty) and p is None


def test_a_constraint_scales_the_acquisition_and_the_exploration():
    scores = _scores([0.8, 0.8, 0.6], [0.1, 0.1, 0.2], e=[130.0, 80.0, 120.0], e_std=[10.0, 10.0, 0.0])
    objectives = [Objective("glass"), Objective("youngs_modulus_gpa", None, 100, None)]
    agent = AgentConfig(name="ucb", kappa=1.0)
    acq, unc, p = ObjectiveAcquisition(agent, objectives, incumbent=0.5, rng=np.random.default_rng(0))(scores)
    base = scores.glass_probability + scores.uncertainty
    assert np.allclose(p, [1 - norm.cdf(-3.0), 1 - norm.cdf(2.0), 1.0])
    assert np.allclose(acq, base * p) and np.allclose(unc, scores.uncertainty * p)
    assert np.argmax(acq) == 0 and np.argmin(acq) == 1  # the likely soft alloy ranks last


def test_one_other_goal_uses_the_same_acquisitions_on_that_property():
    pred = Prediction(np.array([100.0, 120.0, 110.0]), np.array([30.0, 1.0, 5.0]))
    up = SingleObjectiveScorer(Objective("youngs_modulus_gpa", "maximize"), acquisition="ucb", kappa=1.0)(pred)[0]
    assert np.argsort(-up).tolist() == [0, 1, 2]  # 130, 121, 115
    down = SingleObjectiveScorer(Objective("tl_k", "minimize"), acquisition="exploit")(pred)[0]
    assert np.argsort(-down).tolist() == [0, 2, 1]
    ei = SingleObjectiveScorer(Objective("youngs_modulus_gpa"), acquisition="ei", best_observed=125.0)(pred)[0]
    assert np.argmax(ei) == 0  # the wide one is the likeliest to beat 125 GPa
    assert np.all(up > 0) and np.all(down > 0)  # non-negative: a constraint probability can multiply it
    missing = Prediction(np.array([np.nan, 100.0]), np.array([np.nan, 1.0]))
    assert np.isnan(SingleObjectiveScorer(Objective("youngs_modulus_gpa"), acquisition="exploit")(missing)[0][0])


def test_scores_compare_across_chunks():
    """The context (reference point, scales, floor) is fixed by the first chunk a scorer sees,
    so a candidate's score does not depend on the chunk it is scored in."""
    rng = np.random.default_rng(1)
    glass = Prediction(rng.random(40), 0.1 * rng.random(40), rng.random((4, 40)))
    e = Prediction(80 + 40 * rng.random(40), 5 * rng.random(40), 80 + 40 * rng.random((4, 40)))
    goals = [Objective("glass"), Objective("youngs_modulus_gpa", "maximize", 90, None)]
    observed = np.array([[1.0, 100.0], [0.0, 115.0]])
    first, rest = np.arange(0, 25), np.arange(25, 40)
    for name in ("exploit", "ucb", "ei", "pi", "uncertainty"):
        pareto = ParetoScorer(goals, observed, acquisition=name)
        chunks = np.concatenate([pareto([glass.take(first), e.take(first)])[0], pareto([glass.take(rest), e.take(rest)])[0]])
        assert np.allclose(chunks, pareto([glass, e])[0], rtol=1e-12), name
        single = SingleObjectiveScorer(goals[1], acquisition=name, best_observed=110.0)
        chunks = np.concatenate([single(e.take(first))[0], single(e.take(rest))[0]])
        assert np.allclose(chunks, single(e)[0], rtol=1e-12), name


def test_two_goals_by_hypervolume_improvement_over_the_observed_front():
    goals = [Objective("glass"), Objective("youngs_modulus_gpa", "maximize", 100, None)]
    observed = np.array([[1.0, 110.0], [0.0, 130.0]])  # a glass at 110 GPa, a crystal at 130
    glass = Prediction(np.array([0.9, 0.95, 0.5]), np.zeros(3))
    e = Prediction(np.array([120.0, 105.0, 140.0]), np.zeros(3))
    acq = ParetoScorer(goals, observed, acquisition="exploit")([glass, e])[0]
    # reference: P(glass) 0 and the constraint's 100 GPa; the front: (1, 110) and (0, 130)
    expected = hypervolume_improvement(np.array([[0.9, 120.0], [0.95, 105.0], [0.5, 140.0]]),
                                       np.array([[1.0, 110.0], [0.0, 130.0]]), np.array([0.0, 100.0]))
    assert expected[1] == 0.0  # dominated by the measured glass
    assert np.allclose(acq[[0, 2]], expected[[0, 2]], rtol=1e-4) and 0 < acq[1] < 1e-3
    # EHVI is the mean HVI over every pair of members of the two ensembles
    gm, em = np.array([[0.8, 0.9], [1.0, 0.7]]), np.array([[115.0, 90.0], [125.0, 130.0], [105.0, 110.0]])
    glass = Prediction(gm.mean(axis=0), gm.std(axis=0), gm)
    e = Prediction(em.mean(axis=0), em.std(axis=0), em)
    ehvi = ParetoScorer(goals, observed, acquisition="ei")([glass, e])[0]
    pairs = [np.column_stack([gm[i], em[k]]) for i in range(2) for k in range(3)]
    by_hand = np.mean([hypervolume_improvement(p, observed, np.array([0.0, 100.0])) for p in pairs], axis=0)
    assert np.allclose(ehvi, by_hand, rtol=1e-4, atol=1e-5)
    with pytest.raises(ObjectiveError):
        ParetoScorer(goals[:1], observed, acquisition="ei")


def test_a_property_no_model_predicts_stops_the_proposal(binary_data_path):
    """A real (fast) GFA model without a modulus model: E is NaN everywhere."""
    from discovery.evaluation import load_labelled_csv as read_labelled
    from discovery.models import GFAEnsemble, GlassFormingModel
    from discovery.space import SearchSpace

    data = read_labelled(binary_data_path)
    model = GlassFormingModel(GFAEnsemble(members=("svm", "et"), et_members=2, et_trees_per_member=5)).fit(
        data.subset(np.arange(len(data)) % 10 == 0))
    space = SearchSpace.from_systems(["Cu-Zr"], step=5.0)
    common = dict(exclude=set(), route="unknown", agent=AGENT_PRESETS["ucb"], rng=np.random.default_rng(0))
    with pytest.raises(ObjectiveUnavailable, match="youngs_modulus_gpa .* no model predicts it yet"):
        propose_batch(model, space, 3, objectives=[Objective("glass"), Objective("youngs_modulus_gpa", None, 100, None)],
                      **common)
    batch = propose_batch(model, space, 3, objectives=[Objective("glass", None, 0.2, None), Objective("p_gfa")], **common)
    assert len(batch) == 3 and all(c.p_feasible is not None and "p_gfa" in c.predictions for c in batch)
