"""Measured quantities: their canonical units, accepted units and plausible ranges."""

from __future__ import annotations

import math
from typing import Any

from db.errors import IngestError, RowError


# Quantities a report or data set may carry: canonical unit and accepted units with
# converters to it; plausible range in the canonical unit (inclusive upper bounds).
QUANTITIES: dict[str, dict[str, Any]] = {
    "Dmax": {"unit": "mm", "convert": {"mm": 1.0, "cm": 10.0, "um": 1e-3, "µm": 1e-3}, "range": (0.0, 100.0)},
    "Tg": {"unit": "K", "convert": {"K": 1.0, "C": "C", "°C": "C"}, "range": (0.0, 4000.0)},
    "Tx": {"unit": "K", "convert": {"K": 1.0, "C": "C", "°C": "C"}, "range": (0.0, 4000.0)},
    "Tl": {"unit": "K", "convert": {"K": 1.0, "C": "C", "°C": "C"}, "range": (0.0, 5000.0)},
    "youngs_modulus": {"unit": "GPa", "convert": {"GPa": 1.0, "MPa": 1e-3}, "range": (0.0, 400.0)},
    "shear_modulus": {"unit": "GPa", "convert": {"GPa": 1.0, "MPa": 1e-3}, "range": (0.0, 300.0)},
    "bulk_modulus": {"unit": "GPa", "convert": {"GPa": 1.0, "MPa": 1e-3}, "range": (0.0, 500.0)},
    "density": {"unit": "g/cm3", "convert": {"g/cm3": 1.0, "g/cm^3": 1.0, "kg/m3": 1e-3}, "range": (0.0, 25.0)},
    # structure of simulated glasses (share of atoms in full <0,0,12,0> icosahedra)
    "icosahedral_fraction": {"unit": "fraction", "convert": {"fraction": 1.0, "%": 0.01}, "range": (-1e-12, 1.0)},
    # softness and motif clusters (discovery.structure; docs/structure.md)
    "mean_softness": {"unit": "1", "convert": {"1": 1.0}, "range": (-100.0, 100.0)},
    "fraction_soft": {"unit": "fraction", "convert": {"fraction": 1.0, "%": 0.01}, "range": (-1e-12, 1.0)},
    "motif_1_share": {"unit": "fraction", "convert": {"fraction": 1.0, "%": 0.01}, "range": (-1e-12, 1.0)},
    "motif_2_share": {"unit": "fraction", "convert": {"fraction": 1.0, "%": 0.01}, "range": (-1e-12, 1.0)},
    "motif_3_share": {"unit": "fraction", "convert": {"fraction": 1.0, "%": 0.01}, "range": (-1e-12, 1.0)},
}



def convert_measurement(quantity: str, value: Any, unit: str | None, *, row: int | None = None) -> tuple[float, str]:
    """Validate one measurement and return it in the canonical unit."""
    spec = QUANTITIES.get(quantity)
    if spec is None:
        raise IngestError([RowError(row, quantity, f"unknown quantity; known: {', '.join(QUANTITIES)}")])
    unit = spec["unit"] if unit in (None, "") else str(unit).strip()
    factor = spec["convert"].get(unit)
    if factor is None:
        raise IngestError([RowError(row, quantity, f"unknown unit {unit!r}; accepted: {', '.join(spec['convert'])}")])
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise IngestError([RowError(row, quantity, f"not a number: {value!r}")]) from None
    if not math.isfinite(number):
        raise IngestError([RowError(row, quantity, f"not a finite number: {value!r}")])
    number = number + 273.15 if factor == "C" else number * factor
    low, high = spec["range"]
    if not (low < number <= high):
        raise IngestError([RowError(row, quantity, f"{number:g} {spec['unit']} is outside the plausible range ({low:g}, {high:g}]")])
    return number, spec["unit"]
