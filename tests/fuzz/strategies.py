"""Hypothesis strategies for hostile inputs (issue #11): valid returns and protocols, then
mutated the way damaged or malicious files are.

Returns start as a valid file for the shipped protocol (CSV in a common encoding and
separator, or .xlsx) and receive a few mutations: byte flips, truncation, inserted bytes,
re-encoding, extra or missing cells, merged records, formulas, huge, NaN or odd-digit
numbers, and for workbooks damage to the zip's XML parts (numbers, shared-string indexes,
cell references, truncated XML). Protocols start as the shipped TOML and receive value and
structure mutations.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

from hypothesis import strategies as st

from protocols import load_protocol, shipped_protocol_path

PROTOCOL = load_protocol(shipped_protocol_path())
SHIPPED_TOML = shipped_protocol_path().read_text(encoding="utf-8")
UNITS = [(u.id, u.gss_code, u.name) for u in PROTOCOL.units]
INDICATORS = [(i.code, int(i.maximum or 1000)) for i in PROTOCOL.indicators]
PERIODS = [str(q) for q in PROTOCOL.schedule.quarters]
HEADER = ["borough", "period", "indicator", "value", "comment"]

ODD_VALUES = [
    "nan",
    "NaN",
    "inf",
    "-inf",
    "1e400",
    "9" * 400,
    "1_000",
    "1,000",
    "1 000",
    "١٢",
    "１２",
    "=1+1",
    "=SUM(A1:A9)",
    "+12",
    "0x10",
    "12345678901234567",
    "-0",
    "1e3",
    "",
    " ",
    "twelve",
    '"12"',
    "\u00a012",
]


@st.composite
def valid_rows(draw: st.DrawFn) -> list[list[str]]:
    """Distinct cells of the shipped protocol with in-range whole values."""
    keys = draw(
        st.lists(
            st.tuples(
                st.sampled_from(UNITS),
                st.sampled_from(PERIODS),
                st.sampled_from(INDICATORS),
            ),
            min_size=1,
            max_size=12,
            unique_by=lambda k: (k[0][0], k[1], k[2][0]),
        )
    )
    rows = []
    for (uid, gss, name), period, (code, top) in keys:
        borough = draw(st.sampled_from([uid, gss or uid, name]))
        value = draw(st.integers(0, min(top, 10_000)))
        comment = draw(st.sampled_from(["", "ok", "café £5", "late; revised", 'said "12"']))
        rows.append([borough, period, code, str(value), comment])
    return rows


def _csv_bytes(rows: list[list[str]], sep: str, encoding: str) -> bytes:
    import csv

    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=sep, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return buf.getvalue().encode(encoding)


def _xlsx_bytes(rows: list[list[Any]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for r in rows:
        sheet.append([_typed(c) for c in r])
    buf = io.BytesIO()
    book.save(buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    return _zip({i.filename: src.read(i) for i in src.infolist()})


def _zip(parts: dict[str, bytes]) -> bytes:
    """The parts zipped deterministically (fixed times), so hypothesis can replay a case."""
    parts = {k: v for k, v in parts.items() if k != "docProps/core.xml"}  # holds "now"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in parts.items():
            z.writestr(zipfile.ZipInfo(name, (2026, 1, 1, 0, 0, 0)), body, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _typed(cell: str) -> Any:
    return int(cell) if cell.isascii() and cell.isdigit() and len(cell) < 15 else cell


@st.composite
def cell_mutation(draw: st.DrawFn, rows: list[list[str]]) -> list[list[str]]:
    """Damage at the level of cells: extra/missing cells, odd values, merged records."""
    rows = [list(r) for r in rows]
    i = draw(st.integers(0, len(rows) - 1))
    kind = draw(st.sampled_from(["extra", "missing", "value", "merge", "dup"]))
    if kind == "extra":
        rows[i].append(draw(st.sampled_from(["250", "", "x"])))
    elif kind == "missing":
        del rows[i][draw(st.integers(0, len(rows[i]) - 1))]
    elif kind == "value":
        rows[i][3] = draw(st.sampled_from(ODD_VALUES))
    elif kind == "merge" and len(rows) > 1:
        j = (i + 1) % len(rows)
        rows[i] = rows[i][:-1] + [rows[i][-1] + rows[j][0]] + rows[j][1:]
        del rows[j]
    elif kind == "dup":
        rows.append(list(rows[i]))
    return rows


@st.composite
def byte_mutation(draw: st.DrawFn, data: bytes) -> bytes:
    """Damage at the level of bytes: flips, truncation, insertion, deletion."""
    if not data:
        return data
    buf = bytearray(data)
    kind = draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete", "newline"]))
    pos = draw(st.integers(0, len(buf) - 1))
    if kind == "flip":
        buf[pos] ^= 1 << draw(st.integers(0, 7))
    elif kind == "set":
        buf[pos] = draw(st.integers(0, 255))
    elif kind == "truncate":
        del buf[pos:]
    elif kind == "insert":
        buf[pos:pos] = draw(st.binary(min_size=1, max_size=4))
    elif kind == "delete":
        del buf[pos : pos + draw(st.integers(1, 4))]
    else:
        newlines = [k for k, b in enumerate(buf) if b == 0x0A]
        if newlines:
            buf[draw(st.sampled_from(newlines))] = draw(st.integers(0, 255))
    return bytes(buf)


@st.composite
def xlsx_internal_mutation(draw: st.DrawFn, data: bytes) -> bytes:
    """Damage inside a workbook's XML parts, re-zipped so the zip itself is sound."""
    sheet = "xl/worksheets/sheet1.xml"
    try:
        src = zipfile.ZipFile(io.BytesIO(data))
        parts = {i.filename: src.read(i) for i in src.infolist()}
        xml = parts[sheet].decode("utf-8")
    except Exception:  # noqa: BLE001 - already damaged by an earlier mutation: leave it
        return data
    kind = draw(st.sampled_from(["number", "sst", "ref", "truncate", "bytes", "type"]))
    if kind == "number" and "<v>" in xml:
        idx = [k for k in range(len(xml)) if xml.startswith("<v>", k)]
        k = draw(st.sampled_from(idx)) + 3
        end = xml.index("</v>", k)
        xml = xml[:k] + draw(st.sampled_from(ODD_VALUES[:19])) + xml[end:]
    elif kind == "sst":
        xml = xml.replace('t="s"><v>', 't="s"><v>9', 1) if 't="s"' in xml else xml
    elif kind == "ref":
        xml = xml.replace(
            'r="D2"', f'r="{draw(st.sampled_from(["XFD2", "D1", "A2", "D9", "?"]))}"', 1
        )
    elif kind == "truncate":
        xml = xml[: draw(st.integers(0, len(xml)))]
    elif kind == "type":
        xml = xml.replace('t="n"', 't="s"', 1).replace('<c r="D2"', '<c r="D2" t="b"', 1)
    raw = xml.encode("utf-8")
    if kind == "bytes":
        raw = draw(byte_mutation(raw))
    parts[sheet] = raw
    return _zip(parts)


