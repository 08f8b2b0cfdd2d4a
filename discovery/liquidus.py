"""Alloy liquidus temperature T_liq: measured-data loader and a learned regressor.

Sun et al. 2017 found dT_liq = (T_fic - T_liq) / T_fic the most informative GFA input, but
new compositions have no measured liquidus, so T_liq must be estimated. This module learns
T_liq from measured values of three public sets (read from the shared data folder at
train/bench time):

* DMREF metallic glasses v5 (Schultz et al., Comput. Mater. Sci. 201 (2022) 110877),
  column ``Tl_[K]``;
* Xiong, Shi & Zhang, Mater. Des. 187 (2020) 108378, ``CTT.csv`` -- GPL-3: read at run
  time only, never copied into the repository, never part of the shipped default model;
* Bajpai et al. MMG data set (GitHub bajpaianurag/Symbolic-Regression-for-GFA-of-Metallic-
  Glasses), ``T_l`` -- loadable (``sources=(..., "bajpai")``) but **excluded by default**:
  its temperatures do not belong to its compositions. For the 2,729 Bajpai rows whose
  composition also has a DMREF/Xiong measurement, the median |T_l difference| is 290 K and
  only 6 % agree within 20 K (DMREF vs Xiong: median 0 K, 99.7 % within 20 K); the same
  composition appears with wildly different values (Ag8Al8Cu36Zr48: 698, 950, 1403 K;
  Cu50Zr50: 694-1278 K). Adding it raises the grouped-CV MAE from ~47 K to ~128 K.
  (tests/test_liquidus.py re-measures this on the real files.)

Rows are cleaned (T_liq outside 300-3000 K, or not above the same row's T_g / T_x, are
dropped: a liquidus below the glass transition is a transcription error, e.g. DMREF's
La16.15Mg60Ni23.6Si0.25 at 8263 K) and deduplicated across sets by canonical composition
(``Composition.canonical``, 0.01 at.%); duplicates take the median.

Shipped default: ``discovery/data/liquidus_training.csv`` holds the cleaned, deduplicated
(canonical composition, T_liq) pairs from **DMREF only** (no Xiong data: GPL-3; no Bajpai
data: see above).
:func:`default_estimate` fits :class:`LiquidusRegressor` on it once per process (about a
second) and is what :func:`discovery.features.featurize` uses when no measured T_liq is given.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.ensemble import ExtraTreesRegressor
from sklearn.model_selection import GroupKFold

from discovery.composition import Composition, CompositionMatrix
from discovery.dataset import with_canonical_compositions
from discovery.descriptors import BASE_FEATURE_NAMES, base_features

T_MIN, T_MAX = 300.0, 3000.0
SOURCES = ("dmref", "xiong", "bajpai")
#: Sources used unless asked otherwise (Bajpai's T_l values do not match its compositions).
DEFAULT_SOURCES = ("dmref", "xiong")
#: Sources whose derived data are shipped in the repository (Xiong is GPL-3; Bajpai unusable).
SHIPPABLE_SOURCES = ("dmref",)
SHIPPED_TABLE = "liquidus_training.csv"

_T_FIC = BASE_FEATURE_NAMES.index("T_fic")
_DS_MIX = BASE_FEATURE_NAMES.index("dS_mix")


class LiquidusData(NamedTuple):
    matrix: CompositionMatrix
    t_liquidus: np.ndarray
    systems: list[str]


# --------------------------------------------------------------------------- loading


def _rows_dmref(root: Path) -> pd.DataFrame:
    df = pd.read_csv(root / "dmref_mdf_metallic_glasses_v5" / "MDF_DMREF_Metallic_Glasses_v5.csv")
    out = pd.DataFrame(
        {"formula": df["Composition"], "Tl": df["Tl_[K]"], "Tg": df["Tg_[K]"], "Tx": df["Tx_[K]"], "source": "dmref"}
    )
    return out[out["Tl"].notna()]


def _rows_xiong(root: Path) -> pd.DataFrame:
    df = pd.read_csv(root / "xiong2020_amorphous_alloys" / "CTT.csv")
    return pd.DataFrame({"formula": df["Alloy"], "Tl": df["Tl"], "Tg": df["Tg"], "Tx": df["Tx"], "source": "xiong"})


def _rows_bajpai(root: Path) -> pd.DataFrame:
    df = pd.read_csv(root / "bajpai_mmg_characteristic_temps" / "MMG_dataset_Sheet1.csv")
    meta = {"Heating_Rate", "T_g", "T_x", "T_l"}
    elements = [c for c in df.columns if c not in meta]
    amounts = df[elements].to_numpy(dtype=float)
    # element columns are at.% but rows sum to 66.6-133: normalise (Composition.from_fractions)
    formulas = [
        Composition.from_fractions({e: a for e, a in zip(elements, row) if a > 0}).canonical for row in amounts
    ]
    return pd.DataFrame({"formula": formulas, "Tl": df["T_l"], "Tg": df["T_g"], "Tx": df["T_x"], "source": "bajpai"})


_READERS = {"dmref": _rows_dmref, "xiong": _rows_xiong, "bajpai": _rows_bajpai}


def load_liquidus_table(shared_data_dir: str | Path, sources: Sequence[str] = DEFAULT_SOURCES) -> pd.DataFrame:
    """Cleaned, deduplicated measured liquidus table.

    Columns: ``composition`` (canonical name), ``system``, ``Tl`` (K, median of the
    measurements), ``n`` (number of measurements), ``Tl_spread`` (max - min, K),
    ``sources`` (``+``-joined). Sorted by composition.
    """
    root = Path(shared_data_dir)
    unknown = set(sources) - set(SOURCES)
    if unknown:
        raise ValueError(f"unknown liquidus source(s) {sorted(unknown)}; known: {SOURCES}")
    raw = pd.concat([_READERS[s](root) for s in sources], ignore_index=True)
    raw = raw[np.isfinite(raw["Tl"]) & (raw["Tl"] >= T_MIN) & (raw["Tl"] <= T_MAX)]
    above = ~((raw["Tl"] <= raw["Tg"]) | (raw["Tl"] <= raw["Tx"]))  # NaN comparisons are False
    raw = raw[above]
    raw = with_canonical_compositions(raw)
    grouped = raw.groupby("composition", sort=True)
    table = pd.DataFrame(
        {
            "system": grouped["system"].first(),
            "Tl": grouped["Tl"].median(),
            "n": grouped["Tl"].size(),
            "Tl_spread": grouped["Tl"].max() - grouped["Tl"].min(),
            "sources": grouped["source"].agg(lambda s: "+".join(sorted(set(s)))),
        }
    ).reset_index()
    return table


def _data_from_table(table: pd.DataFrame) -> LiquidusData:
    from discovery.descriptors import featurizable

    matrix = CompositionMatrix.from_formulas(table["composition"])
    ok = featurizable(matrix)
    matrix = matrix.take(np.flatnonzero(ok))
    # drop element columns that no remaining row uses
    used = matrix.fractions.sum(axis=0) > 0
    matrix = CompositionMatrix(tuple(e for e, u in zip(matrix.elements, used) if u), matrix.fractions[:, used])
    t = table["Tl"].to_numpy(dtype=float)[ok]
    # canonical names are not idempotent when rounded at.% do not sum to 100
    # (C13.99Fe81.42P0.1Si3.8Tm0.7 re-parses as ...Fe81.41...): merge such near-duplicates
    names = pd.Series(matrix.canonical_names())
    first = names.drop_duplicates().index.to_numpy()
    t = pd.Series(t).groupby(names, sort=False).median().loc[names.iloc[first]].to_numpy()
    matrix = matrix.take(first)
    return LiquidusData(matrix, t, matrix.systems())


def load_liquidus_data(shared_data_dir: str | Path, sources: Sequence[str] = DEFAULT_SOURCES) -> LiquidusData:
    """``(matrix, t_liquidus, systems)`` of the deduplicated measured liquidus data.

    Compositions with elements the featurizer has no data for are dropped.
    """
    return _data_from_table(load_liquidus_table(shared_data_dir, sources))


# --------------------------------------------------------------------------- model


def _as_features(X) -> np.ndarray:
    if isinstance(X, CompositionMatrix):
        return base_features(X)
    arr = np.asarray(X, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != len(BASE_FEATURE_NAMES):
        raise ValueError(
            f"X must be a CompositionMatrix or an (n, {len(BASE_FEATURE_NAMES)}) array of "
            f"discovery.features.base_features, got shape {arr.shape}"
        )
    return arr


class LiquidusRegressor(RegressorMixin, BaseEstimator):
    """Alloy liquidus (K) from composition features (never from dT_liq).

    ``X`` is a :class:`CompositionMatrix` or the array
    :func:`discovery.features.base_features` returns (columns ``BASE_FEATURE_NAMES``).
    The model learns the ratio T_liq / T_fic (``target="ratio"``; a deep eutectic is a
    small ratio) or T_liq itself (``target="kelvin"``) with an extra-trees ensemble.

    The measured data are almost all glass formers (deep eutectics), so a model fitted on
    them alone predicts eutectic-like liquidus even for nearly pure metals. With
    ``pure_element_anchors`` (default) and a CompositionMatrix ``X``, ``fit`` adds one row
    per element of ``X`` with T_liq = its melting point (pymatgen, the same number T_fic
    uses), and ``predict`` returns T_fic exactly for single-element rows.
    """

    def __init__(
        self,
        target: str = "ratio",
        pure_element_anchors: bool = True,
        n_estimators: int = 50,
        min_samples_leaf: int = 2,
        max_features: float = 0.5,
        random_state: int = 0,
        n_jobs: int = 1,
    ):
        self.target = target
        self.pure_element_anchors = pure_element_anchors
        self.n_estimators = n_estimators
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _scale(self, F: np.ndarray) -> np.ndarray:
        if self.target == "ratio":
            return F[:, _T_FIC]
        if self.target == "kelvin":
            return np.ones(len(F))
        raise ValueError(f"target must be 'ratio' or 'kelvin', got {self.target!r}")

    def fit(self, X, y):
        F = _as_features(X)
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        if len(y) != len(F):
            raise ValueError(f"{len(F)} compositions but {len(y)} targets")
        if self.pure_element_anchors and isinstance(X, CompositionMatrix):
            used = X.fractions.sum(axis=0) > 0
            pure = CompositionMatrix(tuple(X.elements), np.eye(len(X.elements))[used])
            F_pure = base_features(pure)
            F = np.vstack([F, F_pure])
            y = np.concatenate([y, F_pure[:, _T_FIC]])
        self.model_ = ExtraTreesRegressor(
            n_estimators=self.n_estimators,
            min_samples_leaf=self.min_samples_leaf,
            max_features=self.max_features,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
        ).fit(F, y / self._scale(F))
        self.n_features_in_ = F.shape[1]
        return self

    def predict(self, X) -> np.ndarray:
        F = _as_features(X)
        pred = self.model_.predict(F) * self._scale(F)
        if self.pure_element_anchors:
            pure = F[:, _DS_MIX] == 0.0
            pred[pure] = F[pure, _T_FIC]
        return pred


def grouped_cv_mae(
    matrix: CompositionMatrix,
    t_liquidus: np.ndarray,
    systems: Sequence[str],
    *,
    regressor: LiquidusRegressor | None = None,
    n_splits: int = 5,
) -> tuple[float, np.ndarray]:
    """Mean absolute error (K) of out-of-fold predictions, GroupKFold by chemical system.

    Every composition of a system (e.g. all Cu-Zr-Al alloys) is predicted by a model that
    saw no alloy of that exact system. Returns (MAE, out-of-fold predictions).
    """
    regressor = LiquidusRegressor() if regressor is None else regressor
    y = np.asarray(t_liquidus, dtype=np.float64)
    groups = np.asarray(systems)
    pred = np.full(len(y), np.nan)
    for train, test in GroupKFold(n_splits=n_splits).split(matrix.fractions, y, groups):
        model = clone(regressor).fit(matrix.take(train), y[train])
        pred[test] = model.predict(matrix.take(test))
    return float(np.mean(np.abs(pred - y))), pred


# --------------------------------------------------------------------------- shipped default


def write_shipped_table(shared_data_dir: str | Path, path: str | Path | None = None) -> Path:
    """Write ``discovery/data/liquidus_training.csv`` from the shippable (non-GPL) sources.

    Wide format -- ``composition, Tl, n, sources`` then one atomic-fraction column per
    element -- so loading it needs no formula parsing.
    """
    data = load_liquidus_data(shared_data_dir, SHIPPABLE_SOURCES)
    table = load_liquidus_table(shared_data_dir, SHIPPABLE_SOURCES).set_index("composition")
    names = data.matrix.canonical_names()
    out = pd.DataFrame(
        {
            "composition": names,
            "Tl": data.t_liquidus,
            "n": table["n"].reindex(names).fillna(1).astype(int).to_numpy(),
            "sources": table["sources"].reindex(names).fillna("+".join(SHIPPABLE_SOURCES)).to_numpy(),
        }
    )
    fractions = pd.DataFrame(data.matrix.fractions, columns=list(data.matrix.elements))
    target = Path(path) if path else Path(str(resources.files("discovery") / "data" / SHIPPED_TABLE))
    pd.concat([out, fractions], axis=1).to_csv(target, index=False, float_format="%.10g")
    return target


@lru_cache(maxsize=1)
def _shipped_data() -> LiquidusData:
    with (resources.files("discovery") / "data" / SHIPPED_TABLE).open() as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = list(reader)
    meta = ["composition", "Tl", "n", "sources"]
    if header[:4] != meta:
        raise RuntimeError(f"{SHIPPED_TABLE}: unexpected header {header[:4]}")
    if {s for r in rows for s in r[3].split("+")} - set(SHIPPABLE_SOURCES):
        raise RuntimeError(f"{SHIPPED_TABLE} contains data from a non-shippable source")
    elements = tuple(header[4:])
    fractions = np.array([[float(v) for v in r[4:]] for r in rows])
    matrix = CompositionMatrix(elements, fractions)
    return LiquidusData(matrix, np.array([float(r[1]) for r in rows]), matrix.systems())


@lru_cache(maxsize=1)
def default_regressor() -> LiquidusRegressor:
    """:class:`LiquidusRegressor` fitted on the shipped DMREF + Bajpai table (cached per process)."""
    data = _shipped_data()
    return LiquidusRegressor().fit(data.matrix, data.t_liquidus)


def default_estimate(matrix: CompositionMatrix) -> np.ndarray:
    """Estimated alloy liquidus (K) per row from :func:`default_regressor`."""
    return default_regressor().predict(matrix)
