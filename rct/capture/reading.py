"""Reading a return file into rows of cells: CSV in any common encoding and .xlsx.

CSV files arrive from many systems: UTF-8 with or without a byte-order mark, Windows
code page 1252 (Excel's "CSV" on British Windows), Latin-1, UTF-16 (Excel's "Unicode
text"); separated by commas, semicolons (European Excel) or tabs. The encoding is found by
BOM, then by trying strict UTF-8, then cp1252, then Latin-1 (which cannot fail). The
separator is the one of ``,``, ``;`` and tab that occurs most often in the header line.
Excel files are read with openpyxl (the optional ``excel`` extra), first sheet, cached
values of formulas.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rct.capture.errors import ExcelSupportMissing, UnreadableFile

__all__ = [
    "RawTable",
    "read_table",
    "decode_text",
    "sniff_delimiter",
    "normalise_header",
    "file_sha256",
]

_SEPARATORS = (",", ";", "\t")


@dataclass(frozen=True)
class RawTable:
    """A file as a header and rows of cells; each row keeps its spreadsheet row number.

    Cells are ``None`` when blank, stripped text for CSV, and the stored value (number,
    text, date) for Excel. Rows whose cells are all blank are left out.
    """

    source: str
    sha256: str
    header: tuple[str, ...]
    rows: tuple[tuple[int, tuple[Any, ...]], ...]
    encoding: str = ""
    delimiter: str = ""


def file_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def normalise_header(name: Any) -> str:
    """``" Borough Name "`` -> ``borough_name``: case, spaces and hyphens do not matter."""
    return "_".join(str(name or "").strip().lower().replace("-", " ").split())


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode ``data`` as described in the module docstring; returns (text, encoding)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1"), "latin-1"


def sniff_delimiter(text: str) -> str:
    """The separator used in the header line: the most frequent of ``,``, ``;`` and tab."""
    first = text.split("\n", 1)[0]
    counts = {sep: first.count(sep) for sep in _SEPARATORS}
    best = max(_SEPARATORS, key=lambda sep: counts[sep])
    return best if counts[best] else ","


def _clean(cell: Any) -> Any:
    if isinstance(cell, str):
        cell = cell.strip()
        return cell or None
    return cell


def _from_csv(source: str, data: bytes) -> RawTable:
    text, encoding = decode_text(data)
    if not text.strip():
        raise UnreadableFile(f"{source}: the file is empty")
    delimiter = sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise UnreadableFile(f"{source}: cannot read a header line ({exc})") from None
    rows = []
    try:
        for n, record in enumerate(reader, start=2):
            # CSV cells are text: stripped, and None when blank (so any() finds data)
            cells = tuple([c.strip() or None for c in record])
            if any(cells):
                rows.append((n, cells))
    except csv.Error as exc:
        raise UnreadableFile(
            f"{source}: not a readable CSV file near line {reader.line_num}: {exc}"
        ) from None
    return RawTable(
        source,
        file_sha256(data),
        tuple(normalise_header(h) for h in header),
        tuple(rows),
        encoding,
        delimiter,
    )


def _from_xlsx(source: str, data: bytes) -> RawTable:
    try:
        import openpyxl
    except ImportError:
        raise ExcelSupportMissing(
            "reading .xlsx files needs openpyxl: pip install 'rct[excel]' (or save the "
            "return as CSV)"
        ) from None
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds on a bad file
        raise UnreadableFile(f"{source}: not a readable .xlsx workbook ({exc})") from None
    try:
        sheet = book.worksheets[0]
        it = sheet.iter_rows(values_only=True)
        header = next(it, None)
        if header is None:
            raise UnreadableFile(f"{source}: the first sheet is empty")
        rows = []
        for n, record in enumerate(it, start=2):
            cells = tuple(_clean(c) for c in record)
            if any(c is not None for c in cells):
                rows.append((n, cells))
    finally:
        book.close()
    return RawTable(
        source,
        file_sha256(data),
        tuple(normalise_header(h) for h in header),
        tuple(rows),
        "xlsx",
        "",
    )


def read_table(path: str | Path, data: bytes | None = None) -> RawTable:
    """Read ``path`` (or ``data`` named by it) as a CSV or .xlsx table."""
    source = str(path)
    if data is None:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise UnreadableFile(f"cannot read {source}: {exc.strerror}") from None
    if data.startswith(b"PK\x03\x04") or source.lower().endswith((".xlsx", ".xlsm")):
        return _from_xlsx(source, data)
    if source.lower().endswith(".xls"):
        raise UnreadableFile(f"{source}: old .xls workbooks are not read; save it as .xlsx or CSV")
    return _from_csv(source, data)
