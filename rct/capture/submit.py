"""Submitting indicator returns: check, import and amend, atomically (docs/architecture.md, decision 6).

One transaction does everything: the role and borough checks, validation against the
protocol, comparison with the stored values, the submission row, the new value versions,
the data-quality queries and the audit events. Any problem rolls all of it back, so a file
is stored whole or not at all.

* A file identical in content to what is stored changes nothing and says so.
* A file that would change a stored value is refused by ``import``; ``amend`` with a
  reason stores the new values as new versions, keeping the old ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from protocols import Protocol
from rct import protocols as protocol_store
from rct.audit import utc_now
from rct.capture.cells_seal import cells_digest
from rct.capture.errors import AmendmentRequired, SubmissionRejected
from rct.capture.queries import raise_findings
from rct.capture.reading import RawTable, read_table
from rct.capture.report import ValidationReport
from rct.capture.returns import REQUIRED, ReturnCell, format_value, validate_return
from rct.capture.rules import evaluate
from rct.capture.values import StoredCell, current_cells, insert_values
from rct.db.capture_models import Submission
from rct.errors import InputError
from rct.workspace import Actor, Recorder, Workspace

__all__ = ["SubmissionResult", "check_return", "submit_return", "allowed_units"]

Key = tuple[str, str, str]


@dataclass
class SubmissionResult:
    """What happened to a file: the report and, if stored, the submission and its cells."""

    report: ValidationReport
    stored: bool = False
    submission_id: int | None = None
    new_cells: int = 0
    changed_cells: int = 0
    unchanged_cells: int = 0
    queries_raised: list[int] = field(default_factory=list)
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.report.to_dict(),
            "stored": self.stored,
            "submission_id": self.submission_id,
            "new_cells": self.new_cells,
            "changed_cells": self.changed_cells,
            "unchanged_cells": self.unchanged_cells,
            "queries_raised": list(self.queries_raised),
            "message": self.message,
        }


def allowed_units(actor: Actor) -> frozenset[str] | None:
    """Units ``actor`` may submit for: a data manager's own borough; None means any."""
    if actor.role == "data-manager":
        return frozenset({actor.borough}) if actor.borough else frozenset()
    if actor.role in ("statistician", "admin"):
        return None
    return frozenset()


def _classify(
    cells: list[ReturnCell], stored: dict[Key, StoredCell]
) -> tuple[list[ReturnCell], list[tuple[ReturnCell, StoredCell]], int]:
    new, changed, same = [], [], 0
    for c in cells:
        have = stored.get(c.key)
        if have is None:
            new.append(c)
        elif have.value != c.value:
            changed.append((c, have))
        else:
            same += 1
    return new, changed, same


def _validate(
    session: Session, actor: Actor, table: RawTable, allow_blank: bool
) -> tuple[list[ReturnCell], ValidationReport, dict[Key, StoredCell], Protocol]:
    protocol = protocol_store.current(session).protocol
    cells, report = validate_return(
        table, protocol, allowed_units=allowed_units(actor), allow_blank=allow_blank
    )
    if not report.ok:
        raise SubmissionRejected(report)
    stored = current_cells(session, {c.unit_id for c in cells})
    return cells, report, stored, protocol


def check_return(
    ws: Workspace, path: str | Path, *, data: bytes | None = None, allow_blank: bool = False
) -> SubmissionResult:
    """Validate a return as ``import`` would, writing nothing.

    Raises :class:`SubmissionRejected` with the full report when the file has problems.
    """
    table = read_table(path, data, required=REQUIRED)
    with ws.session() as s:
        actor = ws.read_as(s, "data.submit")
        cells, report, stored, _ = _validate(s, actor, table, allow_blank)
    new, changed, same = _classify(cells, stored)
    report.summary.update(new=len(new), changed=len(changed), unchanged=same)
    msg = (
        f"{table.source}: no problems in {report.rows} rows ({len(new)} new cells, "
        f"{len(changed)} would change stored values, {same} unchanged)"
    )
    return SubmissionResult(report, False, None, len(new), len(changed), same, [], msg)


