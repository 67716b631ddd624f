"""Storing child-level records: one transaction, bulk inserted, audited.

The rows are validated (:mod:`rct.capture.children`), identifiers pseudonymised, compared
with what is stored, then inserted in chunks in the same transaction as the submission row
and its audit event: a process killed half-way leaves nothing behind. SQLite uses the
driver's ``executemany``; PostgreSQL streams the rows with ``COPY``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from rct import protocols as protocol_store
from rct.audit import utc_now
from rct.capture.bulk import CHUNK, Progress, bulk_insert
from rct.capture.children import pseudonymise, read_child_frame, validate_children
from rct.capture.errors import SubmissionRejected, UnreadableFile
from rct.capture.report import ValidationReport
from rct.capture.settings import key_id, pseudonym_key, require_child_records
from rct.capture.submit import SubmissionResult, allowed_units
from rct.db.capture_models import ChildRecord, Submission
from rct.errors import InputError
from rct.workspace import Actor, Workspace

__all__ = ["submit_children", "check_children", "bulk_insert_children", "INSERT_COLUMNS", "CHUNK"]

INSERT_COLUMNS = (
    "submission_id",
    "unit_id",
    "child_key",
    "referral_date",
    "da_at_intake",
    "da_after_assessment",
    "cp_plan_date",
    "into_care_date",
    "re_referral_date",
)


def _pylist(column: pd.Series) -> list[Any]:
    """A column as a list of Python values, None where missing."""
    return column.to_numpy(dtype=object, na_value=None).tolist()  # type: ignore[no-any-return]


def _tuples(frame: pd.DataFrame, submission_id: int) -> list[tuple[Any, ...]]:
    cols = [_pylist(frame[c]) for c in INSERT_COLUMNS[1:]]
    return list(zip([submission_id] * len(frame), *cols))


def bulk_insert_children(
    session: Session,
    rows: list[tuple[Any, ...]],
    progress: Progress | None = None,
    total: int | None = None,
    done: int = 0,
) -> None:
    """Insert ``rows`` (tuples in :data:`INSERT_COLUMNS` order) in ``session``'s transaction."""
    bulk_insert(session, "child_records", INSERT_COLUMNS, rows, progress, total, done)


def _stored(session: Session, units: list[str]) -> dict[tuple[str, str, str], tuple[Any, ...]]:
    t = ChildRecord.__table__.c
    cols = [
        t.unit_id,
        t.child_key,
        t.referral_date,
        t.da_at_intake,
        t.da_after_assessment,
        t.cp_plan_date,
        t.into_care_date,
        t.re_referral_date,
    ]
    out = {}
    for r in session.execute(select(*cols).where(t.unit_id.in_(units))):
        out[(r[0], r[1], r[2])] = (
            None if r[3] is None else bool(r[3]),
            None if r[4] is None else bool(r[4]),
            *r[5:],
        )
    return out


def _read(path: str | Path, data: bytes | None) -> tuple[str, pd.DataFrame, str]:
    source = str(path)
    if data is None:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise UnreadableFile(f"cannot read {source}: {exc.strerror}") from None
    try:
        frame, sha = read_child_frame(source, data)
    except (ValueError, pd.errors.ParserError) as exc:
        raise UnreadableFile(f"{source}: not a readable table ({exc})") from None
    return source, frame, sha


