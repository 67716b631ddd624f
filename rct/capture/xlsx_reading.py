"""Reading the first sheet of an .xlsx workbook, streaming and within limits (issue #11).

A workbook is a zip of XML parts, so a 1 MB file can expand to gigabytes, declare a
cell at column XFD of row 1,048,576, or hold text where a number belongs. This reader
refuses such files in proportion to their size, not their expansion:

* the zip's declared sizes are inspected first: the parts together may expand no more
  than :attr:`XlsxLimits.ratio` times the file (plus a small floor), and the bytes
  actually inflated are counted too; then every part's checksum is verified, so a
  damaged workbook is refused whole;
* the sheet is parsed as a stream (expat, no DTD or entities) under the strict grammar
  of :mod:`rct.capture.xlsx_sheet` (a damaged element or attribute name in the cell data
  refuses the file, naming row, column and part); row 1 is read and its required columns
  checked before anything else, and shared strings are read only as far as the rows read
  so far need;
* rows, columns, cells and shared strings are counted against limits as they arrive, and
  a time budget is checked while parsing.

Cells come back as Python values: numbers as ``float`` when the stored text is a finite
decimal (anything else, such as ``nan``, ``inf``, ``abc``, comes back as its text, for the
validation to reject by row and column), text, booleans, and dates for date-formatted
cells. A formula gives its cached value. Any malformation is one :class:`UnreadableFile`.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import re
import time
import zipfile
import zlib
from collections.abc import Callable, Collection
from dataclasses import dataclass
from io import BytesIO
from typing import IO, Any
from xml.parsers import expat

from rct.capture.errors import UnreadableFile
from rct.capture.headers import normalise_header, require_columns
from rct.capture.report import column_letter
from rct.capture.xlsx_sheet import CHUNK as _CHUNK
from rct.capture.xlsx_sheet import Malformed as _Bad
from rct.capture.xlsx_sheet import RawCell as _Raw
from rct.capture.xlsx_sheet import SheetStream as _SheetStream
from rct.capture.xlsx_sheet import int_of as _int
from rct.capture.xlsx_sheet import parser as _parser
from rct.capture.xlsx_sheet import spreadsheetml

__all__ = ["XlsxLimits", "read_xlsx"]

_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?")


@dataclass(frozen=True)
class XlsxLimits:
    """What one workbook may hold; the defaults fit any real return or child-level file."""

    rows: int = 1_048_576
    columns: int = 256
    cells: int = 12_000_000
    shared_strings: int = 2_000_000
    parts: int = 2_000
    #: inflated bytes allowed per byte of file, plus :attr:`floor` (refusal ~ file size)
    ratio: int = 120
    floor: int = 8 << 20
    #: seconds allowed: a base plus so many per MB of file
    seconds: float = 30.0
    seconds_per_mb: float = 30.0

    def inflated(self, size: int) -> int:
        return self.floor + self.ratio * size

    def budget(self, size: int) -> float:
        return self.seconds + self.seconds_per_mb * size / 1e6


class _Book:
    """The zip, its checked parts and the counters shared by all parts."""

    def __init__(self, data: bytes, limits: XlsxLimits) -> None:
        self.limits = limits
        # the budget counts this thread's CPU time: the work the file costs, not the
        # waiting on a busy server (where a valid workbook must still be read)
        self.started = time.thread_time()
        self.deadline = self.started + limits.budget(len(data))
        try:
            self.zip = zipfile.ZipFile(BytesIO(data))
            infos = self.zip.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
            raise _Bad(f"not a readable .xlsx workbook ({exc})") from None
        if len(infos) > limits.parts:
            raise _Bad(f"{len(infos)} parts in the zip (at most {limits.parts})")
        allowed = limits.inflated(len(data))
        declared = sum(i.file_size for i in infos)
        if declared > allowed:
            raise _Bad(
                f"the workbook declares {declared:,} bytes once unzipped, more than "
                f"{allowed:,} allowed for a file of {len(data):,} bytes (a zip bomb?)"
            )
        self.names = {i.filename for i in infos}
        self.budget_bytes = allowed
        # a damaged part anywhere means a damaged file: refused whole, never read in part
        try:
            broken = self.zip.testzip()
        except (
            zipfile.BadZipFile,
            zlib.error,
            OSError,
            EOFError,
            ValueError,
            NotImplementedError,  # a compression method zipfile cannot inflate
            RuntimeError,  # an encrypted part
        ) as exc:
            raise _Bad(f"the workbook is damaged ({exc})") from None
        if broken is not None:
            raise _Bad(f"the workbook is damaged (part {broken} fails its checksum)")

    def open(self, name: str) -> IO[bytes]:
        try:
            return self.zip.open(name)
        except (KeyError, zipfile.BadZipFile, NotImplementedError, RuntimeError) as exc:
            raise _Bad(f"cannot open the part {name} ({exc})") from None

    def parse(self, name: str, parser: expat.XMLParserType, stop: Callable[[], bool]) -> None:
        """Feed part ``name`` to ``parser`` until done or ``stop()``."""
        with self.open(name) as stream:
            while not stop():
                try:
                    chunk = stream.read(_CHUNK)
                except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
                    raise _Bad(f"the part {name} is corrupted ({exc})") from None
                self.spend(len(chunk))
                try:
                    parser.Parse(chunk, not chunk)
                except expat.ExpatError as exc:
                    raise _Bad(f"malformed XML in {name} ({exc})") from None
                if not chunk:
                    break

    def spend(self, n: int) -> None:
        self.budget_bytes -= n
        if self.budget_bytes < 0:
            raise _Bad("the workbook expands to more than its declared size allows")
        if time.thread_time() > self.deadline:
            raise _Bad(
                f"reading took more than {self.deadline - self.started:.0f} s of CPU time allowed for "
                "a file of this size"
            )


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _small_part(book: _Book, name: str, on_start: Callable[[str, dict[str, str]], None]) -> None:
    def start(tag: str, attrs: dict[str, str]) -> None:
        on_start(_local(tag), {_local(k): v for k, v in attrs.items()})

    book.parse(name, _parser(start, lambda _t: None, lambda _t: None), lambda: False)


def _first_sheet(book: _Book) -> tuple[str, bool]:
    """The part name of the first sheet and whether dates count from 1904."""
    sheets: list[str] = []
    rels: dict[str, str] = {}
    flags = {"1904": False}

    def on_wb(tag: str, a: dict[str, str]) -> None:
        if tag == "sheet" and "id" in a:
            sheets.append(a["id"])
        elif tag == "workbookPr":
            flags["1904"] = a.get("date1904", "0") in ("1", "true")

    def on_rel(tag: str, a: dict[str, str]) -> None:
        if tag == "Relationship":
            rels[a.get("Id", "")] = a.get("Target", "")

    if "xl/workbook.xml" in book.names:
        _small_part(book, "xl/workbook.xml", on_wb)
    if "xl/_rels/workbook.xml.rels" in book.names:
        _small_part(book, "xl/_rels/workbook.xml.rels", on_rel)
    if sheets and sheets[0] in rels:
        target = rels[sheets[0]]
        name = target.lstrip("/") if target.startswith("/") else posixpath.join("xl", target)
        name = posixpath.normpath(name)
        if name in book.names:
            return name, flags["1904"]
    if "xl/worksheets/sheet1.xml" in book.names:
        return "xl/worksheets/sheet1.xml", flags["1904"]
    raise _Bad("the workbook has no worksheet")


def _date_styles(book: _Book) -> set[int]:
    """Indexes of cell formats that show a date or time."""
    # lazy: loads numpy, openpyxl (start-up time)
    from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format

    if "xl/styles.xml" not in book.names:
        return set()
    custom: dict[int, str] = {}
    xfs: list[int] = []
    depth = {"cellXfs": False}

    def on(tag: str, a: dict[str, str]) -> None:
        if tag == "numFmt":
            custom[int(a.get("numFmtId", "0") or 0)] = a.get("formatCode", "")
        elif tag == "cellXfs":
            depth["cellXfs"] = True
        elif tag == "cellStyleXfs":
            depth["cellXfs"] = False
        elif tag == "xf" and depth["cellXfs"]:
            xfs.append(int(a.get("numFmtId", "0") or 0))

    try:
        _small_part(book, "xl/styles.xml", on)
    except ValueError:
        raise _Bad("malformed number formats in xl/styles.xml") from None
    out = set()
    for i, fmt_id in enumerate(xfs):
        code = custom.get(fmt_id, BUILTIN_FORMATS.get(fmt_id, ""))
        if code and is_date_format(code):
            out.add(i)
    return out


class _SharedStrings:
    """The shared-string table, read as far as needed and no further."""

    def __init__(self, book: _Book) -> None:
        self.book = book
        self.items: list[str] = []
        self.done = "xl/sharedStrings.xml" not in book.names
        self._text: list[str] = []
        self._in_t = 0
        self._skip = 0  # inside <rPh> (phonetic runs are not part of the text)
        self._seen_root = False
        self._stream: IO[bytes] | None = None
        self._parser = _parser(self._start, self._end, self._chars)

    def _start(self, tag: str, _a: dict[str, str]) -> None:
        if not self._seen_root:
            self._seen_root = True
            if spreadsheetml(tag) != "sst":
                raise _Bad("xl/sharedStrings.xml is not a SpreadsheetML shared-string table")
        tag = _local(tag)
        if tag == "si":
            self._text = []
        elif tag == "t":
            self._in_t += 1
        elif tag == "rPh":
            self._skip += 1

    def _end(self, tag: str) -> None:
        tag = _local(tag)
        if tag == "si":
            if len(self.items) >= self.book.limits.shared_strings:
                raise _Bad(f"more than {self.book.limits.shared_strings:,} shared strings")
            self.items.append("".join(self._text))
        elif tag == "t":
            self._in_t -= 1
        elif tag == "rPh":
            self._skip -= 1

    def _chars(self, text: str) -> None:
        if self._in_t and not self._skip:
            self._text.append(text)

    def get(self, index: int) -> str | None:
        while index >= len(self.items) and not self.done:
            if self._stream is None:
                self._stream = self.book.open("xl/sharedStrings.xml")
            try:
                chunk = self._stream.read(_CHUNK)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
                raise _Bad(f"the shared strings are corrupted ({exc})") from None
            self.book.spend(len(chunk))
            try:
                self._parser.Parse(chunk, not chunk)
            except expat.ExpatError as exc:
                raise _Bad(f"malformed XML in xl/sharedStrings.xml ({exc})") from None
            if not chunk:
                self.done = True
                self._stream.close()
        return self.items[index] if index < len(self.items) else None


class _Cells:
    """Turns raw cells into Python values."""

    def __init__(self, book: _Book, date1904: bool) -> None:
        self.strings = _SharedStrings(book)
        self.dates = _date_styles(book)
        self.epoch = dt.datetime(1904, 1, 1) if date1904 else dt.datetime(1899, 12, 30)

    def value(self, row: int, raw: _Raw) -> Any:
        col, kind, style, text = raw
        if text is None:
            return None
        if kind == "s":
            index = _int(text.strip(), "shared-string index")
            got = self.strings.get(index)
            if got is None:
                raise _Bad(
                    f"row {row}, column {column_letter(col)}: shared string {index} does not "
                    f"exist (the workbook has {len(self.strings.items)})"
                )
            return got.strip() or None
        if kind in ("str", "inlineStr", "e"):
            return text.strip() or None
        if kind == "b":
            return text.strip() in ("1", "true")
        if kind == "d":
            return text.strip()
        number = text.strip()
        if not _NUMBER.fullmatch(number):
            return number or None  # nan, inf, abc...: the validation rejects it by cell
        value = float(number)
        if value != value or value in (float("inf"), float("-inf")):
            return number
        if style in self.dates and abs(value) < 2_958_466:
            return self.epoch + dt.timedelta(days=value)
        return value


def read_xlsx(
    source: str,
    data: bytes,
    *,
    required: Collection[str] = (),
    limits: XlsxLimits | None = None,
) -> tuple[tuple[str, ...], tuple[tuple[int, tuple[Any, ...]], ...]]:
    """(normalised header, rows) of the first sheet of the workbook in ``data``.

    Rows are ``(spreadsheet row number, cells)`` with blank rows left out. ``required``
    columns are checked on row 1 before any other row is read.
    """

    try:
        book = _Book(data, limits or XlsxLimits())
        sheet, date1904 = _first_sheet(book)
        cells = _Cells(book, date1904)
        rows_in = iter(_SheetStream(book, sheet))
        first = next(rows_in, None)
        if first is None:
            raise _Bad("the first sheet is empty")
        row1, raw1 = first
        width = raw1[-1][0] + 1 if raw1 else 0
        values = [None] * width
        for raw in raw1:
            values[raw[0]] = cells.value(row1, raw)
        header = tuple(normalise_header(v) for v in values)
        require_columns(source, header, required)
        rows = []
        for n, raws in rows_in:
            line: list[Any] = [None] * (raws[-1][0] + 1 if raws else 0)
            for raw in raws:
                line[raw[0]] = cells.value(n, raw)
            if any(c is not None for c in line):
                rows.append((n, tuple(line)))
        # data right of the last header cell gets blank header names, so that the
        # validation reports it ("a column with data has no header") instead of losing it
        width = max([len(header), *(len(r) for _, r in rows)])
        header += ("",) * (width - len(header))
    except _Bad as exc:
        raise UnreadableFile(f"{source}: rejected, nothing was stored: {exc}") from None
    finally:
        if "book" in locals():
            book.zip.close()
    return header, tuple(rows)
