"""Tests of discovery.features on real compositions (Landolt ternaries, Sun binaries)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from discovery.composition import CompositionMatrix
from discovery.elements import MissingElementData
from discovery.features import FEATURE_NAMES, featurize, featurize_formulas

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
if not SHARED.exists():
    SHARED = Path("/work/shared/data")


def _col(name: str) -> int:
    return FEATURE_NAMES.index(name)


@pytest.fixture(scope="module")
def landolt_formulas() -> list[str]:
    df = pd.read_csv(SHARED / "matminer_glass_ternary_landolt" / "glass_ternary_landolt.csv")
    return sorted(set(df["formula"]))


def test_shape_and_dtype(landolt_formulas):
    X = featurize_formulas(landolt_formulas[:200])
    assert X.shape == (200, len(FEATURE_NAMES))
    assert X.dtype == np.float64
    assert np.isfinite(X).all()


def test_cu50zr45al5_by_hand_formula():
    """Cu50Zr45Al5 against the textbook formulas evaluated element by element."""
    X = featurize_formulas(["Cu50Zr45Al5"])[0]
    from discovery.elements import element_properties, mixing_enthalpy_matrix

    els = ("Al", "Cu", "Zr")
    c = np.array([0.05, 0.50, 0.45])
    p = element_properties(els)
    h = mixing_enthalpy_matrix(els)
    dh = sum(4 * h[i, j] * c[i] * c[j] for i in range(3) for j in range(i + 1, 3))
    assert X[_col("dH_mix")] == pytest.approx(dh, rel=1e-12)
    assert X[_col("T_fic")] == pytest.approx(float(c @ p.melting_point), rel=1e-12)


def test_measured_liquidus_overrides_per_row():
    m = CompositionMatrix.from_formulas(["Cu50Zr50", "Cu64Zr36"])
    X = featurize(m, t_liquidus=np.array([1200.0, np.nan]))
    t_fic = X[0, _col("T_fic")]
    assert X[0, _col("dT_liq")] == pytest.approx((t_fic - 1200.0) / t_fic)
    assert np.isfinite(X[1, _col("dT_liq")])


def test_missing_pair_enthalpy_is_an_error_not_zero():
    # Ar has no Takeuchi-Inoue pair data and no Miracle radius.
    with pytest.raises(MissingElementData):
        featurize_formulas(["Cu50Ar50"])
