"""The append-only, hash-chained audit trail (docs/architecture.md, decision 2).

Each event's hash is SHA-256 over the previous event's hash, a newline, and the canonical
JSON of the event's own fields (see :func:`event_hash`). The first event's previous hash is
64 zeros. Appends are serialised (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: a transaction
advisory lock), so concurrent writers never fork the chain, and each append happens in the
caller's transaction, so an event lands exactly when the change it records lands.

Since signing began (docs/architecture.md, decision 10) each event also carries an Ed25519 signature by
its actor over :func:`signing_message` (a domain label, the previous hash and the same
canonical JSON the hash covers); :func:`verify_events` checks signatures and the roles of
their signers in the same pass (see :mod:`rct.audit_signatures`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from protocols.canonical import canonical_bytes, canonical_json
from rct.db.models import AuditEvent

if TYPE_CHECKING:
    from rct.audit_signatures import Registry
    from rct.keys import Signer

__all__ = [
    "GENESIS",
    "append",
    "event_hash",
    "signing_message",
    "iter_events",
    "iter_raw_records",
    "verify_events",
    "ChainReport",
    "utc_now",
    "event_record",
    "AuditEventRecord",
]

GENESIS = "0" * 64
_ADVISORY_KEY = 0x52435441  # "RCTA": the audit-append lock on PostgreSQL


def utc_now() -> str:
    """Current UTC time as stored everywhere: ISO 8601 with microseconds and ``Z``."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _hashed_fields(
    seq: int,
    occurred_at: str,
    actor: str,
    role: str,
    action: str,
    entity: str,
    reason: str,
    payload: str,
) -> dict[str, Any]:
    return {
        "seq": seq,
        "occurred_at": occurred_at,
        "actor": actor,
        "role": role,
        "action": action,
        "entity": entity,
        "reason": reason,
        "payload": payload,
    }


def event_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    """SHA-256 hex of ``prev_hash``, ``\\n`` and the canonical JSON of ``fields``."""
    return hashlib.sha256(prev_hash.encode("ascii") + b"\n" + canonical_bytes(fields)).hexdigest()


_LABEL = b"rct-audit-event-v1\n"


def signing_message(prev_hash: str, fields: dict[str, Any]) -> bytes:
    """The bytes an event's actor signs: label, previous hash and the canonical event."""
    return _LABEL + prev_hash.encode("ascii") + b"\n" + canonical_bytes(fields)


def serialise_writers(session: Session) -> None:
    """Wait for, then hold until commit, PostgreSQL's one writer lock (re-entrant)."""
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_KEY})


