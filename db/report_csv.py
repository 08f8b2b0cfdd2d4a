"""The lab's CSV report format: one row per report, units in the headers."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from db.errors import IngestError, RowError
from db.measurements import QUANTITIES
from db.models import Dataset
from db.reports import Report, check_reports, write_reports

_CSV_FIELDS = {
    "job_id": "job_id", "job": "job_id",
    "sample_id": "sample_id", "sample": "sample_id",
    "composition": "composition", "formula": "composition",
    "method": "method", "processing": "method", "route": "method",
    "result": "result", "outcome": "result",
    "normalize": "normalize", "normalise": "normalize",
    "reporter": "reporter",
    "notes": "notes", "note": "notes", "comment": "notes", "comments": "notes",
    "correction_of": "correction_of", "corrects": "correction_of",
    "reason": "reason",
}
_QUANTITY_ALIASES = {"e": "youngs_modulus", "young_s_modulus": "youngs_modulus", "d_max": "Dmax"}
_TRUE = {"1", "true", "yes", "y"}
_FALSE = {"0", "false", "no", "n", ""}


def _header_key(text: str) -> str:
    return re.sub(r"[^a-z0-9µ/^°]+", "_", str(text).strip().lower()).strip("_")



def _unit_key(unit: str) -> str:
    return _header_key(unit.replace("µ", "u").replace("°", "").replace("^", "").replace("/", "_"))



def _quantity_columns() -> dict[str, tuple[str, str, str | None]]:
    """Header key -> (kind, quantity, unit): kind 'value' (unit from the unit column or a
    suffix), 'unit' (the unit column) or 'value_in' (unit fixed by the suffix, e.g. tg_k)."""
    out: dict[str, tuple[str, str, str | None]] = {}
    names = {q.lower(): q for q in QUANTITIES} | _QUANTITY_ALIASES
    for key, q in names.items():
        out[key] = ("value", q, None)
        out[f"{key}_unit"] = ("unit", q, None)
        for unit in QUANTITIES[q]["convert"]:
            out.setdefault(f"{key}_{_unit_key(unit)}", ("value_in", q, unit))
    return out



def parse_report_csv(text: str, *, default_reporter: str | None = None) -> tuple[list[tuple[int, Report]], list[RowError]]:
    """Lab report rows from CSV text: ``(row, Report)`` pairs and the structural errors found.

    Rows are numbered from 1 (the header is not counted). Column names are matched loosely
    (``Tg [K]`` = ``tg_k``); unknown columns are an error, so a typo in a header never
    silently drops a measurement. A bare quantity column needs a unit: ``tg_k``, ``tg_c`` or
    ``tg`` together with ``tg_unit``.
    """
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        return [], [RowError(None, "file", "the file is empty")]
    except csv.Error as exc:
        return [], [RowError(None, "file", f"not a CSV file: {exc}")]
    qcols = _quantity_columns()
    errors: list[RowError] = []
    columns: list[tuple[str, str, str | None] | None] = []
    seen: dict[tuple, str] = {}
    for raw in header:
        key = _header_key(raw)
        if not key:
            columns.append(None)
            continue
        if key in _CSV_FIELDS:
            spec = ("field", _CSV_FIELDS[key], None)
        elif key in qcols:
            spec = qcols[key]
        else:
            errors.append(RowError(None, raw, "unknown column; known columns: job_id, sample_id, composition, method, result, "
                                   "normalize, reporter, notes, correction_of, reason and measurements such as dmax_mm, tg_k, "
                                   "tx_k, tl_k, youngs_modulus_gpa (or tg + tg_unit)"))
            columns.append(None)
            continue
        ident = (spec[0] if spec[0] != "value_in" else "value", spec[1])
        if ident in seen:
            errors.append(RowError(None, raw, f"says the same as column {seen[ident]!r}"))
        seen[ident] = raw
        columns.append(spec)
    present = {(c[0], c[1]) for c in columns if c is not None}
    for required in ("composition", "result"):
        if ("field", required) not in present:
            errors.append(RowError(None, required, "required column missing from the header"))
    for kind, q in present:
        if kind == "value" and ("unit", q) not in present and q in QUANTITIES:
            errors.append(RowError(None, q, f"column {seen[('value', q)]!r} has no unit: name it like "
                                   f"{q.lower()}_{_unit_key(QUANTITIES[q]['unit'])} or add a {q.lower()}_unit column"))
        if kind == "unit" and ("value", q) not in present:
            errors.append(RowError(None, seen[("unit", q)], f"a unit column without a {q} column"))
    if errors:
        return [], errors
    out: list[tuple[int, Report]] = []
    try:
        for i, values in enumerate(reader, start=1):
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                errors.append(RowError(i, "row", f"has {len(values)} fields, the header has {len(header)}"))
                continue
            fields: dict[str, Any] = {}
            meas_values: dict[str, tuple[str, str | None]] = {}
            units: dict[str, str] = {}
            for spec, value in zip(columns, values):
                if spec is None:
                    continue
                kind, name, unit = spec
                value = value.strip()
                if kind == "field":
                    fields[name] = value or None
                elif kind == "unit":
                    units[name] = value
                elif kind == "value":
                    meas_values[name] = (value, None)
                else:
                    meas_values[name] = (value, unit)
            measurements = {
                q: (v, u if u is not None else units.get(q) or None)
                for q, (v, u) in meas_values.items()
                if v or (u is None and units.get(q))  # an empty cell is no measurement; a lone unit is an error
            }
            normalize_text = (fields.get("normalize") or "").lower()
            if normalize_text not in _TRUE | _FALSE:
                errors.append(RowError(i, "normalize", f"must be yes or no (got {fields['normalize']!r})"))
                continue
            out.append((i, Report(
                composition=fields.get("composition") or "",
                result=fields.get("result") or "",
                method=fields.get("method"),
                reporter=fields.get("reporter") or default_reporter,
                job_id=fields.get("job_id"),
                notes=fields.get("notes"),
                normalize=normalize_text in _TRUE,
                measurements=measurements,
                sample_id=fields.get("sample_id"),
                correction_of=fields.get("correction_of"),
                reason=fields.get("reason"),
            )))
    except csv.Error as exc:
        errors.append(RowError(reader.line_num, "row", f"unreadable CSV: {exc}"))
    if not out and not errors:
        errors.append(RowError(None, "file", "the file has no data rows"))
    return out, errors



@dataclass
class LabImportResult:
    path: str
    sha256: str
    rows: int
    outcome_ids: list[int] = field(default_factory=list)
    already_imported: bool = False



def import_report_csv(
    session: Session,
    path: Path | str,
    *,
    data: bytes | None = None,
    name: str | None = None,
    provenance: dict | None = None,
    default_reporter: str | None = None,
) -> LabImportResult:
    """Load a CSV of lab reports: every row is checked first; one bad row rejects the whole
    file (IngestError lists every problem by row and field) and nothing is written. The same
    file twice (same sha256) is recognised and not imported again."""
    path = Path(path)
    data = path.read_bytes() if data is None else data
    digest = hashlib.sha256(data).hexdigest()
    existing = session.exec(select(Dataset).where(Dataset.sha256 == digest)).scalar_one_or_none()
    if existing is not None:
        return LabImportResult(str(path), digest, existing.rows, already_imported=True)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError([RowError(None, "file", f"not UTF-8 text: {exc}")]) from None
    items, errors = parse_report_csv(text, default_reporter=default_reporter)
    plans, check_errors = check_reports(session, items) if items else ([], [])
    errors = sorted(errors + check_errors, key=lambda e: (e.row is not None, e.row or 0))
    if errors:
        raise IngestError(errors, context=path.name)
    dataset = Dataset(name=name or f"lab reports {path.name}", sha256=digest, path=str(path), rows=len(plans))
    session.add(dataset)
    session.flush()
    prov = {**(provenance or {}), "channel": (provenance or {}).get("channel", "csv"), "file": path.name, "sha256": digest}
    outcomes = write_reports(session, plans, provenance=prov, dataset_id=dataset.id)
    return LabImportResult(str(path), digest, len(plans), [o.id for o in outcomes])


LAB_CSV_COLUMNS = sorted(set(_CSV_FIELDS)) + sorted(_quantity_columns())
