"""Validating a quarterly indicator return against the protocol, reporting every problem.

A return is in long form, one row per cell: ``borough, period, indicator, value`` and an
optional ``comment``. Boroughs are given by GSS code, unit id or exact name; periods as
calendar quarters ``YYYY-Qn`` inside the protocol's schedule; indicators by code. Values
are numbers: counts must be whole, not negative and inside the protocol's range.

A blank value is a *missing* figure, never a zero. By default it is a problem (a return
is expected to be complete); with ``allow_blank`` the row is accepted as "not supplied"
and nothing is stored for it, so the cell stays missing in completeness.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from protocols import Protocol
from protocols.errors import CodedWarning
from protocols.model import Indicator, Unit
from protocols.quarters import Quarter, QuarterError
from rct.capture.reading import RawTable
from rct.capture.report import ValidationReport, column_letter

__all__ = [
    "ReturnCell",
    "REQUIRED",
    "number_in",
    "INFORMATIONAL",
    "validate_return",
    "format_value",
]

REQUIRED = ("borough", "period", "indicator", "value")
#: Columns read besides the required ones (``gss_code`` is checked against the borough).
OPTIONAL = ("comment", "gss_code")
#: Columns written by the template, the export or the published tables: ignored silently.
INFORMATIONAL = frozenset(
    {
        "borough_name",
        "indicator_label",
        "label",
        "source",
        "definition",
        "unit_name",
        "phase",
        "denominator_name",
        "denominator",
        "rate_per_10000",
        "status",
        "version",
        "amended",
        "queried",
        "query_ids",
        "arm",
        "quarter_start",
        "quarter_end",
        "due",
    }
)
MAX_COMMENT = 2000


@dataclass(frozen=True)
class ReturnCell:
    """One validated cell of a return: where it came from and its value."""

    unit_id: str
    period: str
    indicator: str
    value: float
    comment: str
    row: int

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.unit_id, self.period, self.indicator)


def format_value(value: float | None) -> str:
    """A value as people write it: whole numbers without ``.0``; blank for missing."""
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class _Lookup:
    def __init__(self, protocol: Protocol) -> None:
        self.units: dict[str, Unit] = {}
        for u in protocol.units:
            for k in (u.id, u.gss_code, u.name):
                if k:
                    self.units.setdefault(k, u)
        self.indicators: dict[str, Indicator] = {i.code: i for i in protocol.indicators}
        sch = protocol.schedule
        self.first, self.last = sch.baseline_start, sch.follow_up_end
        self.known_units = ", ".join(
            f"{u.id} ({u.gss_code})" if u.gss_code else u.id for u in protocol.units
        )
        self.known_indicators = ", ".join(i.code for i in protocol.indicators)


#: A number as a return writes it: ASCII digits, an optional sign, decimal point and
#: exponent. No thousands separators of any kind (``1,000``, ``1.000``, ``1 000``,
#: ``1_000``) and no other digits (Arabic-Indic, full-width): a figure is never guessed.
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?")


def _number(cell: Any, decimal_comma: bool) -> float | None:
    """The number in ``cell`` or None if it is not one, or not one stored exactly.

    In semicolon-separated files (European Excel) one comma is the decimal separator.
    A number with more precision than a double holds (``12345678901234567``) is refused
    rather than silently rounded: what is stored is what the file says.
    """
    if isinstance(cell, bool) or isinstance(cell, (dt.date, dt.datetime, dt.time)):
        return None
    if isinstance(cell, float):
        return cell if math.isfinite(cell) else None
    if isinstance(cell, int):
        return float(cell) if abs(cell) <= 2**53 else None
    text = str(cell).strip()
    if decimal_comma and text.count(",") == 1 and "." not in text:
        text = text.replace(",", ".")
    if not _DECIMAL.fullmatch(text):
        return None
    value = float(text)
    if not math.isfinite(value) or Decimal(repr(value)) != Decimal(text):
        return None
    return value


def number_in(cell: Any) -> float | None:
    """The number a cell of any table holds under the rules of returns, or None."""
    return _number(cell, False)


def _check_value(ind: Indicator, value: float) -> str | None:
    if ind.type == "count":
        if not value.is_integer():
            return "a count must be a whole number"
        if value < 0:
            return "a count cannot be negative"
    if value < ind.minimum:
        return f"below the minimum {format_value(ind.minimum)} for {ind.code}"
    if ind.maximum is not None and value > ind.maximum:
        return (
            f"above the maximum {format_value(ind.maximum)} for {ind.code} "
            "(the protocol's plausibility bound for a quarterly figure)"
        )
    return None


def _judge_unit(
    look: _Lookup, allowed: frozenset[str] | None, mine: str, cell: Any
) -> tuple[Unit | None, str | None]:
    """(unit, None) for a borough cell the submitter may use, else (None, the problem)."""
    unit = look.units.get(str(cell).strip())
    if unit is None:
        return None, (
            "unknown borough: not a GSS code, unit id or "
            f"exact name of this trial's units ({look.known_units})"
        )
    if allowed is not None and unit.id not in allowed:
        return None, f"you may submit only for {mine or 'no borough'}, not for {unit.id}"
    return unit, None


def _judge_period(look: _Lookup, cell: Any) -> tuple[str | None, str | None]:
    """(period, None) for a quarter inside the schedule, else (None, the problem)."""
    try:
        q = Quarter.parse(str(cell))
    except QuarterError:
        return None, "not a calendar quarter written YYYY-Qn (e.g. 2026-Q3)"
    if not look.first <= q <= look.last:
        return None, f"period outside the trial's schedule ({look.first} to {look.last})"
    return str(q), None


def _judge_value(
    ind: Indicator | None, cell: Any, decimal_comma: bool
) -> tuple[float | None, str | None]:
    """(value, None) for an acceptable figure, else (None, the problem)."""
    value = _number(cell, decimal_comma)
    if value is None:
        return None, (
            "not a number stored exactly: write ASCII digits with an optional decimal "
            "point, no thousands separators, no more digits than a double holds"
        )
    if ind is not None and (why := _check_value(ind, value)) is not None:
        return None, why
    return value, None


def validate_return(
    table: RawTable,
    protocol: Protocol,
    *,
    allowed_units: Collection[str] | None = None,
    allow_blank: bool = False,
) -> tuple[list[ReturnCell], ValidationReport]:
    """Check every row of ``table``; return the valid cells and the report of problems.

    Parameters
    ----------
    table
        The file as read by :func:`rct.capture.reading.read_table`.
    protocol
        The trial protocol: units, indicators, schedule.
    allowed_units
        Unit ids the submitter may submit for; None means any (statistician, admin).
    allow_blank
        Accept a blank value as "not supplied" instead of reporting it.

    Returns
    -------
    cells, report
        ``cells`` is meaningful only when ``report.ok``.
    """
    report = ValidationReport(table.source, table.sha256, "returns", len(table.rows))
    header = list(table.header)
    col: dict[str, int] = {}
    for i, name in enumerate(header):
        label = f"{name or '(blank)'} ({column_letter(i)})"
        if not name:
            if any(i < len(r) and r[i] is not None for _, r in table.rows):
                report.add(1, column_letter(i), "a column with data has no header")
            continue
        if name in col:
            report.add(1, label, f"the column {name!r} appears twice")
            continue
        col[name] = i
        if name not in REQUIRED and name not in OPTIONAL and name not in INFORMATIONAL:
            report.warnings.append(CodedWarning("column-not-read", f"column {label} is not read"))
    for name in REQUIRED:
        if name not in col:
            report.add(
                1, name, "required column is missing (columns needed: " + ", ".join(REQUIRED) + ")"
            )
    if not table.rows:
        report.add(None, None, "the file has no data rows")
    if not report.ok:
        return [], report

    names = {k: f"{k} ({column_letter(i)})" for k, i in col.items()}
    look = _Lookup(protocol)
    allowed = None if allowed_units is None else frozenset(allowed_units)
    decimal_comma = table.delimiter == ";"
    seen: dict[tuple[str, str, str], int] = {}
    cells: list[ReturnCell] = []
    blanks = 0

    # Files repeat the same boroughs, periods, indicators and values in every few rows:
    # each distinct cell text is judged once (keyed by type too, since True == 1).
    units: dict[tuple[type, Any], tuple[Unit | None, str | None]] = {}
    periods: dict[tuple[type, Any], tuple[str | None, str | None]] = {}
    numbers: dict[tuple[type, Any, str], tuple[float | None, str | None]] = {}
    mine = ", ".join(sorted(allowed)) if allowed is not None else ""
    ib, ig, ip, ii, iv = (
        col.get(k, -1) for k in ("borough", "gss_code", "period", "indicator", "value")
    )
    ic = col.get("comment", -1)

    for row, raw in table.rows:
        width = len(raw)
        b = raw[ib] if ib < width else None
        g = raw[ig] if 0 <= ig < width else None
        p = raw[ip] if ip < width else None
        c = raw[ii] if ii < width else None
        v = raw[iv] if iv < width else None
        comment = raw[ic] if 0 <= ic < width else None

        unit: Unit | None = None
        if b is None:
            report.add(row, names["borough"], "borough is empty (required)")
        else:
            got = units.get((type(b), b))
            if got is None:
                got = units[(type(b), b)] = _judge_unit(look, allowed, mine, b)
            unit, why = got
            if why is not None:
                report.add(row, names["borough"], why, b)
        if unit is not None and g is not None and unit.gss_code and str(g) != unit.gss_code:
            report.add(
                row,
                names["gss_code"],
                f"GSS code does not match borough {unit.id} ({unit.gss_code})",
                g,
            )

        period: str | None = None
        if p is None:
            report.add(row, names["period"], "period is empty (required)")
        else:
            pgot = periods.get((type(p), p))
            if pgot is None:
                pgot = periods[(type(p), p)] = _judge_period(look, p)
            period, why = pgot
            if why is not None:
                report.add(row, names["period"], why, p)

        ind: Indicator | None = None
        if c is None:
            report.add(row, names["indicator"], "indicator is empty (required)")
        else:
            ind = look.indicators.get(str(c).strip())
            if ind is None:
                report.add(
                    row,
                    names["indicator"],
                    f"unknown indicator (known: {look.known_indicators})",
                    c,
                )

        value: float | None = None
        if v is None:
            if allow_blank:
                blanks += 1
            else:
                report.add(
                    row,
                    names["value"],
                    "value is empty: a blank is a missing figure, "
                    "never a zero; fill it in or leave the row out",
                )
        else:
            nkey = (type(v), v, "" if ind is None else ind.code)
            ngot = numbers.get(nkey)
            if ngot is None:
                ngot = numbers[nkey] = _judge_value(ind, v, decimal_comma)
            value, why = ngot
            if why is not None:
                report.add(row, names["value"], why, v)

        comment_text = "" if comment is None else str(comment)
        if len(comment_text) > MAX_COMMENT:
            report.add(row, names.get("comment"), f"comment longer than {MAX_COMMENT} characters")

        if unit is not None and period is not None and ind is not None:
            key = (unit.id, period, ind.code)
            if key in seen:
                report.add(
                    row,
                    names["value"],
                    f"duplicate cell: {unit.id} {period} "
                    f"{ind.code} is already given in row {seen[key]}",
                    v,
                )
                continue
            seen[key] = row
            if value is not None:
                cells.append(ReturnCell(unit.id, period, ind.code, value, comment_text, row))
    report.summary["cells"] = len(cells)
    report.summary["blank"] = blanks
    return cells, report
