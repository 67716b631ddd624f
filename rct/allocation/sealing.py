"""Sealing, revealing, voiding and verifying the trial's allocation (the service behind
``rct allocate``; docs/architecture.md, decision 5).

Seal draws a seed from the OS CSPRNG, stores only its commitment and the passphrase-
encrypted envelope, and audits the commitment: nothing stored tells the arms apart. Reveal
opens the envelope, recomputes the allocation from the locked protocol, checks the
commitment and records the allocation. Verification (:mod:`rct.allocation.verify`) works
from plain records so the same code checks a live database and an evaluator's bundle.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session

from allocation.commitment import COMMITMENT_VERSION
from rct import protocols as protocol_store
from rct.allocation.arms_guard import verified_arms
from rct.allocation.design import algorithm_versions, committed_inputs, space_for_protocol
from rct.allocation.records import AllocationCertificate, AllocationRecordView
from rct.allocation.state import AllocationStatus, commitment_version, latest, live
from rct.allocation.verify import Check, verify_allocation
from rct.audit import append, event_record, iter_events, utc_now
from rct.db.allocation_models import AllocationRecord
from rct.errors import InputError, NotFound, RctError
from rct.leftovers import sweep, write_private
from rct.passphrase import check_strength
from rct.roles import Role
from rct.workspace import Workspace

__all__ = [
    "AllocationStateError",
    "SealResult",
    "live",
    "latest",
    "seal",
    "reveal",
    "void",
    "allocation_record",
    "record_dict",
    "revealed_arms",
    "certificate",
    "verify_current",
    "MIN_PASSPHRASE",
]

MIN_PASSPHRASE = 12
#: scrypt cost of new envelopes: memory-hard at 128 MiB per guess (docs/concealment.md)
ENVELOPE_SCRYPT_N = 2**17


class AllocationStateError(RctError):
    """The allocation is not in the state the action needs."""

    exit_code = 6
    code = "allocation-state"


@dataclass(frozen=True)
class SealResult:
    """A new seal: the commitment to publish and the audit trail's head at seal time (the
    seal event's sequence number and hash), which the publication carries with it."""

    id: int
    commitment: str
    envelope_path: Path
    admissible: int
    replaces_id: int | None
    head_seq: int
    head: str


def _check_passphrase(passphrase: str) -> None:
    if len(passphrase) < MIN_PASSPHRASE:
        raise InputError(f"the passphrase must have at least {MIN_PASSPHRASE} characters")
    check_strength(passphrase)


def seal(
    ws: Workspace, passphrase: str, envelope_path: Path, *, demo_seed: bytes | None = None
) -> SealResult:
    """Seal a new allocation of the locked protocol; write its envelope to ``envelope_path``.

    The envelope file is written to a temporary name and moved into place only once the
    database transaction has committed, so a failure leaves neither behind. The seed comes
    from the operating system; only ``rct demo`` passes ``demo_seed`` (derived from its
    printed ``--seed``) so that a demonstration can be repeated number for number.
    """
    # lazy: the envelope loads cryptography's scrypt and AES-GCM (start-up time)
    from allocation import Envelope, commitment, new_seed

    _check_passphrase(passphrase)
    envelope_path = Path(envelope_path)
    if envelope_path.exists():
        raise InputError(f"{envelope_path} already exists; choose another --envelope path")
    # an earlier seal killed half-way left its temporary envelope: remove it first
    sweep(envelope_path.parent, re.escape(envelope_path.name) + r"\.tmp(?P<pid>[0-9]+)")
    tmp = envelope_path.with_name(envelope_path.name + f".tmp{os.getpid()}")
    try:
        with ws.change("allocation.seal", "allocation") as record:
            s = record.session
            current = live(s)
            if current is not None:
                raise AllocationStateError(
                    f"allocation #{current.id} is already {current.status}; one live allocation "
                    "per trial: void it first with 'rct allocate void --reason TEXT'",
                    code="allocation-live",
                )
            stored = protocol_store.current_locked(s)
            protocol = stored.protocol
            space = space_for_protocol(protocol)
            seed = new_seed() if demo_seed is None else demo_seed
            inputs = committed_inputs(protocol, COMMITMENT_VERSION)
            units_fp = inputs["units_fingerprint"]
            com = commitment(
                seed,
                stored.fingerprint,
                units_fp,
                inputs["design_fingerprint"],
                version=COMMITMENT_VERSION,
            )
            envelope = Envelope.seal(seed, passphrase, com, n=ENVELOPE_SCRYPT_N)
            del seed
            previous = latest(s)
            replaces = previous.id if previous is not None else None
            row = AllocationRecord(
                live_slot=1,
                status=AllocationStatus.SEALED.value,
                protocol_version=stored.version,
                protocol_fingerprint=stored.fingerprint,
                units_fingerprint=units_fp,
                space_fingerprint=space.fingerprint(),
                design=json.dumps(space.design.to_dict(), sort_keys=True),
                algorithm=json.dumps(algorithm_versions(), sort_keys=True),
                commitment=com,
                envelope=envelope.to_json(),
                sealed_at=utc_now(),
                sealed_by=record.actor.name,
                replaces_id=replaces,
            )
            s.add(row)
            try:
                s.flush()
            except IntegrityError:
                raise AllocationStateError(
                    "another allocation was sealed at the same moment; one live allocation per "
                    "trial: see 'rct allocate show'",
                    code="allocation-live",
                ) from None
            event = record(
                "allocation.seal",
                f"allocation/{row.id}",
                {
                    "allocation": row.id,
                    "commitment": com,
                    "protocol_version": stored.version,
                    "protocol_fingerprint": stored.fingerprint,
                    "units_fingerprint": units_fp,
                    "design_fingerprint": inputs["design_fingerprint"],
                    "space_fingerprint": row.space_fingerprint,
                    "admissible": space.admissible,
                    "replaces": replaces,
                },
            )
            write_private(tmp, envelope.to_json())  # key material: owner only
            result = SealResult(
                row.id, com, envelope_path, space.admissible, replaces, event.seq, event.hash
            )
        tmp.replace(envelope_path)
        return result
    finally:
        tmp.unlink(missing_ok=True)