def append(
    session: Session,
    *,
    actor: str,
    role: str,
    action: str,
    entity: str,
    payload: dict[str, Any] | None = None,
    reason: str = "",
    signer: Signer | None = None,
) -> AuditEvent:
    """Append one event in ``session``'s transaction and return it, signed by ``signer``.

    The caller commits (or rolls back) the event together with the change it records.
    Only refusals are written unsigned (the refused person may hold no key).
    """
    if session.get_bind().dialect.name == "postgresql":
        serialise_writers(session)
    last = session.execute(
        select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    seq = 1 if last is None else last.seq + 1
    prev = GENESIS if last is None else last.hash
    body = canonical_json(payload or {})
    fields = _hashed_fields(seq, utc_now(), actor, role, action, entity, reason, body)
    signature = signer.sign(signing_message(prev, fields)) if signer is not None else None
    event = AuditEvent(**fields, prev_hash=prev, hash=event_hash(prev, fields), signature=signature)
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class AuditEventRecord:
    """One audit event as read back: its chained fields with the payload parsed."""

    seq: int
    occurred_at: str
    actor: str
    role: str
    action: str
    entity: str
    reason: str
    payload: Any
    prev_hash: str
    hash: str
    signature: str | None

    @classmethod
    def from_event(cls, e: AuditEvent) -> AuditEventRecord:
        return cls(
            e.seq,
            e.occurred_at,
            e.actor,
            e.role,
            e.action,
            e.entity,
            e.reason,
            json.loads(e.payload),
            e.prev_hash,
            e.hash,
            e.signature,
        )

    def to_dict(self) -> dict[str, Any]:
        """The record as plain data, keys in the order logs and exports show them."""
        return {
            "seq": self.seq,
            "occurred_at": self.occurred_at,
            "actor": self.actor,
            "role": self.role,
            "action": self.action,
            "entity": self.entity,
            "reason": self.reason,
            "payload": self.payload,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
            "signature": self.signature,
        }


def event_record(e: AuditEvent) -> dict[str, Any]:
    """An event as plain data (for logs and exports), with its payload parsed."""
    return AuditEventRecord.from_event(e).to_dict()


def iter_events(session: Session, batch: int = 5000) -> Iterator[AuditEvent]:
    """Every event in sequence order, read in batches."""
    last = 0
    while True:
        rows = session.scalars(
            select(AuditEvent).where(AuditEvent.seq > last).order_by(AuditEvent.seq).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def iter_raw_records(session: Session, batch: int = 5000) -> Iterator[dict[str, Any]]:
    """Every event as a record with its payload left as the stored canonical JSON text
    (what verification hashes), read in batches without building ORM objects."""
    table = AuditEvent.__table__
    names = list(table.c.keys())
    seq_at = names.index("seq")
    last = 0
    while True:
        rows = session.execute(
            select(*table.c).where(table.c.seq > last).order_by(table.c.seq).limit(batch)
        ).all()
        if not rows:
            return
        for row in rows:
            yield dict(zip(names, row))
        last = rows[-1][seq_at]


@dataclass(frozen=True)
class ChainReport:
    """Outcome of verifying a chain: ``ok``, how many events, and the first broken link.

    ``signing_from`` is the event where signing began (1 for trials created signed);
    ``unsigned_before`` counts the unsigned events before it (trials created before signing
    existed), ``unsigned_refusals`` the refusals recorded for people without a key.
    """

    ok: bool
    events: int
    broken_at: int | None = None
    problem: str = ""
    head: str = GENESIS
    signing_from: int | None = None
    unsigned_before: int = 0
    unsigned_refusals: int = 0
    genesis_fingerprint: str | None = None
    registry: Registry | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "broken_at": self.broken_at,
            "problem": self.problem,
            "head": self.head,
            "signing_from": self.signing_from,
            "unsigned_before_signing": self.unsigned_before,
            "unsigned_refusals": self.unsigned_refusals,
            "genesis_fingerprint": self.genesis_fingerprint,
        }


#: the canonical JSON encoder (protocols.canonical) for flat str/int objects, built once
_FLAT = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _event_bytes(fields: dict[str, Any]) -> bytes:
    """``canonical_bytes(fields)``, without its generic recursive walk when every field is
    a plain ``str`` or ``int`` (every stored event): verification of a long trail spends
    its time on signatures, not on re-checking types (bench/bench_audit_verify.py)."""
    for v in fields.values():
        if type(v) is not str and type(v) is not int:
            return canonical_bytes(fields)
    return _FLAT.encode(fields).encode("utf-8")


def verify_events(events: Iterable[dict[str, Any]]) -> ChainReport:
    """Recompute the chain over event records (as :func:`event_record` gives, or JSONL),
    checking each event's signature and its signer's registered role in the same pass.

    Works on records rather than rows so that a bundle's exported trail is checked by the
    same code as the live database.
    """
    # lazy: loads cryptography (start-up time)
    from rct.audit_signatures import Registry

    registry = Registry()
    prev = GENESIS
    expected_seq = 1
    n = 0

    def report(ok: bool, at: int | None = None, problem: str = "") -> ChainReport:
        return ChainReport(
            ok,
            n,
            at,
            problem,
            prev,
            registry.signing_from,
            registry.unsigned_before,
            registry.unsigned_refusals,
            registry.genesis_fingerprint,
            registry,
        )

    for rec in events:
        n += 1
        seq = rec.get("seq")
        if seq != expected_seq:
            what = (
                "missing or deleted"
                if isinstance(seq, int) and seq > expected_seq
                else "out of order"
            )
            return report(
                False,
                expected_seq,
                f"expected event {expected_seq} but found event {seq} (event {what}?)",
            )
        if rec.get("prev_hash") != prev:
            return report(
                False,
                seq,
                f"event {seq} does not link to event {seq - 1}: its previous hash "
                f"{str(rec.get('prev_hash'))[:12]}... is not {prev[:12]}... "
                "(an event was inserted, deleted or reordered)",
            )
        payload = rec.get("payload")
        body = payload if isinstance(payload, str) else canonical_json(payload)
        fields = _hashed_fields(
            seq,
            rec["occurred_at"],
            rec["actor"],
            rec["role"],
            rec["action"],
            rec["entity"],
            rec["reason"],
            body,
        )
        canon = _event_bytes(fields)
        linked = prev.encode("ascii") + b"\n" + canon
        h = hashlib.sha256(linked).hexdigest()
        if h != rec.get("hash"):
            return report(
                False,
                seq,
                f"event {seq} ({rec.get('action')}) does not match its hash: "
                "its content was altered",
            )
        problem = registry.check(seq, rec, _LABEL + linked)
        if problem:
            return report(False, seq, problem)
        prev = h
        expected_seq += 1
    return report(True)
