"""The replay oracle and its pool, read from one labelled CSV (discovery.labelled_csv).

:class:`ReplayOracle` answers a job from a data set of real outcomes (CAMD's after-the-fact
experiment), saying "no data" honestly when the data set has no record of the composition;
:class:`ReplayPool` is the same file as a campaign's candidates: unique compositions, their
true label (glass if any record says glass -- the rule the oracle answers by) and route.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from discovery.composition import CompositionError, CompositionMatrix, parse_composition
from discovery.vocabulary import ProcessingRoute, SynthesisResult
from vitrify.errors import VitrifyError


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


class ReplayError(VitrifyError, ValueError):
    """Bad replay input: unreadable pool, impossible budget, unknown agent."""


def system_of(text: str) -> frozenset[str]:
    """Element set of a system written ``Al-Ni-Zr`` (any order) or of a formula (``Al10Ni5Zr85``)."""
    from discovery.composition import ELEMENT_SYMBOLS, split_system

    parts = split_system(str(text).strip())
    if parts and all(p in ELEMENT_SYMBOLS for p in parts):
        return frozenset(parts)
    return frozenset(parse_composition(str(text).strip()).elements)


@dataclass
class ReplayPool:
    """Unique candidate compositions with their true label and route, read by the replay
    oracle (agents.replay.ReplayOracle: one reader of the format). A composition's label is
    glass if any record says glass -- what the oracle answers; its route is the most common
    route among its records."""

    matrix: CompositionMatrix
    labels: np.ndarray
    routes: np.ndarray  # model route group per row
    systems: frozenset  # frozenset of frozenset(elements): the pool's chemical systems
    names: list[str]
    source: str = "pool"
    stats: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def n_glass(self) -> int:
        return int(self.labels.sum())

    @property
    def campaign_route(self) -> str:
        """The pool's most common route group (what the campaign is made by)."""
        values, counts = np.unique(self.routes.astype(str), return_counts=True)
        return str(values[np.argmax(counts)]) if len(values) else "unknown"

    @classmethod
    def from_csv(cls, path: str | Path) -> "ReplayPool":
        from agents.replay import ReplayOracle
        from discovery.labelled_csv import LabelledCSVError
        from discovery.features import featurizable

        path = Path(path)
        try:
            oracle = ReplayOracle.from_csv(path)
        except LabelledCSVError as exc:
            raise ReplayError(str(exc)) from None  # names the file, row and field
        except (CompositionError, ValueError, KeyError) as exc:
            raise ReplayError(f"{path.name}: {exc}") from None
        if not len(oracle):
            raise ReplayError(f"{path.name}: the pool is empty")
        names = list(oracle.records)
        matrix = CompositionMatrix.from_compositions([parse_composition(n) for n in names])
        ok = featurizable(matrix)
        keep = np.flatnonzero(ok)
        names = [names[i] for i in keep]
        labels, routes, conflicts = [], [], 0
        for name in names:
            records = oracle.records[name]
            answer = oracle.answer(name)
            labels.append(int(answer.result.glass_label == 1))
            groups = [r.route.model_group for r in records]
            vals, cnt = np.unique(groups, return_counts=True)
            routes.append(str(vals[np.argmax(cnt)]))
            conflicts += len({r.result.glass_label for r in records}) > 1
        systems = {frozenset(parse_composition(n).elements) for n in names} | set(oracle.extra_systems)
        n_rows = sum(len(v) for v in oracle.records.values())
        stats = {
            "rows": n_rows,
            "unique_compositions": len(oracle.records),
            "merged_duplicates": n_rows - len(oracle.records),
            "conflicting_labels_merged_to_glass": conflicts,
            "dropped_unfeaturizable": int((~ok).sum()),
        }
        return cls(matrix.take(keep), np.array(labels, dtype=int), np.array(routes, dtype=object), frozenset(systems),
                   names, path.name, stats)

    def system_names(self) -> list[str]:
        """Maximal systems (not contained in another pool system), e.g. ['Al-Ni-Zr']."""
        maximal = [s for s in self.systems if not any(s < t for t in self.systems)]
        return sorted("-".join(sorted(s)) for s in maximal)
