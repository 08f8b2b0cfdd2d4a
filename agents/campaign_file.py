"""The campaign file: the YAML document a lab writes to run a campaign (docs/campaigns.md).

Its keys are a public contract (add keys, never rename)::

    name: cuzraly-night
    space:                      # one of: elements (+ components, bounds, required, forbidden), systems, candidates
      elements: [Cu, Zr, Al, Y]
      components: [4, 4]        # min, max number of elements
      bounds: {Al: [0, 15], Y: [0, 10]}   # at.%
      required: [Cu, Zr]
      forbidden: []
      step: 1                   # at.% grid; omit for continuous sampling of the simplex
    processing: melt-spinning
    objectives:
      - {property: glass, goal: maximize}
      - {property: youngs_modulus_gpa, goal: maximize, min: 100}   # min/max = constraints
    agent: ucb                  # a preset name, or {preset: ucb, kappa: 0.5, ...}
    batch: 10
    iterations: 8               # or until: "07:00" with timezone
    destinations:
      - {kind: lab, budget_per_night: 10, require_approval: true}
      - {kind: simulation, budget: 2, preset: production}
    seed: 0

:func:`load_campaign_file` reads and validates a file into a :class:`CampaignDocument`
(small pydantic sections, each validated on construction). Every problem is collected and
raised at once as :class:`CampaignFileError`, one :class:`Problem` per bad key, named by
its path in the document (``space.bounds.Al: upper bound 150 > 100``,
``destinations[1].kind: ...``). :meth:`CampaignDocument.to_config` turns a valid document
into the :class:`agents.config.CampaignConfig` a campaign stores and runs.

The share rule: every batch (``batch`` compositions per iteration) is split between the
destinations. A simulation destination's share is its ``budget`` (MD jobs per iteration);
a lab or replay destination's is its optional ``share``. Destinations without one split
what the others leave equally (the earlier-listed get the remainder). Shares must add up
to ``batch``. The batch is ranked by the acquisition; lab and replay destinations take
their shares from the top of it in the order they are listed, and the MD jobs are chosen
among the next-best compositions an interatomic potential covers.
"""

from __future__ import annotations

import difflib
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from agents.config import AGENT_NAMES
from discovery.composition import split_system
from vitrify.errors import VitrifyError

DESTINATION_KINDS = ("lab", "simulation", "replay")
#: Iterations of a campaign that only gives a deadline (``until``): it stops at the deadline.
UNTIL_ONLY_ITERATIONS = 1000
MAX_BATCH = 10_000
MAX_ITERATIONS = 100_000


@dataclass(frozen=True)
class Problem:
    path: str  # where in the document, e.g. space.bounds.Al or destinations[1].kind
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class CampaignFileError(VitrifyError, ValueError):
    """A campaign file that cannot be used; ``problems`` names each bad key by its path."""

    def __init__(self, problems: list[Problem], *, file: str | None = None):
        self.problems = list(problems)
        self.file = file
        super().__init__("\n".join(str(p) for p in self.problems))


class _Problems(ValueError):
    """Raised inside a validator to report several problems at paths below the field."""

    def __init__(self, items: list[tuple[str, str]]):
        self.items = items
        super().__init__("; ".join(f"{k}: {m}" if k else m for k, m in items))


def _base_dir(info: ValidationInfo) -> Path:
    return Path((info.context or {}).get("base_dir", "."))


def resolve(base_dir: Path, name: str) -> Path:
    """A path from the file, relative to the file's directory unless absolute."""
    path = Path(name).expanduser()
    return path if path.is_absolute() else (base_dir / path)


# --------------------------------------------------------------------------- sections


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _element_problems(symbols: list[str]) -> list[tuple[str, str]]:
    from discovery.composition import CompositionMatrix
    from discovery.features import featurizable
    from discovery.space import ELEMENT_SYMBOLS

    problems = []
    seen = set()
    for i, el in enumerate(symbols):
        if el not in ELEMENT_SYMBOLS:
            close = difflib.get_close_matches(str(el).capitalize(), sorted(ELEMENT_SYMBOLS), n=1)
            hint = f" (did you mean {close[0]}?)" if close and close[0] != el else ""
            problems.append((f"[{i}]", f"unknown element {el!r}{hint}"))
        elif el in seen:
            problems.append((f"[{i}]", f"{el} is listed twice"))
        elif not featurizable(CompositionMatrix((el,), [[1.0]]))[0]:
            problems.append((f"[{i}]", f"{el}: the models have no element data for it, so nothing with it can be scored"))
        seen.add(el)
    return problems


