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
import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Iterable, Sequence

import numpy as np

from vitrify.errors import VitrifyError

# at.% digits kept in canonical names; 0.01 at.% is below any synthesis precision.
CANONICAL_DECIMALS = 2
PERCENT_TOLERANCE = 0.5


class CompositionError(VitrifyError, ValueError):
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

    # cached: a composition is immutable, and data loading asks for these names millions of times
    @cached_property
    def elements(self) -> tuple[str, ...]:
        return tuple(e for e, _ in self.fractions)

    @cached_property
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

    @cached_property
    def canonical(self) -> str:
        return canonical_name(self.elements, [f for _, f in self.fractions])

    def __str__(self) -> str:
        return self.canonical


@lru_cache(maxsize=1 << 16)  # alloys repeat the same few amounts (50, 25, 5, ...)
def _format_percent(value: float) -> str:
    text = f"{round(value, CANONICAL_DECIMALS):.{CANONICAL_DECIMALS}f}".rstrip("0").rstrip(".")
    return text or "0"


def canonical_name(elements: Sequence[str], fractions: Sequence[float]) -> str:
    """``Al5Cu50Zr45`` from elements and atomic fractions; zero entries are dropped."""
    pairs = sorted((e, f) for e, f in zip(elements, fractions) if round(100.0 * f, CANONICAL_DECIMALS) > 0)
    return "".join(f"{e}{_format_percent(100.0 * f)}" for e, f in pairs)


#: Every element symbol (Z = 1..118); isotope symbols (D, T) are not elements.
ELEMENT_SYMBOLS = frozenset(
    """H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge
    As Se Br Kr Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu
    Gd Tb Dy Ho Er Tm Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U Np Pu
    Am Cm Bk Cf Es Fm Md No Lr Rf Db Sg Bh Hs Mt Ds Rg Cn Nh Fl Mc Lv Ts Og""".split()
)
#: Noble gases do not alloy: a formula containing one is a typo or a unit mix-up.
NOBLE_GASES = frozenset("He Ne Ar Kr Xe Rn Og".split())
#: Hydrogen isotopes that formula notations (pymatgen's among them) accept as elements.
ISOTOPES = {"D": "deuterium", "T": "tritium"}
#: Spellings of a missing value that must never parse as elements (``NaN`` is not Na + N).
MISSING_VALUES = frozenset({"nan", "none", "null", "na", "n/a", "-", "?", "missing"})
#: Longest formula accepted (characters): real alloy formulas stay well below 100.
MAX_FORMULA_LENGTH = 256
#: Amounts summing to 1 within this are atomic fractions (``Cu0.5Zr0.5``).
FRACTION_TOLERANCE = 0.005
_MAX_GROUP_CHOICES = 8  # ambiguous bracket groups resolved by trying both readings
_TOKEN = re.compile(r"([A-Z][a-z]?)|(\d+(?:\.\d*)?|\.\d+)|([(\[{])|([)\]}])")
_CLOSE = {"(": ")", "[": "]", "{": "}"}
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
#: Formulas without brackets (``Cu47.5Zr47.5Al5``): element symbols, each with an optional amount.
_SIMPLE_FORMULA = re.compile(rf"(?:[A-Z][a-z]?{_NUMBER}?)+")
_SIMPLE_ITEM = re.compile(rf"([A-Z][a-z]?)({_NUMBER}?)")
_PLAIN_ELEMENTS = ELEMENT_SYMBOLS - NOBLE_GASES - set(ISOTOPES)


class _Group:
    """A bracketed part of a formula, e.g. ``(Cu50Zr50)95``: its items and its subscript."""

    __slots__ = ("items", "amount")

    def __init__(self, items: list, amount: float):
        self.items = items
        self.amount = amount


def _tokens(raw: str, field: str) -> list[tuple[str, str, int]]:
    text = "".join(raw.split())  # "Co 18.5" and "Cu50 Zr50" are written with spaces in real data
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            char = text[pos]
            if char == "-" and text[pos + 1 : pos + 2].isdigit():
                hint = ": negative amounts are not allowed"
            elif char.islower():
                hint = " (element symbols start with a capital letter)"
            else:
                hint = ""
            raise CompositionError(f"cannot parse formula: unexpected {char!r} at position {pos + 1}{hint}",
                                   text=raw, field=field)
        kind = ("element", "number", "open", "close")[m.lastindex - 1]
        out.append((kind, m.group(0), pos))
        pos = m.end()
    return out


