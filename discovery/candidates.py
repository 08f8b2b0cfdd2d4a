"""An explicit candidate list: the compositions a lab can make (a CSV with a ``formula``
column), searched instead of a generated space.

:class:`CandidateList` offers what the proposer uses of a :class:`discovery.space.SearchSpace`
(``iter_chunks``, ``size``, ``contains``, ``contains_matrix``, ``is_grid``), so a campaign
searches either the same way.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from discovery.composition import Composition, CompositionError, CompositionMatrix, parse_composition
from vitrify.errors import VitrifyError

#: Rows of a candidate file reported by name before the rest are summarised.
MAX_ROW_ERRORS = 5


class CandidateError(VitrifyError, ValueError):
    """An unreadable candidate file: ``problems`` lists (row, message), row None for the file."""

    def __init__(self, path: str | Path, problems: list[tuple[int | None, str]]):
        self.path = str(path)
        self.problems = problems
        shown = [f"row {row}: {msg}" if row is not None else msg for row, msg in problems[:MAX_ROW_ERRORS]]
        more = len(problems) - MAX_ROW_ERRORS
        super().__init__("; ".join(shown) + (f"; and {more} more" if more > 0 else ""))


@dataclass(frozen=True)
class CandidateList:
    """Distinct compositions (first occurrence kept), columns over the union of their elements."""

    matrix: CompositionMatrix
    source: str = "candidates"

    @classmethod
    def from_compositions(cls, compositions, *, source: str = "candidates") -> "CandidateList":
        seen: dict[str, Composition] = {}
        for comp in compositions:
            seen.setdefault(comp.canonical, comp)
        if not seen:
            raise CandidateError(source, [(None, "no compositions")])
        return cls(CompositionMatrix.from_compositions(list(seen.values())), source)

    @classmethod
    def from_csv(cls, path: str | Path) -> "CandidateList":
        """Read ``path`` (a ``formula`` column; other columns are ignored). Amounts may be
        at.% or any positive amounts; each formula is normalized. Every bad row is reported."""
        path = Path(path)
        try:
            with path.open(newline="", encoding="utf-8-sig") as fh:
                reader = csv.DictReader(fh)
                if reader.fieldnames is None or "formula" not in [f.strip() for f in reader.fieldnames]:
                    raise CandidateError(path, [(None, f"no 'formula' column (columns: {', '.join(reader.fieldnames or [])})")])
                key = next(f for f in reader.fieldnames if f.strip() == "formula")
                comps, problems = [], []
                for i, row in enumerate(reader, start=1):
                    try:
                        comps.append(parse_composition(row.get(key) or "", field="formula"))
                    except CompositionError as exc:
                        problems.append((i, f"{exc.reason} (got {row.get(key)!r})"))
        except OSError as exc:
            raise CandidateError(path, [(None, f"cannot read: {exc.strerror or exc}")]) from None
        except UnicodeDecodeError:
            raise CandidateError(path, [(None, "not a UTF-8 text file")]) from None
        if problems:
            raise CandidateError(path, problems)
        return cls.from_compositions(comps, source=path.name)

    @property
    def elements(self) -> tuple[str, ...]:
        return self.matrix.elements

    @property
    def is_grid(self) -> bool:
        return True  # finite: enumerated, never sampled

    def size(self) -> int:
        return len(self.matrix)

    def __len__(self) -> int:
        return len(self.matrix)

    def systems(self) -> set[str]:
        return set(self.matrix.systems())

    def iter_chunks(self, chunk_size: int = 100_000) -> Iterator[CompositionMatrix]:
        for start in range(0, len(self.matrix), chunk_size):
            yield self.matrix.take(np.arange(start, min(start + chunk_size, len(self.matrix))))

    def contains_matrix(self, matrix: CompositionMatrix) -> np.ndarray:
        names = set(self.matrix.canonical_names())
        return np.array([n in names for n in matrix.canonical_names()], dtype=bool)

    def contains(self, composition: Composition | str) -> bool:
        if isinstance(composition, str):
            composition = parse_composition(composition)
        return composition.canonical in set(self.matrix.canonical_names())

    def __str__(self) -> str:
        return f"CandidateList({len(self)} compositions from {self.source})"
