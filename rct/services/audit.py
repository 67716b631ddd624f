"""Reading the audit trail: the log a user may see, its verification, its export."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rct.audit import AuditEventRecord, iter_events
from rct.audit_checks import TrailVerdict, verify_trail
from rct.audit_export import write_events
from rct.audit_scope import visible_to
from rct.workspace import Workspace

__all__ = ["audit_log", "verify_audit", "export_audit"]


def audit_log(
    ws: Workspace, *, action: str | None = None, limit: int | None = None
) -> list[AuditEventRecord]:
    """Events the acting user may read, oldest first (data managers: their own borough's
    data events and the trial-level ones), optionally only actions starting with
    ``action`` and only the last ``limit``."""
    with ws.session() as s:
        actor = ws.read_as(s)
        visible = visible_to(actor.role, actor.borough)
        events = [
            AuditEventRecord.from_event(e)
            for e in iter_events(s)
            if (action is None or e.action.startswith(action))
            and visible(e.action, e.entity, e.payload)
        ]
    return events if limit is None else events[-limit:]


def verify_audit(ws: Workspace, checkpoints: Sequence[Path] = ()) -> TrailVerdict:
    """Verify the chain, signatures, users table and ``checkpoints``; anyone who can open
    the trial may verify it."""
    with ws.session() as s:
        ws.read_public(s)
        return verify_trail(s, checkpoints)


def export_audit(ws: Workspace, fmt: str, output: str) -> int:
    """Write the events the acting user may read to ``output`` ('-': standard output) as
    ``fmt`` ('jsonl' or 'csv'); returns how many were written."""
    with ws.session() as s:
        actor = ws.read_as(s)
        return write_events(s, fmt, output, visible_to(actor.role, actor.borough))
