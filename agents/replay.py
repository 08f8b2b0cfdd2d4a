"""The replay oracle: answers a job from a data set of real outcomes (CAMD's after-the-fact
experiment). It says "no data" honestly when the data set has no record of the composition.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from discovery.composition import parse_composition
from discovery.vocabulary import ProcessingRoute, SynthesisResult


@dataclass(frozen=True)
class ReplayRecord:
    result: SynthesisResult
    route: ProcessingRoute
    row: int


@dataclass(frozen=True)
class ReplayAnswer:
    canonical: str
    result: SynthesisResult | None  # None: the data set does not know this composition
    provenance: dict = field(default_factory=dict)

    @property
    def has_data(self) -> bool:
        return self.result is not None


class ReplayOracle:
    """Real outcomes keyed by canonical composition; built from a ``formula, gfa[, processing]`` CSV."""

    def __init__(self, records: dict[str, list[ReplayRecord]], *, source: str, extra_systems=()):
        self.records = dict(records)
        self.source = source
        # systems named in a ``system`` column (a binary edge row of a ternary pool belongs to it)
        self.extra_systems = frozenset(extra_systems)

    @classmethod
    def from_csv(cls, path: Path | str, *, systems: set[str] | None = None) -> "ReplayOracle":
        """Read ``formula, gfa`` (or ``phase``) ``[, processing, system]``; a bad row raises
        ValueError naming its row and field."""
        from discovery.labelled_csv import load_labelled_csv_rows

        path = Path(path)
        records: dict[str, list[ReplayRecord]] = defaultdict(list)
        extra: set[frozenset] = set()
        for r in load_labelled_csv_rows(path):
            if systems is not None and r.composition.system not in systems:
                continue
            records[r.composition.canonical].append(ReplayRecord(r.result, r.route, r.row))
            if r.system:
                extra.add(frozenset(r.system))
        return cls(records, source=path.name, extra_systems=extra)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def systems(self) -> set[str]:
        """The chemical systems the oracle answers in (and those its ``system`` column names)."""
        named = {"-".join(sorted(s)) for s in self.extra_systems}
        return {parse_composition(name).system for name in self.records} | named

    def answer(self, canonical: str, route: ProcessingRoute | str = ProcessingRoute.UNKNOWN) -> ReplayAnswer:
        found = self.records.get(canonical)
        if not found:
            return ReplayAnswer(canonical, None, {"oracle": self.source, "reason": "no data"})
        route = ProcessingRoute(route)
        # Prefer records made by the requested route. Records that disagree are all reported;
        # the answer is glass if any of them made a glass -- the rule the replay's pool and its
        # random and oracle baselines count by (someone made it glassy by that route).
        matching = [r for r in found if r.route == route] or found
        chosen = next((r for r in matching if r.result.glass_label == 1), matching[0])
        provenance = {"oracle": self.source, "row": chosen.row, "route": chosen.route.value}
        if len({r.result for r in matching}) > 1:
            provenance["conflicting_rows"] = [{"row": r.row, "result": r.result.value} for r in matching]
        return ReplayAnswer(canonical, chosen.result, provenance)


def answer_replay_job(oracle: ReplayOracle, job: dict) -> dict:
    """Worker entry point (runs inside a Ray task): a job dict in, a plain result dict out."""
    ans = oracle.answer(job["canonical"], job.get("processing", "unknown"))
    return {
        "job_id": job["job_id"],
        "canonical": ans.canonical,
        "result": ans.result.value if ans.result else None,
        "provenance": ans.provenance,
    }


def answer_replay_jobs(oracle: ReplayOracle, jobs: list[dict]) -> list[dict]:
    """Worker entry point for a chunk of jobs: one Ray task answers many, because one
    answer is a dictionary lookup and a Ray task per job costs more than the answer."""
    return [answer_replay_job(oracle, job) for job in jobs]
