"""The published record of metallic-glass formation that ships with vitrify, as one table.

Eight public data sets live in ``discovery/data/literature/<set>/`` (each with its
PROVENANCE.md: source, citation, licence, what is used). They share roots -- Landolt-
Boernstein is in Landolt, Ward 2018, Xiong 2020 and DMREF alike -- so :func:`load_literature`
reads every set with its own reader, maps it onto one vocabulary and deduplicates:

* a **record** is (composition, processing route, outcome), where the outcome says what the
  label means: ``bulk glass`` (glassy when cast), ``ribbon glass`` (glassy when
  melt-spun), ``glass`` (glassy, route unstated or a deposited film), ``partially
  crystalline`` or ``no glass``. Glass-forming labels follow Sun 2017 and the Landolt data:
  1 for the three glass outcomes, 0 for partially crystalline and no glass;
* records of the same composition, route and outcome from several sets are one record
  (``sources`` lists them all); a record whose route is unstated joins the record of the
  same composition and label whose route is known (the same observation, passed on without
  its route). Records that disagree (one set says glass, another no glass, for the same
  composition and route) stay separate: a conflict is data, never merged silently;
* measured properties (Dmax, Tg, Tx, Tl, Rc, E, G, K) travel with the record they were
  reported with, cleaned (:data:`PLAUSIBLE`, Tg < Tx < Tl) and, where several sets report
  one, their median.

Rows a set cannot back up are dropped and counted per reason in ``LiteratureTable.stats``:
formulas that do not parse, at.% that do not sum to 100 +/- 0.5 (transcription errors such
as Ward's ``Zr52.5Al10``), undocumented or mixed labels. Nothing is invented: a record
exists only where a set reports an outcome, or a property measured on a glass (a Tg, a
Dmax), which implies one.

Sets used (``DEFAULT_SOURCES``) and left out by default: ``bajpai`` temperatures (their Tl
does not belong to their compositions: see discovery.liquidus) and ``matbench`` (a
deduplicated copy of the Landolt compositions without routes, kept for the matbench-style
report only).
"""

from __future__ import annotations

import csv
import hashlib
import math
import statistics
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from discovery.composition import CompositionError, parse_composition
from discovery.dataset import LabelledSet
from discovery.vocabulary import ProcessingRoute, SynthesisResult
from vitrify.errors import VitrifyError

#: Label meaning -> glass label (1 glass, 0 not).
OUTCOME_LABEL: dict[str, int] = {
    "bulk glass": 1, "ribbon glass": 1, "glass": 1, "partially crystalline": 0, "no glass": 0,
}
#: Label meaning -> the synthesis result stored on an Outcome row.
OUTCOME_RESULT: dict[str, SynthesisResult] = {
    "bulk glass": SynthesisResult.AMORPHOUS,
    "ribbon glass": SynthesisResult.AMORPHOUS,
    "glass": SynthesisResult.AMORPHOUS,
    "partially crystalline": SynthesisResult.PARTIALLY_CRYSTALLINE,
    "no glass": SynthesisResult.CRYSTALLINE,
}
#: Measured quantities (the names of db Measurements) and their units.
QUANTITIES: dict[str, str] = {
    "Dmax": "mm", "Tg": "K", "Tx": "K", "Tl": "K", "Rc": "K/s",
    "youngs_modulus": "GPa", "shear_modulus": "GPa", "bulk_modulus": "GPa",
}
#: Values outside these ranges are transcription errors and dropped (inclusive bounds).
PLAUSIBLE: dict[str, tuple[float, float]] = {
    "Dmax": (0.01, 100.0), "Tg": (200.0, 2000.0), "Tx": (200.0, 2500.0), "Tl": (300.0, 3000.0),
    "Rc": (1e-4, 1e9), "youngs_modulus": (5.0, 400.0), "shear_modulus": (2.0, 200.0), "bulk_modulus": (5.0, 400.0),
}


@dataclass(frozen=True)
class Source:
    key: str
    name: str
    citation: str
    licence: str
    folder: str
    files: tuple[str, ...]


