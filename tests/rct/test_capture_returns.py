"""Reading and validating returns without a database: encodings, separators, every
problem reported by row and column, blank is missing never zero."""

from __future__ import annotations

import io
from typing import Any

import pytest

from protocols import load_protocol, shipped_protocol_path
from rct.capture.reading import read_table
from rct.capture.report import ValidationReport
from rct.capture.returns import ReturnCell, validate_return
from tests.rct.capture_helpers import return_csv

P = load_protocol(shipped_protocol_path())
GOOD = [
    ("E09000007", "2025-Q1", "da_re_referrals", 12),
    ("enfield", "2025-Q2", "cp_plans_with_da", 30),
    ("Tower Hamlets", "2025-Q1", "da_referral_at_intake", 250),
]


def check(data: bytes, name: str = "r.csv", **kw: Any) -> tuple[list[ReturnCell], ValidationReport]:
    return validate_return(read_table(name, data), P, **kw)


def test_boroughs_are_found_by_gss_code_id_or_exact_name() -> None:
    cells, report = check(return_csv(GOOD))
    assert report.ok, report.problems
    assert [c.unit_id for c in cells] == ["camden", "enfield", "tower_hamlets"]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16"])
def test_any_common_encoding_is_read(encoding: str) -> None:
    text = "borough,period,indicator,value,comment\nE09000007,2025-Q1,da_re_referrals,3,café £5\n"
    cells, report = check(text.encode(encoding))
    assert report.ok and cells[0].comment == "café £5"


def test_semicolon_separated_files_are_read() -> None:
    cells, report = check(return_csv(GOOD, sep=";"))
    assert report.ok and len(cells) == 3


def test_excel_workbooks_are_read() -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["Borough", "Period", "Indicator", "Value"])
    sheet.append(["E09000007", "2025-Q1", "da_re_referrals", 7])
    sheet.append(["E09000007", "2025-Q2", "da_re_referrals", 8.0])
    buf = io.BytesIO()
    book.save(buf)
    cells, report = check(buf.getvalue(), "r.xlsx")
    assert report.ok and [c.value for c in cells] == [7.0, 8.0]


def test_every_problem_is_reported_at_once_with_row_column_and_value() -> None:
    rows = [
        ("E09999999", "2025-Q1", "da_re_referrals", 1),  # row 2: unknown borough
        ("camden", "2025-Q5", "da_re_referrals", 1),  # row 3: not a quarter
        ("camden", "2030-Q1", "da_re_referrals", 1),  # row 4: outside schedule
        ("camden", "2025-Q1", "made_up", 1),  # row 5: unknown indicator
        ("camden", "2025-Q2", "da_re_referrals", "1.5"),  # row 6: non-integer
        ("camden", "2025-Q3", "da_re_referrals", -1),  # row 7: negative
        ("camden", "2025-Q4", "da_re_referrals", 999999),  # row 8: above maximum
        ("camden", "2026-Q1", "da_re_referrals", "twelve"),  # row 9: not a number
        ("camden", "2026-Q2", "da_re_referrals", None),  # row 10: blank
        ("camden", "2026-Q3", "da_re_referrals", 4),
        ("camden", "2026-Q3", "da_re_referrals", 5),
    ]  # row 12: duplicate
    _, report = check(return_csv(rows))
    got = {(p.row, (p.column or "").split(" ")[0]) for p in report.problems}
    assert got == {
        (2, "borough"),
        (3, "period"),
        (4, "period"),
        (5, "indicator"),
        (6, "value"),
        (7, "value"),
        (8, "value"),
        (9, "value"),
        (10, "value"),
        (12, "value"),
    }
    found = {p.row: p.value for p in report.problems}
    assert found[2] == "E09999999" and found[9] == "twelve"
    assert "row 12" in next(p for p in report.problems if p.row == 12).describe()


def test_blank_value_is_a_problem_and_never_a_zero() -> None:
    _, report = check(return_csv([("camden", "2025-Q1", "da_re_referrals", None)]))
    assert not report.ok and "never a zero" in report.problems[0].reason


def test_blank_value_with_allow_blank_is_left_missing_not_stored_as_zero() -> None:
    cells, report = check(
        return_csv(
            [
                ("camden", "2025-Q1", "da_re_referrals", None),
                ("camden", "2025-Q2", "da_re_referrals", 0),
            ]
        ),
        allow_blank=True,
    )
    assert report.ok and [(c.period, c.value) for c in cells] == [("2025-Q2", 0.0)]
    assert report.summary["blank"] == 1


def test_data_manager_may_submit_only_their_own_borough() -> None:
    _, report = check(return_csv(GOOD), allowed_units={"camden"})
    assert [p.row for p in report.problems] == [3, 4]
    assert all("only for camden" in p.reason for p in report.problems)


def test_missing_required_column_is_named() -> None:
    _, report = check(return_csv([("camden", "2025-Q1", 3)], header=("borough", "period", "value")))
    assert [(p.row, p.column) for p in report.problems] == [(1, "indicator")]


def test_gss_code_column_must_agree_with_borough() -> None:
    data = return_csv(
        [("Camden", "E09000010", "2025-Q1", "da_re_referrals", 3)],
        header=("borough", "gss_code", "period", "indicator", "value"),
    )
    _, report = check(data)
    assert (report.problems[0].column or "").startswith("gss_code")


def test_unknown_columns_are_warned_about_not_read() -> None:
    data = return_csv(
        [("camden", "2025-Q1", "da_re_referrals", 3, "x")],
        header=("borough", "period", "indicator", "value", "extra"),
    )
    _, report = check(data)
    assert report.ok and [w.code for w in report.warnings] == ["column-not-read"]
    assert "extra" in report.warnings[0].message
    assert report.to_dict()["warnings"] == [
        {"code": "column-not-read", "message": report.warnings[0].message}
    ]
