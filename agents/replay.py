"""The replay oracle: answers a job from a data set of real outcomes (CAMD's after-the-fact
experiment). It says "no data" honestly when the data set has no record of the composition.
"""

from __future__ import annotations

import csv
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

    def __init__(self, records: dict[str, list[ReplayRecord]], *, source: str):
        self.records = dict(records)
        self.source = source

    @classmethod
    def from_csv(cls, path: Path | str, *, systems: set[str] | None = None) -> "ReplayOracle":
        path = Path(path)
        records: dict[str, list[ReplayRecord]] = defaultdict(list)
        with path.open(newline="", encoding="utf-8-sig") as fh:
            for i, row in enumerate(csv.DictReader(fh), start=1):
                comp = parse_composition(row["formula"], field=f"row {i} formula")
                if systems is not None and comp.system not in systems:
                    continue
                if row.get("phase"):
                    result = SynthesisResult.parse(row["phase"])
                else:
                    result = SynthesisResult.from_label(int(float(row["gfa"])))
                records[comp.canonical].append(ReplayRecord(result, ProcessingRoute.parse(row.get("processing")), i))
        return cls(records, source=path.name)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def systems(self) -> set[str]:
        return {parse_composition(name).system for name in self.records}

    def answer(self, canonical: str, route: ProcessingRoute | str = ProcessingRoute.UNKNOWN) -> ReplayAnswer:
        found = self.records.get(canonical)
        if not found:
            return ReplayAnswer(canonical, None, {"oracle": self.source, "reason": "no data"})
        route = ProcessingRoute(route)
        # Prefer records made by the requested route; several records that disagree are
        # reported (the first one answers, all are listed), never silently merged.
        matching = [r for r in found if r.route == route] or found
        chosen = matching[0]
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