SOURCES: dict[str, Source] = {s.key: s for s in (
    Source("sun2017", "Sun 2017 binaries (matminer glass_binary_v2)",
           "Y. T. Sun, H. Y. Bai, M. Z. Li, W. H. Wang, J. Phys. Chem. Lett. 8 (2017) 3434, doi:10.1021/acs.jpclett.7b01046",
           "none stated (public research data; cite the paper)", "sun2017_binary", ("glass_binary_v2.csv",)),
    Source("landolt", "Landolt-Boernstein ternary amorphous alloys (matminer glass_ternary_landolt)",
           "Y. Kawazoe, T. Masumoto, A.-P. Tsai, J.-Z. Yu, T. Aihara Jr., Landolt-Boernstein III/37A (1997), "
           "doi:10.1007/10510374_2; compiled by L. Ward et al., npj Comput. Mater. 2 (2016) 16028",
           "none stated by matminer; the handbook is (c) Springer (see PROVENANCE.md)", "landolt_ternary",
           ("glass_ternary_landolt.csv",)),
    Source("dmref", "DMREF metallic glasses v5 (Materials Data Facility)",
           "L. E. Schultz, B. Afflerbach, I. Szlufarska, D. Morgan, Comput. Mater. Sci. 201 (2022) 110877",
           "none stated (MDF data sets are usually CC-BY; cite the paper)", "dmref_v5",
           ("MDF_DMREF_Metallic_Glasses_v5.csv",)),
    Source("xiong2020", "Xiong, Shi & Zhang 2020 amorphous alloys",
           "J. Xiong, S.-Q. Shi, T.-Y. Zhang, Mater. Des. 187 (2020) 108378", "GPL-3.0 (LICENSE-GPL-3.0.txt)",
           "xiong2020", ("GFA.csv", "Dmax_Dataset.csv", "CTT.csv", "EM.csv")),
    Source("ward2018", "Ward et al. 2018 bulk metallic glasses",
           "L. Ward, S. C. O'Keeffe, J. Stevick, G. R. Jelbert, M. Aykol, C. Wolverton, Acta Mater. 159 (2018) 102, "
           "doi:10.1016/j.actamat.2018.08.002", "none stated for the data (copy from MIT-licensed pymatviz)",
           "ward2018", ("ward-metallic-glasses.csv",)),
    Source("fe2025", "Fe-based BMG critical casting thickness (Metals 2025)",
           "Metals 15 (2025) 763, https://www.mdpi.com/2075-4701/15/7/763", "none stated", "fe_bmg_2025",
           ("DS1_DS2.csv",)),
    Source("bajpai", "Bajpai et al. metallic-glass / crystalline-alloy list and Tg, Tx, Tl",
           "GitHub bajpaianurag/Symbolic-Regression-for-GFA-of-Metallic-Glasses (b34429f)", "none stated", "bajpai",
           ("Classification_Dataset_Sheet1.csv", "MMG_dataset_Sheet1.csv")),
    Source("matbench", "matbench_glass (deduplicated Landolt compositions, no route)",
           "A. Dunn, Q. Wang, A. Ganose, D. Dopp, A. Jain, npj Comput. Mater. 6 (2020) 138", "none stated",
           "matbench_glass", ("matbench_glass.csv",)),
)}
#: The sets the shipped literature table is built from.
DEFAULT_SOURCES: tuple[str, ...] = ("sun2017", "landolt", "dmref", "xiong2020", "ward2018", "fe2025", "bajpai")


class LiteratureError(VitrifyError, RuntimeError):
    """A shipped data set is missing or unreadable (e.g. stripped by a repackager)."""


def literature_dir() -> Path:
    return Path(__file__).resolve().parent / "data" / "literature"


def source_path(key: str, name: str | None = None) -> Path:
    src = SOURCES[key]
    return literature_dir() / src.folder / (name or src.files[0])


def source_sha256(keys: Iterable[str] = DEFAULT_SOURCES) -> str:
    """One digest over every file of the given sets (what a seeded database records)."""
    digest = hashlib.sha256()
    for key in sorted(keys):
        for name in SOURCES[key].files:
            digest.update(f"{key}/{name}\n".encode())
            digest.update(source_path(key, name).read_bytes())
    return digest.hexdigest()


