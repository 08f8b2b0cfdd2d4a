"""A campaign's search space: which alloys an agent may propose.

A :class:`SearchSpace` is a small, validated, serializable value object. It describes
compositions over a list of elements with

* ``required`` / ``forbidden`` elements,
* a number of components between ``min_components`` and ``max_components``,
* per-element ``bounds`` in at.% (the element's content must lie in ``[lo, hi]``; absent
  counts as 0 at.%, so ``lo > 0`` makes the element mandatory),
* either a composition grid (``step`` in at.%, which must divide 100) or continuous
  sampling of the simplex (``step=None``),
* optionally an explicit list of chemical ``systems`` (``"Cu-Zr"``): then exactly those
  element sets are searched (see :meth:`SearchSpace.from_systems`).

"Present" means at least one grid step (or at least 0.01 at.%, the precision of
canonical names, in continuous spaces), so a point of a ternary subset really is a
ternary alloy and its canonical name shows every element.

Grid spaces can be astronomically large (5 of 30 elements at 1 at.% is ~5e11 points), so
nothing here materializes a whole space: :meth:`SearchSpace.iter_chunks` streams
:class:`~discovery.composition.CompositionMatrix` chunks generated vectorized per element
subset, :meth:`SearchSpace.size` counts exactly by dynamic programming over the
bounds, and :meth:`SearchSpace.sample` draws uniformly over grid points by sequential
(constructive) sampling from the same counting tables.

Serialization (:meth:`SearchSpace.to_dict` / :meth:`SearchSpace.from_dict`) is plain
JSON-compatible data::

    {"format": "vitrify.search_space/1", "elements": ["Al", "Cu", "Zr"],
     "required": [], "forbidden": [], "min_components": 2, "max_components": 3,
     "bounds": {"Zr": [30.0, 70.0]}, "step": 1.0, "systems": null}
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from discovery.composition import CANONICAL_DECIMALS, ELEMENT_SYMBOLS, Composition, CompositionMatrix, parse_composition
from vitrify.errors import VitrifyError

FORMAT = "vitrify.search_space/1"
MAX_COMPONENTS = 5
# Smallest grid step / smallest present content in continuous spaces: the resolution of
# canonical names (0.01 at.%), so distinct grid points always have distinct names.
MIN_STEP = 10.0 ** -CANONICAL_DECIMALS
_GRID_TOL = 1e-6  # tolerance (in grid steps) when testing whether a point lies on the grid
_PCT_TOL = 1e-7  # tolerance (in at.%) on bounds


class SpaceError(VitrifyError, ValueError):
    """An invalid search-space definition or an impossible request on a space.

    ``field`` names the offending setting (``"bounds"``, ``"step"``...) so API and CLI
    layers can point at it.
    """

    def __init__(self, message: str, *, field: str | None = None):
        self.field = field
        self.reason = message
        super().__init__(f"{field}: {message}" if field else message)


# --------------------------------------------------------------------------------------
# counting and enumeration kernels (integer grid units: a composition is k with sum N)
# --------------------------------------------------------------------------------------


def _box_sum(table: np.ndarray, a: int, b: int) -> np.ndarray:
    """``out[..., s] = sum_{v=a..b} table[..., s - v]`` (terms with s - v < 0 are 0)."""
    n = table.shape[-1]
    prefix = np.zeros(table.shape[:-1] + (n + 1,), dtype=table.dtype)
    prefix[..., 1:] = np.cumsum(table, axis=-1)
    s = np.arange(n)
    hi = np.clip(s - a + 1, 0, n)
    lo = np.clip(s - b, 0, n)
    return prefix[..., hi] - prefix[..., lo]


def _element_step(table: np.ndarray, a: int, b: int, forced: bool) -> np.ndarray:
    """Fold one element into a (components, sum) count table.

    The element is either absent (not allowed when ``forced``) or present with a value in
    ``[a, b]`` grid units, which adds one component.
    """
    boxed = _box_sum(table[:-1], a, b)
    new = np.zeros_like(table)
    new[1:] = boxed
    if not forced:
        new += table
    return new


def _count_table(ranges: Sequence[tuple[int, int]], forced: Sequence[bool], cmax: int, n: int, dtype) -> np.ndarray:
    """``table[c, s]``: ways to give the elements values with exactly c present summing to s."""
    table = np.zeros((cmax + 1, n + 1), dtype=dtype)
    table[0, 0] = 1
    for (a, b), f in zip(ranges, forced):
        table = _element_step(table, a, b, f)
    return table


def _suffix_counts(lo: np.ndarray, hi: np.ndarray, n: int) -> np.ndarray:
    """``cnt[i, m]``: ways for positions ``i..c-1`` (each in ``[lo, hi]``) to sum to ``m``."""
    c = len(lo)
    cnt = np.zeros((c + 1, n + 1), dtype=np.int64)
    cnt[c, 0] = 1
    for i in range(c - 1, -1, -1):
        cnt[i] = _box_sum(cnt[i + 1], int(lo[i]), int(hi[i]))
    return cnt


def _expand(lo: np.ndarray, hi: np.ndarray, total: int) -> np.ndarray:
    """All integer vectors with ``lo <= k <= hi`` and ``sum(k) == total``, lexicographic.

    Vectorized level by level (ragged repeat); every partial prefix is feasible, so the
    intermediate arrays never exceed the final one.
    """
    c = len(lo)
    smin = np.concatenate([np.cumsum(lo[::-1])[::-1], [0]])
    smax = np.concatenate([np.cumsum(hi[::-1])[::-1], [0]])
    if not smin[0] <= total <= smax[0]:
        return np.zeros((0, c), dtype=np.int32)
    cols: list[np.ndarray] = []
    rem = np.array([total], dtype=np.int64)
    for j in range(c - 1):
        low = np.maximum(lo[j], rem - smax[j + 1])
        high = np.minimum(hi[j], rem - smin[j + 1])
        counts = np.maximum(high - low + 1, 0)
        parent = np.repeat(np.arange(len(rem)), counts)
        starts = np.cumsum(counts) - counts
        values = low[parent] + (np.arange(parent.size) - starts[parent])
        cols = [col[parent] for col in cols]
        cols.append(values)
        rem = rem[parent] - values
    cols.append(rem)
    return np.stack(cols, axis=1).astype(np.int32)


def _blocks(lo, hi, total, cnt, budget, i=0, prefix=()) -> Iterator[tuple[tuple[int, ...], np.ndarray]]:
    """Yield ``(prefix, block)`` pieces covering positions ``i..`` lexicographically.

    A piece is expanded in one vectorized go once it holds at most ``budget`` points;
    larger sub-problems are split on the value of position ``i``.
    """
    c = len(lo)
    n_points = cnt[i, total]
    if n_points == 0:
        return
    if n_points <= budget or c - i <= 2:
        yield prefix, _expand(lo[i:], hi[i:], total)
        return
    smin_rest = int(lo[i + 1 :].sum())
    smax_rest = int(hi[i + 1 :].sum())
    for v in range(max(int(lo[i]), total - smax_rest), min(int(hi[i]), total - smin_rest) + 1):
        yield from _blocks(lo, hi, total - v, cnt, budget, i + 1, prefix + (v,))


def _sample_counts(ranges, forced, cmin, cmax, n_div, n, rng) -> np.ndarray:
    """Uniform samples of integer grid vectors (n, n_elements) by sequential sampling.

    Works element by element with suffix count tables ``S[j][c, s]`` (ways for elements
    ``j..`` to hold c components summing to s): each element is absent or takes a value
    with probability proportional to the number of completions.
    """
    n_el = len(ranges)
    suffix = [None] * (n_el + 1)
    table = np.zeros((cmax + 1, n_div + 1))
    table[0, 0] = 1.0
    suffix[n_el] = table
    for j in range(n_el - 1, -1, -1):
        suffix[j] = _element_step(suffix[j + 1], ranges[j][0], ranges[j][1], forced[j])
    weights = np.array([suffix[0][c, n_div] if cmin <= c <= cmax else 0.0 for c in range(cmax + 1)])
    if weights.sum() <= 0:
        raise SpaceError("the space is empty")
    out = np.zeros((n, n_el), dtype=np.int32)
    c_rem = rng.choice(cmax + 1, size=n, p=weights / weights.sum())
    s_rem = np.full(n, n_div, dtype=np.int64)
    for j in range(n_el):
        nxt = suffix[j + 1]
        a, b = ranges[j]
        prefix = np.zeros((cmax + 1, n_div + 2))
        prefix[:, 1:] = np.cumsum(nxt, axis=1)
        absent = np.zeros(n) if forced[j] else nxt[c_rem, s_rem]
        cm1 = np.maximum(c_rem - 1, 0)
        t_lo = np.clip(s_rem - b, 0, n_div + 1)
        t_hi = np.clip(s_rem - a + 1, 0, n_div + 1)
        present = np.where(c_rem >= 1, prefix[cm1, t_hi] - prefix[cm1, t_lo], 0.0)
        present = np.maximum(present, 0.0)
        u = rng.random(n) * (absent + present)
        take = (u >= absent) & (present > 0)
        if take.any():
            rows = np.flatnonzero(take)
            target = prefix[cm1[rows], t_lo[rows]] + (u[rows] - absent[rows])
            t = np.empty(rows.size, dtype=np.int64)
            for cv in np.unique(cm1[rows]):
                sel = cm1[rows] == cv
                t[sel] = np.searchsorted(prefix[cv], target[sel], side="right") - 1
            t = np.clip(t, t_lo[rows], t_hi[rows] - 1)
            v = s_rem[rows] - t
            out[rows, j] = v
            s_rem[rows] -= v
            c_rem[rows] -= 1
    bad = (s_rem != 0) | (c_rem != 0)
    if bad.any():  # floating-point edge cases only; redraw those rows
        out[bad] = _sample_counts(ranges, forced, cmin, cmax, n_div, int(bad.sum()), rng)
    return out


def _random_subsets(n_rows: int, n_optional: int, need: np.ndarray, rng) -> np.ndarray:
    """Boolean (n_rows, n_optional): a uniformly random subset of size ``need[i]`` per row."""
    if n_optional == 0:
        return np.zeros((n_rows, 0), dtype=bool)
    keys = rng.random((n_rows, n_optional))
    order = np.sort(keys, axis=1)
    kth = np.where(need > 0, order[np.arange(n_rows), np.maximum(need - 1, 0)], -1.0)
    return keys <= kth[:, None]


# --------------------------------------------------------------------------------------
# the value object
# --------------------------------------------------------------------------------------


def _symbols(values, name: str) -> tuple[str, ...]:
    if isinstance(values, str):
        values = [values]
    out = []
    for v in values or ():
        if not isinstance(v, str) or v not in ELEMENT_SYMBOLS:
            raise SpaceError(f"unknown element symbol {v!r}", field=name)
        out.append(v)
    if len(set(out)) != len(out):
        raise SpaceError("duplicate elements", field=name)
    return tuple(sorted(out))


def _system_tuple(system) -> tuple[str, ...]:
    from discovery.composition import split_system

    els = _symbols(split_system(system), "systems")
    if not els:
        raise SpaceError("empty chemical system", field="systems")
    return els


@dataclass(frozen=True)
class SearchSpace:
    """Compositions an agent may propose. See the module docstring for the semantics."""

    elements: tuple[str, ...]
    required: tuple[str, ...] = ()
    forbidden: tuple[str, ...] = ()
    min_components: int = 2
    max_components: int = 3
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)
    step: float | None = 1.0
    systems: tuple[tuple[str, ...], ...] | None = None

    # ---- construction and validation ------------------------------------------------

    def __post_init__(self) -> None:
        setattr_ = object.__setattr__
        elements = _symbols(self.elements, "elements")
        if not elements:
            raise SpaceError("at least one element is needed", field="elements")
        required = _symbols(self.required, "required")
        forbidden = _symbols(self.forbidden, "forbidden")
        for name in ("min_components", "max_components"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise SpaceError(f"must be an integer, got {value!r}", field=name)
        cmin, cmax = int(self.min_components), int(self.max_components)
        if not 2 <= cmax <= MAX_COMPONENTS and not (self.systems is not None and cmax == 1):
            raise SpaceError(f"must be between 2 and {MAX_COMPONENTS}, got {cmax}", field="max_components")
        if not 1 <= cmin <= cmax:
            raise SpaceError(f"must be between 1 and max_components={cmax}, got {cmin}", field="min_components")
        if missing := sorted(set(required) - set(elements)):
            raise SpaceError(f"{missing} not among the space's elements", field="required")
        if both := sorted(set(required) & set(forbidden)):
            raise SpaceError(f"{both} both required and forbidden", field="required")

        step = self.step
        if step is not None:
            if isinstance(step, bool) or not isinstance(step, (int, float, np.floating, np.integer)):
                raise SpaceError(f"must be a number or None, got {step!r}", field="step")
            step = float(step)
            if not (math.isfinite(step) and MIN_STEP - 1e-12 <= step <= 100.0):
                raise SpaceError(f"must be between {MIN_STEP} and 100 at.%, got {step}", field="step")
            n_div = round(100.0 / step)
            if abs(n_div * step - 100.0) > 1e-9 * 100:
                raise SpaceError(f"{step} at.% does not divide 100 at.%", field="step")
        else:
            n_div = None

        if not isinstance(self.bounds, Mapping):
            raise SpaceError("must map element -> (lo, hi) in at.%", field="bounds")
        bounds: dict[str, tuple[float, float]] = {}
        for el in sorted(self.bounds):
            if el not in elements:
                raise SpaceError(f"{el!r} is not among the space's elements", field="bounds")
            try:
                lo, hi = (float(x) for x in self.bounds[el])
            except (TypeError, ValueError):
                raise SpaceError(f"{el}: expected (lo, hi) in at.%, got {self.bounds[el]!r}", field="bounds") from None
            if not (math.isfinite(lo) and math.isfinite(hi) and 0.0 <= lo <= hi <= 100.0):
                raise SpaceError(f"{el}: need 0 <= lo <= hi <= 100 at.%, got ({lo}, {hi})", field="bounds")
            bounds[el] = (lo, hi)

        systems = None
        if self.systems is not None:
            if isinstance(self.systems, str):
                raise SpaceError("must be a list of systems like ['Cu-Zr', 'Al-Ni']", field="systems")
            parsed = sorted({_system_tuple(s) for s in self.systems})
            for s in parsed:
                if outside := sorted(set(s) - set(elements)):
                    raise SpaceError(f"{'-'.join(s)}: {outside} not among the space's elements", field="systems")
            systems = tuple(parsed)

        for name, value in (("elements", elements), ("required", required), ("forbidden", forbidden)):
            setattr_(self, name, value)
        setattr_(self, "min_components", cmin)
        setattr_(self, "max_components", cmax)
        setattr_(self, "step", step)
        setattr_(self, "bounds", bounds)
        setattr_(self, "systems", systems)
        setattr_(self, "_n_div", n_div)
        self._derive()

    def _derive(self) -> None:
        """Per-element present ranges, forced/allowed elements, admissible systems."""
        setattr_ = object.__setattr__
        index = {e: j for j, e in enumerate(self.elements)}
        forced = set(self.required)
        allowed = []
        ranges: dict[str, tuple[Any, Any]] = {}
        for el in self.elements:
            lo, hi = self.bounds.get(el, (0.0, 100.0))
            if self._n_div is not None:
                a = max(1, math.ceil(lo / self.step - 1e-9))
                b = min(self._n_div, math.floor(hi / self.step + 1e-9))
            else:
                a, b = max(lo, MIN_STEP) / 100.0, hi / 100.0
            must = el in forced or lo > _PCT_TOL
            usable = el not in self.forbidden and a <= b + 1e-15
            if must and not usable:
                why = "forbidden" if el in self.forbidden else "its bounds leave no admissible content"
                raise SpaceError(f"{el} must be present but is {why}", field="bounds")
            if must:
                forced.add(el)
            if usable:
                allowed.append(el)
                ranges[el] = (a, b)
        setattr_(self, "_index", index)
        setattr_(self, "_allowed", tuple(allowed))
        setattr_(self, "_forced", frozenset(forced))
        setattr_(self, "_ranges", ranges)
        if len(forced) > self.max_components:
            raise SpaceError(
                f"{len(forced)} elements must be present ({sorted(forced)}) but max_components={self.max_components}",
                field="max_components",
            )
        if self.systems is not None:
            admissible = tuple(
                s
                for s in self.systems
                if set(s) <= set(allowed) and forced <= set(s) and self.min_components <= len(s) <= self.max_components
            )
            if not admissible:
                raise SpaceError("no listed system satisfies required/forbidden/components/bounds", field="systems")
            setattr_(self, "_admissible_systems", admissible)
        else:
            if len(allowed) < self.min_components:
                raise SpaceError(
                    f"only {len(allowed)} usable elements for min_components={self.min_components}", field="elements"
                )
            setattr_(self, "_admissible_systems", None)
        if self._n_div is not None and self._float_size() == 0:
            raise SpaceError("no grid point satisfies the constraints (bounds, step, components)", field="bounds")

    @classmethod
    def from_systems(
        cls,
        systems: Sequence[str] | Sequence[Sequence[str]],
        step: float | None = 1.0,
        *,
        bounds: Mapping[str, tuple[float, float]] | None = None,
        required: Sequence[str] = (),
        forbidden: Sequence[str] = (),
    ) -> "SearchSpace":
        """Union of the given chemical systems, e.g. ``["Cu-Zr", "Al-Ni-Zr"]``.

        Exactly those element sets are searched (every element of a system present);
        systems containing a forbidden element or lacking a required one are dropped.
        """
        if isinstance(systems, str):
            systems = [systems]
        parsed = sorted({_system_tuple(s) for s in systems})
        if not parsed:
            raise SpaceError("no systems given", field="systems")
        sizes = [len(s) for s in parsed]
        if max(sizes) > MAX_COMPONENTS:
            raise SpaceError(f"systems may have at most {MAX_COMPONENTS} elements", field="systems")
        return cls(
            elements=sorted({e for s in parsed for e in s}),
            required=tuple(required),
            forbidden=tuple(forbidden),
            min_components=min(sizes),
            max_components=max(sizes),
            bounds=dict(bounds or {}),
            step=step,
            systems=tuple(parsed),
        )

    # ---- serialization ----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible dict (see module docstring); ``from_dict`` round-trips it."""
        return {
            "format": FORMAT,
            "elements": list(self.elements),
            "required": list(self.required),
            "forbidden": list(self.forbidden),
            "min_components": self.min_components,
            "max_components": self.max_components,
            "bounds": {el: [lo, hi] for el, (lo, hi) in self.bounds.items()},
            "step": self.step,
            "systems": None if self.systems is None else ["-".join(s) for s in self.systems],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SearchSpace":
        if not isinstance(data, Mapping):
            raise SpaceError(f"expected a mapping, got {type(data).__name__}")
        data = dict(data)
        fmt = data.pop("format", FORMAT)
        if fmt != FORMAT:
            raise SpaceError(f"unsupported format {fmt!r} (expected {FORMAT!r})", field="format")
        known = {"elements", "required", "forbidden", "min_components", "max_components", "bounds", "step", "systems"}
        if unknown := sorted(set(data) - known):
            raise SpaceError(f"unknown keys {unknown}")
        if "elements" not in data:
            raise SpaceError("missing", field="elements")
        kwargs = dict(data)
        if kwargs.get("bounds") is not None:
            kwargs["bounds"] = {k: tuple(v) for k, v in dict(kwargs["bounds"]).items()}
        else:
            kwargs.pop("bounds", None)
        for key in ("required", "forbidden"):
            if kwargs.get(key) is None:
                kwargs.pop(key, None)
        if kwargs.get("systems") is not None:
            kwargs["systems"] = tuple(kwargs["systems"])
        return cls(**kwargs)

    def __hash__(self) -> int:
        return hash((self.elements, self.required, self.forbidden, self.min_components, self.max_components,
                     tuple(self.bounds.items()), self.step, self.systems))

    # ---- derived facts ----------------------------------------------------------------

    @property
    def is_grid(self) -> bool:
        return self.step is not None

    @property
    def divisions(self) -> int | None:
        """Grid points per 100 at.% (``100 / step``), None for continuous spaces."""
        return self._n_div

    def subsets(self) -> Iterator[tuple[str, ...]]:
        """Admissible element sets (chemical systems), by size then lexicographically."""
        if self._admissible_systems is not None:
            yield from sorted(self._admissible_systems, key=lambda s: (len(s), s))
            return
        forced = sorted(self._forced)
        optional = [e for e in self._allowed if e not in self._forced]
        for c in range(max(self.min_components, len(forced)), self.max_components + 1):
            for combo in combinations(optional, c - len(forced)):
                yield tuple(sorted(forced + list(combo)))

    def _subset_bounds(self, subset: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        lo = np.array([self._ranges[e][0] for e in subset], dtype=np.int64)
        hi = np.array([self._ranges[e][1] for e in subset], dtype=np.int64)
        return lo, hi

    def _require_grid(self, what: str) -> None:
        if self._n_div is None:
            raise SpaceError(f"{what} needs a grid space (step is None: continuous sampling only)", field="step")

    def _float_size(self) -> float:
        if self._admissible_systems is not None:
            total = 0.0
            for s in self._admissible_systems:
                lo, hi = self._subset_bounds(s)
                total += float(_suffix_counts(lo, hi, self._n_div)[0, self._n_div])
            return total
        ranges = [self._ranges[e] for e in self._allowed]
        forced = [e in self._forced for e in self._allowed]
        table = _count_table(ranges, forced, self.max_components, self._n_div, float)
        return float(table[self.min_components :, self._n_div].sum())

    def size(self) -> int:
        """Exact number of grid points (no enumeration: DP over elements and bounds)."""
        self._require_grid("size()")
        cached = self.__dict__.get("_size")
        if cached is not None:
            return cached
        n = self._n_div
        if self._admissible_systems is not None:
            total = 0
            for s in self._admissible_systems:
                lo, hi = self._subset_bounds(s)
                total += int(_suffix_counts(lo, hi, n)[0, n])
        else:
            ranges = [self._ranges[e] for e in self._allowed]
            forced = [e in self._forced for e in self._allowed]
            probe = _count_table(ranges, forced, self.max_components, n, float)
            # prefix sums of the table stay below (n + 1) * max entry; int64 when that is safe
            dtype = np.int64 if float(probe.max()) * (n + 2) < 2.0**62 else object
            table = _count_table(ranges, forced, self.max_components, n, dtype)
            total = int(sum(int(x) for x in table[self.min_components :, n]))
        object.__setattr__(self, "_size", total)
        return total

    # ---- enumeration ------------------------------------------------------------------

    def iter_chunks(self, chunk_size: int = 100_000) -> Iterator[CompositionMatrix]:
        """Stream every grid point as CompositionMatrix chunks of at most ``chunk_size`` rows.

        Columns are ``self.elements``. Order: subsets as in :meth:`subsets`, then
        compositions lexicographic in the subset's grid counts. Memory is O(chunk_size).
        """
        self._require_grid("iter_chunks()")
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
            raise SpaceError(f"chunk_size must be a positive integer, got {chunk_size!r}", field="chunk_size")
        chunk_size = int(chunk_size)
        n = self._n_div
        n_el = len(self.elements)
        tables: dict[tuple, np.ndarray] = {}
        blocks: dict[tuple, np.ndarray] = {}
        out = np.zeros((chunk_size, n_el))
        fill = 0
        for subset in self.subsets():
            cols = np.array([self._index[e] for e in subset])
            lo, hi = self._subset_bounds(subset)
            key = (tuple(lo), tuple(hi))
            if key in blocks:
                pieces = [((), blocks[key])]
            else:
                cnt = tables.get(key)
                if cnt is None:
                    cnt = tables[key] = _suffix_counts(lo, hi, n)
                if cnt[0, n] == 0:
                    continue
                if cnt[0, n] <= chunk_size:
                    block = _expand(lo, hi, n)
                    if len(blocks) < 256:
                        blocks[key] = block
                    pieces = [((), block)]
                else:
                    pieces = _blocks(lo, hi, n, cnt, chunk_size)
            for prefix, block in pieces:
                start = 0
                while start < len(block):
                    take = min(chunk_size - fill, len(block) - start)
                    rows = slice(fill, fill + take)
                    if prefix:
                        out[rows, cols[: len(prefix)]] = np.asarray(prefix) / n
                        out[rows, cols[len(prefix) :]] = block[start : start + take] / n
                    else:
                        out[rows, cols] = block[start : start + take] / n
                    fill += take
                    start += take
                    if fill == chunk_size:
                        yield CompositionMatrix(self.elements, out)
                        out = np.zeros((chunk_size, n_el))
                        fill = 0
        if fill:
            yield CompositionMatrix(self.elements, out[:fill])

    # ---- sampling ---------------------------------------------------------------------

    def sample(self, n: int, rng: np.random.Generator | int | None = None, *, replace: bool = True) -> CompositionMatrix:
        """``n`` random compositions (columns ``self.elements``).

        Grid spaces: uniform over grid points (exact sequential sampling from the count
        tables); ``replace=False`` returns distinct points (needs ``n <= size()``).
        Continuous spaces: an admissible element set uniformly at random (weighted by
        the number of sets of each size), then a uniform point of its bounded simplex
        face (lower bounds shifted out, Dirichlet(1), upper bounds by rejection).
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise SpaceError(f"n must be a non-negative integer, got {n!r}", field="n")
        n = int(n)
        rng = np.random.default_rng(rng)
        if n == 0:
            return CompositionMatrix(self.elements, np.zeros((0, len(self.elements))))
        if self._n_div is None:
            return CompositionMatrix(self.elements, self._sample_continuous(n, rng))
        if not replace:
            return self._sample_unique(n, rng)
        return CompositionMatrix(self.elements, self._sample_grid(n, rng) / self._n_div)

    def _sample_grid(self, n: int, rng) -> np.ndarray:
        """(n, n_elements) integer grid counts, uniform over grid points."""
        nd = self._n_div
        out = np.zeros((n, len(self.elements)), dtype=np.int32)
        if self._admissible_systems is None:
            cols = [self._index[e] for e in self._allowed]
            ranges = [self._ranges[e] for e in self._allowed]
            forced = [e in self._forced for e in self._allowed]
            out[:, cols] = _sample_counts(ranges, forced, self.min_components, self.max_components, nd, n, rng)
            return out
        systems = self._admissible_systems
        weights = np.array([float(_suffix_counts(*self._subset_bounds(s), nd)[0, nd]) for s in systems])
        which = rng.choice(len(systems), size=n, p=weights / weights.sum())
        for i in np.unique(which):
            rows = np.flatnonzero(which == i)
            s = systems[i]
            ranges = [self._ranges[e] for e in s]
            counts = _sample_counts(ranges, [True] * len(s), len(s), len(s), nd, rows.size, rng)
            out[np.ix_(rows, [self._index[e] for e in s])] = counts
        return out

    def _sample_unique(self, n: int, rng) -> CompositionMatrix:
        total = self.size()
        if n > total:
            raise SpaceError(f"cannot draw {n} distinct points from a space of {total}", field="n")
        if total <= 4 * n:
            # dense request: choose global indices, then gather them while streaming
            pick = rng.choice(total, size=n, replace=False)
            order = np.argsort(pick, kind="stable")
            wanted = pick[order]
            out = np.empty((n, len(self.elements)))
            start = 0
            for chunk in self.iter_chunks():
                stop = start + len(chunk)
                lo, hi = np.searchsorted(wanted, [start, stop])
                out[order[lo:hi]] = chunk.fractions[wanted[lo:hi] - start]
                start = stop
            return CompositionMatrix(self.elements, out)
        kept = np.zeros((0, len(self.elements)), dtype=np.int32)
        while len(kept) < n:
            draw = np.concatenate([kept, self._sample_grid(int(1.2 * (n - len(kept))) + 16, rng)])
            _, first = np.unique(draw, axis=0, return_index=True)
            kept = draw[np.sort(first)][:n]
        return CompositionMatrix(self.elements, kept / self._n_div)

    def _sample_continuous(self, n: int, rng) -> np.ndarray:
        n_el = len(self.elements)
        lo_all = np.zeros(n_el)
        hi_all = np.zeros(n_el)
        for e, (a, b) in self._ranges.items():
            lo_all[self._index[e]], hi_all[self._index[e]] = a, b
        if self._admissible_systems is not None:
            masks = np.zeros((len(self._admissible_systems), n_el), dtype=bool)
            for i, s in enumerate(self._admissible_systems):
                masks[i, [self._index[e] for e in s]] = True
        forced_cols = [self._index[e] for e in sorted(self._forced)]
        optional_cols = [self._index[e] for e in self._allowed if e not in self._forced]
        nf = len(forced_cols)
        sizes = np.arange(max(self.min_components, nf), self.max_components + 1)
        size_w = np.array([math.comb(len(optional_cols), int(c) - nf) for c in sizes], dtype=float)
        if self._admissible_systems is None and size_w.sum() == 0:
            raise SpaceError("the space is empty")
        result = np.zeros((0, n_el))
        drawn = 0
        while len(result) < n:
            m = max(64, 2 * (n - len(result)))
            if self._admissible_systems is not None:
                present = masks[rng.integers(len(masks), size=m)]
            else:
                c = rng.choice(sizes, size=m, p=size_w / size_w.sum())
                present = np.zeros((m, n_el), dtype=bool)
                present[:, forced_cols] = True
                present[:, optional_cols] = _random_subsets(m, len(optional_cols), c - nf, rng)
            lo = np.where(present, lo_all, 0.0)
            hi = np.where(present, hi_all, 0.0)
            slack = 1.0 - lo.sum(axis=1)
            y = np.where(present, rng.standard_exponential((m, n_el)), 0.0)
            y /= y.sum(axis=1, keepdims=True)
            x = lo + slack[:, None] * y
            ok = (slack >= 0) & np.all(x <= hi + 1e-15, axis=1)
            x = x[ok]
            x /= x.sum(axis=1, keepdims=True)
            result = np.concatenate([result, x])
            drawn += m
            if drawn > 1000 * n + 100_000 and len(result) < 1e-3 * drawn:
                raise SpaceError("constraints too tight for rejection sampling (acceptance < 0.1%)", field="bounds")
        return result[:n]

    # ---- membership -------------------------------------------------------------------

    def contains(self, composition: Composition | str | Mapping[str, float]) -> bool:
        """Whether the composition satisfies every constraint (and lies on the grid)."""
        if isinstance(composition, str):
            composition = parse_composition(composition)
        elif isinstance(composition, Mapping):
            composition = Composition.from_fractions(dict(composition))
        elif not isinstance(composition, Composition):
            raise TypeError(f"expected Composition, formula or mapping, got {type(composition).__name__}")
        if any(e not in self._index for e in composition.elements):
            return False
        row = np.zeros((1, len(self.elements)))
        for e, f in composition.fractions:
            row[0, self._index[e]] = f
        return bool(self.contains_matrix(CompositionMatrix(self.elements, row))[0])

    def contains_matrix(self, matrix: CompositionMatrix) -> np.ndarray:
        """Vectorized :meth:`contains` over the rows of a CompositionMatrix."""
        x = matrix.fractions
        n_rows = x.shape[0]
        ok = np.abs(x.sum(axis=1) - 1.0) <= 1e-9
        ok &= np.all(x >= -1e-12, axis=1)
        cols = np.array([self._index.get(e, -1) for e in matrix.elements])
        outside = cols < 0
        if outside.any():
            ok &= ~np.any(x[:, outside] > 1e-12, axis=1)
        y = np.zeros((n_rows, len(self.elements)))
        y[:, cols[~outside]] = x[:, ~outside]
        pct = 100.0 * y
        if self._n_div is not None:
            k = y * self._n_div
            kr = np.rint(k)
            ok &= np.all(np.abs(k - kr) <= _GRID_TOL, axis=1)
            present = kr >= 1
        else:
            present = pct >= MIN_STEP - 1e-9
            ok &= ~np.any((pct > 1e-12) & ~present, axis=1)
        n_comp = present.sum(axis=1)
        ok &= (n_comp >= self.min_components) & (n_comp <= self.max_components)
        allowed = np.zeros(len(self.elements), dtype=bool)
        allowed[[self._index[e] for e in self._allowed]] = True
        ok &= ~np.any(present & ~allowed, axis=1)
        for e in self._forced:
            ok &= present[:, self._index[e]]
        for e, (lo, hi) in self.bounds.items():
            j = self._index[e]
            ok &= (pct[:, j] >= lo - _PCT_TOL) & (pct[:, j] <= hi + _PCT_TOL)
        if self._admissible_systems is not None and n_rows:
            systems = set(self._admissible_systems)
            patterns, inverse = np.unique(present, axis=0, return_inverse=True)
            good = np.array([tuple(e for e, p in zip(self.elements, row) if p) in systems for row in patterns])
            ok &= good[inverse.ravel()]
        return ok

    def __str__(self) -> str:
        what = f"{len(self.systems)} systems" if self.systems is not None else f"{len(self.elements)} elements"
        grid = f"step {self.step:g} at.%" if self.step is not None else "continuous"
        return f"SearchSpace({what}, {self.min_components}-{self.max_components} components, {grid})"