def _parse_items(tokens, i: int, raw: str, field: str, closer: str | None):
    items: list = []
    while i < len(tokens):
        kind, value, pos = tokens[i]
        if kind == "close":
            if closer is None or value != closer:
                raise CompositionError(f"cannot parse formula: unbalanced {value!r} at position {pos + 1}",
                                       text=raw, field=field)
            return items, i + 1
        if kind == "number":
            raise CompositionError(f"cannot parse formula: a number ({value}) must follow an element or a bracket",
                                   text=raw, field=field)
        if kind == "element":
            if value in ISOTOPES:
                raise CompositionError(f"{value} is an isotope symbol ({ISOTOPES[value]}): write H", text=raw,
                                       field=field)
            if value not in ELEMENT_SYMBOLS:
                raise CompositionError(f"unknown element {value}", text=raw, field=field)
            if value in NOBLE_GASES:
                raise CompositionError(f"{value} is a noble gas: it does not form alloys", text=raw, field=field)
            i += 1
            amount = 1.0
            if i < len(tokens) and tokens[i][0] == "number":
                amount = float(tokens[i][1])
                i += 1
            items.append((value, amount))
            continue
        inner, i = _parse_items(tokens, i + 1, raw, field, _CLOSE[value])
        if not inner:
            raise CompositionError("cannot parse formula: empty brackets", text=raw, field=field)
        amount = 1.0
        if i < len(tokens) and tokens[i][0] == "number":
            amount = float(tokens[i][1])
            i += 1
        items.append(_Group(inner, amount))
    if closer is not None:
        raise CompositionError(f"cannot parse formula: {closer!r} missing", text=raw, field=field)
    return items, i


def _is_whole(total: float) -> bool:
    """Amounts that read as a complete composition: at.% (100) or atomic fractions (1)."""
    return abs(total - 100.0) <= PERCENT_TOLERANCE or abs(total - 1.0) <= FRACTION_TOLERANCE


def _amounts(items, choice: dict[int, bool], groups: list) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items:
        if isinstance(item, _Group):
            inner = _amounts(item.items, choice, groups)
            total = sum(inner.values())
            # normalized reading: (Cu50Zr50)95 = 95 at.% of a Cu50Zr50 alloy (the metallurgists'
            # notation); otherwise the chemists': (NiB)2 = Ni2B2
            normalized = choice.get(id(item), _is_whole(total))
            scale = item.amount / total if normalized and total > 0 else item.amount
            for el, x in inner.items():
                out[el] = out.get(el, 0.0) + x * scale
        else:
            el, x = item
            out[el] = out.get(el, 0.0) + x
    return out


def _ambiguous_groups(items, out: list) -> list:
    for item in items:
        if isinstance(item, _Group):
            _ambiguous_groups(item.items, out)
            if not _is_whole(sum(_amounts(item.items, {}, []).values())):
                out.append(item)
    return out


def _read_amounts(items) -> dict[str, float]:
    """Element amounts of a parsed formula. A bracket group whose content sums to 100 or 1
    is a normalized sub-alloy; for other groups (``(CuNi)16``, ``(NiB)2``) the reading that
    makes the whole formula sum to 100 or 1 wins, else the chemists' (multiply counts)."""
    groups = _ambiguous_groups(items, [])
    if not groups or len(groups) > _MAX_GROUP_CHOICES:
        return _amounts(items, {id(g): False for g in groups}, groups)
    fallback = None
    for mask in range(1 << len(groups)):
        choice = {id(g): bool(mask >> k & 1) for k, g in enumerate(groups)}
        amounts = _amounts(items, choice, groups)
        if fallback is None:
            fallback = amounts  # mask 0: every ambiguous group read the chemists' way
        if _is_whole(sum(amounts.values())):
            return amounts
    return fallback


@lru_cache(maxsize=200_000)
def _parse_cached(raw: str, strict: bool, wt_percent: bool):
    """(Composition, None) or (None, reason) for one formula text."""
    try:
        return Composition(_parse(raw, strict, wt_percent, "composition")), None
    except CompositionError as exc:
        return None, exc.reason


def _parse(raw: str, strict: bool, wt_percent: bool, field: str) -> tuple[tuple[str, float], ...]:
    if len(raw) > MAX_FORMULA_LENGTH:
        raise CompositionError(f"formula is {len(raw)} characters long; at most {MAX_FORMULA_LENGTH} are accepted",
                               text=raw[:40] + "...", field=field)
    if raw.lower() in MISSING_VALUES:
        raise CompositionError("missing value, not a formula", text=raw, field=field)
    simple = _SIMPLE_FORMULA.fullmatch("".join(raw.split()))
    pairs = _SIMPLE_ITEM.findall(simple.group(0)) if simple else None
    if pairs and all(el in _PLAIN_ELEMENTS for el, _ in pairs):
        # no brackets and only alloying elements: what the tokenizer and _read_amounts give,
        # without them (most formulas; the general path names every kind of error)
        amounts: dict[str, float] = {}
        for el, number in pairs:
            amounts[el] = amounts.get(el, 0.0) + (float(number) if number else 1.0)
        explicit = any(number for _, number in pairs)
    else:
        tokens = _tokens(raw, field)
        if not tokens:
            raise CompositionError("empty composition", text=raw, field=field)
        items, _ = _parse_items(tokens, 0, raw, field, None)
        amounts = _read_amounts(items)
        explicit = any(kind == "number" for kind, _, _ in tokens)
    if any(not math.isfinite(v) for v in amounts.values()):
        raise CompositionError("amount is not a finite number", text=raw, field=field)
    total = sum(amounts.values())
    if total <= 0:
        raise CompositionError("amounts sum to zero", text=raw, field=field)
    if strict and explicit and not _is_whole(total):
        unit = "wt.%" if wt_percent else "at.%"
        raise CompositionError(
            f"{unit} sum to {total:g}, not 100 +/- {PERCENT_TOLERANCE:g} (or 1 as fractions); "
            "pass normalize to rescale", text=raw, field=field)
    if wt_percent:
        from discovery.elements import element_properties

        els = tuple(amounts)
        mass = element_properties(els)["atomic_mass"]
        amounts = {el: amounts[el] / float(m) for el, m in zip(els, mass)}
        total = sum(amounts.values())
    pairs = tuple(sorted((el, x / total) for el, x in amounts.items() if x > 0))
    tiny = [el for el, f in pairs if round(100.0 * f, CANONICAL_DECIMALS) <= 0]
    if tiny:
        raise CompositionError(f"{', '.join(tiny)} below the {10.0 ** -CANONICAL_DECIMALS:g} at.% resolution",
                               text=raw, field=field)
    return pairs


