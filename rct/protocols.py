"""Storing, locking and amending the trial protocol (the service behind ``rct protocol``).

The protocol is stored in its canonical form with its fingerprint; versions are only added.
Before locking, loading a different file adds a new draft version. After locking, loading a
different file is refused: only an amendment with a reason adds a (locked) version.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from protocols import Protocol, protocol_from_data
from rct.allocation.state import live
from rct.audit import utc_now
from rct.db.models import ProtocolVersion
from rct.errors import InputError, NotInitialised, ProtocolStateError
from rct.workspace import Recorder, Workspace

__all__ = [
    "ProtocolStatus",
    "StoredProtocol",
    "current",
    "current_locked",
    "history",
    "load",
    "lock",
    "amend",
    "illustrative_values",
]


class ProtocolStatus(StrEnum):
    """Where a stored protocol version stands (equal to the status string stored with it)."""

    DRAFT = "draft"
    LOCKED = "locked"


@dataclass(frozen=True)
class StoredProtocol:
    """A protocol version as stored, with the parsed protocol."""

    version: int
    status: str
    fingerprint: str
    protocol: Protocol
    created_at: str
    created_by: str
    locked_at: str | None
    locked_by: str | None
    reason: str
    source_name: str

    @property
    def locked(self) -> bool:
        return self.status == ProtocolStatus.LOCKED


def _stored(row: ProtocolVersion) -> StoredProtocol:
    protocol = protocol_from_data(json.loads(row.canonical), f"stored protocol v{row.version}")
    if protocol.fingerprint() != row.fingerprint:
        raise ProtocolStateError(
            f"stored protocol version {row.version} does not match its fingerprint: the "
            "database was altered outside the toolkit; run 'rct audit verify'",
            code="record-altered",
        )
    return StoredProtocol(
        row.version,
        row.status,
        row.fingerprint,
        protocol,
        row.created_at,
        row.created_by,
        row.locked_at,
        row.locked_by,
        row.reason,
        row.source_name,
    )


def _latest(session: Session) -> ProtocolVersion | None:
    return session.scalars(
        select(ProtocolVersion).order_by(ProtocolVersion.version.desc()).limit(1)
    ).first()


def current(session: Session) -> StoredProtocol:
    """The newest protocol version (NotInitialised if none was loaded)."""
    row = _latest(session)
    if row is None:
        raise NotInitialised(
            "no protocol is loaded; run 'rct init --protocol FILE'", code="no-protocol"
        )
    return _stored(row)


def current_locked(session: Session) -> StoredProtocol:
    """The newest protocol version, which must be locked (ProtocolStateError otherwise)."""
    p = current(session)
    if not p.locked:
        raise ProtocolStateError(
            "the protocol is not locked yet; the statistician runs 'rct protocol lock' first",
            code="protocol-not-locked",
        )
    return p


def history(session: Session) -> list[StoredProtocol]:
    rows = session.scalars(select(ProtocolVersion).order_by(ProtocolVersion.version)).all()
    return [_stored(r) for r in rows]


def _add(
    session: Session,
    record: Recorder,
    protocol: Protocol,
    status: str,
    source: str,
    reason: str,
    action: str,
) -> StoredProtocol:
    last = _latest(session)
    version = 1 if last is None else last.version + 1
    now = utc_now()
    row = ProtocolVersion(
        version=version,
        trial_id=protocol.trial.id,
        fingerprint=protocol.fingerprint(),
        canonical=json.dumps(protocol.canonical(), sort_keys=True, ensure_ascii=False),
        source_name=source,
        status=status,
        created_at=now,
        created_by=record.actor.name,
        locked_at=now if status == ProtocolStatus.LOCKED else None,
        locked_by=record.actor.name if status == ProtocolStatus.LOCKED else None,
        reason=reason,
    )
    session.add(row)
    session.flush()
    record(
        action,
        f"protocol/v{version}",
        {
            "version": version,
            "fingerprint": row.fingerprint,
            "trial_id": row.trial_id,
            "status": status,
            "source": source,
        },
        reason,
    )
    return _stored(row)


def load(ws: Workspace, protocol: Protocol, source: str) -> tuple[StoredProtocol, bool]:
    """Load ``protocol`` as the current draft; returns (stored, changed).

    Loading the same protocol again changes nothing. A different protocol is refused once
    the stored one is locked.
    """
    with ws.change("protocol.load", "protocol") as record:
        s = record.session
        last = _latest(s)
        if last is not None:
            if last.fingerprint == protocol.fingerprint():
                return _stored(last), False
            if last.status == ProtocolStatus.LOCKED:
                raise ProtocolStateError(
                    f"the protocol is locked (version {last.version}, fingerprint "
                    f"{last.fingerprint[:12]}...) and {source} differs from it; to change a "
                    "locked protocol use 'rct protocol amend PATH --reason TEXT'",
                    code="protocol-locked",
                )
            if last.trial_id != protocol.trial.id:
                raise InputError(
                    f"{source} is for trial {protocol.trial.id!r}, but this "
                    f"database holds trial {last.trial_id!r}"
                )
        return _add(
            s, record, protocol, ProtocolStatus.DRAFT.value, source, "", "protocol.load"
        ), True


def illustrative_values(protocol: Protocol) -> list[str]:
    """``unit.covariate`` for every covariate value the protocol marks illustrative."""
    return [f"{u.id}.{c}" for u in protocol.units for c in u.illustrative_covariates]


def lock(ws: Workspace, *, accepted_illustrative: Sequence[str] = ()) -> StoredProtocol:
    """Lock the current draft. Locking a locked protocol is refused.

    ``accepted_illustrative`` lists the illustrative covariate values the statistician chose
    to lock anyway (``rct protocol lock --accept-illustrative``); the lock event records them.
    """
    with ws.change("protocol.lock", "protocol") as record:
        s = record.session
        last = _latest(s)
        if last is None:
            raise NotInitialised(
                "no protocol is loaded; run 'rct init --protocol FILE'", code="no-protocol"
            )
        if last.status == ProtocolStatus.LOCKED:
            raise ProtocolStateError(
                f"protocol version {last.version} is already locked", code="protocol-locked"
            )
        _stored(last)  # refuse to lock a row that does not match its fingerprint
        last.status = ProtocolStatus.LOCKED.value
        last.locked_at = utc_now()
        last.locked_by = record.actor.name
        record(
            "protocol.lock",
            f"protocol/v{last.version}",
            {"version": last.version, "fingerprint": last.fingerprint}
            | (
                {"accepted_illustrative": list(accepted_illustrative)}
                if accepted_illustrative
                else {}
            ),
        )
        s.flush()
        return _stored(last)


def amend(ws: Workspace, protocol: Protocol, source: str, reason: str) -> StoredProtocol:
    """Add a new locked version of a locked protocol, with a reason."""
    if not reason.strip():
        raise InputError("an amendment needs a reason: --reason TEXT")
    with ws.change("protocol.amend", "protocol") as record:
        s = record.session
        last = _latest(s)
        if last is None or last.status != ProtocolStatus.LOCKED:
            raise ProtocolStateError(
                "only a locked protocol is amended; lock it first "
                "(or, while it is a draft, load the new file with 'rct init')",
                code="protocol-not-locked",
            )
        if last.fingerprint == protocol.fingerprint():
            raise InputError(f"{source} is identical to the locked protocol: nothing to amend")
        if last.trial_id != protocol.trial.id:
            raise InputError(f"{source} is for trial {protocol.trial.id!r}, not {last.trial_id!r}")
        _refuse_if_allocation_would_change(s, _stored(last).protocol, protocol)
        return _add(
            s,
            record,
            protocol,
            ProtocolStatus.LOCKED.value,
            source,
            reason.strip(),
            "protocol.amend",
        )


def _refuse_if_allocation_would_change(session: Session, old: Protocol, new: Protocol) -> None:
    """Once an allocation is live, an amendment may not touch the units or the allocation
    specification: the sealed commitment and scheme space depend on them."""
    row = live(session)
    if row is None:
        return
    if (
        old.units_fingerprint() != new.units_fingerprint()
        or old.canonical()["allocation"] != new.canonical()["allocation"]
    ):
        raise ProtocolStateError(
            f"allocation #{row.id} is {row.status}: an amendment may not change the units or the "
            "allocation specification; void the allocation first if the trial really must",
            code="allocation-fixed",
        )
