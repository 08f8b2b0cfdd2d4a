"""Regenerate the shipped element tables from the matminer wheel's data files.

Run from the repository root::

    .venv/bin/python discovery/data/build_tables.py [DATA_FILES]

DATA_FILES defaults to the installed matminer wheel's ``matminer/utils/data_files``
(matminer is a test dependency).

It copies values verbatim (as text) -- no number in ``discovery/data`` was typed by hand:

* ``magpie_elements.csv``: the Magpie ``*.table`` files listed in :data:`MAGPIE_TABLES`
  (one value per line, line ``Z`` = element ``Z``) joined into one CSV keyed by Z and
  symbol. ``Missing``/``NA`` entries become empty cells (read back as NaN).
* ``takeuchi_inoue_mixing_enthalpy.tsv``: byte-for-byte copy of
  ``MiedemaLiquidDeltaHf.tsv``.
* ``miedema_parameters.csv``: byte-for-byte copy of ``Miedema.csv`` (only its bulk and
  shear moduli are used, as the last modulus fallback).
* ``matminer_LICENSE.md``: the wheel's licence text, which covers those files.
* ``ideal_radius_ratios.csv``: see :func:`build_ideal_ratios`.

The CSV format is used because the package-data globs in pyproject.toml ship
``*.csv``/``*.tsv``/``*.md`` but not ``*.table``.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
import sys
from pathlib import Path

MAGPIE_TABLES = (
    "AtomicWeight",
    "MeltingT",
    "MiracleRadius",
    "NValence",
    "Electronegativity",
    "BulkModulus",
    "ShearModulus",
    # the rest of Ward et al. 2016's Magpie element set (statistics features, discovery.features)
    "Number",
    "MendeleevNumber",
    "Column",
    "Row",
    "CovalentRadius",
    "NsValence",
    "NpValence",
    "NdValence",
    "NfValence",
    "NsUnfilled",
    "NpUnfilled",
    "NdUnfilled",
    "NfUnfilled",
    "NUnfilled",
    "GSvolume_pa",
    "GSbandgap",
    "GSmagmom",
    "SpaceGroupNumber",
)
MISSING = {"Missing", "NA", "None", "nan", ""}
HERE = Path(__file__).resolve().parent


def _symbols(n: int) -> list[str]:
    from pymatgen.core import Element

    return [Element.from_Z(z).symbol for z in range(1, n + 1)]


def build(source: Path, out: Path = HERE) -> None:
    columns = {}
    for name in MAGPIE_TABLES:
        lines = (source / "magpie_elementdata" / f"{name}.table").read_text().splitlines()
        columns[name] = [line.strip() for line in lines]
    n = max(len(v) for v in columns.values())
    n = min(n, 103)  # pymatgen-named elements up to Lr; the tables stop at 112 with NA
    symbols = _symbols(n)
    with open(out / "magpie_elements.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Z", "symbol", *MAGPIE_TABLES])
        for z in range(1, n + 1):
            row = [z, symbols[z - 1]]
            for name in MAGPIE_TABLES:
                vals = columns[name]
                text = vals[z - 1] if z - 1 < len(vals) else ""
                row.append("" if text in MISSING else text)
            writer.writerow(row)
    shutil.copyfile(source / "MiedemaLiquidDeltaHf.tsv", out / "takeuchi_inoue_mixing_enthalpy.tsv")
    licence = source / "matminer_LICENSE.txt"
    if not licence.exists():  # the installed wheel keeps it in its dist-info
        from importlib.metadata import distribution

        licence = Path(str(distribution("matminer").locate_file("matminer-0.10.1.dist-info/licenses/LICENSE")))
    shutil.copyfile(licence, out / "matminer_LICENSE.md")
    shutil.copyfile(source / "Miedema.csv", out / "miedema_parameters.csv")
    build_ideal_ratios(out)
    for f in ["magpie_elements.csv", "takeuchi_inoue_mixing_enthalpy.tsv", "matminer_LICENSE.md", "ideal_radius_ratios.csv", "miedema_parameters.csv"]:
        print(f, hashlib.sha256((out / f).read_bytes()).hexdigest())


def build_ideal_ratios(out: Path = HERE) -> None:
    """``ideal_radius_ratios.csv``: Miracle-Lord-Ranganathan ideal centre/shell radius ratios.

    Taken from matminer 0.10.1 ``AtomicPackingEfficiency().ideal_ratio`` (the table is in
    matminer's source, not a data file), so this step needs matminer installed.
    """
    from matminer.featurizers.composition.packing import AtomicPackingEfficiency

    table = AtomicPackingEfficiency(impute_nan=False).ideal_ratio
    with open(out / "ideal_radius_ratios.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["coordination", "ideal_radius_ratio"])
        for n in sorted(table):
            writer.writerow([n, repr(float(table[n]))])


if __name__ == "__main__":
    if len(sys.argv) > 1:
        build(Path(sys.argv[1]))
    else:
        from importlib import resources

        build(Path(str(resources.files("matminer") / "utils" / "data_files")))