def _record_failed_reveal(ws: Workspace, allocation_id: int, why: str) -> None:
    with ws.transaction() as s:
        actor = ws.actor(s)
        append(
            s,
            actor=actor.name,
            role=actor.role,
            action="allocation.reveal-failed",
            entity=f"allocation/{allocation_id}",
            payload={"why": why},
            signer=ws.signer(s, actor),  # opened already by the reveal that failed
        )


def reveal(ws: Workspace, passphrase: str) -> AllocationRecord:
    """Open the live allocation's envelope, recompute and check it, and record it."""
    # lazy: the envelope loads cryptography's scrypt and AES-GCM (start-up time)
    from allocation import Envelope, WrongPassphrase, verify_commitment

    with ws.change("allocation.reveal", "allocation") as record:
        s = record.session
        row = live(s)
        if row is None:
            raise AllocationStateError(
                "no allocation is sealed; run 'rct allocate seal' first", code="no-allocation"
            )
        if row.status != AllocationStatus.SEALED:
            raise AllocationStateError(f"allocation #{row.id} is already {row.status}")
        allocation_id = row.id
        try:
            seed = Envelope.from_json(row.envelope).open(passphrase)
        except WrongPassphrase:
            failed = True
        else:
            failed = False
    if failed:
        _record_failed_reveal(ws, allocation_id, "wrong passphrase")
        raise InputError(
            "the passphrase does not open the envelope (the failed attempt was "
            "recorded in the audit trail)"
        )
    with ws.change("allocation.reveal", f"allocation/{allocation_id}") as record:
        s = record.session
        row = live(s)
        if row is None or row.id != allocation_id or row.status != AllocationStatus.SEALED:
            raise AllocationStateError(
                "the allocation changed while it was being revealed", code="concurrent-change"
            )
        stored = _protocol_version(s, row.protocol_version)
        version = commitment_version(row)
        inputs = committed_inputs(stored.protocol, version)
        verify_commitment(
            row.commitment,
            seed,
            stored.fingerprint,
            inputs["units_fingerprint"],
            inputs["design_fingerprint"],
            version=version,
        )
        space = space_for_protocol(stored.protocol)
        if space.fingerprint() != row.space_fingerprint:
            raise AllocationStateError(
                "the scheme space rebuilt from the protocol differs from "
                "the one sealed; run 'rct allocate verify'",
                code="scheme-space-changed",
            )
        drawn = space.draw(seed)
        row.status = AllocationStatus.REVEALED.value
        row.seed_hex = seed.hex()
        row.scheme_index = drawn.index
        row.arms = json.dumps(drawn.arms, sort_keys=True)
        row.revealed_at = utc_now()
        row.revealed_by = record.actor.name
        record(
            "allocation.reveal",
            f"allocation/{row.id}",
            {
                "allocation": row.id,
                "commitment": row.commitment,
                "seed": row.seed_hex,
                "scheme_index": drawn.index,
                "arms": drawn.arms,
            },
        )
        s.flush()
        return row


def void(ws: Workspace, reason: str) -> AllocationRecord:
    """Void the live allocation, keeping its record; a reason is required."""
    if not reason.strip():
        raise InputError("voiding an allocation needs a reason: --reason TEXT")
    with ws.change("allocation.void", "allocation") as record:
        s = record.session
        row = live(s)
        if row is None:
            raise AllocationStateError("there is no live allocation to void", code="no-allocation")
        row.status, row.live_slot = AllocationStatus.VOID.value, None
        row.voided_at, row.voided_by, row.void_reason = utc_now(), record.actor.name, reason.strip()
        record(
            "allocation.void",
            f"allocation/{row.id}",
            {
                "allocation": row.id,
                "commitment": row.commitment,
                "was_revealed": row.seed_hex is not None,
            },
            reason.strip(),
        )
        s.flush()
        return row


