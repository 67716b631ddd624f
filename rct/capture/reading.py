"""Reading a return file into rows of cells: CSV in any common encoding and .xlsx, strictly.

CSV files arrive from many systems: UTF-8 with or without a byte-order mark, Windows
code page 1252 (Excel's "CSV" on British Windows, which covers Latin-1 text), UTF-16
(Excel's "Unicode text"); separated by commas, semicolons (European Excel) or tabs. The
encoding is found by BOM, then by trying strict UTF-8, then cp1252. The separator is the
one of ``,``, ``;`` and tab that occurs most often in the header line.

Nothing is guessed away (issue #11): a byte that is not valid in the encoding (a UTF-8
file with one corrupted byte, odd-length UTF-16, a lone surrogate), a control character,
an unterminated quote, or a row with more or fewer cells than the header (a merged
record, a separator inside an unquoted value, a lost newline) rejects the whole file
with the row and column where it happened. Excel workbooks are read by
:mod:`rct.capture.xlsx_reading`, streaming and within limits.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rct.capture.errors import UnreadableFile
from rct.capture.headers import normalise_header, require_columns
from rct.capture.report import column_letter

__all__ = [
    "RawTable",
    "read_table",
    "decode_text",
    "sniff_delimiter",
    "normalise_header",
    "file_sha256",
    "require_columns",
]

_SEPARATORS = (",", ";", "\t")
#: Characters no return holds: C0 controls but tab/CR/LF, DEL and the C1 controls.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
#: A well-formed UTF-8 sequence of two to four bytes: its presence says "this is UTF-8".
_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
#: How many malformed rows one error message lists.
_SHOWN = 5


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


def _where(text: str, offset: int) -> str:
    """``row R, column C`` of character ``offset`` in ``text`` (columns by separator)."""
    line_start = text.rfind("\n", 0, offset) + 1
    row = text.count("\n", 0, offset) + 1
    sep = sniff_delimiter(text[: text.find("\n") if "\n" in text else len(text)])
    return f"row {row}, column {column_letter(text.count(sep, line_start, offset))}"


def _bad_byte(data: bytes, exc: UnicodeDecodeError, encoding: str, skip: int = 0) -> str:
    """Where a decoding error happened, said in rows and columns of the readable prefix."""
    prefix = data[skip : exc.start].decode(encoding, errors="replace")
    where = _where(prefix + "x", len(prefix))
    return f"{where} (byte {exc.start + 1}): {data[exc.start : exc.end]!r} is not valid {encoding}"


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode ``data`` as described in the module docstring; returns (text, encoding).

    Raises :class:`UnreadableFile` naming the row and column of the first byte that is not
    valid in the file's encoding, or of the first control character.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        encoding, skip = "utf-8", 3
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16-le" if data.startswith(b"\xff\xfe") else "utf-16-be"
        skip = 2
        if (len(data) - skip) % 2:
            raise UnreadableFile(
                "the file is UTF-16 (by its byte-order mark) but has an odd number of "
                "bytes: it is truncated or corrupted; save it again"
            )
    else:
        encoding, skip = "", 0
    if encoding:
        try:
            text = data[skip:].decode(encoding)
        except UnicodeDecodeError as exc:
            exc.start, exc.end = exc.start + skip, exc.end + skip
            raise UnreadableFile(
                f"{_bad_byte(data, exc, encoding, skip)}: the file is corrupted; save it again"
            ) from None
        name = "utf-8-sig" if skip == 3 else "utf-16"
    else:
        try:
            text, name = data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError as exc:
            if _UTF8_MULTIBYTE.search(data):
                # real UTF-8 text with a damaged byte, not a Windows file: never mojibake
                raise UnreadableFile(
                    f"{_bad_byte(data, exc, 'utf-8')}: the file is UTF-8 with a corrupted "
                    "byte; save it again"
                ) from None
            try:
                text, name = data.decode("cp1252"), "cp1252"
            except UnicodeDecodeError as exc2:
                raise UnreadableFile(
                    f"{_bad_byte(data, exc2, 'cp1252')} (nor UTF-8): the encoding is "
                    "unknown or the file is corrupted; save it as CSV UTF-8"
                ) from None
    bad = _CONTROL.search(text)
    if bad is not None:
        raise UnreadableFile(
            f"{_where(text, bad.start())}: control character {bad.group()!r} in the "
            "file: it is corrupted or not a text file"
        )
    return text, name


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


def _ragged(source: str, width: int, bad: list[tuple[int, int, list[str]]]) -> UnreadableFile:
    parts = []
    for row, n, record in bad[:_SHOWN]:
        if n > width:
            extra = next((c for c in record[width:] if c.strip()), record[width])
            parts.append(
                f"row {row} has {n} cells, the header {width} (extra column "
                f"{column_letter(width)}: {extra.strip()!r})"
            )
        else:
            parts.append(f"row {row} has {n} cells, the header {width}")
    more = " and more rows" if len(bad) > _SHOWN else ""
    return UnreadableFile(
        f"{source}: rejected, nothing was stored: {'; '.join(parts)}{more}: a merged or "
        "split record, a lost line break or an unquoted separator inside a value"
    )


def _from_csv(source: str, data: bytes, required: Collection[str]) -> RawTable:
    try:
        text, encoding = decode_text(data)
    except UnreadableFile as exc:
        raise UnreadableFile(f"{source}: rejected, nothing was stored: {exc}") from None
    if not text.strip():
        raise UnreadableFile(f"{source}: the file is empty")
    delimiter = sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise UnreadableFile(f"{source}: cannot read a header line ({exc})") from None
    names = tuple(normalise_header(h) for h in header)
    require_columns(source, names, required)
    rows = []
    bad: list[tuple[int, int, list[str]]] = []
    start = reader.line_num + 1
    n = 1
    try:
        for n, record in enumerate(reader, start=2):
            # CSV cells are text: stripped, and None when blank (so any() finds data)
            cells = tuple([c.strip() or None for c in record])
            if not any(cells):
                start = reader.line_num + 1
                continue
            if len(record) != len(header):
                bad.append((n, len(record), record))
                if len(bad) > _SHOWN:
                    break  # the file is refused: enough is known to say why
            if not bad:  # once refused, rows are no longer kept
                rows.append((n, cells))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise UnreadableFile(
            f"{source}: rejected, nothing was stored: row {n + 1} (line {start}): "
            f"{exc}: an unterminated or misplaced quote"
        ) from None
    if bad:
        raise _ragged(source, len(header), bad)
    return RawTable(source, file_sha256(data), names, tuple(rows), encoding, delimiter)


def read_table(
    path: str | Path, data: bytes | None = None, *, required: Collection[str] = ()
) -> RawTable:
    """Read ``path`` (or ``data`` named by it) as a CSV or .xlsx table.

    ``required`` columns (normalised names) are checked on the header before any other
    row is read. Raises :class:`UnreadableFile` (one line, row and column) for a file that
    is not a well-formed table.
    """
    source = str(path)
    if data is None:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise UnreadableFile(f"cannot read {source}: {exc.strerror}") from None
    if data.startswith(b"PK\x03\x04") or source.lower().endswith((".xlsx", ".xlsm")):
        # lazy: loads rct.capture.xlsx_reading (start-up time)
        from rct.capture.xlsx_reading import read_xlsx

        header, rows = read_xlsx(source, data, required=required)
        return RawTable(source, file_sha256(data), header, rows, "xlsx", "")
    if source.lower().endswith(".xls"):
        raise UnreadableFile(f"{source}: old .xls workbooks are not read; save it as .xlsx or CSV")
    return _from_csv(source, data, required)
