"""Alloy compositions: parsing, normalization, canonical names and the matrix form.

Every place in vitrify that reads a formula (CSV import, CLI reports, the intake API,
workers) calls :func:`parse_composition`; nothing else parses formulas.

Two representations:

* :class:`Composition` -- one alloy, atomic fractions summing to 1, with a canonical
  name (``Al5Cu50Zr45``: elements in alphabetical order, at.% rounded to 0.01) that is
  the unique key in the database.
* :class:`CompositionMatrix` -- many alloys as a dense ``(n_compositions, n_elements)``
  array of atomic fractions over a shared element list; what the vectorized featurizer
  and the acquisition maths consume.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

# at.% digits kept in canonical names; 0.01 at.% is below any synthesis precision.
CANONICAL_DECIMALS = 2
PERCENT_TOLERANCE = 0.5


class CompositionError(ValueError):
    """A formula that cannot be read as an alloy composition.

    ``field`` names the input field (for CSV rows and API payloads) so callers can
    report "row 12, field 'composition': ...".
    """

    def __init__(self, message: str, *, text: str | None = None, field: str = "composition"):
        self.text = text
        self.field = field
        self.reason = message
        super().__init__(f"{field}: {message}" + (f" (got {text!r})" if text is not None else ""))


@dataclass(frozen=True)
class Composition:
    """An alloy as atomic fractions (summing to 1), elements sorted alphabetically."""

    fractions: tuple[tuple[str, float], ...]

    def __post_init__(self) -> None:
        if not self.fractions:
            raise CompositionError("no elements")
        total = sum(f for _, f in self.fractions)
        if not math.isclose(total, 1.0, rel_tol=0, abs_tol=1e-9):
            raise CompositionError(f"fractions sum to {total}, not 1")
        names = [e for e, _ in self.fractions]
        if names != sorted(names) or len(set(names)) != len(names):
            raise CompositionError("elements must be unique and sorted")

    @classmethod
    def from_fractions(cls, amounts: dict[str, float]) -> "Composition":
        """Normalize positive amounts of known elements to atomic fractions."""
        items = [(el, float(x)) for el, x in amounts.items() if float(x) > 0]
        total = sum(x for _, x in items)
        if total <= 0:
            raise CompositionError("amounts must be positive")
        return cls(tuple(sorted((el, x / total) for el, x in items)))

    @property
    def elements(self) -> tuple[str, ...]:
        return tuple(e for e, _ in self.fractions)

    @property
    def system(self) -> str:
        """Chemical system, e.g. ``Al-Cu-Zr`` (pymatgen's convention: sorted, dash-joined)."""
        return "-".join(self.elements)

    @property
    def n_components(self) -> int:
        return len(self.fractions)

    def as_dict(self) -> dict[str, float]:
        return dict(self.fractions)

    def at_percent(self) -> dict[str, float]:
        return {e: 100.0 * f for e, f in self.fractions}

    @property
    def canonical(self) -> str:
        return canonical_name(self.elements, [f for _, f in self.fractions])

    def __str__(self) -> str:
        return self.canonical


def _format_percent(value: float) -> str:
    text = f"{round(value, CANONICAL_DECIMALS):.{CANONICAL_DECIMALS}f}".rstrip("0").rstrip(".")
    return text or "0"


def canonical_name(elements: Sequence[str], fractions: Sequence[float]) -> str:
    """``Al5Cu50Zr45`` from elements and atomic fractions; zero entries are dropped."""
    pairs = sorted((e, f) for e, f in zip(elements, fractions) if round(100.0 * f, CANONICAL_DECIMALS) > 0)
    return "".join(f"{e}{_format_percent(100.0 * f)}" for e, f in pairs)


def parse_composition(
    text: str,
    *,
    percent: bool = False,
    normalize: bool = False,
    field: str = "composition",
) -> Composition:
    """Parse a formula with pymatgen and normalize it to atomic fractions.

    ``percent=True`` means the amounts are at.% (how lab staff write ``Cu50Zr45Al5``):
    they must then sum to 100 +/- 0.5 unless ``normalize`` is true. With
    ``percent=False`` any positive amounts are accepted (``CuZr2``, ``Cu0.5Zr0.5``)
    and normalized. Unknown element symbols are rejected, never turned into
    pymatgen's dummy species.
    """
    from pymatgen.core import Composition as PmgComposition
    from pymatgen.core import Element

    if text is None or not str(text).strip():
        raise CompositionError("empty composition", text=text, field=field)
    raw = str(text).strip()
    try:
        pmg = PmgComposition(raw)
    except Exception as exc:  # pymatgen raises ValueError/KeyError/CompositionError variants
        raise CompositionError(f"cannot parse formula: {exc}", text=raw, field=field) from None
    unknown = [str(sp) for sp in pmg.elements if not isinstance(sp, Element)]
    if unknown:
        raise CompositionError(f"unknown element(s) {', '.join(unknown)}", text=raw, field=field)
    amounts = pmg.get_el_amt_dict()
    if any(v < 0 for v in amounts.values()):
        raise CompositionError("negative amount", text=raw, field=field)
    if any(not math.isfinite(v) for v in amounts.values()):
        raise CompositionError("amount is not a finite number", text=raw, field=field)
    total = sum(amounts.values())
    if total <= 0:
        raise CompositionError("amounts sum to zero", text=raw, field=field)
    if percent and not normalize and abs(total - 100.0) > PERCENT_TOLERANCE:
        raise CompositionError(
            f"at.% sum to {total:g}, not 100 +/- {PERCENT_TOLERANCE:g} (pass normalize to rescale)",
            text=raw,
            field=field,
        )
    return Composition.from_fractions(amounts)


@dataclass(frozen=True)
class CompositionMatrix:
    """Many compositions over one element list: ``fractions[i, j]`` = fraction of ``elements[j]``."""

    elements: tuple[str, ...]
    fractions: np.ndarray

    def __post_init__(self) -> None:
        arr = np.asarray(self.fractions, dtype=float)
        if arr.ndim != 2 or arr.shape[1] != len(self.elements):
            raise ValueError(f"fractions must be (n, {len(self.elements)}), got {arr.shape}")
        object.__setattr__(self, "fractions", arr)

    def __len__(self) -> int:
        return self.fractions.shape[0]

    @classmethod
    def from_compositions(
        cls, compositions: Iterable[Composition], elements: Sequence[str] | None = None
    ) -> "CompositionMatrix":
        comps = list(compositions)
        if elements is None:
            elements = sorted({e for c in comps for e in c.elements})
        index = {e: j for j, e in enumerate(elements)}
        arr = np.zeros((len(comps), len(elements)))
        for i, comp in enumerate(comps):
            for el, frac in comp.fractions:
                try:
                    arr[i, index[el]] = frac
                except KeyError:
                    raise ValueError(f"{comp.canonical}: element {el} not in {list(elements)}") from None
        return cls(tuple(elements), arr)

    @classmethod
    def from_formulas(cls, formulas: Iterable[str], elements: Sequence[str] | None = None) -> "CompositionMatrix":
        return cls.from_compositions((parse_composition(f) for f in formulas), elements)

    def take(self, index: np.ndarray | Sequence[int]) -> "CompositionMatrix":
        return CompositionMatrix(self.elements, self.fractions[np.asarray(index)])

    def composition(self, i: int) -> Composition:
        return Composition.from_fractions({e: f for e, f in zip(self.elements, self.fractions[i]) if f > 0})

    def canonical_names(self) -> list[str]:
        return [canonical_name(self.elements, row) for row in self.fractions]

    def systems(self) -> list[str]:
        present = self.fractions > 0
        return ["-".join(e for e, p in zip(self.elements, row) if p) for row in present]
