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


def test_an_agent_name_means_the_same_settings_everywhere(tmp_path):
    """`--agent NAME` of campaign run and deploy, the campaign file's `agent:` and replay's
    agents are one definition (agents.config.AGENT_PRESETS)."""
    from agents.campaign_file import parse_campaign_text
    from agents.config import AGENT_NAMES, AGENT_PRESETS, UnknownAgent, agent_preset
    from vitrify.cli import _replay_config
    from vitrify.settings import SHIPPED_BINARY_DATA

    assert set(AGENT_PRESETS) == set(AGENT_NAMES)
    for name in AGENT_NAMES:
        demo = _replay_config("n", ["Cu-Zr"], 2, 3, SHIPPED_BINARY_DATA, name, 0, None, "UTC")
        text = f"space: {{systems: [Cu-Zr], step: 5}}\nagent: {name}\ndestinations: [{{kind: lab}}]\n"
        assert demo.agent == agent_preset(name) == parse_campaign_text(text).to_config().agent == AGENT_PRESETS[name]
    # an explicit flag or key overrides one setting of the preset, nothing else
    demo = _replay_config("n", ["Cu-Zr"], 2, 3, SHIPPED_BINARY_DATA, "ucb", 0, None, "UTC", exploit_final=0)
    assert demo.agent == AGENT_PRESETS["ucb"].model_copy(update={"exploit_final_batches": 0})
    assert agent_preset("thompson", diversity=0.4).model_dump() == {**AGENT_PRESETS["thompson"].model_dump(), "diversity": 0.4}
    with pytest.raises(UnknownAgent, match="unknown agent 'ucbb'"):
        agent_preset("ucbb")
    with pytest.raises(ValidationError):
        agent_preset("ucb", kappa=-1)