@st.composite
def hostile_returns(draw: st.DrawFn) -> tuple[str, bytes]:
    """(file name, bytes) of a mutated return; sometimes left valid on purpose."""
    rows = draw(valid_rows())
    for _ in range(draw(st.integers(0, 2))):
        rows = draw(cell_mutation(rows))
    if draw(st.booleans()):
        data = _xlsx_bytes(rows)
        for _ in range(draw(st.integers(0, 2))):
            if draw(st.booleans()):
                data = draw(xlsx_internal_mutation(data))
            else:
                data = draw(byte_mutation(data))
        return "return.xlsx", data
    sep = draw(st.sampled_from([",", ";", "\t"]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]))
    try:
        data = _csv_bytes(rows, sep, encoding)
    except UnicodeEncodeError:
        data = _csv_bytes(rows, sep, "utf-8")
    for _ in range(draw(st.integers(0, 2))):
        data = draw(byte_mutation(data))
    return "return.csv", data


# --- protocols --------------------------------------------------------------------------

ODD_TOML_VALUES = [
    "nan",
    "inf",
    "-inf",
    "1e308",
    "-1e308",
    "0",
    "-5",
    "3e6",
    "3000000",
    '"9999-Q4"',
    '"0001-Q1"',
    '"2026-Q5"',
    '"x"',
    "[]",
    "{}",
    "true",
    "[" * 200 + "]" * 200,
    "1979-05-27",
    '"2027-02-30"',
    "9223372036854775807",
]


@st.composite
def hostile_protocols(draw: st.DrawFn) -> str:
    """The shipped protocol TOML with a few values or lines replaced."""
    lines = SHIPPED_TOML.splitlines()
    for _ in range(draw(st.integers(1, 3))):
        assigns = [k for k, line in enumerate(lines) if "=" in line and not line.startswith("#")]
        k = draw(st.sampled_from(assigns))
        kind = draw(st.sampled_from(["value", "value", "drop", "dup", "inline", "bytes"]))
        key = lines[k].split("=", 1)[0]
        if kind == "value":
            lines[k] = f"{key}= {draw(st.sampled_from(ODD_TOML_VALUES))}"
        elif kind == "inline" and "{" in lines[k]:
            inner = lines[k][lines[k].index("{") + 1 :]
            name = inner.split("=", 1)[0].strip()
            lines[k] = f"{key}= {{ {name} = {draw(st.sampled_from(ODD_TOML_VALUES))} }}"
        elif kind == "drop":
            del lines[k]
        elif kind == "dup":
            lines.insert(k, lines[k])
        elif kind == "bytes":
            lines[k] = draw(byte_mutation(lines[k].encode("utf-8"))).decode(
                "utf-8", errors="replace"
            )
    return "\n".join(lines) + "\n"