class SpaceSection(_Section):
    """Where the agent may look: a generated space (``elements``), chemical ``systems`` or an
    explicit ``candidates`` file."""

    elements: list[str] | None = None
    components: tuple[int, int] | None = Field(None, description="[min, max] number of elements")
    bounds: dict[str, tuple[float, float]] = Field(default_factory=dict, description="element: [lo, hi] at.%")
    required: list[str] = Field(default_factory=list)
    forbidden: list[str] = Field(default_factory=list)
    step: float | None = Field(None, description="at.% grid; omitted: continuous sampling of the simplex")
    systems: list[str] | None = None
    candidates: str | None = Field(None, description="CSV with a formula column, relative to the file")
    samples: int = Field(20_000, ge=1, le=5_000_000, description="continuous spaces: compositions drawn per proposal")

    _candidate_path: Path | None = PrivateAttr(None)

    @field_validator("elements", "required", "forbidden")
    @classmethod
    def _symbols(cls, value):
        if value is None:
            return value
        if problems := _element_problems(value):
            raise _Problems(problems)
        return value

    @field_validator("bounds")
    @classmethod
    def _percent(cls, value: dict[str, tuple[float, float]]):
        problems = []
        for el, (lo, hi) in value.items():
            if not (math.isfinite(lo) and math.isfinite(hi)):
                problems.append((el, "bounds must be finite numbers"))
            elif lo < 0:
                problems.append((el, f"lower bound {lo:g} < 0"))
            elif hi > 100:
                problems.append((el, f"upper bound {hi:g} > 100"))
            elif lo > hi:
                problems.append((el, f"lower bound {lo:g} > upper bound {hi:g}"))
        if problems:
            raise _Problems(problems)
        return value

    @field_validator("components")
    @classmethod
    def _components(cls, value):
        if value is None:
            return value
        lo, hi = value
        if not 1 <= lo <= hi:
            raise ValueError(f"need 1 <= min <= max, got [{lo}, {hi}]")
        if hi > 5:
            raise ValueError(f"at most 5 elements per alloy, got max {hi}")
        return value

    @field_validator("step")
    @classmethod
    def _grid(cls, value):
        if value is None:
            return value
        if not 0.01 <= value <= 50:
            raise ValueError(f"must be between 0.01 and 50 at.%, got {value:g}")
        if abs(round(100 / value) * value - 100) > 1e-7:
            raise ValueError(f"{value:g} at.% does not divide 100 at.%")
        return value

    @field_validator("systems")
    @classmethod
    def _systems(cls, value):
        if value is None:
            return value
        problems = []
        for i, system in enumerate(value):
            parts = split_system(str(system))
            if len(parts) < 2:
                problems.append((f"[{i}]", f"{system!r} is not a system like Cu-Zr"))
                continue
            problems += [(f"[{i}]", msg) for _, msg in _element_problems(parts)]
            if len(parts) > 5:
                problems.append((f"[{i}]", f"{system}: at most 5 elements"))
        if problems:
            raise _Problems(problems)
        return value

    @field_validator("candidates")
    @classmethod
    def _file(cls, value, info: ValidationInfo):
        if value is None:
            return value
        from discovery.candidates import CandidateError, CandidateList

        path = resolve(_base_dir(info), value)
        if not path.is_file():
            raise ValueError(f"{value}: no such file (looked for {path})")
        try:
            CandidateList.from_csv(path)
        except CandidateError as exc:
            raise ValueError(f"{value}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _one_kind(self, info: ValidationInfo) -> "SpaceSection":
        given = [k for k in ("elements", "systems", "candidates") if getattr(self, k)]
        problems: list[tuple[str, str]] = []
        if len(given) != 1:
            what = "none" if not given else " and ".join(given)
            raise _Problems([("", f"give exactly one of elements, systems or candidates (got {what})")])
        if self.candidates:
            self._candidate_path = resolve(_base_dir(info), self.candidates)
            for key in ("components", "step"):
                if getattr(self, key) is not None:
                    problems.append((key, "not used with candidates (the list is searched as it is)"))
            for key in ("bounds", "required", "forbidden"):
                if getattr(self, key):
                    problems.append((key, "not used with candidates (the list is searched as it is)"))
        elif self.systems and self.components is not None:
            problems.append(("components", "not used with systems (each system fixes its elements)"))
        elif self.elements:
            known = set(self.elements)
            for key in ("required",):
                for i, el in enumerate(getattr(self, key)):
                    if el not in known:
                        problems.append((f"{key}[{i}]", f"{el} is not one of the space's elements"))
            for el in self.bounds:
                if el not in known:
                    problems.append((f"bounds.{el}", f"{el} is not one of the space's elements"))
            for el in set(self.required) & set(self.forbidden):
                problems.append(("forbidden", f"{el} is both required and forbidden"))
        if problems:
            raise _Problems(problems)
        if not self.candidates:
            from discovery.space import SpaceError

            try:
                space = self.space_config().build()
                if space.is_grid and space.size() == 0:
                    raise _Problems([("", "no composition satisfies these settings (check bounds and components)")])
                if not space.is_grid:
                    space.sample(8, 0)  # the bounds leave some room to sample from
            except SpaceError as exc:
                raise _Problems([(exc.field or "", exc.reason)]) from None
        return self

    def components_range(self) -> tuple[int, int]:
        if self.components is not None:
            return self.components
        return (2, max(2, min(len(self.elements or ()), 5)))

    def space_config(self):
        from agents.config import SpaceConfig

        if self.candidates:
            return SpaceConfig(candidates_csv=str(self._candidate_path.resolve()), step=None)
        common = dict(bounds=dict(self.bounds), required_elements=list(self.required),
                      forbidden_elements=list(self.forbidden), step=self.step, samples=self.samples)
        if self.systems:
            return SpaceConfig(systems=list(self.systems), **common)
        lo, hi = self.components_range()
        return SpaceConfig(elements=list(self.elements), min_components=lo, max_components=hi, **common)


class ObjectiveEntry(_Section):
    """``{property, goal: maximize|minimize, min, max}``: optimize a property, constrain it
    (``min`` / ``max``), or both. Without a goal the entry is a constraint only."""

    property: str
    goal: Literal["maximize", "minimize"] | None = None
    min: float | None = None
    max: float | None = None

    @field_validator("property")
    @classmethod
    def _known(cls, value: str) -> str:
        from discovery.properties import PROPERTIES

        if value not in PROPERTIES:
            close = difflib.get_close_matches(value, list(PROPERTIES), n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise ValueError(f"unknown property {value!r}; {hint}known: {', '.join(PROPERTIES)}")
        return value

    @field_validator("min", "max")
    @classmethod
    def _finite(cls, value):
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @model_validator(mode="after")
    def _goal_or_bound(self) -> "ObjectiveEntry":
        if self.goal is None and self.min is None and self.max is None:
            raise _Problems([("goal", "give a goal (maximize or minimize), a bound (min, max), or both")])
        if self.min is not None and self.max is not None and self.min > self.max:
            raise _Problems([("min", f"min {self.min:g} > max {self.max:g}")])
        if self.property == "glass":
            for key in ("min", "max"):
                v = getattr(self, key)
                if v is not None and not 0 <= v <= 1:
                    raise _Problems([(key, f"P(glass) is a probability: {v:g} is outside [0, 1]")])
        return self

    def objective_config(self):
        from agents.config import ObjectiveConfig

        return ObjectiveConfig(name=self.property, goal=self.goal, at_least=self.min, at_most=self.max)


class AgentSection(_Section):
    """A preset (:data:`agents.config.AGENT_PRESETS`) with optional overrides."""

    preset: str = "ucb"
    kappa: float | None = Field(None, ge=0, le=100)
    diversity: float | None = Field(None, ge=0, le=1)
    explore_fraction: float | None = Field(None, ge=0, le=1)
    exploit_final_batches: int | None = Field(None, ge=0, le=MAX_ITERATIONS)

    @field_validator("preset")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in AGENT_NAMES:
            close = difflib.get_close_matches(value, AGENT_NAMES, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise ValueError(f"unknown agent {value!r}; {hint}known: {', '.join(AGENT_NAMES)}")
        return value

    def agent_config(self):
        from agents.config import agent_preset

        overrides = {k: v for k, v in self.model_dump(exclude={"preset"}).items() if v is not None}
        return agent_preset(self.preset, **overrides)


class LabDestination(_Section):
    """The lab queue (db.lab): jobs wait for lab staff, released within the nightly budget
    and after an operator's approval when required."""

    kind: Literal["lab"]
    budget_per_night: int | None = Field(None, ge=0, le=MAX_BATCH, description="unset: the lab's VITRIFY_LAB_BUDGET_PER_NIGHT")
    require_approval: bool | None = Field(None, description="unset: the lab's VITRIFY_LAB_REQUIRE_APPROVAL")
    share: int | None = Field(None, ge=1, le=MAX_BATCH)


class SimulationDestination(_Section):
    """Molecular dynamics on Ray (agents.simulation): ``budget`` MD jobs per iteration."""

    kind: Literal["simulation"]
    budget: int | None = Field(None, ge=1, le=1000, description="MD jobs per iteration (its share of every batch)")
    preset: Literal["production", "test"] = "production"
    cores: int = Field(1, ge=1, le=256, description="cores (OpenMP threads) per MD job")
    timeout_s: float = Field(3600.0, gt=0, le=7 * 24 * 3600, description="an MD job running longer is cancelled")


class ReplayDestination(_Section):
    """An after-the-fact experiment: jobs are answered from a table of known outcomes."""

    kind: Literal["replay"]
    oracle: str = Field(description="CSV with formula, gfa [, processing]: the known outcomes, relative to the file")
    share: int | None = Field(None, ge=1, le=MAX_BATCH)

    _oracle_path: Path | None = PrivateAttr(None)
    _oracle_systems: tuple[str, ...] = PrivateAttr(())

    @model_validator(mode="after")
    def _readable(self, info: ValidationInfo) -> "ReplayDestination":
        from agents.replay import ReplayOracle

        path = resolve(_base_dir(info), self.oracle)
        if not path.is_file():
            raise _Problems([("oracle", f"{self.oracle}: no such file (looked for {path})")])
        try:
            oracle = ReplayOracle.from_csv(path)
        except Exception as exc:  # a malformed table (missing column, bad formula or label)
            raise _Problems([("oracle", f"{self.oracle}: {exc}")]) from None
        if not len(oracle):
            raise _Problems([("oracle", f"{self.oracle}: no outcomes in it")])
        self._oracle_path = path.resolve()
        self._oracle_systems = tuple(sorted(oracle.systems))
        return self


Destination = Annotated[Union[LabDestination, SimulationDestination, ReplayDestination], Field(discriminator="kind")]


# --------------------------------------------------------------------------- the document


class CampaignDocument(_Section):
    """A validated campaign file (see the module docstring for the keys and the share rule)."""

    name: str | None = Field(None, min_length=1, max_length=100)
    space: SpaceSection | None = None
    processing: str = "unknown"
    objectives: list[ObjectiveEntry] = Field(default_factory=lambda: [ObjectiveEntry(property="glass", goal="maximize")],
                                             min_length=1)
    agent: AgentSection = Field(default_factory=AgentSection)
    batch: int = Field(10, ge=1, le=MAX_BATCH)
    iterations: int | None = Field(None, ge=1, le=MAX_ITERATIONS)
    budget: int | None = Field(None, ge=1, le=MAX_ITERATIONS * MAX_BATCH,
                               description="compositions in all (the last batch is cut to fit)")
    model_selection: Literal["roc_auc", "sun_e"] = Field(
        "roc_auc", description="how the GFA model's SVM is tuned: grouped-CV ROC-AUC or Sun 2017's E")
    until: str | None = None
    timezone: str = "UTC"
    destinations: list[Destination] = Field(min_length=1)
    seed: int = Field(0, ge=0, le=2**32 - 1)

    @field_validator("agent", mode="before")
    @classmethod
    def _preset_name(cls, value):
        return {"preset": value} if isinstance(value, str) else value

    @field_validator("processing")
    @classmethod
    def _route(cls, value: str) -> str:
        from discovery.vocabulary import ProcessingRoute, VocabularyError

        try:
            return ProcessingRoute.parse(value).value
        except VocabularyError as exc:
            raise ValueError(exc.reason) from None

    @field_validator("until")
    @classmethod
    def _clock(cls, value):
        if value is None:
            return value
        from agents.config import clock_time

        return clock_time(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value):
        from agents.config import known_zone

        return known_zone(value)

    @field_validator("objectives")
    @classmethod
    def _goals(cls, value: list[ObjectiveEntry]):
        problems = []
        seen: dict[str, int] = {}
        for i, o in enumerate(value):
            if o.property in seen:
                problems.append((f"[{i}].property", f"{o.property} is already objectives[{seen[o.property]}]: "
                                 "put its goal and bounds in one entry"))
            seen.setdefault(o.property, i)
        goals = [i for i, o in enumerate(value) if o.goal is not None]
        if not goals:
            problems.append(("", "at least one objective needs a goal (maximize or minimize)"))
        if len(goals) > 2:
            problems.append((f"[{goals[2]}].goal", "at most two objectives can have a goal (the Pareto front and "
                             "its hypervolume are two-dimensional); make the others constraints (min/max, no goal)"))
        if problems:
            raise _Problems(problems)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "CampaignDocument":
        problems: list[tuple[str, str]] = []
        kinds = [d.kind for d in self.destinations]
        for i, kind in enumerate(kinds):
            if kind in kinds[:i]:
                problems.append((f"destinations[{i}].kind", f"a second {kind} destination (one of each kind)"))
        if self.space is None and "replay" not in kinds:
            problems.append(("space", "missing (only a replay destination can do without one: then its oracle's "
                             "compositions are the candidates)"))
        if not problems:
            try:
                self.share_plan()
            except _Problems as exc:
                problems += exc.items
        if problems:
            raise _Problems(problems)
        return self

    # ---- derived ----------------------------------------------------------------------

    def share_plan(self) -> list[int]:
        """Each destination's share of every batch (see the module docstring)."""
        explicit = [d.budget if d.kind == "simulation" else d.share for d in self.destinations]
        given = sum(s for s in explicit if s is not None)
        open_ = [i for i, s in enumerate(explicit) if s is None]
        left = self.batch - given
        if left < 0 or (not open_ and left != 0):
            detail = ", ".join(f"{d.kind} {s}" for d, s in zip(self.destinations, explicit) if s is not None)
            raise _Problems([("destinations", f"shares add up to {given} ({detail}) but batch is {self.batch}")])
        plan = list(explicit)
        for k, i in enumerate(open_):
            plan[i] = left // len(open_) + (1 if k < left % len(open_) else 0)
            if plan[i] == 0:
                key = "budget" if self.destinations[i].kind == "simulation" else "share"
                raise _Problems([(f"destinations[{i}]", f"gets no share of a batch of {self.batch}; "
                                  f"raise batch or give the others' {key} explicitly")])
        return plan

    def planned_iterations(self) -> int:
        if self.iterations is not None:
            return self.iterations
        if self.budget is not None:
            return -(-self.budget // self.batch)
        return UNTIL_ONLY_ITERATIONS if self.until else 8

    def replay(self) -> ReplayDestination | None:
        return next((d for d in self.destinations if d.kind == "replay"), None)

    def space_config(self):
        from agents.config import SpaceConfig

        if self.space is not None:
            return self.space.space_config()
        return SpaceConfig(candidates_csv=str(self.replay()._oracle_path), step=None)

    def holdout_systems(self) -> list[str]:
        """The replay oracle's systems the campaign can propose in: their literature outcomes
        are hidden from training (the campaign must not learn the answers beforehand)."""
        from discovery.dataset import held_out_systems

        replay = self.replay()
        if replay is None:
            return []
        if self.space is None:
            return held_out_systems(replay._oracle_systems)
        from agents.replay import ReplayOracle
        from discovery.composition import CompositionMatrix, parse_composition

        oracle = ReplayOracle.from_csv(replay._oracle_path)
        names = list(oracle.records)
        matrix = CompositionMatrix.from_compositions([parse_composition(n) for n in names])
        inside = self.space_config().build().contains_matrix(matrix)
        return held_out_systems({parse_composition(n).system for n, ok in zip(names, inside) if ok})

    def to_config(self, *, default_name: str = "campaign"):
        """The :class:`agents.config.CampaignConfig` this document runs as."""
        from agents.config import BatchShare, CampaignConfig

        plan = self.share_plan()
        shares, lab, sim = [], None, None
        for d, n in zip(self.destinations, plan):
            if d.kind == "simulation":
                sim = (d, n)
            else:
                shares.append(BatchShare(kind="experiment" if d.kind == "lab" else "replay", count=n))
                if d.kind == "lab":
                    lab = d
        replay = self.replay()
        options: dict[str, Any] = {}
        if sim is not None:
            d, n = sim
            options.update(simulation_budget=n, simulation_preset=d.preset, simulation_cores=d.cores,
                           simulation_timeout_s=d.timeout_s)
        return CampaignConfig(
            name=self.name or default_name,
            space=self.space_config(),
            iterations=self.planned_iterations(),
            batch_size=sum(s.count for s in shares),
            processing=self.processing,
            destination=shares[0].kind if shares else "simulation",
            shares=shares,
            oracle_csv=str(replay._oracle_path) if replay else None,
            holdout_systems=self.holdout_systems(),
            agent=self.agent.agent_config(),
            seed=self.seed,
            budget=self.budget,
            model_selection=self.model_selection,
            lab=None if lab is None else {"budget_per_night": lab.budget_per_night, "require_approval": lab.require_approval},
            until=self.until,
            timezone=self.timezone,
            objectives=[o.objective_config() for o in self.objectives],
            **options,
        )

    def summary(self) -> dict:
        """A short account of what the file asks for (``vitrify campaign validate``)."""
        from discovery.objectives import Objective

        space = self.space_config().build()
        if self.space is None:
            where = f"the replay oracle's {space.size():,} compositions"
        elif self.space.candidates:
            where = f"{space.size():,} candidates from {self.space.candidates}"
        else:
            parts = [("-".join(self.space.elements) if self.space.elements else f"systems {', '.join(self.space.systems)}")]
            if self.space.elements:
                lo, hi = self.space.components_range()
                parts.append(f"{lo}-{hi} elements" if lo != hi else f"{lo} elements")
            if self.space.bounds:
                parts.append(", ".join(f"{el} {lo:g}-{hi:g} at.%" for el, (lo, hi) in self.space.bounds.items()))
            if self.space.required:
                parts.append(f"with {', '.join(self.space.required)}")
            if self.space.forbidden:
                parts.append(f"without {', '.join(self.space.forbidden)}")
            if space.is_grid:
                parts.append(f"{self.space.step:g} at.% grid: {space.size():,} compositions")
            else:
                parts.append(f"continuous: {self.space.samples:,} samples per proposal")
            where = "; ".join(parts)
        agent = self.agent.agent_config()
        dests = []
        for d, n in zip(self.destinations, self.share_plan()):
            if d.kind == "lab":
                extra = []
                if d.budget_per_night is not None:
                    extra.append(f"at most {d.budget_per_night} a night")
                if d.require_approval is not None:
                    extra.append("operator approval" if d.require_approval else "no approval")
                dests.append(f"lab {n} per batch" + (f" ({', '.join(extra)})" if extra else ""))
            elif d.kind == "simulation":
                dests.append(f"simulation {_plural(n, 'MD job')} per batch ({d.preset})")
            else:
                dests.append(f"replay {n} per batch from {d.oracle}")
        until = f", until {self.until} {self.timezone}" if self.until else ""
        return {
            "name": self.name,
            "space": where,
            "space_size": space.size() if space.is_grid else None,
            "processing": self.processing,
            "objectives": [Objective(o.property, o.goal, o.min, o.max).describe() for o in self.objectives],
            "agent": f"{agent.name} (kappa {agent.kappa:g}, diversity {agent.diversity:g}, "
                     f"explore {agent.explore_fraction:g}, greedy final batches {agent.exploit_final_batches})",
            "run": f"{self.batch} per batch, "
                   + ("iterations until the deadline" if self.iterations is None and self.until
                      else _plural(self.planned_iterations(), "iteration")) + until,
            "destinations": dests,
            "holdout_systems": self.holdout_systems(),
        }


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


# --------------------------------------------------------------------------- reading


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (the second would
    silently win)."""


def _construct_mapping(loader: _UniqueKeyLoader, node, deep=False):
    seen = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} is given twice (first on line {seen[key] + 1})", key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _path(loc) -> str:
    out = ""
    parts = list(loc)
    for i, part in enumerate(parts):
        if isinstance(part, int):
            out += f"[{part}]"
        elif i > 0 and isinstance(parts[i - 1], int) and part in DESTINATION_KINDS:
            continue  # the discriminated union's tag, not a key of the document
        elif part.startswith("["):
            out += part
        elif part:
            out += ("." if out else "") + part
    return out


def _join(path: str, sub: str) -> str:
    if not sub:
        return path
    if sub.startswith("["):
        return path + sub
    return f"{path}.{sub}" if path else sub


def _known_keys(loc) -> list[str]:
    parent = [p for p in loc[:-1] if not isinstance(p, int) and p not in DESTINATION_KINDS]
    models = {
        (): CampaignDocument, ("space",): SpaceSection, ("agent",): AgentSection, ("objectives",): ObjectiveEntry,
    }
    if parent == ["destinations"]:
        kind = loc[2] if len(loc) > 2 and loc[2] in DESTINATION_KINDS else None
        classes = {"lab": LabDestination, "simulation": SimulationDestination, "replay": ReplayDestination}
        return list(classes[kind].model_fields) if kind else []
    model = models.get(tuple(parent))
    return list(model.model_fields) if model else []


def _problems_from(exc: ValidationError) -> list[Problem]:
    out: list[Problem] = []
    for error in exc.errors():
        loc = error["loc"]
        path = _path(loc)
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, _Problems):
            out += [Problem(_join(path, sub), msg) for sub, msg in cause.items]
            continue
        kind = error["type"]
        if kind == "extra_forbidden":
            close = difflib.get_close_matches(str(loc[-1]), _known_keys(loc), n=1)
            out.append(Problem(path, "unknown key" + (f" (did you mean {close[0]}?)" if close else "")))
        elif kind == "missing":
            out.append(Problem(path, "missing"))
        elif kind == "union_tag_invalid":
            out.append(Problem(_join(path, "kind"), f"unknown kind {error['ctx'].get('tag')!r}; known: {', '.join(DESTINATION_KINDS)}"))
        elif kind == "union_tag_not_found":
            out.append(Problem(_join(path, "kind"), f"missing (one of {', '.join(DESTINATION_KINDS)})"))
        else:
            msg = error["msg"].removeprefix("Value error, ")
            if kind not in ("value_error", "assertion_error") and not isinstance(error.get("input"), (dict, list)):
                msg += f" (got {error.get('input')!r})"
            out.append(Problem(path, msg))
    return out


def parse_campaign_text(text: str, *, base_dir: str | Path = ".", file: str | None = None) -> CampaignDocument:
    """A validated document from YAML text; relative paths in it resolve against ``base_dir``."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise CampaignFileError([Problem("", f"{where}not valid YAML: {exc.problem or exc}")], file=file) from None
    except yaml.YAMLError as exc:
        raise CampaignFileError([Problem("", f"not valid YAML: {exc}")], file=file) from None
    if not isinstance(data, dict):
        raise CampaignFileError([Problem("", "a campaign file is a mapping of keys (name, space, objectives, ...)")],
                                file=file)
    bad_keys = [k for k in data if not isinstance(k, str)]
    if bad_keys:
        raise CampaignFileError([Problem(str(k), "keys must be words") for k in bad_keys], file=file)
    try:
        return CampaignDocument.model_validate(data, context={"base_dir": Path(base_dir)})
    except ValidationError as exc:
        raise CampaignFileError(_problems_from(exc), file=file) from None


@dataclass(frozen=True)
class CampaignFile:
    """A campaign file as read: where it is, its exact text and the validated document."""

    path: Path
    text: str
    document: CampaignDocument

    @property
    def name(self) -> str:
        return self.document.name or self.path.stem

    def to_config(self):
        return self.document.to_config(default_name=self.path.stem)

    def stored(self) -> dict:
        """What the Campaign row keeps (its ``campaign_file`` column): the exact text and the
        parsed document (defaults filled in)."""
        return {
            "file": self.path.name,
            "path": str(self.path),
            "sha256": hashlib.sha256(self.text.encode("utf-8")).hexdigest(),
            "text": self.text,
            "document": self.document.model_dump(mode="json"),
        }


def load_campaign_file(path: str | Path) -> CampaignFile:
    """Read and validate a campaign file; CampaignFileError lists every problem."""
    path = Path(path).expanduser()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CampaignFileError([Problem("", f"{path}: no such file")], file=str(path)) from None
    except IsADirectoryError:
        raise CampaignFileError([Problem("", f"{path} is a directory, not a campaign file")], file=str(path)) from None
    except OSError as exc:
        raise CampaignFileError([Problem("", f"{path}: cannot read ({exc.strerror or exc})")], file=str(path)) from None
    if len(raw) > 1_000_000:
        raise CampaignFileError([Problem("", f"{path}: {len(raw):,} bytes is too large for a campaign file")], file=str(path))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CampaignFileError([Problem("", f"{path}: not a UTF-8 text file")], file=str(path)) from None
    document = parse_campaign_text(text, base_dir=path.resolve().parent, file=str(path))
    return CampaignFile(path.resolve(), text, document)


# --------------------------------------------------------------------------- templates

_HEADER = """\
# A vitrify campaign file: what to search, what to optimize and where each batch goes.
# Every key is explained in docs/campaigns.md. Check the file with:
#   vitrify campaign validate {file}
# and start it with:
#   vitrify campaign run {file}
"""

_SPACE_HELP = """\
# Where the agent may look. One of:
#   elements (+ components, bounds, required, forbidden, step),
#   systems: [Cu-Zr, Al-Ni-Zr]   (exactly those chemical systems), or
#   candidates: pool.csv         (an explicit list: a CSV with a formula column).
"""

_OBJECTIVES_HELP = """\
# What to optimize: one or more {{property, goal: maximize|minimize, min, max}}. With two goals
# the agent works on their Pareto front; min/max are constraints (an entry without a goal is
# a constraint only). Properties:
{properties}
"""


def _run_help(batch: int, iterations: int) -> str:
    lines = [("agent: ucb", f"# {' | '.join(AGENT_NAMES)}"), ("", "# or {preset: ucb, kappa: 0.5}"),
             (f"batch: {batch}", "# compositions per iteration, split between the destinations"),
             (f"iterations: {iterations}", '# or: until: "07:00" with timezone: Europe/Berlin'),
             ("", "# or: budget: N (compositions in all)")]
    return "".join(f"{key.ljust(30) if key else ' ' * 30}{comment}\n" for key, comment in lines)

_TEMPLATES = {
    "lab": """\
name: cuzraly-night
{space_help}space:
  elements: [Cu, Zr, Al, Y]
  components: [4, 4]          # min, max number of elements per alloy
  bounds: {{Al: [0, 15], Y: [0, 10]}}   # at.% per element
  required: [Cu, Zr]
  forbidden: []
  step: 1                     # at.% grid; without it: continuous sampling
processing: melt-spinning     # or suction-casting, copper-mould-casting, sputtering, other
{objectives_help}objectives:
  - {{property: glass, goal: maximize}}
  # E >= 100 GPa as a constraint (the campaign fits a modulus model if none is registered):
  # - {{property: youngs_modulus_gpa, min: 100}}
{run}# Where each batch goes. The lab queue: at most budget_per_night jobs released a night,
# each batch waiting for an operator's approval first (vitrify lab approvals).
destinations:
  - {{kind: lab, budget_per_night: 10, require_approval: true}}
  # two of every batch to molecular dynamics on Ray as well:
  # - {{kind: simulation, budget: 2, preset: production}}
seed: 0
""",
    "simulation": """\
name: cuzral-md
{space_help}space:
  elements: [Cu, Zr, Al]
  components: [3, 3]
  bounds: {{Al: [0, 15]}}
  step: 2
processing: melt-spinning
{objectives_help}objectives:
  # the stiffest likely glass formers (E from the modulus model, fitted by the campaign if
  # none is registered; every MD result corrects it)
  - {{property: youngs_modulus_gpa, goal: maximize}}
  - {{property: glass, min: 0.5}}
{run}# Where each batch goes: LAMMPS melt-quench simulations on Ray (budget = MD jobs per
# iteration; preset test: 256 atoms and a fast quench, production: 2,000 atoms).
destinations:
  - {{kind: simulation, budget: 2, preset: test}}
seed: 0
""",
    "replay": """\
name: {name}
# No space: the oracle's compositions are the candidates, and the oracle's systems are held
# out of training (the campaign must not know the answers beforehand).
processing: {processing}
{objectives_help}objectives:
  - {{property: glass, goal: maximize}}
{run}# Where each batch goes: a replay answers every job from a table of known outcomes
# (formula, gfa [, processing]), an after-the-fact experiment.
destinations:
  - {{kind: replay, oracle: {oracle}}}
seed: 0
""",
}


def template(kind: str = "lab", *, file: str = "campaign.yaml", oracle: str | None = None,
             oracle_path: Path | None = None) -> str:
    """A commented campaign file for one destination kind, valid as written.

    ``oracle`` is the replay table as written into the file (relative to it); ``oracle_path``
    where it is, to read its name and processing route."""
    from discovery.properties import PROPERTIES

    if kind not in _TEMPLATES:
        raise ValueError(f"unknown template {kind!r}; known: {', '.join(_TEMPLATES)}")
    import textwrap

    properties = textwrap.fill(", ".join(PROPERTIES), width=88, initial_indent="#   ", subsequent_indent="#   ")
    values = {
        "space_help": _SPACE_HELP,
        "objectives_help": _OBJECTIVES_HELP.format(properties=properties),
        "run": _run_help(2 if kind == "simulation" else 10, 4 if kind == "simulation" else 8),
    }
    if kind == "replay":
        if oracle is None or oracle_path is None:
            raise ValueError("a replay template needs its oracle")
        from agents.replay import ReplayPool

        route = ReplayPool.from_csv(oracle_path).campaign_route
        values.update(name=f"replay-{Path(oracle).stem}", processing=route, oracle=yaml.safe_dump(oracle).strip()
                      .removesuffix("\n...").strip())
    return _HEADER.format(file=file) + _TEMPLATES[kind].format(**values)
