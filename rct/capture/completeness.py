"""The completeness matrix: borough x quarter x indicator, each cell received, amended,
queried, overdue or not yet due, with totals and the list of overdue returns.

A cell's status, in order of precedence:

``queried``   received, and a data-quality query on it is open or answered;
``amended``   received and corrected at least once (more than one version);
``received``  a value is stored;
``overdue``   no value, and the submission deadline (the quarter's last day plus the
              protocol's ``submission_deadline_days``) is before the as-of date;
``not_yet_due`` no value yet, deadline not passed (still expected).

The statuses' words, symbols and colours live in :mod:`rct.capture.completeness_status`,
the one vocabulary every view uses.

:func:`compute_completeness` is pure; :func:`completeness` gathers what it needs from the
trial database.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from protocols import Protocol
from protocols.quarters import Quarter
from rct import protocols as protocol_store
from rct.capture.completeness_status import STATUSES
from rct.db.capture_models import DataQuery, IndicatorValue
from rct.errors import InputError
from rct.workspace import Workspace

__all__ = [
    "STATUSES",
    "CompletenessCell",
    "OverdueReturn",
    "CompletenessMatrix",
    "compute_completeness",
    "completeness",
]

Key = tuple[str, str, str]


@dataclass(frozen=True)
class CompletenessCell:
    """The state of one borough x quarter x indicator cell."""

    unit_id: str
    period: str
    indicator: str
    status: str
    due: dt.date
    days_overdue: int
    versions: int
    open_queries: int


@dataclass(frozen=True)
class OverdueReturn:
    """A borough's return for a quarter with at least one indicator overdue."""

    unit_id: str
    period: str
    due: dt.date
    days_overdue: int
    indicators: tuple[str, ...]


@dataclass(frozen=True)
class CompletenessMatrix:
    """Every cell's status as of a date, in unit, period, indicator order."""

    as_of: dt.date
    units: tuple[str, ...]
    periods: tuple[str, ...]
    indicators: tuple[str, ...]
    cells: tuple[CompletenessCell, ...]

    def cell(self, unit: str, period: str, indicator: str) -> CompletenessCell:
        i = (self.units.index(unit) * len(self.periods) + self.periods.index(period)) * len(
            self.indicators
        ) + self.indicators.index(indicator)
        return self.cells[i]

    def totals_by(self, what: str) -> dict[str, dict[str, int]]:
        """Counts of each status per ``unit`` or per ``indicator``."""
        keys = self.units if what == "unit" else self.indicators
        out = {k: dict.fromkeys(STATUSES, 0) for k in keys}
        for c in self.cells:
            out[c.unit_id if what == "unit" else c.indicator][c.status] += 1
        return out

    @property
    def totals(self) -> dict[str, int]:
        counts = Counter(c.status for c in self.cells)
        return {s: counts.get(s, 0) for s in STATUSES}

    def overdue(self) -> list[OverdueReturn]:
        """Overdue returns (borough x quarter), most overdue first."""
        groups: dict[tuple[str, str], list[CompletenessCell]] = {}
        for c in self.cells:
            if c.status == "overdue":
                groups.setdefault((c.unit_id, c.period), []).append(c)
        out = [
            OverdueReturn(u, p, cs[0].due, cs[0].days_overdue, tuple(c.indicator for c in cs))
            for (u, p), cs in groups.items()
        ]
        return sorted(out, key=lambda r: (-r.days_overdue, r.unit_id, r.period))

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "units": list(self.units),
            "periods": list(self.periods),
            "indicators": list(self.indicators),
            "cells": [
                {
                    "borough": c.unit_id,
                    "period": c.period,
                    "indicator": c.indicator,
                    "status": c.status,
                    "due": c.due.isoformat(),
                    "days_overdue": c.days_overdue,
                    "versions": c.versions,
                    "open_queries": c.open_queries,
                }
                for c in self.cells
            ],
            "totals": self.totals,
            "by_borough": self.totals_by("unit"),
            "by_indicator": self.totals_by("indicator"),
            "overdue": [
                {
                    "borough": r.unit_id,
                    "period": r.period,
                    "due": r.due.isoformat(),
                    "days_overdue": r.days_overdue,
                    "indicators": list(r.indicators),
                }
                for r in self.overdue()
            ],
        }


