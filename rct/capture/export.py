"""The analysis dataset: one row per borough x quarter x indicator, written to CSV, Parquet
and Stata ``.dta`` with a manifest holding the data snapshot hash.

Columns: ``borough`` (unit id), ``borough_name``, ``gss_code``, ``period``, ``phase``
(baseline, transition, follow_up), ``indicator``, ``value`` (blank when missing),
``denominator_name``, ``denominator``, ``rate_per_10000``, ``status`` (received, amended,
missing), ``version``, ``amended`` and ``queried`` (0/1 flags), ``arm`` (empty until the
allocation is revealed).

The snapshot hash is the SHA-256 of the canonical JSON (:mod:`protocols.canonical`) of
the rows sorted by borough, period and indicator, so it depends on the data alone, not
on the file format, the order of rows or the time of export. The CSV and Excel (``.xlsx``)
files neutralise text cells a spreadsheet would run as formulas; numbers stay numbers.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from protocols import Protocol
from protocols.canonical import fingerprint
from protocols.quarters import Quarter
from rct.audit import utc_now
from rct.audit_export import safe_cell
from rct.capture.errors import ExportSupportMissing
from rct.capture.returns import format_value
from rct.capture.values import StoredCell

__all__ = [
    "COLUMNS",
    "FORMATS",
    "available_formats",
    "dataset_rows",
    "snapshot_hash",
    "write_dataset",
    "ExportResult",
    "export_dataset",
]

COLUMNS = (
    "borough",
    "borough_name",
    "gss_code",
    "period",
    "phase",
    "indicator",
    "value",
    "denominator_name",
    "denominator",
    "rate_per_10000",
    "status",
    "version",
    "amended",
    "queried",
    "arm",
)
FORMATS = ("csv", "parquet", "dta", "xlsx")


def available_formats() -> tuple[str, ...]:
    """The formats this installation can write (Parquet needs pyarrow, Excel openpyxl)."""
    needs = {"parquet": "pyarrow", "xlsx": "openpyxl"}
    return tuple(f for f in FORMATS if f not in needs or importlib.util.find_spec(needs[f]))


_TEXT = (
    "borough",
    "borough_name",
    "gss_code",
    "period",
    "phase",
    "indicator",
    "denominator_name",
    "status",
    "arm",
)
Key = tuple[str, str, str]


def dataset_rows(
    protocol: Protocol,
    cells: Mapping[Key, StoredCell],
    open_queries: Mapping[Key, int],
    arms: Mapping[str, str] | None = None,
    units: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """The rows of the analysis dataset, sorted by borough, period and indicator.

    Parameters
    ----------
    protocol
        Units, quarters, indicators and their denominators.
    cells
        The current stored version of each cell.
    open_queries
        Number of unresolved queries per cell (the ``queried`` flag).
    arms
        Unit id -> arm code once the allocation is revealed; None leaves ``arm`` empty.
    units
        Restrict to these unit ids.
    """
    rows = []
    for u in sorted(protocol.units, key=lambda u: u.id):
        if units is not None and u.id not in units:
            continue
        for q in protocol.schedule.quarters:
            p = str(q)
            for ind in sorted(protocol.indicators, key=lambda i: i.code):
                c = cells.get((u.id, p, ind.code))
                den_raw = u.covariates.get(ind.denominator) if ind.denominator else None
                den = float(den_raw) if isinstance(den_raw, (int, float)) else None
                value = None if c is None else c.value
                rate = (value / den * 10000) if value is not None and den else None
                rows.append(
                    {
                        "borough": u.id,
                        "borough_name": u.name,
                        "gss_code": u.gss_code,
                        "period": p,
                        "phase": protocol.schedule.phase(q) or "",
                        "indicator": ind.code,
                        "value": value,
                        "denominator_name": ind.denominator,
                        "denominator": den,
                        "rate_per_10000": rate,
                        "status": "missing"
                        if c is None
                        else ("amended" if c.version > 1 else "received"),
                        "version": 0 if c is None else c.version,
                        "amended": int(c is not None and c.version > 1),
                        "queried": int(open_queries.get((u.id, p, ind.code), 0) > 0),
                        "arm": (arms or {}).get(u.id, ""),
                    }
                )
    return rows


def snapshot_hash(rows: Sequence[Mapping[str, Any]]) -> str:
    """SHA-256 of the canonical JSON of ``rows`` sorted by borough, period and indicator."""
    ordered = sorted(
        rows, key=lambda r: (r["borough"], Quarter.parse(r["period"]).index, r["indicator"])
    )
    return fingerprint([dict(r) for r in ordered])


def _csv_cell(name: str, value: Any) -> Any:
    if value is None:
        return ""
    if name in ("value", "denominator"):
        return format_value(value)
    return safe_cell(value)


def write_dataset(rows: Sequence[Mapping[str, Any]], path: Path, fmt: str) -> None:
    """Write ``rows`` to ``path`` as ``csv``, ``parquet``, ``dta`` or ``xlsx``."""
    if fmt == "csv":
        with open(path, "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(COLUMNS)
            for r in rows:
                w.writerow([_csv_cell(c, r[c]) for c in COLUMNS])
        return
    # lazy: loads pandas, numpy (start-up time)
    import pandas as pd

    frame = pd.DataFrame(list(rows), columns=list(COLUMNS))
    for c in ("value", "denominator", "rate_per_10000"):
        frame[c] = pd.to_numeric(frame[c], errors="coerce").astype("float64")
    for c in ("version", "amended", "queried"):
        frame[c] = frame[c].astype("int32")
    for c in _TEXT:
        frame[c] = frame[c].fillna("").astype(object)
    if fmt == "parquet":
        try:
            # lazy: optional dependency pyarrow (extra 'export')
            import pyarrow  # noqa: F401
        except ImportError:
            raise ExportSupportMissing(
                "Parquet export needs pyarrow: pip install "
                "'rct[export]' (or choose --format csv or dta)"
            ) from None
        frame.to_parquet(path, index=False)
    elif fmt == "dta":
        frame.to_stata(path, write_index=False, version=118, data_label="Trial analysis dataset")
    elif fmt == "xlsx":
        _write_xlsx(rows, path)
    else:
        raise ValueError(f"unknown format {fmt!r}")


def _write_xlsx(rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    """One sheet, header row first; formula-like text neutralised, missing values blank."""
    try:
        # lazy: loads numpy, openpyxl (start-up time)
        from openpyxl import Workbook
    except ImportError:
        raise ExportSupportMissing(
            "Excel export needs openpyxl: pip install 'rct[excel]' (or choose another --format)"
        ) from None
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("analysis_dataset")
    ws.append(list(COLUMNS))
    for r in rows:
        ws.append([None if r[c] is None else safe_cell(r[c]) for c in COLUMNS])
    wb.save(path)


@dataclass(frozen=True)
class ExportResult:
    """Files written, the manifest path and the snapshot hash."""

    files: dict[str, str]
    manifest: str
    snapshot_hash: str
    rows: int


def export_dataset(
    rows: Sequence[Mapping[str, Any]],
    out_dir: Path,
    formats: Sequence[str],
    provenance: Mapping[str, Any],
    stem: str = "analysis_dataset",
) -> ExportResult:
    """Write ``rows`` in each of ``formats`` into ``out_dir`` with ``manifest.json``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {}
    for fmt in formats:
        path = out_dir / f"{stem}.{fmt}"
        write_dataset(rows, path, fmt)
        files[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    snap = snapshot_hash(rows)
    manifest = {
        "dataset": stem,
        "rows": len(rows),
        "columns": list(COLUMNS),
        "snapshot_hash": snap,
        "snapshot_rule": "SHA-256 of the canonical JSON (protocols.canonical) of the dataset "
        "rows sorted by borough, period, indicator",
        "arms_revealed": any(r["arm"] for r in rows),
        "files": files,
        "created_at": utc_now(),
        **provenance,
    }
    mpath = out_dir / f"{stem}.manifest.json"
    mpath.write_text(
        json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return ExportResult(files, str(mpath), snap, len(rows))