def _protocol_version(session: Session, version: int) -> protocol_store.StoredProtocol:
    for sp in protocol_store.history(session):
        if sp.version == version:
            return sp
    raise NotFound(f"protocol version {version} is not stored")


def _committed(row: AllocationRecord) -> dict[str, Any]:
    """The units object and design object the row's commitment binds (docs/randomness.md),
    from the immutable protocol version it was sealed under."""

    session = object_session(row)
    if session is None:  # pragma: no cover - callers hold the row's session
        raise RctError("internal: the allocation record is detached from its session")
    inputs = committed_inputs(
        _protocol_version(session, row.protocol_version).protocol, commitment_version(row)
    )
    return {"units": inputs["units"], "design_fingerprint": inputs["design_fingerprint"]}


def allocation_record(row: AllocationRecord) -> AllocationRecordView:
    """An allocation record as a typed record: the allocation certificate's content.

    Before reveal it holds no seed and no arms. It carries every input of the
    specification: the units object as committed and the design object (``design``).
    """
    committed = _committed(row)
    return AllocationRecordView(
        units=committed["units"],
        design_fingerprint=committed["design_fingerprint"],
        allocation=row.id,
        status=AllocationStatus(row.status),
        replaces=row.replaces_id,
        protocol_version=row.protocol_version,
        protocol_fingerprint=row.protocol_fingerprint,
        units_fingerprint=row.units_fingerprint,
        space_fingerprint=row.space_fingerprint,
        design=json.loads(row.design),
        algorithm=json.loads(row.algorithm),
        commitment=row.commitment,
        envelope=json.loads(row.envelope),
        sealed_at=row.sealed_at,
        sealed_by=row.sealed_by,
        revealed_at=row.revealed_at,
        revealed_by=row.revealed_by,
        seed=row.seed_hex,
        scheme_index=row.scheme_index,
        arms=json.loads(row.arms) if row.arms else None,
        voided_at=row.voided_at,
        voided_by=row.voided_by,
        void_reason=row.void_reason,
    )


def record_dict(row: AllocationRecord) -> dict[str, Any]:
    """An allocation record as plain data (:func:`allocation_record`'s ``to_dict()``)."""
    return allocation_record(row).to_dict()


def revealed_arms(session: Session) -> dict[str, str] | None:
    """Unit id -> arm of the revealed live allocation, or None before reveal; arms that do
    not follow from the sealed commitment are refused (rct.allocation.arms_guard.ArmsNotVerified)."""

    row = live(session)
    if row is None or row.status != AllocationStatus.REVEALED or not row.arms:
        return None
    return verified_arms(session, row)


def certificate(ws: Workspace) -> AllocationCertificate:
    """The current (live, else latest) allocation record, read by any registered role.

    Before reveal only the statistician's copy holds the sealed envelope: an offline guess
    at its passphrase needs the envelope, so no other role's certificate carries it. The
    certificate carries the audit trail's latest signed checkpoint (``checkpoint``, None if
    none was written yet), to compare with the one the trial published. Revealed arms are
    shown only once they follow from the sealed commitment (rct.allocation.arms_guard)."""
    # lazy: loads cryptography (start-up time)
    from rct.checkpoints import latest_checkpoint

    with ws.session() as s:
        actor = ws.read_as(s)
        row = live(s) or latest(s)
        if row is None:
            raise NotFound(
                "there is no allocation yet; see 'rct allocate plan' and 'rct allocate seal'"
            )
        record = allocation_record(row)
        if record.arms:
            # shown arms are arms that follow from the sealed commitment, as for analyses
            verified_arms(s, row)
        if not record.arms and actor.role != Role.STATISTICIAN:
            record = replace(record, envelope=None)
        return AllocationCertificate(record, latest_checkpoint(s))


def verify_current(ws: Workspace) -> tuple[list[Check], AllocationRecordView]:
    """Verify the current allocation against the protocol it was sealed under and the audit
    trail (see :func:`rct.allocation.verify.verify_allocation`); returns (checks, record)."""

    with ws.session() as s:
        ws.read_public(s)
        row = live(s) or latest(s)
        if row is None:
            raise NotFound("there is no allocation to verify")
        if row.status == AllocationStatus.SEALED:
            raise AllocationStateError(
                f"allocation #{row.id} is sealed, not yet revealed: it can be verified after "
                "'rct allocate reveal' (until then its commitment is all there is to check)",
                code="not-revealed",
            )
        record = allocation_record(row)
        protocol = _protocol_version(s, row.protocol_version).protocol
        events = [event_record(e) for e in iter_events(s)]
    return verify_allocation(record.to_dict(), protocol, events), record
