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
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from protocols import Protocol
from protocols.model import Indicator, Unit
from protocols.quarters import Quarter, QuarterError
from rct.capture.reading import RawTable
from rct.capture.report import ValidationReport, column_letter

__all__ = ["ReturnCell", "REQUIRED", "INFORMATIONAL", "validate_return", "format_value"]

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


def _number(cell: Any, decimal_comma: bool) -> float | None:
    """The number in ``cell`` or None if it is not one."""
    if isinstance(cell, bool) or isinstance(cell, (dt.date, dt.datetime, dt.time)):
        return None
    if isinstance(cell, (int, float)):
        return float(cell) if math.isfinite(cell) else None
    text = str(cell).strip()
    if decimal_comma and text.count(",") == 1 and "." not in text:
        text = text.replace(",", ".")
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


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
            report.warnings.append(f"column {label} is not read")
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

    def get(cells_: tuple[Any, ...], name: str) -> Any:
        i = col.get(name)
        return cells_[i] if i is not None and i < len(cells_) else None

    for row, raw in table.rows:
        unit: Unit | None = None
        b = get(raw, "borough")
        if b is None:
            report.add(row, names["borough"], "borough is empty (required)")
        else:
            unit = look.units.get(str(b).strip())
            if unit is None:
                report.add(
                    row,
                    names["borough"],
                    "unknown borough: not a GSS code, unit id or "
                    f"exact name of this trial's units ({look.known_units})",
                    b,
                )
            elif allowed is not None and unit.id not in allowed:
                mine = ", ".join(sorted(allowed)) or "no borough"
                report.add(
                    row, names["borough"], f"you may submit only for {mine}, not for {unit.id}", b
                )
                unit = None
        g = get(raw, "gss_code")
        if unit is not None and g is not None and unit.gss_code and str(g) != unit.gss_code:
            report.add(
                row,
                names["gss_code"],
                f"GSS code does not match borough {unit.id} ({unit.gss_code})",
                g,
            )

        period: str | None = None
        p = get(raw, "period")
        if p is None:
            report.add(row, names["period"], "period is empty (required)")
        else:
            try:
                q = Quarter.parse(str(p))
            except QuarterError:
                report.add(
                    row, names["period"], "not a calendar quarter written YYYY-Qn (e.g. 2026-Q3)", p
                )
            else:
                if not look.first <= q <= look.last:
                    report.add(
                        row,
                        names["period"],
                        f"period outside the trial's schedule ({look.first} to {look.last})",
                        p,
                    )
                else:
                    period = str(q)

        ind: Indicator | None = None
        c = get(raw, "indicator")
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
        v = get(raw, "value")
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
            value = _number(v, decimal_comma)
            if value is None:
                report.add(row, names["value"], "not a number", v)
            elif ind is not None and (why := _check_value(ind, value)) is not None:
                report.add(row, names["value"], why, v)
                value = None

        comment = get(raw, "comment")
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