def _prepare(
    s: Session, actor: Actor, source: str, frame: pd.DataFrame, sha: str
) -> tuple[pd.DataFrame, ValidationReport, str, int]:
    """Validate, pseudonymise and compare with stored records: (new rows, report, key id,
    number already stored). Raises SubmissionRejected with every problem."""
    require_child_records(s)
    protocol = protocol_store.current(s).protocol
    clean, report = validate_children(
        frame, source, sha, protocol, allowed_units=allowed_units(actor)
    )
    if not report.ok:
        raise SubmissionRejected(report)
    key = pseudonym_key(s)
    kid = key_id(key)
    used = s.scalars(
        select(Submission.key_id)
        .where(Submission.kind == "children")
        .where(Submission.key_id.is_not(None))
        .distinct()
    ).all()
    if any(k != kid for k in used):
        raise InputError(
            "the pseudonym key differs from the one used for earlier "
            "child-level submissions, so records would not link; restore "
            "the trial's key (RCT_PSEUDONYM_KEY)"
        )
    clean["child_key"] = pseudonymise(clean, key)
    # the same (unit, child, referral date) twice needs the same child key twice: check
    # the one column first, the three only when it has repeats
    if clean["child_key"].duplicated().any():
        dup = clean.duplicated(["unit_id", "child_key", "referral_date"], keep="first")
    else:
        dup = pd.Series(False, index=clean.index)
    if dup.any():
        col = "child_id" if "child_id" in frame.columns else "source_id"
        for i in dup.to_numpy().nonzero()[0].tolist():
            report.add(
                i + 2, col, "duplicate record: same child and referral date as an earlier row"
            )
        raise SubmissionRejected(report)
    stored = _stored(s, sorted(clean["unit_id"].unique().tolist()))
    new = clean
    if stored:
        keep = [True] * len(clean)
        fields = [_pylist(clean[c]) for c in INSERT_COLUMNS[4:]]
        keys = zip(*(_pylist(clean[c]) for c in INSERT_COLUMNS[1:4]))
        for i, (k, vals) in enumerate(zip(keys, zip(*fields))):
            have = stored.get(k)
            if have is None:
                continue
            keep[i] = False
            if have != tuple(vals):
                report.add(
                    i + 2,
                    None,
                    "differs from the record already stored for this "
                    "child and referral date; corrections of child-level records go "
                    "through the trial statistician",
                )
        if not report.ok:
            raise SubmissionRejected(report)
        new = clean[keep]
    report.summary.update(new=len(new), unchanged=len(clean) - len(new))
    return new, report, kid, len(clean) - len(new)


def check_children(
    ws: Workspace, path: str | Path, *, data: bytes | None = None
) -> SubmissionResult:
    """Validate a child-level file as :func:`submit_children` would, writing nothing."""
    source, frame, sha = _read(path, data)
    with ws.session() as s:
        actor = ws.read_as(s, "data.submit")
        new, report, _, same = _prepare(s, actor, source, frame, sha)
    return SubmissionResult(
        report,
        False,
        None,
        len(new),
        0,
        same,
        [],
        f"{source}: no problems in {report.rows} child-level rows "
        f"({len(new)} new, {same} already stored)",
    )


def submit_children(
    ws: Workspace, path: str | Path, *, data: bytes | None = None, progress: Progress | None = None
) -> SubmissionResult:
    """Validate, pseudonymise and store a file of child-level records.

    Records already stored identically are skipped; a record that differs from the stored
    one is a problem (corrections of child-level records go through the trial statistician).
    ``progress(done, total)`` is called after each inserted chunk.
    """
    source, frame, sha = _read(path, data)
    with ws.change("data.submit", f"submission/{sha[:16]}") as record:
        s = record.session
        new, report, kid, same = _prepare(s, record.actor, source, frame, sha)
        if new.empty:
            return SubmissionResult(
                report,
                False,
                None,
                0,
                0,
                same,
                [],
                f"{source}: every record is already stored; nothing changed",
            )
        event = record(
            "data.import.children",
            f"submission/{sha[:16]}",
            {
                "file": source,
                "file_sha256": sha,
                "rows": report.rows,
                "new_records": len(new),
                "units": sorted(new["unit_id"].unique().tolist()),
                "key_id": kid,
            },
        )
        sub = Submission(
            kind="children",
            source_name=source[:500],
            file_sha256=sha,
            submitted_by=record.actor.name,
            role=record.actor.role,
            submitted_at=utc_now(),
            row_count=report.rows,
            cells_changed=len(new),
            reason="",
            audit_seq=event.seq,
            key_id=kid,
        )
        s.add(sub)
        s.flush()
        bulk_insert_children(s, _tuples(new, sub.id), progress)
        sub_id = sub.id
    return SubmissionResult(
        report,
        True,
        sub_id,
        len(new),
        0,
        same,
        [],
        f"{source}: stored {len(new)} child-level records as submission {sub_id}",
    )
