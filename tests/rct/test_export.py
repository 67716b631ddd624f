"""The analysis dataset: one row per borough x quarter x indicator in CSV, Parquet and
Stata with a manifest whose snapshot hash depends on the data alone."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from protocols import load_protocol, shipped_protocol_path
from rct.capture.dataset import export_trial
from rct.capture.export import COLUMNS, dataset_rows, snapshot_hash, write_dataset
from rct.capture.submit import submit_return
from rct.capture.values import StoredCell
from rct.workspace import Workspace
from tests.rct.capture_helpers import return_csv

Make = Callable[[str], Workspace]
P = load_protocol(shipped_protocol_path())
CELLS = {
    ("camden", "2025-Q1", "da_re_referrals"): StoredCell(12.0, 1, "", 1),
    ("enfield", "2025-Q2", "cp_plans_with_da"): StoredCell(30.0, 2, "", 2),
}


def test_one_row_per_borough_quarter_indicator_with_denominators_and_flags() -> None:
    rows = dataset_rows(P, CELLS, {("enfield", "2025-Q2", "cp_plans_with_da"): 1})
    assert len(rows) == len(P.units) * len(P.schedule.quarters) * len(P.indicators)
    r = next(
        r
        for r in rows
        if (r["borough"], r["period"], r["indicator"]) == ("camden", "2025-Q1", "da_re_referrals")
    )
    assert r["value"] == 12.0 and r["denominator"] == 43000.0
    assert r["rate_per_10000"] == pytest.approx(12 / 43000 * 10000) and r["phase"] == "baseline"
    e = next(
        r
        for r in rows
        if r["borough"] == "enfield"
        and r["period"] == "2025-Q2"
        and r["indicator"] == "cp_plans_with_da"
    )
    assert (e["status"], e["amended"], e["queried"]) == ("amended", 1, 1)
    assert all(r["arm"] == "" for r in rows)


def test_arm_column_is_filled_only_when_arms_are_given() -> None:
    arms = {u.id: ("intervention" if i < 3 else "control") for i, u in enumerate(P.units)}
    rows = dataset_rows(P, CELLS, {}, arms)
    assert {r["arm"] for r in rows} == {"intervention", "control"}


def test_snapshot_hash_ignores_row_order_but_not_values() -> None:
    rows = dataset_rows(P, CELLS, {})
    assert snapshot_hash(rows) == snapshot_hash(list(reversed(rows)))
    other = dataset_rows(
        P, {**CELLS, ("camden", "2025-Q1", "da_re_referrals"): StoredCell(13.0, 2, "", 3)}, {}
    )
    assert snapshot_hash(other) != snapshot_hash(rows)


def test_csv_neutralises_formula_like_cells(tmp_path: Path) -> None:
    rows = dataset_rows(P, CELLS, {})
    rows[0] = {**rows[0], "borough_name": '=HYPERLINK("x")', "arm": "+1"}
    write_dataset(rows, tmp_path / "d.csv", "csv")
    first = next(csv.DictReader(open(tmp_path / "d.csv", encoding="utf-8")))
    assert first["borough_name"].startswith("'=") and first["arm"] == "'+1"


def test_every_format_holds_the_same_values(workspace_as: Make, tmp_path: Path) -> None:
    sam = workspace_as("sam")
    submit_return(
        sam,
        "r.csv",
        data=return_csv(
            [
                ("camden", "2025-Q1", "da_re_referrals", 12),
                ("enfield", "2026-Q2", "cp_plans_with_da", 7),
            ]
        ),
    )
    result = export_trial(sam, tmp_path / "out")
    manifest = json.loads(Path(result.manifest).read_text())
    assert manifest["snapshot_hash"] == result.snapshot_hash and manifest["rows"] == result.rows
    assert set(manifest["files"]) == {
        "analysis_dataset.csv",
        "analysis_dataset.parquet",
        "analysis_dataset.dta",
        "analysis_dataset.xlsx",
    }
    assert manifest["arms_revealed"] is False and manifest["protocol"]["status"] == "locked"
    frames = [
        pd.read_csv(tmp_path / "out" / "analysis_dataset.csv"),
        pd.read_parquet(tmp_path / "out" / "analysis_dataset.parquet"),
        pd.read_stata(tmp_path / "out" / "analysis_dataset.dta"),
        pd.read_excel(tmp_path / "out" / "analysis_dataset.xlsx"),
    ]
    for f in frames:
        assert list(f.columns) == list(COLUMNS) and len(f) == result.rows
        got = f.dropna(subset=["value"]).set_index(["borough", "period", "indicator"])["value"]
        assert got.to_dict() == {
            ("camden", "2025-Q1", "da_re_referrals"): 12.0,
            ("enfield", "2026-Q2", "cp_plans_with_da"): 7.0,
        }
    again = export_trial(sam, tmp_path / "again", ["csv"])
    assert again.snapshot_hash == result.snapshot_hash


def test_excel_export_neutralises_formula_like_text_and_keeps_numbers(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    rows = [
        {c: None for c in COLUMNS}
        | {
            "borough": "camden",
            "borough_name": '=HYPERLINK("http://x")',
            "gss_code": "+1",
            "period": "2026-Q3",
            "phase": "baseline",
            "indicator": "da_re_referrals",
            "value": 12.0,
            "denominator_name": "child_population",
            "denominator": 43000.0,
            "rate_per_10000": 2.79,
            "status": "received",
            "version": 1,
            "amended": 0,
            "queried": 0,
            "arm": "",
        }
    ]
    path = tmp_path / "d.xlsx"
    write_dataset(rows, path, "xlsx")
    sheet = load_workbook(path).active
    header = [c.value for c in sheet[1]]
    values = dict(zip(header, [c.value for c in sheet[2]]))
    assert header == list(COLUMNS)
    assert values["borough_name"] == '\'=HYPERLINK("http://x")' and values["gss_code"] == "'+1"
    assert values["value"] == 12 and values["denominator"] == 43000
