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

from discovery.composition import parse_composition
from discovery.vocabulary import ProcessingRoute

AGENT_NAMES = ("random", "greedy", "ucb", "ei", "pi", "uncertainty", "thompson")


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

    @field_validator("systems")
    @classmethod
    def _canonical_systems(cls, systems: list[str]) -> list[str]:
        out = []
        for system in systems:
            els = [e.strip() for e in system.split("-") if e.strip()]
            parse_composition("".join(f"{e}1" for e in els), field="systems")  # unknown elements fail here
            out.append("-".join(sorted(els)))
        return out

    @model_validator(mode="after")
    def _something_to_search(self) -> "SpaceConfig":
        if not self.elements and not self.systems:
            raise ValueError("a space needs elements or systems")
        if self.min_components > self.max_components:
            raise ValueError("min_components > max_components")
        return self

    def build(self):
        from discovery.space import SearchSpace

        if self.systems:
            return SearchSpace.from_systems(self.systems, step=self.step)
        return SearchSpace(
            elements=self.elements,
            required=self.required_elements,
            forbidden=self.forbidden_elements,
            min_components=self.min_components,
            max_components=self.max_components,
            bounds=self.bounds,
            step=self.step,
        )


class CampaignConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "campaign"
    space: SpaceConfig
    iterations: int = Field(8, ge=1)
    batch_size: int = Field(10, ge=1, le=10_000)
    processing: str = Field("unknown", description="route the campaign's samples are made by")
    destination: Literal["replay", "experiment", "simulation"] = "replay"
    oracle_csv: str | None = Field(None, description="replay data set (formula, gfa[, processing])")
    holdout_systems: list[str] = Field(
        default_factory=list,
        description="systems whose literature outcomes are hidden from training (replay honesty)",
    )
    agent: AgentConfig = Field(default_factory=AgentConfig)
    seed: int = 0
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

    @field_validator("until")
    @classmethod
    def _clock_time(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            hours, minutes = (int(x) for x in value.split(":"))
            dt_time(hours, minutes)
        except ValueError:
            raise ValueError(f"until must be HH:MM, got {value!r}") from None
        return f"{hours:02d}:{minutes:02d}"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    def simulation_settings(self):
        from agents.simulation.engine import SimulationSettings

        factory = SimulationSettings.test if self.simulation_preset == "test" else SimulationSettings.production
        return factory(**self.simulation_overrides)

    def deadline_after(self, start: datetime) -> datetime | None:
        """The first occurrence of ``until`` after ``start`` (so '07:00' from 22:00 is tomorrow morning)."""
        if self.until is None:
            return None
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
    def _oracle_for_replay(self) -> "CampaignConfig":
        if self.destination == "replay":
            if not self.oracle_csv:
                raise ValueError("a replay campaign needs oracle_csv")
            if not Path(self.oracle_csv).exists():
                raise ValueError(f"oracle_csv {self.oracle_csv} does not exist")
        return self
