"""Paths and cached real data shared by the model tests (importable: tests/ is on sys.path)."""

from functools import lru_cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LITERATURE = REPO / "discovery" / "data" / "literature"
LANDOLT = LITERATURE / "landolt_ternary" / "glass_ternary_landolt.csv"
BINARY = REPO / "discovery" / "data" / "literature" / "sun2017_binary" / "glass_binary_v2.csv"
# Binary systems with both outcomes, from rare to common glass formers, plus some all-crystalline ones.
#: VITRIFY_TRAINING_LITERATURE_ROWS of the flow-level tests (the `small_literature` fixture, and
#: the subprocesses they start): a seeded stratified sample of the real literature table. A
#: campaign retrain on all ~15k rows costs 20-40 s on a 2-core CI machine; on 2,000 a few.
SMALL_LITERATURE_ROWS = "2000"
SYSTEMS = ("Cu-Zr", "Ni-Zr", "Al-Ca", "Co-Zr", "Cu-Ti", "Mg-Zn", "Ni-Ta", "Pd-Zr", "Fe-Zr", "Al-La", "Ag-Cu", "Cu-Ni")


@lru_cache(maxsize=1)
def liquidus_model():
    """The shipped default liquidus regressor (fitted once per process)."""
    from discovery import liquidus

    return liquidus.default_regressor()
