"""discovery.shift: training weights that let campaign data outweigh (mostly melt-spun) literature."""

import numpy as np
import pytest

from discovery.dataset import LabelledSet
from discovery.shift import campaign_sample_weights, campaign_share, route_group, weighted


def _rows(n_lit_ms, n_lit_unknown, n_lit_sp, n_campaign):
    sources = ["literature"] * (n_lit_ms + n_lit_unknown + n_lit_sp) + ["replay"] * n_campaign
    routes = ["meltspin"] * n_lit_ms + ["unknown"] * n_lit_unknown + ["sputtering"] * (n_lit_sp + n_campaign)
    return np.array(sources, dtype=object), np.array(routes, dtype=object)


def test_route_groups_accept_every_spelling():
    assert route_group("meltspin") == route_group("melt spinning") == "melt-spinning"
    assert route_group("sputtered") == "sputtering"
    assert route_group(None) == route_group("") == route_group(float("nan")) == "unknown"
    assert route_group("suction casting") == "casting"


def test_literature_only_same_route_is_unweighted():
    w = campaign_sample_weights(np.array(["literature"] * 5), np.array(["melt-spinning"] * 5), "melt-spinning")
    assert w.tolist() == [1.0] * 5


def test_other_routes_are_down_weighted_relative_to_the_campaign_route():
    sources, routes = _rows(100, 50, 10, 0)
    w = campaign_sample_weights(sources, routes, "sputtering", other_route_weight=0.3, unknown_route_weight=0.6)
    assert w.mean() == pytest.approx(1.0)
    ms, unk, sp = w[0], w[100], w[150]
    assert ms / sp == pytest.approx(0.3) and unk / sp == pytest.approx(0.6)
    # a campaign of unknown route down-weights nothing
    assert np.allclose(campaign_sample_weights(sources, routes, "unknown"), 1.0)


@pytest.mark.parametrize("n_campaign", [1, 10, 40, 160])
def test_campaign_share_grows_as_n_over_n_plus_half(n_campaign):
    sources, routes = _rows(1000, 0, 0, n_campaign)
    h = 40.0
    w = campaign_sample_weights(sources, routes, "sputtering", half_weight_count=h, other_route_weight=0.5)
    assert campaign_share(w, sources) == pytest.approx(n_campaign / (n_campaign + h))
    assert w.mean() == pytest.approx(1.0)
    # every campaign row weighs the same, more than any literature row
    camp = w[sources != "literature"]
    assert np.allclose(camp, camp[0]) and camp[0] > w[sources == "literature"].max()


def test_small_literature_never_makes_campaign_rows_lighter():
    sources, routes = _rows(0, 0, 10, 5)
    w = campaign_sample_weights(sources, routes, "sputtering", half_weight_count=40)
    assert np.allclose(w, 1.0)


def test_bad_inputs():
    with pytest.raises(ValueError):
        campaign_sample_weights(np.array(["literature"]), np.array(["a", "b"]), "sputtering")
    with pytest.raises(ValueError):
        campaign_sample_weights(np.array(["literature"]), np.array(["meltspin"]), "sputtering", half_weight_count=0)
    with pytest.raises(ValueError):
        campaign_sample_weights(np.array(["literature"]), np.array(["meltspin"]), "sputtering", other_route_weight=0)
    assert campaign_sample_weights(np.array([]), np.array([]), "sputtering").size == 0


def test_weights_reach_the_estimator_and_let_the_campaign_win(binary_data_path):
    """Campaign results that contradict the literature pull the model's predictions at
    neighbouring compositions their way when weighted. (Same route as the literature here,
    so the route column cannot tell the two apart: only the weights can.)"""
    from discovery.evaluation import load_labelled_csv as read_labelled
    from discovery.models import GFAEnsemble, GlassFormingModel

    def concat(sets):
        return sets[0].concat(sets[1])

    lit = read_labelled(binary_data_path)
    rng = np.random.default_rng(0)
    cuzr = np.flatnonzero([c.system == "Cu-Zr" for c in lit.compositions])
    crystal = cuzr[lit.labels[cuzr] == 0]
    others = rng.choice(np.setdiff1d(np.arange(len(lit)), cuzr), 1500, replace=False)
    lit = lit.subset(np.concatenate([cuzr, others]))
    crystal = np.arange(len(cuzr))[lit.labels[: len(cuzr)] == 0]
    flip, probe_idx = crystal[::2], crystal[1::2]  # the campaign sees every other one
    camp = LabelledSet([lit.compositions[i] for i in flip], np.full(flip.size, "unknown", dtype=object),
                       np.ones(flip.size, dtype=int), np.full(flip.size, "replay", dtype=object))
    keep = np.setdiff1d(np.arange(len(lit)), probe_idx)  # probes are unseen compositions
    data = concat([lit.subset(keep), camp])
    probe = lit.subset(probe_idx).matrix()
    plain = GlassFormingModel(GFAEnsemble(members=("svm", "et"), et_trees_per_member=10)).fit(data).score(probe, "unknown").glass_probability
    wdata = weighted(data, "unknown")
    assert wdata.weights is not None and len(wdata.weights) == len(data)
    heavy = GlassFormingModel(GFAEnsemble(members=("svm", "et"), et_trees_per_member=10)).fit(wdata).score(probe, "unknown").glass_probability
    assert heavy.mean() > plain.mean() + 0.15, (plain.round(2), heavy.round(2))


