"""The campaign proposer corrects its model with the campaign's own nearby results, as the
replay benchmark's agents do (agents.proposer.CampaignCorrectedModel). Real data: a loop model
fitted on the shipped Sun 2017 binaries without Cu-Zr; the two Cu-Zr "results" below are
synthetic (chosen for the test, not measured)."""

from __future__ import annotations

import numpy as np
import pytest

from agents.config import AgentConfig
from agents.proposer import CampaignCorrectedModel, propose_batch
from discovery.evaluation import load_labelled_csv as read_labelled
from discovery.models import GFAEnsemble, GlassFormingModel
from discovery.composition import CompositionMatrix, parse_composition
from discovery.space import SearchSpace


@pytest.fixture(scope="module")
def model(binary_data_path):
    data = read_labelled(binary_data_path)
    keep = np.array([c.system != "Cu-Zr" for c in data.compositions])
    return GlassFormingModel(GFAEnsemble(members=("svm", "et"), et_trees_per_member=10)).fit(data.subset(keep))


def _matrix(formulas):
    return CompositionMatrix.from_compositions([parse_composition(f) for f in formulas])


def test_results_move_their_neighbours_and_leave_the_rest(model):
    cands = _matrix(["Cu51Zr49", "Cu89Zr11", "Cu70Zr30", "Cu60Ti40"])
    # synthetic results: a glass at Cu50Zr50, a crystal at Cu90Zr10, and an Al-Cu-Zr glass
    observed = _matrix(["Cu50Zr50", "Cu90Zr10", "Al10Cu45Zr45"])
    corrected = CampaignCorrectedModel(model, observed, [1, 0, 1])
    raw = model.score(cands, "unknown").glass_probability
    new = corrected.score(cands, "unknown").glass_probability
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    assert logit(new[0]) > logit(raw[0]) + 0.3  # next to the glass
    assert new[1] < raw[1]  # next to the crystal
    assert new[2] == pytest.approx(raw[2], abs=0.02)  # 20 at.% away from both
    assert new[3] == pytest.approx(raw[3])  # another system
    # the Al-containing result cannot be placed among Cu-Zr-Ti candidates: left out, no error
    assert np.isfinite(new).all()


def test_the_proposer_follows_the_correction(model):
    space = SearchSpace.from_systems(["Cu-Zr"], step=1.0)
    observed = _matrix(["Cu36Zr64"])  # synthetic glass
    rng = np.random.default_rng(0)
    agent = AgentConfig(name="greedy", diversity=0.0, explore_fraction=0.0)
    plain = propose_batch(model, space, 3, exclude={"Cu36Zr64"}, route="unknown", agent=agent, rng=rng)
    moved = propose_batch(CampaignCorrectedModel(model, observed, [1]), space, 3, exclude={"Cu36Zr64"},
                          route="unknown", agent=agent, rng=rng)
    def distance(cands):  # mean at.% Cu away from the synthetic glass at Cu36
        return np.mean([abs(c.composition.at_percent()["Cu"] - 36.0) for c in cands])

    assert [c.canonical for c in plain] != [c.canonical for c in moved]
    assert distance(moved) < distance(plain), ([c.canonical for c in plain], [c.canonical for c in moved])
