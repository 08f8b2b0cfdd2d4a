"""The labelled-CSV format, read in one place: ``formula, gfa [, phase, processing, system]``.

A labelled CSV lists compositions with the outcome of making them: ``gfa`` 1/0 (also
``true``/``false``) or a ``phase`` (``amorphous``, ``crystalline``, ``partially
crystalline``, ...), an optional ``processing`` route and an optional chemical ``system``
the row belongs to (a binary edge row of a ternary replay pool). ``composition`` is accepted
for ``formula``. Every reader of this format (``vitrify db import``, the replay oracle and
pools, the literature benchmark) calls :func:`read_labelled_csv`, so one file means the same
to all of them: a bad row is a problem named by row and field, never skipped or guessed.
Rows are returned as they are, duplicates and conflicts included; what a caller does with
several records of one composition is its own, documented rule.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from discovery.composition import Composition, CompositionError, parse_composition, parse_system
from discovery.vocabulary import ProcessingRoute, SynthesisResult, VocabularyError
from vitrify.errors import VitrifyError

_TRUE = ("1", "1.0", "true")
_FALSE = ("0", "0.0", "false")


@dataclass(frozen=True)
class LabelledRow:
    row: int  # 1-based data row (header excluded)
    composition: Composition
    result: SynthesisResult
    route: ProcessingRoute
    system: tuple[str, ...] | None = None


@dataclass(frozen=True)
class CSVProblem:
    row: int | None  # None: the file or its header
    field: str
    message: str

    def __str__(self) -> str:
        return (f"row {self.row}, " if self.row is not None else "") + f"field '{self.field}': {self.message}"


class LabelledCSVError(VitrifyError, ValueError):
    """A labelled CSV with problems (all of them, by row and field)."""

    def __init__(self, problems: list[CSVProblem], source: str = ""):
        self.problems = problems
        head = f"{source}: " if source else ""
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{head}{problems[0]}{more}")


def read_labelled_csv(text: str) -> tuple[list[LabelledRow], list[CSVProblem]]:
    """Every row of a labelled CSV's text, and every problem found (empty when all rows are good)."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or []) if h is not None]
    formula = "formula" if "formula" in header else "composition" if "composition" in header else None
    label = "gfa" if "gfa" in header else "phase" if "phase" in header else None
    missing = ([] if formula else ["formula"]) + ([] if label else ["gfa"])
    if missing:
        return [], [CSVProblem(None, c, "required column missing from the header") for c in missing]
    rows: list[LabelledRow] = []
    problems: list[CSVProblem] = []
    for i, raw in enumerate(reader, start=1):
        if None in raw:  # more fields than header columns
            problems.append(CSVProblem(i, formula, f"row has {len(header) + len(raw[None])} fields, header has {len(header)}"))
            continue
        rec = {(k or "").strip(): (v.strip() if isinstance(v, str) else v) for k, v in raw.items()}
        absent = [c for c in (formula, label) if rec.get(c) in (None, "")]
        if absent:
            problems.append(CSVProblem(i, absent[0], "value missing (empty field or truncated line)"))
            continue
        try:
            comp = parse_composition(rec[formula], field=formula)
        except CompositionError as exc:
            problems.append(CSVProblem(i, formula, exc.reason + f" (got {rec[formula]!r})"))
            continue
        try:
            if rec.get("phase"):
                result = SynthesisResult.parse(rec["phase"], field="phase")
            else:
                gfa = rec["gfa"].lower()
                if gfa not in _TRUE + _FALSE:
                    raise VocabularyError(f"gfa must be 1 or 0, got {rec['gfa']!r}", field="gfa")
                result = SynthesisResult.from_label(1 if gfa in _TRUE else 0)
            route = ProcessingRoute.parse(rec.get("processing"), field="processing")
        except VocabularyError as exc:
            problems.append(CSVProblem(i, exc.field, exc.reason))
            continue
        system = None
        if rec.get("system"):
            try:
                system = parse_system(rec["system"], field="system")
            except CompositionError as exc:
                problems.append(CSVProblem(i, "system", exc.reason + f" (got {rec['system']!r})"))
                continue
        rows.append(LabelledRow(i, comp, result, route, system))
    if not rows and not problems:
        problems.append(CSVProblem(None, formula, "the file has no data rows"))
    return rows, problems


def load_labelled_csv_rows(path: Path | str) -> list[LabelledRow]:
    """The rows of a labelled CSV file; :class:`LabelledCSVError` if any row (or the file) is bad."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LabelledCSVError([CSVProblem(None, "file", f"not UTF-8 text: {exc}")], path.name) from None
    except OSError as exc:
        raise LabelledCSVError([CSVProblem(None, "file", exc.strerror or str(exc))], path.name) from None
    rows, problems = read_labelled_csv(text)
    if problems:
        raise LabelledCSVError(problems, path.name)
    return rows