def test_local_posterior_moves_neighbours_towards_the_campaign_result_in_the_same_system_only():
    from discovery.composition import CompositionMatrix
    from discovery.shift import local_campaign_posterior

    els = ("Cu", "Ti", "Zr")
    cand = CompositionMatrix(els, np.array([[0.5, 0.0, 0.5], [0.52, 0.0, 0.48], [0.8, 0.0, 0.2], [0.5, 0.5, 0.0]]))
    prior = np.array([0.2, 0.2, 0.2, 0.2])
    obs = CompositionMatrix(("Cu", "Zr"), np.array([[0.5, 0.5]]))
    post = local_campaign_posterior(prior, cand, obs, [1], length_scale=0.05, prior_strength=2.0)
    assert post[0] == pytest.approx((2 * 0.2 + 1) / 3)  # on the measured point: one observation
    assert post[0] > post[1] > post[2] > 0.2 - 1e-12  # decays with distance
    assert post[2] == pytest.approx(0.2, abs=1e-3) and post[3] == 0.2  # far / other system: the prior
    members = np.vstack([prior, prior + 0.1])
    assert local_campaign_posterior(members, cand, obs, [0]).shape == (2, 4)
    empty = CompositionMatrix(("Cu", "Zr"), np.zeros((0, 2)))
    assert np.array_equal(local_campaign_posterior(prior, cand, empty, []), prior)


def test_local_posterior_edge_results_inform_their_ternary_and_auto_length_follows_the_grid():
    from discovery.composition import CompositionMatrix
    from discovery.shift import local_campaign_posterior

    els = ("Al", "Cu", "Zr")
    # Cu-Zr edge and two Al-Cu-Zr compositions 2 at.% Al away from the edge point / far from it
    cand = CompositionMatrix(els, np.array([[0.0, 0.5, 0.5], [0.02, 0.49, 0.49], [0.3, 0.35, 0.35]]))
    obs = CompositionMatrix(("Cu", "Zr"), np.array([[0.5, 0.5]]))
    prior = np.full(3, 0.2)
    related = local_campaign_posterior(prior, cand, obs, [1], length_scale=0.05)
    strict = local_campaign_posterior(prior, cand, obs, [1], length_scale=0.05, related_systems=False)
    k = np.exp(-0.5 * (0.02**2 + 2 * 0.01**2) / 0.05**2)
    assert related[1] == pytest.approx((2 * 0.2 + k) / (2 + k))  # the edge result informs the ternary next to it
    assert strict[1] == 0.2
    assert related[0] == strict[0] == pytest.approx((2 * 0.2 + 1) / 3)
    assert related[2] == pytest.approx(0.2, abs=1e-3)  # far inside the ternary: the prior

    # auto length: on a 1 at.% binary grid a result reaches ~2 steps; on a 5 at.% grid ~2 steps too
    for step in (1, 5):
        xs = np.arange(step, 100, step) / 100.0
        grid = CompositionMatrix(("Cu", "Zr"), np.column_stack([xs, 1 - xs]))
        mid = len(xs) // 2
        one = CompositionMatrix(("Cu", "Zr"), grid.fractions[[mid]])
        post = local_campaign_posterior(np.full(len(xs), 0.2), grid, one, [1])
        assert post[mid + 1] > 0.4 and post[mid + 2] > 0.3  # one and two steps away: pulled up
        assert post[mid + 7] == pytest.approx(0.2, abs=0.01)  # seven steps away: the prior
    with pytest.raises(ValueError):
        local_campaign_posterior(prior, cand, obs, [1], length_scale="wide")


def test_campaign_logit_shift_calibrates_out_of_sample_predictions():
    from discovery.shift import apply_logit_shift, campaign_logit_shift

    # synthetic: the model said 0.3 for each of 60 compositions and 45 of them were glasses
    predicted = np.full(60, 0.3)
    labels = np.r_[np.ones(45), np.zeros(15)]
    b = campaign_logit_shift(predicted, labels)
    # MAP with a N(0, 1) prior: a bit short of the maximum-likelihood shift logit(0.75) - logit(0.3)
    ml = np.log(0.75 / 0.25) - np.log(0.3 / 0.7)
    assert 0.8 * ml < b < ml
    assert apply_logit_shift(np.array([0.3]), b)[0] == pytest.approx(1 / (1 + np.exp(-(np.log(0.3 / 0.7) + b))))
    # calibrated predictions are left alone; no results, no shift; the shift is symmetric
    assert campaign_logit_shift(np.full(40, 0.5), np.r_[np.ones(20), np.zeros(20)]) == pytest.approx(0.0, abs=1e-9)
    assert campaign_logit_shift([], []) == 0.0
    assert campaign_logit_shift(np.full(60, 0.7), 1 - labels) == pytest.approx(-b, rel=0.05)  # 0.7 predicted, 0.25 found
    # four results move it about half as far as sixty (the prior holds them back)
    few = campaign_logit_shift(np.full(4, 0.3), np.r_[np.ones(3), np.zeros(1)])
    assert 0 < few < 0.6 * b
    with pytest.raises(ValueError):
        campaign_logit_shift([0.3, 0.4], [1])
