"""The stored cells of each submission, sealed in its signed audit event.

A signed ``data.import`` / ``data.amend`` event names the file it came from, but the chain
alone cannot see a value changed in place afterwards (``UPDATE indicator_values SET
value = 51 WHERE value = 17`` with the triggers off): the event is intact, the number is not.
So the event also carries ``cells_sha256``, a digest of exactly the rows the submission
stored (cell, version and value), and ``rct audit verify`` recomputes it from the live
``indicator_values`` table (:func:`stored_cells_problems`). An edited, deleted or added row
under a submission, a submission row that no signed event stored, two submissions naming
one event, and a sealed event whose submission was deleted whole are reported.

The digest is SHA-256 over one line per row, sorted, ``unit \\t period \\t indicator \\t
version \\t value`` with the value as ``float.hex()`` (exact for every double, so SQLite and
PostgreSQL give the same text). Events written before this existed carry no digest and are
not checked; they are counted instead.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from rct.db.capture_models import IndicatorValue, Submission
from rct.db.models import AuditEvent

__all__ = ["SEALED_ACTIONS", "cells_digest", "stored_cells_problems", "CellsCheck"]

#: Audit actions whose payload seals the cells the submission stored.
SEALED_ACTIONS = ("data.import", "data.amend")

CellRow = tuple[str, str, str, int, float]


def cells_digest(rows: Iterable[CellRow]) -> str:
    """SHA-256 (hex) of the rows ``(unit, period, indicator, version, value)``, order-free."""
    lines = sorted(
        f"{unit}\t{period}\t{indicator}\t{int(version)}\t{float(value).hex()}"
        for unit, period, indicator, version, value in rows
    )
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CellsCheck:
    """What the check found: problems, and submissions checked / too old to carry a digest."""

    problems: list[str]
    checked: int
    unsealed: int


def stored_cells_problems(session: Session) -> CellsCheck:
    """Compare every returns submission's stored rows with the digest its event sealed."""
    rows: dict[int, list[CellRow]] = {}
    for unit, period, indicator, version, value, sub_id in session.execute(
        select(
            IndicatorValue.unit_id,
            IndicatorValue.period,
            IndicatorValue.indicator,
            IndicatorValue.version,
            IndicatorValue.value,
            IndicatorValue.submission_id,
        )
    ):
        rows.setdefault(sub_id, []).append((unit, period, indicator, version, value))
    events = {
        seq: (action, payload)
        for seq, action, payload in session.execute(
            select(AuditEvent.seq, AuditEvent.action, AuditEvent.payload).where(
                AuditEvent.action.in_(SEALED_ACTIONS)
            )
        )
    }
    problems: list[str] = []
    checked = unsealed = 0
    seen: set[int] = set()
    claimed: dict[int, int] = {}
    for sub_id, seq, sha in session.execute(
        select(Submission.id, Submission.audit_seq, Submission.file_sha256)
        .where(Submission.kind != "children")
        .order_by(Submission.id)
    ):
        seen.add(sub_id)
        if seq in claimed:
            problems.append(
                f"audit event {seq} is claimed by submissions {claimed[seq]} and {sub_id}: "
                "one recorded import stored one submission; the other was added outside rct"
            )
            continue
        claimed[seq] = sub_id
        found = events.get(seq)
        if found is None:
            problems.append(
                f"submission {sub_id} names audit event {seq}, which is not a data import "
                "or amendment: its values were not stored by a recorded action"
            )
            continue
        payload = json.loads(found[1])
        if payload.get("file_sha256") != sha:
            problems.append(
                f"submission {sub_id} does not match audit event {seq} (file hash differs)"
            )
            continue
        sealed = payload.get("cells_sha256")
        if sealed is None:
            unsealed += 1
            continue
        checked += 1
        if cells_digest(rows.get(sub_id, [])) != sealed:
            problems.append(
                f"the values stored under submission {sub_id} differ from those audit event "
                f"{seq} recorded: a value was changed, added or deleted outside rct"
            )
    for seq, (action, payload_text) in sorted(events.items()):
        if seq not in claimed and "cells_sha256" in json.loads(payload_text):
            problems.append(
                f"audit event {seq} ({action}) sealed stored values, but no submission now "
                "names it: the submission and its values were deleted outside rct"
            )
    for sub_id in sorted(set(rows) - seen):
        problems.append(
            f"indicator values name submission {sub_id}, which does not exist or is not a "
            "returns submission"
        )
    return CellsCheck(problems, checked, unsealed)
