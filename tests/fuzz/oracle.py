"""Independent readers of a workbook's cells, for judging what ``rct`` stored (issue #11).

The first judge is openpyxl. openpyxl also builds objects for the parts around the cells
and fails on damage there (a corrupted attribute name in the sheet properties raises
``TypeError``), although nothing there reaches the database. For such workbooks the
second judge reads the cells with :mod:`xml.etree.ElementTree`, knowing nothing of
:mod:`rct.capture`: the rows of ``<sheetData>`` of the first sheet, shared and inline
strings, and the date formats of the cell styles. Between them every workbook ``rct``
accepts can be judged.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from typing import Any
from xml.etree import ElementTree as ET

M = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
R = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"


def openpyxl_rows(data: bytes) -> list[list[Any]]:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        return [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
    finally:
        book.close()


def _text(node: ET.Element) -> str:
    """The text of a shared or inline string: its <t>, or the <t> of its runs."""
    parts = node.findall(f"{M}t") + node.findall(f"{M}r/{M}t")
    return "".join(t.text or "" for t in parts)


def _first_sheet(z: zipfile.ZipFile) -> str:
    book = ET.fromstring(z.read("xl/workbook.xml"))
    rid = book.find(f"{M}sheets/{M}sheet").get(f"{R}id")  # type: ignore[union-attr]
    rels = ET.fromstring(z.read("xl/_rels/workbook.xml.rels"))
    for rel in rels:
        if rel.get("Id") == rid:
            target = rel.get("Target", "")
            return target.lstrip("/") if target.startswith("/") else "xl/" + target
    raise LookupError("the first sheet has no relationship")


def _date_styles(z: zipfile.ZipFile) -> set[int]:
    from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format

    if "xl/styles.xml" not in z.namelist():
        return set()
    root = ET.fromstring(z.read("xl/styles.xml"))
    custom = {int(f.get("numFmtId", "0")): f.get("formatCode", "") for f in root.iter(f"{M}numFmt")}
    xfs = root.find(f"{M}cellXfs")
    out = set()
    for i, xf in enumerate([] if xfs is None else xfs.findall(f"{M}xf")):
        fmt = int(xf.get("numFmtId", "0"))
        code = custom.get(fmt, BUILTIN_FORMATS.get(fmt, ""))
        if code and is_date_format(code):
            out.add(i)
    return out


def _column(ref: str) -> int:
    letters = re.match("[A-Z]+", ref).group()  # type: ignore[union-attr]
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n - 1


def etree_rows(data: bytes) -> list[list[Any]]:
    """The first sheet's rows as lists of cell values (None for a blank cell)."""
    z = zipfile.ZipFile(io.BytesIO(data))
    try:
        sheet = _first_sheet(z)
    except (KeyError, LookupError, AttributeError, ET.ParseError):
        sheet = "xl/worksheets/sheet1.xml"
    strings = []
    if "xl/sharedStrings.xml" in z.namelist():
        strings = [_text(si) for si in ET.fromstring(z.read("xl/sharedStrings.xml"))]
    dates = _date_styles(z)
    root = ET.fromstring(z.read(sheet))
    rows: list[list[Any]] = []
    for row in root.iter(f"{M}row"):
        n = int(row.get("r", len(rows) + 1))
        while len(rows) < n:
            rows.append([])
        cells: list[Any] = []
        for c in row.findall(f"{M}c"):
            col = _column(ref) if (ref := c.get("r")) else len(cells)
            cells += [None] * (col + 1 - len(cells))
            cells[col] = _value(c, strings, dates)
        rows[n - 1] = cells
    return rows


def _value(c: ET.Element, strings: list[str], dates: set[int]) -> Any:
    kind, v = c.get("t", "n"), c.find(f"{M}v")
    if kind == "inlineStr":
        node = c.find(f"{M}is")
        return None if node is None else _text(node)
    if v is None or v.text is None:
        return None
    if kind == "s":
        return strings[int(v.text)]
    if kind == "b":
        return v.text == "1"
    if kind != "n":
        return v.text
    number = float(v.text)
    if int(c.get("s", "0")) in dates:
        return dt.datetime(1899, 12, 30) + dt.timedelta(days=number)
    return int(number) if number.is_integer() and "." not in v.text else number
