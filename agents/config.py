"""Campaign configuration: small typed objects, validated on construction, stored as JSON
in the Campaign row (so a campaign can be resumed or audited with exactly its settings).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from discovery.composition import parse_system
from discovery.vocabulary import ProcessingRoute
from vitrify.errors import VitrifyError

AGENT_NAMES = ("random", "greedy", "ucb", "ei", "pi", "uncertainty", "thompson")


def clock_time(value: str) -> str:
    """``HH:MM`` (a wall-clock deadline), normalized to two digits each."""
    try:
        hours, minutes = (int(x) for x in str(value).split(":"))
        dt_time(hours, minutes)
    except (TypeError, ValueError):
        raise ValueError(f"until must be HH:MM, got {value!r}") from None
    return f"{hours:02d}:{minutes:02d}"


def known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"unknown time zone {value!r} (an IANA name such as Europe/Berlin)") from None
    return value


class UnknownAgent(VitrifyError, ValueError):
    """An agent name that is not one of :data:`AGENT_NAMES`."""

    def __init__(self, name: str):
        self.name = name
        super().__init__(f"unknown agent {name!r}; known: {', '.join(AGENT_NAMES)}")


class AgentConfig(BaseModel):
    """How the proposer ranks candidates and spreads a batch."""

    model_config = ConfigDict(extra="forbid")

    name: Literal["random", "greedy", "ucb", "ei", "pi", "uncertainty", "thompson"] = "ucb"
    kappa: float = Field(1.0, ge=0, description="UCB exploration weight")
    diversity: float = Field(0.5, ge=0, le=1, description="0 = pure top-k, 1 = strongly spread batch")
    explore_fraction: float = Field(0.1, ge=0, le=1, description="share of each batch picked for uncertainty")
    exploit_final_batches: int = Field(
        0, ge=0,
        description="the last N batches of a known budget are greedy (top P(glass), no spreading): "
        "what exploring them would teach could no longer be used",
    )

    def for_batch(self, batch: int, n_batches: int) -> AgentConfig:
        """The settings for batch ``batch`` (1-based) of ``n_batches``: greedy in the last
        ``exploit_final_batches`` of them, these settings before.

        Exploration and a spread batch buy information for later batches; in the final batch
        nothing is left to use it on, and top P(glass) maximizes the expected glasses found.
        """
        if self.name == "random" or batch <= n_batches - self.exploit_final_batches:
            return self
        return self.model_copy(update={"name": "greedy", "diversity": 0.0, "explore_fraction": 0.0})


#: The settings behind each agent name, the one definition ``--agent NAME`` means everywhere
#: (``vitrify campaign run``, ``vitrify deploy``, the campaign file's ``agent:``, ``vitrify
#: replay``). ``greedy`` is pure top-k by the acquisition's mean (no diversity, no
#: exploration); the others are the settings tuned by the replay bench
#: (bench/bench_replay.py, on leave-systems-out tuning pools only). ``ucb`` is the bench's
#: best agent; its final batch is greedy (exploit_final_batches=1: +0.3 to +3.7 glasses on
#: the three tuning pools, 6 seeds; docs/replay.md).
AGENT_PRESETS: dict[str, AgentConfig] = {
    "random": AgentConfig(name="random", diversity=0.0, explore_fraction=0.0),
    "greedy": AgentConfig(name="greedy", diversity=0.0, explore_fraction=0.0),
    "ucb": AgentConfig(name="ucb", kappa=0.3, diversity=0.1, explore_fraction=0.0, exploit_final_batches=1),
    "ei": AgentConfig(name="ei", diversity=0.3, explore_fraction=0.1),
    "pi": AgentConfig(name="pi", diversity=0.3, explore_fraction=0.1),
    "uncertainty": AgentConfig(name="uncertainty", diversity=0.3, explore_fraction=0.0),
    "thompson": AgentConfig(name="thompson", diversity=0.1, explore_fraction=0.0),
}


def agent_preset(name: str, **overrides) -> AgentConfig:
    """The preset called ``name`` with some settings overridden (validated: a bad value raises
    pydantic's ValidationError, an unknown name :class:`UnknownAgent`)."""
    if name not in AGENT_PRESETS:
        raise UnknownAgent(name)
    if not overrides:
        return AGENT_PRESETS[name]
    return AgentConfig.model_validate({**AGENT_PRESETS[name].model_dump(), **overrides, "name": name})


class SpaceConfig(BaseModel):
    """The chemical space a campaign searches."""

    model_config = ConfigDict(extra="forbid")

    elements: list[str] = Field(default_factory=list)
    systems: list[str] = Field(default_factory=list, description="explicit chemical systems, e.g. Cu-Zr")
    # not named "required": Prefect's parameter schema (deployments, UI forms) treats a
    # property called "required" as the JSON-schema keyword
    required_elements: list[str] = Field(default_factory=list)
    forbidden_elements: list[str] = Field(default_factory=list)
    min_components: int = Field(2, ge=1, le=5)
    max_components: int = Field(2, ge=1, le=5)
    bounds: dict[str, tuple[float, float]] = Field(default_factory=dict)
    step: float | None = Field(1.0, gt=0, le=50, description="grid step in at.%; None = continuous")
    candidates_csv: str | None = Field(None, description="an explicit candidate list: a CSV with a formula column")
    samples: int = Field(20_000, ge=1, le=5_000_000, description="continuous spaces: compositions drawn per proposal")

    @field_validator("systems")
    @classmethod
    def _canonical_systems(cls, systems: list[str]) -> list[str]:
        out = []
        for system in systems:
            try:
                els = parse_system(system, field="systems")
            except ValueError as exc:
                raise ValueError(f"{system}: {getattr(exc, 'reason', exc)}") from None
            out.append("-".join(sorted(els)))
        return out

    @model_validator(mode="after")
    def _something_to_search(self) -> "SpaceConfig":
        if not self.elements and not self.systems and not self.candidates_csv:
            raise ValueError("a space needs elements, systems or candidates")
        if self.min_components > self.max_components:
            raise ValueError("min_components > max_components")
        return self

    def build(self):
        """The space as a :class:`discovery.space.SearchSpace` or, for an explicit list,
        a :class:`discovery.candidates.CandidateList`."""
        from discovery.space import SearchSpace

        if self.candidates_csv:
            from discovery.candidates import CandidateList

            return CandidateList.from_csv(self.candidates_csv)
        if self.systems:
            return SearchSpace.from_systems(self.systems, step=self.step, bounds=self.bounds,
                                            required=self.required_elements, forbidden=self.forbidden_elements)
        return SearchSpace(
            elements=self.elements,
            required=self.required_elements,
            forbidden=self.forbidden_elements,
            min_components=self.min_components,
            max_components=self.max_components,
            bounds=self.bounds,
            step=self.step,
        )


class ObjectiveConfig(BaseModel):
    """One property a campaign optimizes (``goal``), constrains (``at_least`` / ``at_most``,
    the campaign file's ``min`` / ``max``), or both. ``name`` is a
    :data:`discovery.properties.PROPERTIES` name."""

    model_config = ConfigDict(extra="forbid")

    # not min/max/minimum/maximum: Prefect's parameter schema would read those as JSON-schema keywords
    name: str
    goal: Literal["maximize", "minimize"] | None = "maximize"
    at_least: float | None = None
    at_most: float | None = None

    @field_validator("name")
    @classmethod
    def _known(cls, value: str) -> str:
        from discovery.properties import UnknownProperty, property_spec

        try:
            property_spec(value)
        except UnknownProperty as exc:
            raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _goal_or_bound(self) -> "ObjectiveConfig":
        if self.goal is None and self.at_least is None and self.at_most is None:
            raise ValueError(f"{self.name}: give a goal, a bound (min/max), or both")
        if self.at_least is not None and self.at_most is not None and self.at_least > self.at_most:
            raise ValueError(f"{self.name}: min {self.at_least:g} > max {self.at_most:g}")
        return self

    @property
    def is_constraint(self) -> bool:
        return self.at_least is not None or self.at_most is not None

    def objective(self):
        from discovery.objectives import Objective

        return Objective(self.name, self.goal, self.at_least, self.at_most)


#: A campaign without objectives maximizes P(glass), as every campaign did before objectives.
GLASS_OBJECTIVE = ObjectiveConfig(name="glass", goal="maximize")


class BatchShare(BaseModel):
    """How many of every batch go to one destination (a job kind)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["replay", "experiment"]
    count: int = Field(ge=0, le=10_000)


class CampaignConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "campaign"
    space: SpaceConfig
    iterations: int = Field(8, ge=1, le=100_000)
    batch_size: int = Field(
        10, ge=0, le=10_000,
        description="compositions per batch for the replay/lab destinations (MD jobs come on top: simulation_budget)",
    )
    processing: str = Field("unknown", description="route the campaign's samples are made by")
    destination: Literal["replay", "experiment", "simulation"] = "replay"
    oracle_csv: str | None = Field(None, description="replay data set (formula, gfa[, processing])")
    holdout_systems: list[str] = Field(
        default_factory=list,
        description="systems whose literature outcomes are hidden from training (replay honesty)",
    )
    agent: AgentConfig = Field(default_factory=AgentConfig)
    seed: int = 0
    budget: int | None = Field(None, ge=1, description="replay/lab compositions in all; the last batch is cut to fit")
    model_selection: Literal["roc_auc", "sun_e"] = Field(
        "roc_auc", description="how the GFA model's SVM is tuned: grouped-CV ROC-AUC, or Sun et al. 2017's "
        "E = P_target^2 / P_whole (admissible when P_target > 0.3)")
    lab: dict | None = Field(None, description="lab policy of an experiment campaign (db.lab.LabPolicy fields)")
    simulation_budget: int = Field(0, ge=0, description="MD simulations queued per iteration (0 = none)")
    simulation_preset: Literal["test", "production"] = Field(
        "production", description="MD protocol: production (2,000 atoms) or test (256 atoms, fast quench)"
    )
    simulation_overrides: dict = Field(default_factory=dict, description="SimulationSettings fields to override")
    simulation_cores: int = Field(1, ge=1, description="cores (OpenMP threads) per MD task")
    simulation_timeout_s: float = Field(3600.0, gt=0, description="an MD task running longer is cancelled")
    until: str | None = Field(
        None, description="wall-clock deadline 'HH:MM' (e.g. '07:00'): no iteration starts after it"
    )
    timezone: str = Field("UTC", description="IANA time zone of 'until', e.g. Europe/Berlin")
    deadline_anchor: datetime | None = Field(
        None, description="the deadline is the first 'until' after this time (default: when the campaign was created)"
    )
    objectives: list[ObjectiveConfig] = Field(
        default_factory=list, description="what the agent optimizes and the constraints it respects; empty = maximize P(glass)"
    )
    shares: list[BatchShare] | None = Field(
        None, description="the batch split between destinations, in rank order; None = the whole batch to 'destination'"
    )

    @field_validator("until")
    @classmethod
    def _clock_time(cls, value: str | None) -> str | None:
        return None if value is None else clock_time(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return known_zone(value)

    def simulation_settings(self):
        from agents.simulation.engine import SimulationSettings

        factory = SimulationSettings.test if self.simulation_preset == "test" else SimulationSettings.production
        return factory(**self.simulation_overrides)

    def objective_list(self) -> list[ObjectiveConfig]:
        return list(self.objectives) or [GLASS_OBJECTIVE]

    def batch_shares(self) -> list[tuple[str, int]]:
        """(job kind, compositions per batch) of each replay/lab destination, in rank order."""
        if self.shares is None:
            return [(self.destination, self.batch_size)] if self.batch_size else []
        return [(s.kind, s.count) for s in self.shares]

    def sends_to(self, kind: str) -> bool:
        """Whether any job of ``kind`` (replay, experiment, simulation) can come from this campaign."""
        if kind == "simulation" and self.simulation_budget:
            return True
        return any(k == kind and n > 0 for k, n in self.batch_shares())

    def deadline_after(self, start: datetime) -> datetime | None:
        """The first occurrence of ``until`` after ``start`` (so '07:00' from 22:00 is tomorrow
        morning); after ``deadline_anchor`` instead when that is set (an extended campaign)."""
        if self.until is None:
            return None
        if self.deadline_anchor is not None:
            start = self.deadline_anchor if self.deadline_anchor.tzinfo else self.deadline_anchor.replace(tzinfo=ZoneInfo("UTC"))
        zone = ZoneInfo(self.timezone)
        local = start.astimezone(zone)
        hours, minutes = (int(x) for x in self.until.split(":"))
        deadline = local.replace(hour=hours, minute=minutes, second=0, microsecond=0)
        if deadline <= local:
            deadline += timedelta(days=1)
        return deadline

    @field_validator("processing")
    @classmethod
    def _route(cls, value: str) -> str:
        return ProcessingRoute.parse(value).value

    @model_validator(mode="after")
    def _consistent(self) -> "CampaignConfig":
        if self.shares is not None:
            if sum(s.count for s in self.shares) != self.batch_size:
                raise ValueError(f"shares add up to {sum(s.count for s in self.shares)}, batch_size is {self.batch_size}")
            if len({s.kind for s in self.shares}) != len(self.shares):
                raise ValueError("one share per destination kind")
        if not self.batch_size and not self.simulation_budget:
            raise ValueError("nothing to propose: batch_size and simulation_budget are both 0")
        if self.sends_to("replay"):
            if not self.oracle_csv:
                raise ValueError("a replay campaign needs oracle_csv")
            if not Path(self.oracle_csv).exists():
                raise ValueError(f"oracle_csv {self.oracle_csv} does not exist")
        return self


def campaign_config(campaign) -> CampaignConfig:
    """The validated configuration stored with a campaign row (``Campaign.config``)."""
    return CampaignConfig.model_validate(campaign.config)
