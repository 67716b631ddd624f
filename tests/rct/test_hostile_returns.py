"""Hostile returns (issue #11): a damaged file is rejected whole with row and column, never
stored in part; numbers are ASCII digits only; xlsx files are read within limits."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import pytest

from protocols import load_protocol, shipped_protocol_path
from rct.capture.errors import UnreadableFile
from rct.capture.reading import read_table
from rct.capture.returns import REQUIRED, validate_return
from rct.capture.xlsx_reading import XlsxLimits, read_xlsx

P = load_protocol(shipped_protocol_path())
HEADER = b"borough,period,indicator,value\n"
ROWS = [
    b"camden,2025-Q1,da_re_referrals,12\n",
    b"enfield,2025-Q2,cp_plans_with_da,30\n",
    b"camden,2025-Q2,da_re_referrals,14\n",
]


def cells_of(data: bytes, name: str = "r.csv") -> list[float]:
    cells, report = validate_return(read_table(name, data, required=REQUIRED), P)
    assert report.ok, report.problems
    return [c.value for c in cells]


def refused(data: bytes, name: str = "r.csv") -> str:
    with pytest.raises(UnreadableFile) as info:
        read_table(name, data, required=REQUIRED)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_valid_file_is_read_whole() -> None:
    assert cells_of(HEADER + b"".join(ROWS)) == [12.0, 30.0, 14.0]


def test_row_with_more_cells_than_the_header_is_refused_not_truncated() -> None:
    msg = refused(HEADER + b"camden,2026-Q4,da_referral_at_intake,1,250\n")
    assert "row 2 has 5 cells, the header 4" in msg and "'250'" in msg


def test_row_with_fewer_cells_than_the_header_is_refused() -> None:
    assert "row 3 has 3 cells" in refused(HEADER + ROWS[0] + b"enfield,2025-Q2,30\n")


def test_two_records_merged_into_one_line_are_refused() -> None:
    merged = ROWS[0].rstrip(b"\n") + ROWS[1]
    assert "row 2 has 7 cells" in refused(HEADER + merged)


def test_a_corrupted_newline_byte_is_refused_with_its_row() -> None:
    data = bytearray(HEADER + b"".join(ROWS))
    data[len(HEADER) + len(ROWS[0]) - 1] = 0x8A  # the newline after the first record
    msg = refused(bytes(data))
    assert "row 2" in msg


def test_unterminated_quote_is_refused() -> None:
    msg = refused(HEADER + ROWS[0] + b'"enfield,2025-Q2,cp_plans_with_da,30\n' + ROWS[2])
    assert "quote" in msg and "row 3" in msg


def test_corrupted_byte_in_a_utf8_file_is_refused_with_row_and_column() -> None:
    data = "borough,period,indicator,value,comment\ncamden,2025-Q1,da_re_referrals,3,café\n"
    raw = data.encode("utf-8").replace(b"\xc3\xa9", b"\xc3\xa9\xff")
    msg = refused(raw)
    assert "row 2, column E" in msg and "utf-8" in msg


def test_byte_undefined_in_windows_1252_is_refused() -> None:
    assert "cp1252" in refused(HEADER + b"camden,2025-Q1,da_re_referrals,1\x81\n")


def test_control_character_is_refused() -> None:
    assert "row 2, column D" in refused(HEADER + b"camden,2025-Q1,da_re_referrals,1\x00\n")


def test_odd_length_utf16_is_refused() -> None:
    data = (HEADER + ROWS[0]).decode().encode("utf-16")
    assert "odd number of bytes" in refused(data + b"\x00")


def test_lone_surrogate_utf16_is_refused() -> None:
    data = "\ufeffborough,period,indicator,value\ncamden,2025-Q1,x,1\n".encode("utf-16-le")
    bad = data[:-4] + b"\x00\xd8" + data[-2:]  # a high surrogate with no low one
    assert "not valid utf-16" in refused(bad)


@pytest.mark.parametrize("text", ["1_000", "١٢", "１２", "1,000", "1 000", "nan", "inf", "0x10"])
def test_numbers_are_ascii_digits_only_without_thousands_separators(text: str) -> None:
    data = HEADER + f'camden,2025-Q1,da_re_referrals,"{text}"\n'.encode()
    _, report = validate_return(read_table("r.csv", data), P)
    assert [p.row for p in report.problems] == [2]
    assert "not a number" in report.problems[0].reason


def test_numbers_that_a_double_cannot_hold_exactly_are_refused() -> None:
    data = HEADER + b"camden,2025-Q1,da_referral_at_intake,12345678901234567\n"
    _, report = validate_return(read_table("r.csv", data), P)
    assert "not a number" in report.problems[0].reason


def test_decimal_comma_in_semicolon_files_is_still_read() -> None:
    data = b"borough;period;indicator;value\ncamden;2025-Q1;da_re_referrals;12\n"
    assert cells_of(data) == [12.0]


def test_wrong_header_is_refused_from_row_one() -> None:
    assert "required column value missing" in refused(b"borough,period,indicator\n")


# --- xlsx -------------------------------------------------------------------------------

NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'


def _xlsx(
    sheet_rows: str, strings: list[str] | None = None, extra: dict[str, bytes] | None = None
) -> bytes:
    """A minimal workbook whose sheet data is ``sheet_rows`` (raw XML)."""
    strings = strings if strings is not None else ["borough", "period", "indicator", "value"]
    sst = "".join(f"<si><t>{s}</t></si>" for s in strings)
    parts = {
        "[Content_Types].xml": b"<Types/>",
        "xl/workbook.xml": b'<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": b'<Relationships><Relationship Id="rId1" Target="worksheets/sheet1.xml"/></Relationships>',
        "xl/sharedStrings.xml": f"<sst {NS}>{sst}</sst>".encode(),
        "xl/worksheets/sheet1.xml": f"<worksheet {NS}><sheetData>{sheet_rows}</sheetData></worksheet>".encode(),
    }
    parts.update(extra or {})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)
    return buf.getvalue()


ROW1 = '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c><c r="C1" t="s"><v>2</v></c><c r="D1" t="s"><v>3</v></c></row>'


def _row(n: int, value: str, t: str = "n") -> str:
    return (
        f'<row r="{n}"><c r="A{n}" t="inlineStr"><is><t>camden</t></is></c>'
        f'<c r="B{n}" t="str"><v>2025-Q1</v></c><c r="C{n}" t="str"><v>da_re_referrals</v></c>'
        f'<c r="D{n}" t="{t}"><v>{value}</v></c></row>'
    )


def test_minimal_workbook_is_read() -> None:
    assert cells_of(_xlsx(ROW1 + _row(2, "12")), "r.xlsx") == [12.0]


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "abc", "1" * 400, "1e999"])
def test_xlsx_numeric_cells_that_are_not_finite_numbers_are_problems_by_cell(value: str) -> None:
    _, report = validate_return(read_table("r.xlsx", _xlsx(ROW1 + _row(2, value))), P)
    assert [(p.row, p.column) for p in report.problems] == [(2, "value (D)")]


def test_xlsx_shared_string_index_out_of_range_is_refused() -> None:
    msg = refused(_xlsx(ROW1 + _row(2, "99", t="s")), "r.xlsx")
    assert "row 2, column D: shared string 99 does not exist" in msg


def test_xlsx_malformed_sheet_xml_is_refused() -> None:
    assert "malformed sheet XML" in refused(_xlsx(ROW1 + "<row r='2'><c>"), "r.xlsx")


def test_xlsx_with_a_dtd_is_refused() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><sst><si><t>&a;</t></si></sst>'
    msg = refused(_xlsx(ROW1, extra={"xl/sharedStrings.xml": bomb}), "r.xlsx")
    assert "DTD" in msg


def test_xlsx_cell_far_beyond_the_columns_a_return_has_is_refused() -> None:
    msg = refused(_xlsx(ROW1 + '<row r="2"><c r="XFD2"><v>1</v></c></row>'), "r.xlsx")
    assert "column XFD" in msg


def test_xlsx_declaring_more_than_its_size_allows_is_refused_before_inflating() -> None:
    big = f"<sst {NS}>".encode() + b"<si><t>x</t></si>" * 2_000_000 + b"</sst>"
    data = _xlsx(ROW1, extra={"xl/sharedStrings.xml": big})
    start = time.process_time()
    with pytest.raises(UnreadableFile, match="declares"):
        read_xlsx("r.xlsx", data, limits=XlsxLimits(ratio=10, floor=0))
    assert time.process_time() - start < 5  # generous: proves nothing was inflated


def test_xlsx_wrong_header_is_refused_before_the_rows_are_read() -> None:
    # everything after row 1 is garbage: the header's verdict comes first
    header = ROW1.replace("<v>3</v>", "<v>4</v>")
    rows = "".join(_row(n, "1") for n in range(2, 5000)) + "<row r='1'><c>" * 1000
    data = _xlsx(header + rows, strings=["borough", "period", "indicator", "value", "valu"])
    with pytest.raises(UnreadableFile, match="required column value missing"):
        read_xlsx("r.xlsx", data, required=REQUIRED)
    with pytest.raises(UnreadableFile, match="out of order|malformed"):
        read_xlsx("r.xlsx", data)


def test_xlsx_row_limit_is_enforced() -> None:
    rows = "".join(_row(n, "1") for n in range(2, 12))
    with pytest.raises(UnreadableFile, match="beyond 5 rows"):
        read_xlsx("r.xlsx", _xlsx(ROW1 + rows), limits=XlsxLimits(rows=5))


def test_xlsx_shared_string_limit_is_enforced() -> None:
    with pytest.raises(UnreadableFile, match="more than 3 shared strings"):
        read_xlsx("r.xlsx", _xlsx(ROW1 + _row(2, "1")), limits=XlsxLimits(shared_strings=3))


# --- through the command line: one Error line, exit 2, the database untouched ----------

HOSTILE = {
    "extra.csv": HEADER + ROWS[0] + b"camden,2026-Q4,da_referral_at_intake,1,250\n",
    "merged.csv": HEADER + ROWS[0].rstrip(b"\n") + ROWS[1],
    "quote.csv": HEADER + b'"camden,2025-Q1,da_re_referrals,12\n',
    "utf16.csv": (HEADER + ROWS[0]).decode().encode("utf-16") + b"\x00",
    "digits.csv": HEADER + "camden,2025-Q1,da_re_referrals,١٢\n".encode(),
    "nan.xlsx": _xlsx(ROW1 + _row(2, "nan")),
    "huge.xlsx": _xlsx(ROW1 + _row(2, "9" * 400)),
    "sst.xlsx": _xlsx(ROW1 + _row(2, "7", t="s")),
    "xml.xlsx": _xlsx(ROW1 + "<row r='2'><c>"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_return_is_one_error_line_exit_2_and_stores_nothing(
    name: str, trial_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.rct.capture_helpers import snapshot
    from tests.rct.helpers import run_cli

    path = tmp_path / name
    path.write_bytes(HOSTILE[name])
    before = snapshot(trial_url)
    r = run_cli(capsys, "--db", trial_url, "--as", "sam", "data", "import", str(path))
    assert r.code == 2
    assert r.err.startswith("Error: ") and "Traceback" not in r.err
    assert snapshot(trial_url) == before


# --- child-level and units files: the same strictness, one error type ------------------


@pytest.mark.parametrize(
    "data",
    [
        b"borough,child_id\ncamden,a1\ncamden\n",
        b"borough,child_id\ncamden,a1,x\n",
        b'borough,child_id\n"camden,a1\n',
        b"borough,child_id\ncamden,a\x001\n",
    ],
)
def test_child_level_file_with_damaged_rows_is_refused(data: bytes) -> None:
    from rct.capture.children import read_child_frame

    with pytest.raises(UnreadableFile, match="rejected, nothing was stored"):
        read_child_frame("children.csv", data)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("id,pop\na,1\nb,2,3\n", "row 3 has 3 cells"),
        ("id,pop\na,1e308\nb,2\n", "beyond 1e12"),
        ("id,pop\na,1\x00\nb,2\n", "control character"),
    ],
)
def test_units_file_damage_is_one_error_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, why: str
) -> None:
    from tests.rct.helpers import run_cli

    f = tmp_path / "units.csv"
    f.write_text(body)
    r = run_cli(capsys, "allocate", "plan", "--units", str(f), "--n-intervention", "1")
    assert r.code == 2 and why in r.err and r.err.startswith("Error: ")
    assert "Traceback" not in r.err


def test_xlsx_time_budget_is_enforced() -> None:
    rows = "".join(_row(n, "1") for n in range(2, 200))
    with pytest.raises(UnreadableFile, match="reading took more than"):
        read_xlsx("r.xlsx", _xlsx(ROW1 + rows), limits=XlsxLimits(seconds=-1, seconds_per_mb=0))


def test_xlsx_data_right_of_the_header_is_reported_not_ignored() -> None:
    row = _row(2, "12").replace("</row>", '<c r="F2" t="inlineStr"><is><t>x</t></is></c></row>')
    _, report = validate_return(read_table("r.xlsx", _xlsx(ROW1 + row)), P)
    assert [(p.row, p.column) for p in report.problems] == [(1, "F")]


# --- xlsx: damaged names in the cell data are refused, damage elsewhere is harmless -----


@pytest.mark.parametrize(
    ("cell", "why"),
    [
        # t="s" damaged to u="s": the shared-string index 3 would be stored as the number 3
        (
            '<c r="D2" u="s"><v>3</v></c>',
            "row 2, cell D2 of xl/worksheets/sheet1.xml: unknown attribute 'u' on <c>",
        ),
        # <v> damaged to <w>: the value would be lost
        (
            '<c r="D2"><w>12</w></c>',
            "row 2, column D of xl/worksheets/sheet1.xml: unexpected element <w> in <c>",
        ),
        (
            '<c r="D2" t="q"><v>12</v></c>',
            "row 2, column D of xl/worksheets/sheet1.xml: unknown cell type 'q'",
        ),
        ('<c r="D2"><v>1<b/>2</v></c>', "unexpected element <b> in <v>"),
    ],
)
def test_xlsx_damaged_names_in_the_cell_data_are_refused_with_row_and_part(
    cell: str, why: str
) -> None:
    row = _row(2, "12").replace('<c r="D2" t="n"><v>12</v></c>', cell)
    assert cell in row
    assert why in refused(_xlsx(ROW1 + row), "r.xlsx")


def test_xlsx_damaged_row_attribute_is_refused() -> None:
    row = _row(2, "12").replace('<row r="2">', '<row r="2" xpans="1:4">')
    assert "the row after row 1 of xl/worksheets/sheet1.xml: unknown attribute 'xpans'" in refused(
        _xlsx(ROW1 + row), "r.xlsx"
    )


def test_xlsx_sheet_outside_the_spreadsheetml_namespace_is_refused() -> None:
    data = _xlsx(ROW1 + _row(2, "12"))
    src = zipfile.ZipFile(io.BytesIO(data))
    parts = {i.filename: src.read(i) for i in src.infolist()}
    sheet = parts["xl/worksheets/sheet1.xml"].replace(b"2006/main", b"2006/maim")
    msg = refused(_xlsx(ROW1, extra={"xl/worksheets/sheet1.xml": sheet}), "r.xlsx")
    assert "xl/worksheets/sheet1.xml is not a SpreadsheetML worksheet" in msg


def test_xlsx_damaged_sheet_properties_do_not_touch_the_cells() -> None:
    # a corrupted attribute name outside <sheetData> (openpyxl itself fails on this one):
    # nothing there reaches the database, so the cells are read exactly
    props = '<sheetPr><outlinePr summaryBelox="1"/></sheetPr>'
    sheet = f"<worksheet {NS}>{props}<sheetData>{ROW1}{_row(2, '12')}</sheetData></worksheet>"
    data = _xlsx("", extra={"xl/worksheets/sheet1.xml": sheet.encode()})
    assert cells_of(data, "r.xlsx") == [12.0]


def test_xlsx_phonetic_runs_are_not_part_of_an_inline_string() -> None:
    row = _row(2, "12").replace(
        "<is><t>camden</t></is>",
        '<is><t>cam</t><rPh sb="0" eb="1"><t>x</t></rPh><r><t>den</t></r></is>',
    )
    table = read_table("r.xlsx", _xlsx(ROW1 + row))
    assert table.rows[0][1][0] == "camden"


@pytest.mark.parametrize(
    ("offset", "mask", "why"),
    [
        (10, 99, "compression method is not supported"),  # found by the long fuzz profile
        (8, 1, "encrypted"),
    ],
)
def test_xlsx_part_with_an_unreadable_zip_entry_is_refused(
    offset: int, mask: int, why: str
) -> None:
    data = bytearray(_xlsx(ROW1 + _row(2, "12")))
    entry = data.index(b"PK\x01\x02")  # the first part's central-directory entry
    data[entry + offset] |= mask
    msg = refused(bytes(data), "r.xlsx")
    assert "the workbook is damaged" in msg and why in msg


def test_xlsx_time_budget_counts_the_work_not_a_busy_machine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a loaded server: every glance at the wall clock finds another 1000 s gone; the
    # valid workbook is still read (the budget counts the reading's own CPU time)
    import itertools

    data = _xlsx(ROW1 + "".join(_row(n, "1") for n in range(2, 50)))
    ticks = itertools.count()
    monkeypatch.setattr(time, "monotonic", lambda: 1000.0 * next(ticks))
    _, rows = read_xlsx("r.xlsx", data)
    assert len(rows) == 48
