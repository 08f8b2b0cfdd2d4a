"""Agent settings per batch: the final batches of a known budget exploit."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agents.config import AgentConfig


def test_final_batches_turn_greedy():
    agent = AgentConfig(name="thompson", kappa=0.7, diversity=0.3, explore_fraction=0.2, exploit_final_batches=2)
    assert [agent.for_batch(b, 10) is agent for b in range(1, 11)] == [True] * 8 + [False] * 2
    last = agent.for_batch(10, 10)
    assert (last.name, last.diversity, last.explore_fraction) == ("greedy", 0.0, 0.0)
    # beyond the planned batches (a campaign given more iterations later) it stays greedy
    assert agent.for_batch(12, 10).name == "greedy"


def test_default_never_changes_and_random_stays_random():
    agent = AgentConfig(name="ucb")
    assert all(agent.for_batch(b, 5) is agent for b in range(1, 6))
    rnd = AgentConfig(name="random", exploit_final_batches=3)
    assert rnd.for_batch(5, 5) is rnd
    with pytest.raises(ValidationError):
        AgentConfig(exploit_final_batches=-1)