def submit_return(
    ws: Workspace,
    path: str | Path,
    *,
    data: bytes | None = None,
    reason: str | None = None,
    allow_blank: bool = False,
    source_name: str | None = None,
) -> SubmissionResult:
    """Validate and store a return; with ``reason`` it is an amendment.

    Parameters
    ----------
    ws
        The workspace of the acting user (needs ``data.submit``).
    path, data
        The file (``data`` gives its bytes directly; ``path`` then only names it).
    reason
        None for an import, which refuses to change stored values; a non-empty text for an
        amendment, which stores changed values as new versions.
    allow_blank
        Accept blank values as "not supplied" (see :mod:`rct.capture.returns`).
    source_name
        The name recorded for the file (default: ``path``).

    Raises
    ------
    SubmissionRejected
        The file has problems (the report lists them all); nothing was written.
    AmendmentRequired
        An import would change stored values; nothing was written.
    """
    amend = reason is not None
    if amend and not (reason or "").strip():
        raise InputError("an amendment needs a reason: --reason TEXT")
    table = read_table(path, data, required=REQUIRED)
    source = source_name or table.source
    with ws.change("data.submit", f"submission/{table.sha256[:16]}") as record:
        s = record.session
        cells, report, stored, protocol = _validate(s, record.actor, table, allow_blank)
        new, changed, same = _classify(cells, stored)
        report.summary.update(new=len(new), changed=len(changed), unchanged=same)
        if changed and not amend:
            for c, have in changed:
                report.add(
                    c.row,
                    "value",
                    f"would change the stored value "
                    f"{format_value(have.value)} (version {have.version}) of {c.unit_id} "
                    f"{c.period} {c.indicator}: correct it with 'rct data amend FILE "
                    "--reason TEXT'",
                    format_value(c.value),
                )
            raise AmendmentRequired(report)
        if not new and not changed:
            return SubmissionResult(
                report,
                False,
                None,
                0,
                0,
                same,
                [],
                f"{source}: already {'stored' if amend else 'imported'}: identical to the "
                f"stored data ({same} cells); nothing changed",
            )
        sub_id, queries = _store(
            s, record, report, source, (new, changed, stored), protocol, (reason or "").strip()
        )
    kind = "amendment" if amend else "import"
    msg = (
        f"{source}: stored as submission {sub_id} ({kind}): {len(new)} new cells, "
        f"{len(changed)} amended, {same} unchanged; {len(queries)} data-quality "
        f"quer{'y' if len(queries) == 1 else 'ies'} raised"
    )
    return SubmissionResult(report, True, sub_id, len(new), len(changed), same, queries, msg)


def _store(
    s: Session,
    record: Recorder,
    report: ValidationReport,
    source: str,
    cells: tuple[list[ReturnCell], list[tuple[ReturnCell, StoredCell]], dict[Key, StoredCell]],
    protocol: Protocol,
    reason: str,
) -> tuple[int, list[int]]:
    """Store the new and changed cells (an amendment when there is a reason), run the
    data-quality rules on them and raise their queries; returns (submission id, queries)."""
    new, changed, stored = cells
    amend = bool(reason)
    now = utc_now()
    actor = record.actor
    units = sorted({c.unit_id for c in new} | {c.unit_id for c, _ in changed})
    periods = sorted({c.period for c in new} | {c.period for c, _ in changed})
    versions = {c.key: 1 for c in new} | {c.key: h.version + 1 for c, h in changed}
    cells_in = new + [c for c, _ in changed]
    event = record(
        "data.amend" if amend else "data.import",
        f"submission/{report.sha256[:16]}",
        {
            "file": source,
            "file_sha256": report.sha256,
            "rows": report.rows,
            "new_cells": len(new),
            "changed_cells": len(changed),
            "units": units,
            "periods": periods,
            # the stored rows themselves, so an in-place edit is seen (rct.capture.cells_seal)
            "cells_sha256": cells_digest(
                (c.unit_id, c.period, c.indicator, versions[c.key], c.value) for c in cells_in
            ),
            "changes": [
                {
                    "cell": "/".join(c.key),
                    "from": have.value,
                    "to": c.value,
                    "version": have.version + 1,
                }
                for c, have in changed
            ],
        },
        reason,
    )
    sub = Submission(
        kind="amendment" if amend else "returns",
        source_name=source[:500],
        file_sha256=report.sha256,
        submitted_by=actor.name,
        role=actor.role,
        submitted_at=now,
        row_count=report.rows,
        cells_changed=len(new) + len(changed),
        reason=reason,
        audit_seq=event.seq,
        key_id=None,
    )
    s.add(sub)
    s.flush()
    stamp = (sub.id,)
    tail = (now, actor.name, reason)
    insert_values(
        s,
        [
            (c.unit_id, c.period, c.indicator, versions[c.key], c.value, c.comment, *stamp, c.row)
            + tail
            for c in cells_in
        ],
    )
    # the current values of the units just written: what was stored, updated with the file
    kept = set(units)
    values = {k: v.value for k, v in stored.items() if k[0] in kept}
    values.update((c.key, c.value) for c in cells_in)
    findings = evaluate(protocol, values, [c.key for c in cells_in])
    return sub.id, raise_findings(s, record, findings, sub.id, versions)