# --------------------------------------------------------------------------- readers


@dataclass
class _Reader:
    """Collects one set's records and counts what it drops, by reason."""

    key: str
    records: list[dict] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    rows: int = 0

    def drop(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1

    def add(self, row: int, formula: str, route: ProcessingRoute, outcome: str, *, normalize: bool = False,
            **measured: float | None) -> None:
        try:
            comp = parse_composition(formula, percent=True, normalize=normalize)
        except CompositionError as exc:
            self.drop("at.% do not sum to 100" if "sum to" in exc.reason else "formula does not parse")
            return
        values = _clean(measured)
        self.records.append({"source": self.key, "row": row, "composition": comp.canonical, "system": comp.system,
                             "fractions": comp.fractions, "route": route.value, "outcome": outcome, **values})


def _number(text) -> float:
    if text is None:
        return math.nan
    try:
        value = float(str(text).strip())
    except ValueError:
        return math.nan
    return value if math.isfinite(value) else math.nan


def _clean(measured: dict) -> dict:
    out = {}
    for q, v in measured.items():
        v = _number(v)
        lo, hi = PLAUSIBLE[q]
        out[q] = v if lo <= v <= hi else math.nan
    tg, tx, tl = out.get("Tg", math.nan), out.get("Tx", math.nan), out.get("Tl", math.nan)
    if tx <= tg:  # NaN comparisons are False: only a real inversion drops a value
        out["Tx"] = math.nan
    if tl <= tg or tl <= tx:  # a liquidus below the glass transition is a transcription error
        out["Tl"] = math.nan
    return out


def _rows(path: Path) -> Iterable[tuple[int, dict]]:
    if not path.exists():
        raise LiteratureError(f"{path} is missing: the shipped literature is incomplete (reinstall vitrify)")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        for i, row in enumerate(csv.DictReader(fh), start=1):
            yield i, row


def _read_sun(r: _Reader) -> None:
    for i, row in _rows(source_path("sun2017")):
        r.rows += 1
        gfa = row["gfa"].strip()
        if gfa not in ("0", "1"):
            r.drop("label is not 0/1")
            continue
        r.add(i, row["formula"], ProcessingRoute.UNKNOWN, "glass" if gfa == "1" else "no glass")


_LANDOLT_ROUTE = {"meltspin": ProcessingRoute.MELT_SPINNING, "sputtering": ProcessingRoute.SPUTTERING}


def _read_landolt(r: _Reader) -> None:
    for i, row in _rows(source_path("landolt")):
        r.rows += 1
        route = _LANDOLT_ROUTE.get(row["processing"].strip())
        phase = row["phase"].strip()
        if route is None or phase not in ("AM", "AC", "CR"):
            r.drop("route or phase not documented")
            continue
        if phase == "AM":
            outcome = "ribbon glass" if route is ProcessingRoute.MELT_SPINNING else "glass"
        else:
            outcome = "partially crystalline" if phase == "AC" else "no glass"
        r.add(i, row["formula"], route, outcome)


_DMREF_ROUTE = {
    "Melt Spinning": ProcessingRoute.MELT_SPINNING,
    "Melt Casting": ProcessingRoute.COPPER_MOULD_CASTING,
    "Melt Cast": ProcessingRoute.COPPER_MOULD_CASTING,
    "Deposition": ProcessingRoute.SPUTTERING,
    "Mechanical": ProcessingRoute.OTHER,
    "Quenching": ProcessingRoute.OTHER,
    "Splat Quenching": ProcessingRoute.OTHER,
    "": ProcessingRoute.UNKNOWN,
}


def _read_dmref(r: _Reader) -> None:
    for i, row in _rows(source_path("dmref")):
        r.rows += 1
        phase = row["Is_Amorphous?"].strip()
        route = _DMREF_ROUTE.get(row["Casting"].strip())
        measured = {"Dmax": row["Dmax_[mm]"], "Tg": row["Tg_[K]"], "Tx": row["Tx_[K]"], "Tl": row["Tl_[K]"],
                    "Rc": row["Rc_[K/s]"], "youngs_modulus": row["E_[GPA]"], "shear_modulus": row["G_[GPa]"]}
        if route is None or phase.startswith("["):
            r.drop("mixed or undocumented route or phase")
            continue
        dmax = _number(row["Dmax_[mm]"])
        if phase == "AM" or (not phase and (dmax > 0 or any(_number(row[c]) > 0 for c in ("Tg_[K]", "Tx_[K]")))):
            # no phase but a Dmax or a Tg: measured on a glass
            if route is ProcessingRoute.UNKNOWN and dmax > 0:
                route = ProcessingRoute.COPPER_MOULD_CASTING  # a critical casting thickness is measured by casting
            outcome = {"casting": "bulk glass", "melt-spinning": "ribbon glass"}.get(route.model_group, "glass")
        elif phase == "AC":
            outcome = "partially crystalline"
        elif phase in ("CR", "QC"):  # a quasicrystal is not a glass
            outcome = "no glass"
        else:
            r.drop("phase 'OT' (other) or missing with no measurement")
            continue
        r.add(i, row["Composition"], route, outcome, **measured)


def _read_xiong(r: _Reader) -> None:
    gfa = {"BMG": (ProcessingRoute.COPPER_MOULD_CASTING, "bulk glass"),
           "RMG": (ProcessingRoute.MELT_SPINNING, "ribbon glass"),
           "CRA": (ProcessingRoute.UNKNOWN, "no glass")}
    for i, row in _rows(source_path("xiong2020", "GFA.csv")):
        r.rows += 1
        found = gfa.get(row["GFA"].strip())
        if found is None:
            r.drop("label is not BMG/RMG/CRA")
            continue
        r.add(i, row["Alloy"], *found)
    for i, row in _rows(source_path("xiong2020", "Dmax_Dataset.csv")):
        r.rows += 1
        dmax = _number(row["Dmax"])
        if not dmax > 0.1:  # 0 and 0.1 encode crystalline / ribbon (GFA.csv has them), not a measurement
            r.drop("Dmax 0 or 0.1 (a class code, in GFA.csv)")
            continue
        r.add(i, row["Alloy Formula"], ProcessingRoute.COPPER_MOULD_CASTING, "bulk glass", Dmax=dmax)
    for i, row in _rows(source_path("xiong2020", "CTT.csv")):
        r.rows += 1
        r.add(i, row["Alloy"], ProcessingRoute.UNKNOWN, "glass", Tg=row["Tg"], Tx=row["Tx"], Tl=row["Tl"])
    for i, row in _rows(source_path("xiong2020", "EM.csv")):
        r.rows += 1
        g, k = _number(row["G"]), _number(row["K"])
        e = 9 * k * g / (3 * k + g) if g > 0 and k > 0 else math.nan  # isotropic E from K and G
        r.add(i, row["Alloy"], ProcessingRoute.COPPER_MOULD_CASTING, "bulk glass", shear_modulus=g, bulk_modulus=k,
              youngs_modulus=e)


def _read_ward(r: _Reader) -> None:
    for i, row in _rows(source_path("ward2018")):
        r.rows += 1
        if "invalid formula" in (row.get("comment") or ""):
            r.drop("flagged 'invalid formula' upstream")
            continue
        kind = row["gfa_type"].strip()
        if kind == "BMG":
            dmax = _number(row["D_max"])
            r.add(i, row["composition"], ProcessingRoute.COPPER_MOULD_CASTING, "bulk glass",
                  Dmax=dmax if dmax > 0 else None)
        elif kind == "Ribbon":  # D_max 0.2 mm is Ward's placeholder for ribbons, not a measurement
            r.add(i, row["composition"], ProcessingRoute.MELT_SPINNING, "ribbon glass")
        elif kind == "":
            r.add(i, row["composition"], ProcessingRoute.UNKNOWN, "no glass")
        else:
            r.drop("gfa_type not documented")


def _read_fe(r: _Reader) -> None:
    for i, row in _rows(source_path("fe2025")):
        r.rows += 1
        r.add(i, row["Alloy"], ProcessingRoute.COPPER_MOULD_CASTING, "bulk glass", Dmax=row["Dmax"])


def _read_bajpai(r: _Reader, *, temperatures: bool = False) -> None:
    classes = {"MG": "glass", "CA": "no glass"}
    for i, row in _rows(source_path("bajpai", "Classification_Dataset_Sheet1.csv")):
        r.rows += 1
        outcome = classes.get(row["Class"].strip())
        if outcome is None:
            r.drop("class is not MG/CA")
            continue
        r.add(i, row["Alloys"], ProcessingRoute.UNKNOWN, outcome)
    if not temperatures:
        return
    path = source_path("bajpai", "MMG_dataset_Sheet1.csv")
    meta = {"Heating_Rate", "T_g", "T_x", "T_l"}
    for i, row in _rows(path):
        r.rows += 1
        amounts = {el: _number(v) for el, v in row.items() if el not in meta and _number(v) > 0}
        # element columns sum to 66.6-133 at.%: normalized (PROVENANCE.md)
        formula = "".join(f"{el}{v:g}" for el, v in amounts.items())
        r.add(i, formula, ProcessingRoute.UNKNOWN, "glass", normalize=True, Tg=row["T_g"], Tx=row["T_x"],
              Tl=row["T_l"])


def _read_matbench(r: _Reader) -> None:
    for i, row in _rows(source_path("matbench")):
        r.rows += 1
        label = row["gfa"].strip().lower()
        # reduced chemical formulas (Al(NiB)2): amounts are normalized, not at.%
        r.add(i, row["composition"], ProcessingRoute.UNKNOWN, "glass" if label == "true" else "no glass",
              normalize=True)


_READERS = {"sun2017": _read_sun, "landolt": _read_landolt, "dmref": _read_dmref, "xiong2020": _read_xiong,
            "ward2018": _read_ward, "fe2025": _read_fe, "bajpai": _read_bajpai, "matbench": _read_matbench}


def read_source(key: str, *, bajpai_temperatures: bool = False) -> _Reader:
    """One set's records (before deduplication) and what was dropped."""
    if key not in SOURCES:
        raise LiteratureError(f"unknown literature set {key!r}; known: {', '.join(SOURCES)}")
    reader = _Reader(key)
    if key == "bajpai":
        _read_bajpai(reader, temperatures=bajpai_temperatures)
    else:
        _READERS[key](reader)
    return reader


# --------------------------------------------------------------------------- the table


@dataclass
class LiteratureTable:
    """Deduplicated literature records (a pandas DataFrame) and per-set statistics.

    ``records`` columns: ``composition`` (canonical), ``system``, ``route``
    (:class:`ProcessingRoute` value), ``outcome``, ``label``, ``sources`` (``+``-joined set
    keys), ``n_reports`` (rows merged into the record), ``rows`` (``set:row`` list), and one
    column per :data:`QUANTITIES` entry (median over the merged rows, NaN if none), and
    ``fractions`` (the parsed composition, as :class:`Composition` pairs).
    """

    records: "object"  # pandas.DataFrame
    stats: dict
    sources: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.records)

    def labelled_set(self, mask=None) -> LabelledSet:
        """The records as GFA training data (model route groups, literature source)."""
        from discovery.composition import Composition

        df = self.records if mask is None else self.records[mask]
        comps = [Composition(pairs) for pairs in df["fractions"]]
        routes = np.array([ProcessingRoute(r).model_group for r in df["route"]], dtype=object)
        return LabelledSet(comps, routes, df["label"].to_numpy(dtype=int), np.full(len(df), "literature", dtype=object))

    def property_table(self, quantity: str):
        """(composition, value) per composition with a measured ``quantity`` (median over its records)."""
        df = self.records[np.isfinite(self.records[quantity].to_numpy(dtype=float))]
        out = df.groupby("composition", sort=True)[quantity].median()
        return out.index.to_list(), out.to_numpy(dtype=float)


