"""The rows of one worksheet part, parsed as a stream under a strict grammar (issue #11).

:mod:`rct.capture.xlsx_reading` hands the sheet part here. Only ``<sheetData>`` carries
cells, so only it is read, and read strictly: what may hold what (a row holds cells, a
cell a value, a formula or an inline string), which attributes a row or a cell may carry
and which cell types exist are fixed, and anything else there (an element or attribute
whose name was damaged, an unknown cell type, an element outside the SpreadsheetML
namespace) refuses the workbook naming the row, the column and the part. A damaged name
could otherwise drop a value silently (``<v>`` turned ``<w>``) or change its meaning
(``t="s"`` turned ``u="s"`` reads a shared-string index as a number).

Everything outside ``<sheetData>`` (sheet properties, views, page set-up) never reaches
the database and is not looked at beyond being well-formed XML; nor are formula text,
run formatting, phonetic runs and extension lists inside a cell.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Iterator
from typing import IO, Any, Protocol
from xml.parsers import expat

from rct.capture.report import column_letter

__all__ = ["Malformed", "SheetStream", "RawCell", "int_of", "parser", "spreadsheetml"]

CHUNK = 1 << 16
_REF = re.compile(r"([A-Z]{1,3})([0-9]{1,7})")
#: SpreadsheetML's namespace, transitional and strict
_MAIN = frozenset(
    {
        "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
        "http://purl.oclc.org/ooxml/spreadsheetml/main",
    }
)
#: what each element inside <sheetData> may hold
_HOLDS = {
    "sheetData": frozenset({"row"}),
    "row": frozenset({"c", "extLst"}),
    "c": frozenset({"v", "f", "is", "extLst"}),
    "is": frozenset({"t", "r", "rPh", "phoneticPr"}),
    "r": frozenset({"rPr", "t"}),
    "v": frozenset(),
    "t": frozenset(),
}
#: elements whose insides are not part of a cell's value and are not looked into
_OPAQUE = frozenset({"f", "rPr", "rPh", "phoneticPr", "extLst"})
#: attributes (without a namespace) a row and a cell may carry
_ATTRIBUTES = {
    "row": frozenset(
        {
            "r",
            "spans",
            "s",
            "customFormat",
            "ht",
            "hidden",
            "customHeight",
            "outlineLevel",
            "collapsed",
            "thickTop",
            "thickBot",
            "ph",
        }
    ),
    "c": frozenset({"r", "s", "t", "cm", "vm", "ph"}),
}
CELL_TYPES = frozenset({"n", "s", "str", "inlineStr", "b", "e", "d"})

# a raw cell as the sheet stores it: (column index, type, style index, text or None)
RawCell = tuple[int, str, int, "str | None"]


class Malformed(Exception):
    """A malformation found while parsing; turned into UnreadableFile with the source."""


class Limits(Protocol):
    """The limits the stream checks as rows and cells arrive."""

    @property
    def rows(self) -> int: ...

    @property
    def columns(self) -> int: ...

    @property
    def cells(self) -> int: ...


class Book(Protocol):
    """What the stream needs of the open workbook: its parts, limits and budget."""

    @property
    def limits(self) -> Limits: ...

    def open(self, name: str) -> IO[bytes]: ...

    def spend(self, n: int) -> None: ...


def int_of(text: str, what: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise Malformed(f"malformed {what} {text!r} in the sheet")
    return int(text)


def _col_index(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n - 1


def spreadsheetml(tag: str) -> str | None:
    """The local name of an element in the SpreadsheetML namespace, else None."""
    ns, _, local = tag.rpartition("}")
    return local if ns in _MAIN else None


def parser(
    start: Callable[..., None], end: Callable[[str], None], text: Callable[[str], None]
) -> expat.XMLParserType:
    """An expat parser that reports namespaces as ``ns}local`` and never reads a DTD."""
    p = expat.ParserCreate(namespace_separator="}")
    p.buffer_text = True

    def no_dtd(*_: Any) -> None:
        raise Malformed("the workbook contains a DTD (entity declarations are never read)")

    p.StartDoctypeDeclHandler = no_dtd
    p.EntityDeclHandler = no_dtd
    p.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    p.StartElementHandler = start
    p.EndElementHandler = end
    p.CharacterDataHandler = text
    return p


class SheetStream:
    """Rows of raw cells of one sheet part, parsed chunk by chunk."""

    def __init__(self, book: Book, name: str) -> None:
        self.book, self.name = book, name
        self.ready: list[tuple[int, list[RawCell]]] = []
        self.row = 0
        self.cells: list[RawCell] = []
        self.cell: list[Any] | None = None
        self.text: list[str] = []
        self.count = 0
        self.seen_root = False
        self.stack: list[str] = []  # the open elements inside <sheetData>
        self.opaque = 0  # depth inside an element whose insides are not read
        self.names: dict[str, str | None] = {}  # tag as parsed -> spreadsheetml(tag)
        self.parser = parser(self._start, self._end, self._chars)

    def _where(self) -> str:
        col = self.cell[0] if self.cell is not None else None
        at = f", column {column_letter(col)}" if col is not None else ""
        return f"row {self.row}{at} of {self.name}"

    def _start(self, tag: str, a: dict[str, str]) -> None:
        if not self.seen_root:
            self.seen_root = True
            if spreadsheetml(tag) != "worksheet":
                raise Malformed(f"{self.name} is not a SpreadsheetML worksheet")
        if self.opaque:
            self.opaque += 1
            return
        local = self.names.get(tag, "")
        if local == "":
            local = self.names[tag] = spreadsheetml(tag)
        if not self.stack:
            if local == "sheetData":
                self.stack.append(local)
            return
        if local is None or local not in _HOLDS[self.stack[-1]]:
            raise Malformed(
                f"{self._where()}: unexpected element <{tag.rpartition('}')[2]}> in "
                f"<{self.stack[-1]}> (a damaged or unknown part of the cell data)"
            )
        self.stack.append(local)
        allowed = _ATTRIBUTES.get(local)
        if allowed is not None and not allowed.issuperset(a):
            unknown = [k for k in a if "}" not in k and k not in allowed]
            if unknown:
                where = f"the row after row {self.row} of {self.name}"
                if local == "c":
                    where = f"row {self.row}, cell {a.get('r', '?')} of {self.name}"
                raise Malformed(
                    f"{where}: unknown attribute {unknown[0]!r} on <{local}> (a damaged or "
                    "unknown part of the cell data)"
                )
        if local == "row":
            self._open_row(a)
        elif local == "c":
            self._open_cell(a)
        elif local in _OPAQUE:
            self.opaque = 1

    def _open_row(self, a: dict[str, str]) -> None:
        lim = self.book.limits
        r = a.get("r")
        n = self.row + 1 if r is None else int_of(r, "row number")
        if n <= self.row or n > lim.rows:
            raise Malformed(f"row number {r} out of order or beyond {lim.rows:,} rows")
        self.row, self.cells = n, []

    def _open_cell(self, a: dict[str, str]) -> None:
        lim = self.book.limits
        ref = a.get("r")
        if ref is None:
            col = self.cells[-1][0] + 1 if self.cells else 0
        else:
            m = _REF.fullmatch(ref)
            if m is None or int(m.group(2)) != self.row:
                raise Malformed(f"cell reference {ref!r} in row {self.row} is malformed")
            col = _col_index(m.group(1))
        if col >= lim.columns:
            raise Malformed(
                f"row {self.row}: a cell in column {column_letter(col)}, beyond the "
                f"{lim.columns} columns a return may have"
            )
        if self.cells and col <= self.cells[-1][0]:
            raise Malformed(f"row {self.row}: cells out of order at column {column_letter(col)}")
        self.count += 1
        if self.count > lim.cells:
            raise Malformed(f"more than {lim.cells:,} cells")
        kind = a.get("t", "n")
        self.cell = [col, kind, int_of(a.get("s", "0"), "style"), None]
        if kind not in CELL_TYPES:
            raise Malformed(f"{self._where()}: unknown cell type {kind!r}")
        self.text = []

    def _end(self, tag: str) -> None:
        if self.opaque:
            self.opaque -= 1
            if self.opaque:
                return
        if not self.stack:
            return
        local = self.stack.pop()
        if local == "c" and self.cell is not None:
            self.cell[3] = "".join(self.text) if self.text else None
            self.cells.append((self.cell[0], self.cell[1], self.cell[2], self.cell[3]))
            self.cell = None
        elif local == "row":
            self.ready.append((self.row, self.cells))
            self.cells = []

    def _chars(self, text: str) -> None:
        # a value is the text of <v>, or of the <t>s of an inline string (not phonetic runs)
        if not self.opaque and self.stack and self.stack[-1] in ("v", "t"):
            self.text.append(text)

    def __iter__(self) -> Iterator[tuple[int, list[RawCell]]]:
        with self.book.open(self.name) as stream:
            while True:
                try:
                    chunk = stream.read(CHUNK)
                except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
                    raise Malformed(f"the sheet is corrupted ({exc})") from None
                self.book.spend(len(chunk))
                try:
                    self.parser.Parse(chunk, not chunk)
                except expat.ExpatError as exc:
                    raise Malformed(f"malformed sheet XML ({exc})") from None
                ready, self.ready = self.ready, []
                yield from ready
                if not chunk:
                    return
