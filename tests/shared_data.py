"""Paths and cached real data shared by the model tests (importable: tests/ is on sys.path)."""

from functools import lru_cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LITERATURE = REPO / "discovery" / "data" / "literature"
LANDOLT = LITERATURE / "landolt_ternary" / "glass_ternary_landolt.csv"
BINARY = REPO / "discovery" / "data" / "literature" / "sun2017_binary" / "glass_binary_v2.csv"
# Binary systems with both outcomes, from rare to common glass formers, plus some all-crystalline ones.
SYSTEMS = ("Cu-Zr", "Ni-Zr", "Al-Ca", "Co-Zr", "Cu-Ti", "Mg-Zn", "Ni-Ta", "Pd-Zr", "Fe-Zr", "Al-La", "Ag-Cu", "Cu-Ni")


@lru_cache(maxsize=1)
def liquidus_model():
    """The shipped default liquidus regressor (fitted once per process)."""
    from discovery import liquidus

    return liquidus.default_regressor()
