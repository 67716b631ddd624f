"""Data-quality queries on cells: raised by a rule or a person, answered, closed.

A query goes ``open`` -> ``answered`` -> ``closed`` (closing an open query directly is
allowed, e.g. when an amendment resolved it). Every step is a row in ``dq_query_events``
with who, when and the text, and an audit event in the same transaction. Data managers see
and answer queries on their own borough; statisticians and admins raise and close them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from protocols.quarters import Quarter, QuarterError
from rct import protocols as protocol_store
from rct.audit import utc_now
from rct.capture.errors import QueryStateError
from rct.capture.rules import Finding
from rct.db.capture_models import DataQuery, DataQueryEvent
from rct.errors import InputError, NotFound, PermissionDenied
from rct.workspace import Actor, Recorder, Workspace

__all__ = [
    "DataQueryRecord",
    "QueryStep",
    "raise_findings",
    "raise_query",
    "answer",
    "close",
    "list_queries",
    "STATUSES",
]

STATUSES = ("open", "answered", "closed")
Key = tuple[str, str, str]


@dataclass(frozen=True)
class QueryStep:
    """One step of a query: its new status, who took it (name and role), when, and why."""

    status: str
    actor: str
    role: str
    at: str
    text: str

    def to_dict(self) -> dict[str, str]:
        return {
            "status": self.status,
            "actor": self.actor,
            "role": self.role,
            "at": self.at,
            "text": self.text,
        }


@dataclass(frozen=True)
class DataQueryRecord:
    """A data-quality query on one cell and (when listed) its steps, oldest first."""

    id: int
    borough: str
    period: str
    indicator: str
    rule: str
    message: str
    value: float | None
    version: int | None
    status: str
    raised_at: str
    raised_by: str
    updated_at: str
    events: tuple[QueryStep, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """The query as ``--json`` prints it."""
        return {
            "id": self.id,
            "borough": self.borough,
            "period": self.period,
            "indicator": self.indicator,
            "rule": self.rule,
            "message": self.message,
            "value": self.value,
            "version": self.version,
            "status": self.status,
            "raised_at": self.raised_at,
            "raised_by": self.raised_by,
            "updated_at": self.updated_at,
            "events": [e.to_dict() for e in self.events],
        }


def _event(s: Session, record: Recorder, q: DataQuery, status: str, text: str, now: str) -> None:
    s.add(
        DataQueryEvent(
            query_id=q.id,
            status=status,
            actor=record.actor.name,
            role=record.actor.role,
            at=now,
            text=text,
        )
    )
    action = {
        "open": "data.query.raise",
        "answered": "data.query.answer",
        "closed": "data.query.close",
    }[status]
    record(
        action,
        f"query/{q.id}",
        {
            "query": q.id,
            "cell": f"{q.unit_id}/{q.period}/{q.indicator}",
            "rule": q.rule,
            "status": status,
            "text": text,
        },
    )


def raise_findings(
    s: Session,
    record: Recorder,
    findings: list[Finding],
    submission_id: int,
    versions: Mapping[Key, int],
) -> list[int]:
    """Open a query for each finding, unless the same rule already has one on the cell
    that is still unresolved, or was closed for the same value. Returns the new query ids."""
    if not findings:
        return []
    units = sorted({f.unit_id for f in findings})
    existing = s.scalars(select(DataQuery).where(DataQuery.unit_id.in_(units))).all()
    unresolved = {
        ((q.unit_id, q.period, q.indicator), q.rule) for q in existing if q.status != "closed"
    }
    resolved = {
        ((q.unit_id, q.period, q.indicator), q.rule, q.value)
        for q in existing
        if q.status == "closed"
    }
    now = utc_now()
    raised: list[DataQuery] = []
    for f in findings:
        if (f.key, f.rule) in unresolved or (f.key, f.rule, f.value) in resolved:
            continue
        unresolved.add((f.key, f.rule))
        raised.append(
            DataQuery(
                unit_id=f.unit_id,
                period=f.period,
                indicator=f.indicator,
                rule=f.rule,
                message=f.message,
                value=f.value,
                version=versions.get(f.key),
                status="open",
                raised_at=now,
                raised_by=record.actor.name,
                submission_id=submission_id,
                updated_at=now,
            )
        )
    if not raised:
        return []
    s.add_all(raised)
    s.flush()
    s.add_all(
        [
            DataQueryEvent(
                query_id=q.id,
                status="open",
                actor=record.actor.name,
                role=record.actor.role,
                at=now,
                text=q.message,
            )
            for q in raised
        ]
    )
    # One audit event lists every query a submission raised, each with its cell and text.
    record(
        "data.query.raise",
        f"submission/{submission_id}",
        {
            "submission": submission_id,
            "queries": [
                {
                    "query": q.id,
                    "cell": f"{q.unit_id}/{q.period}/{q.indicator}",
                    "rule": q.rule,
                    "text": q.message,
                }
                for q in raised
            ],
        },
    )
    s.flush()
    return [q.id for q in raised]


def raise_query(ws: Workspace, borough: str, period: str, indicator: str, text: str) -> int:
    """A statistician or admin raises a query by hand on one cell; returns its id."""
    if not text.strip():
        raise InputError("a query needs a text: --text TEXT")
    with ws.change("data.query.raise", f"cell/{borough}/{period}/{indicator}") as record:
        s = record.session
        protocol = protocol_store.current(s).protocol
        try:
            unit = protocol.unit(borough)
            q = Quarter.parse(period)
            protocol.indicator(indicator)
        except (KeyError, QuarterError) as exc:
            raise InputError(f"no such cell: {exc}") from None
        # lazy: loads rct.capture.values (start-up time)
        from rct.capture.values import current_cells

        cell = current_cells(s, {unit.id}).get((unit.id, str(q), indicator))
        now = utc_now()
        dq = DataQuery(
            unit_id=unit.id,
            period=str(q),
            indicator=indicator,
            rule="manual",
            message=text.strip(),
            value=None if cell is None else cell.value,
            version=None if cell is None else cell.version,
            status="open",
            raised_at=now,
            raised_by=record.actor.name,
            submission_id=None,
            updated_at=now,
        )
        s.add(dq)
        s.flush()
        _event(s, record, dq, "open", text.strip(), now)
        return dq.id


def _step(
    ws: Workspace, permission: str, query_id: int, text: str, to: str, allowed_from: tuple[str, ...]
) -> DataQueryRecord:
    if not text.strip():
        raise InputError("this step needs a text: --text TEXT")
    with ws.change(permission, f"query/{query_id}") as record:
        s = record.session
        q = s.get(DataQuery, query_id)
        if q is None:
            raise NotFound(f"no data-quality query {query_id}; list them with 'rct data queries'")
        _scope(record.actor, q)
        if q.status not in allowed_from:
            raise QueryStateError(
                f"query {query_id} is {q.status}; it cannot be {to} "
                f"(only when {' or '.join(allowed_from)})"
            )
        now = utc_now()
        q.status = to
        q.updated_at = now
        _event(s, record, q, to, text.strip(), now)
        s.flush()
        return _record(q, [])


def answer(ws: Workspace, query_id: int, text: str) -> DataQueryRecord:
    """The borough (or a statistician) answers an open or answered query."""
    return _step(ws, "data.query", query_id, text, "answered", ("open", "answered"))


def close(ws: Workspace, query_id: int, text: str) -> DataQueryRecord:
    """A statistician or admin closes a query, answered or not."""
    return _step(ws, "data.query.close", query_id, text, "closed", ("open", "answered"))


def _scope(actor: Actor, q: DataQuery) -> None:
    if actor.role == "data-manager" and q.unit_id != actor.borough:
        raise PermissionDenied(
            f"{actor.name} manages {actor.borough}'s data, not "
            f"{q.unit_id}'s: query {q.id} is not theirs",
            code="wrong-borough",
        )


def _record(q: DataQuery, events: list[DataQueryEvent]) -> DataQueryRecord:
    return DataQueryRecord(
        id=q.id,
        borough=q.unit_id,
        period=q.period,
        indicator=q.indicator,
        rule=q.rule,
        message=q.message,
        value=q.value,
        version=q.version,
        status=q.status,
        raised_at=q.raised_at,
        raised_by=q.raised_by,
        updated_at=q.updated_at,
        events=tuple(QueryStep(e.status, e.actor, e.role, e.at, e.text) for e in events),
    )


def list_queries(
    ws: Workspace, *, borough: str | None = None, status: str | None = None
) -> list[DataQueryRecord]:
    """Queries with their steps; data managers see only their own borough's."""
    if status is not None and status not in STATUSES:
        raise InputError(f"status must be one of {', '.join(STATUSES)}")
    with ws.session() as s:
        actor = ws.read_as(s)
        stmt = select(DataQuery).order_by(DataQuery.id)
        if borough is not None:
            try:
                unit_id = protocol_store.current(s).protocol.unit(borough).id
            except KeyError:
                raise InputError(f"unknown borough {borough!r}") from None
            stmt = stmt.where(DataQuery.unit_id == unit_id)
        if actor.role == "data-manager":
            stmt = stmt.where(DataQuery.unit_id == actor.borough)
        if status is not None:
            stmt = stmt.where(DataQuery.status == status)
        queries = s.scalars(stmt).all()
        events: dict[int, list[DataQueryEvent]] = {}
        ids = [q.id for q in queries]
        for i in range(0, len(ids), 500):
            for e in s.scalars(
                select(DataQueryEvent)
                .where(DataQueryEvent.query_id.in_(ids[i : i + 500]))
                .order_by(DataQueryEvent.id)
            ):
                events.setdefault(e.query_id, []).append(e)
        return [_record(q, events.get(q.id, [])) for q in queries]