def _combine(records: list[dict]) -> list[dict]:
    """One record per (composition, route, outcome): sources joined, measurements medianed."""
    groups: dict[tuple, list[dict]] = {}
    for rec in records:
        groups.setdefault((rec["composition"], rec["route"], rec["outcome"]), []).append(rec)
    out = []
    for (composition, route, outcome), members in sorted(groups.items()):
        first = members[0]
        merged = {"composition": composition, "system": first["system"], "route": route, "outcome": outcome,
                  "label": OUTCOME_LABEL[outcome],
                  "sources": "+".join(sorted({s for m in members for s in m["sources"].split("+")})),
                  "n_reports": sum(m["n_reports"] for m in members),
                  "rows": ";".join(m["rows"] for m in members), "fractions": first["fractions"]}
        for q in QUANTITIES:
            values = [m[q] for m in members if m[q] == m[q]]  # NaN != NaN
            merged[q] = statistics.median(values) if values else math.nan
        out.append(merged)
    return out


def _merge_unstated_routes(records: list[dict]) -> list[dict]:
    """Fold a record with an unstated route into the record of the same composition and
    label whose route is known (the same observation, passed on without its route); it
    takes that record's finer label meaning (``glass`` -> ``ribbon glass``)."""
    unknown = ProcessingRoute.UNKNOWN.value
    target: dict[tuple, dict] = {}
    for rec in sorted((r for r in records if r["route"] != unknown), key=lambda r: (-r["n_reports"], r["route"])):
        target.setdefault((rec["composition"], rec["label"]), rec)
    out = []
    for rec in records:
        dest = target.get((rec["composition"], rec["label"])) if rec["route"] == unknown else None
        out.append(rec if dest is None else {**rec, "route": dest["route"], "outcome": dest["outcome"]})
    return out


