"""Stored indicator values: the current version of each cell, full histories, and the
bulk insert of new versions.

The current value of a cell is its highest version; earlier versions stay readable.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rct import protocols as protocol_store
from rct.capture.bulk import bulk_insert
from rct.db.capture_models import IndicatorValue, Submission
from rct.errors import InputError, PermissionDenied
from rct.workspace import Workspace

__all__ = [
    "StoredCell",
    "current_cells",
    "versions",
    "readable_unit",
    "insert_values",
    "VALUE_COLUMNS",
]

Key = tuple[str, str, str]
#: Columns of ``indicator_values`` that :func:`insert_values` fills, in tuple order.
VALUE_COLUMNS = (
    "unit_id",
    "period",
    "indicator",
    "version",
    "value",
    "comment",
    "submission_id",
    "file_row",
    "recorded_at",
    "recorded_by",
    "reason",
)


@dataclass(frozen=True)
class StoredCell:
    """The current version of one cell and how many versions it has."""

    value: float
    version: int
    comment: str
    submission_id: int


def current_cells(session: Session, units: Collection[str] | None = None) -> dict[Key, StoredCell]:
    """The current version of every stored cell (optionally of some units only)."""
    t = IndicatorValue.__table__
    stmt = select(
        t.c.unit_id,
        t.c.period,
        t.c.indicator,
        t.c.version,
        t.c.value,
        t.c.comment,
        t.c.submission_id,
    )
    if units is not None:
        stmt = stmt.where(t.c.unit_id.in_(sorted(units)))
    out: dict[Key, StoredCell] = {}
    for u, p, i, ver, val, com, sub in session.execute(stmt):
        key = (u, p, i)
        have = out.get(key)
        if have is None or ver > have.version:
            out[key] = StoredCell(float(val), int(ver), com, int(sub))
    return out


def insert_values(session: Session, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert value versions (tuples in :data:`VALUE_COLUMNS` order) in ``session``'s
    transaction, in bulk (:func:`rct.capture.bulk.bulk_insert`)."""
    bulk_insert(session, "indicator_values", VALUE_COLUMNS, rows)


def versions(
    session: Session,
    *,
    unit: str | None = None,
    period: str | None = None,
    indicator: str | None = None,
) -> list[dict[str, Any]]:
    """Every stored version of the matching cells, oldest first within each cell."""
    stmt = select(IndicatorValue, Submission).join(
        Submission, Submission.id == IndicatorValue.submission_id
    )
    if unit is not None:
        stmt = stmt.where(IndicatorValue.unit_id == unit)
    if period is not None:
        stmt = stmt.where(IndicatorValue.period == period)
    if indicator is not None:
        stmt = stmt.where(IndicatorValue.indicator == indicator)
    stmt = stmt.order_by(
        IndicatorValue.unit_id,
        IndicatorValue.period,
        IndicatorValue.indicator,
        IndicatorValue.version,
    )
    return [
        {
            "borough": v.unit_id,
            "period": v.period,
            "indicator": v.indicator,
            "version": v.version,
            "value": v.value,
            "comment": v.comment,
            "recorded_at": v.recorded_at,
            "recorded_by": v.recorded_by,
            "reason": v.reason,
            "submission": s.id,
            "kind": s.kind,
            "file": s.source_name,
            "file_sha256": s.file_sha256,
            "file_row": v.file_row,
        }
        for v, s in session.execute(stmt)
    ]


def readable_unit(ws: Workspace, session: Session, borough: str | None) -> str | None:
    """The unit id the acting user reads: a data manager only their own borough.

    Returns None for "every borough".
    """
    actor = ws.read_as(session)
    unit = None
    if borough is not None:
        try:
            unit = protocol_store.current(session).protocol.unit(borough).id
        except KeyError:
            raise InputError(f"unknown borough {borough!r}") from None
    if actor.role == "data-manager":
        if unit is not None and unit != actor.borough:
            raise PermissionDenied(
                f"{actor.name} manages {actor.borough}'s data only", code="wrong-borough"
            )
        return actor.borough
    return unit