def compute_completeness(
    protocol: Protocol,
    versions: Mapping[Key, int],
    open_queries: Mapping[Key, int],
    as_of: dt.date,
    *,
    units: Collection[str] | None = None,
    indicators: Collection[str] | None = None,
) -> CompletenessMatrix:
    """Build the matrix from how many versions and unresolved queries each cell has.

    Parameters
    ----------
    protocol
        Gives the units, indicators, quarters and the submission deadline.
    versions
        Number of stored versions per (unit id, period, indicator); absent means none.
    open_queries
        Number of open or answered queries per cell.
    as_of
        The date deadlines are judged against.
    units, indicators
        Restrict the matrix to these unit ids / indicator codes.
    """
    unit_ids = tuple(u.id for u in protocol.units if units is None or u.id in units)
    codes = tuple(i.code for i in protocol.indicators if indicators is None or i.code in indicators)
    quarters = protocol.schedule.quarters
    lag = dt.timedelta(days=protocol.schedule.submission_deadline_days)
    due = {str(q): q.end + lag for q in quarters}
    periods = tuple(str(q) for q in quarters)
    cells = []
    for u in unit_ids:
        for p in periods:
            d = due[p]
            late = max((as_of - d).days, 0)
            for i in codes:
                key = (u, p, i)
                n = versions.get(key, 0)
                nq = open_queries.get(key, 0)
                if n:
                    status = "queried" if nq else ("amended" if n > 1 else "received")
                    late_days = 0
                else:
                    status = "overdue" if late > 0 else "not_yet_due"
                    late_days = late
                cells.append(CompletenessCell(u, p, i, status, d, late_days, n, nq))
    return CompletenessMatrix(as_of, unit_ids, periods, codes, tuple(cells))


def completeness(
    ws: Workspace,
    *,
    as_of: dt.date | None = None,
    borough: str | None = None,
    indicator: str | None = None,
) -> CompletenessMatrix:
    """The completeness matrix of the trial (readable by anyone who can open the trial)."""
    with ws.session() as s:
        ws.read_public(s)
        protocol = protocol_store.current(s).protocol
        units = None
        if borough is not None:
            try:
                units = {protocol.unit(borough).id}
            except KeyError:
                raise InputError(f"unknown borough {borough!r}") from None
        if indicator is not None:
            try:
                protocol.indicator(indicator)
            except KeyError:
                known = ", ".join(i.code for i in protocol.indicators)
                raise InputError(f"unknown indicator {indicator!r} (known: {known})") from None
        v = IndicatorValue.__table__.c
        versions = {
            (u, p, i): int(n)
            for u, p, i, n in s.execute(
                select(v.unit_id, v.period, v.indicator, func.count()).group_by(
                    v.unit_id, v.period, v.indicator
                )
            )
        }
        q = DataQuery.__table__.c
        queries = {
            (u, p, i): int(n)
            for u, p, i, n in s.execute(
                select(q.unit_id, q.period, q.indicator, func.count())
                .where(q.status != "closed")
                .group_by(q.unit_id, q.period, q.indicator)
            )
        }
    return compute_completeness(
        protocol,
        versions,
        queries,
        as_of or dt.date.today(),
        units=units,
        indicators=None if indicator is None else {indicator},
    )


def quarter_label(period: str) -> str:
    """``2026-Q3`` -> ``26Q3``: short column headings for the terminal table."""
    q = Quarter.parse(period)
    return f"{q.year % 100:02d}Q{q.q}"