def build_table(sources: Sequence[str] = DEFAULT_SOURCES, *, bajpai_temperatures: bool = False) -> LiteratureTable:
    import pandas as pd

    raw, stats = [], {}
    for key in sources:
        reader = read_source(key, bajpai_temperatures=bajpai_temperatures)
        stats[key] = {"rows": reader.rows, "records": len(reader.records), "dropped": dict(reader.dropped)}
        for rec in reader.records:
            rec["sources"] = rec["source"]
            rec["n_reports"] = 1
            rec["rows"] = f"{rec['source']}:{rec['row']}"
            rec["label"] = OUTCOME_LABEL[rec["outcome"]]
            for q in QUANTITIES:
                rec.setdefault(q, math.nan)
            raw.append(rec)
    if not raw:
        raise LiteratureError("no literature records")
    merged = _combine(_merge_unstated_routes(_combine(raw)))
    columns = ["composition", "system", "route", "outcome", "label", "sources", "n_reports", "rows", *QUANTITIES,
               "fractions"]
    table = pd.DataFrame(merged, columns=columns)
    label_sets: dict[tuple, set] = {}
    for rec in merged:
        label_sets.setdefault((rec["composition"], rec["route"]), set()).add(rec["label"])
    stats["_table"] = {
        "records": int(len(table)),
        "compositions": int(table["composition"].nunique()),
        "systems": int(table["system"].nunique()),
        "glass": int(table["label"].sum()),
        "conflicting_composition_routes": sum(len(v) > 1 for v in label_sets.values()),
        "measurements": {q: int(np.isfinite(table[q].to_numpy(dtype=float)).sum()) for q in QUANTITIES},
    }
    return LiteratureTable(table, stats, tuple(sources))


@lru_cache(maxsize=4)
def load_literature(sources: tuple[str, ...] = DEFAULT_SOURCES) -> LiteratureTable:
    """The shipped literature table (built once per process, about two seconds)."""
    return build_table(tuple(sources))


def reference_compositions() -> list[dict]:
    """Well-known glasses of every family at their usual route, and pure metals and complete
    solid solutions that are not glass formers (``discovery/data/reference_glasses.csv``, each
    row with its reference): the sanity check of a trained model (bench/bench_models.py, tests)."""
    path = Path(__file__).resolve().parent / "data" / "reference_glasses.csv"
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))