def split_system(system) -> list[str]:
    """The element symbols of a chemical system as written: ``"Cu-Zr-Al"``, ``"Cu,Zr,Al"`` or a
    sequence of symbols; order kept, nothing validated (see :func:`parse_system`)."""
    parts = str(system).replace(",", "-").split("-") if isinstance(system, str) else [str(e) for e in system]
    return [p.strip() for p in parts if p.strip()]


def parse_system(system, *, field: str = "system") -> tuple[str, ...]:
    """The elements of a chemical system (``"Cu-Zr-Al"`` -> ``("Cu", "Zr", "Al")``, order kept).

    This is the one system reader: campaign spaces, hold-outs, replay pools and ternary maps
    call it. Unknown symbols and repeated elements raise :class:`CompositionError`."""
    els = split_system(system)
    if not els:
        raise CompositionError("empty chemical system", text=str(system), field=field)
    unknown = [e for e in els if e not in ELEMENT_SYMBOLS]
    if unknown:
        raise CompositionError(f"unknown element {unknown[0]}", text=str(system), field=field)
    if len(set(els)) != len(els):
        raise CompositionError("an element appears twice", text=str(system), field=field)
    return tuple(els)


def parse_composition(
    text: str,
    *,
    percent: bool = False,
    normalize: bool = False,
    wt_percent: bool = False,
    field: str = "composition",
) -> Composition:
    """Read a formula in the notation of the field and normalize it to atomic fractions.

    Accepted: ``Cu47.5Zr47.5Al5`` (at.%), ``Cu0.475Zr0.475Al0.05`` (atomic fractions),
    ``(Cu50Zr50)95Al5`` (95 at.% of Cu50Zr50, i.e. Cu47.5Zr47.5Al5), nested groups
    (``((Fe0.5Co0.5)0.75B0.2Si0.05)96Nb4``), ``[]`` and ``{}`` as brackets, ``CuZr`` (equal
    parts), spaces anywhere. Refused: unknown symbols, the isotope symbols D and T, noble
    gases, missing-value spellings (``NaN`` is not Na + N), formulas over
    :data:`MAX_FORMULA_LENGTH` characters, elements below the 0.01 at.% resolution.

    ``percent=True`` (what lab reports and predictions use): explicit amounts must sum to
    100 +/- 0.5 (at.%) or 1 +/- 0.005 (fractions) unless ``normalize`` is true.
    ``percent=False`` accepts any positive amounts (``CuZr2``) and normalizes them.
    ``wt_percent=True``: the amounts are mass percentages, converted to atomic fractions
    with the elements' atomic masses.

    This is the one formula parser: every channel (CSV import, reports, the intake API,
    predictions, data loading) calls it.
    """
    if text is None:
        raise CompositionError("empty composition", text=text, field=field)
    raw = str(text).strip()
    if not raw:
        raise CompositionError("empty composition", text=text, field=field)
    comp, reason = _parse_cached(raw, bool(percent and not normalize), bool(wt_percent))
    if comp is None:
        shown = raw if len(raw) <= MAX_FORMULA_LENGTH else raw[:40] + "..."
        raise CompositionError(reason, text=shown, field=field)
    return comp


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
        """:func:`canonical_name` of every row (only the present elements are formatted:
        a matrix over dozens of elements has a handful per row)."""
        order = sorted(range(len(self.elements)), key=lambda j: self.elements[j])
        els = [self.elements[j] for j in order]
        f = self.fractions[:, order]
        out = []
        for row, cols in zip(f, (np.flatnonzero(r) for r in f > 0)):
            parts = []
            for j in cols:
                pct = 100.0 * float(row[j])
                if round(pct, CANONICAL_DECIMALS) > 0:
                    parts.append(f"{els[j]}{_format_percent(pct)}")
            out.append("".join(parts))
        return out

    def systems(self) -> list[str]:
        present = self.fractions > 0
        return ["-".join(e for e, p in zip(self.elements, row) if p) for row in present]
