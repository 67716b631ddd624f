"""Signed checkpoints of the audit trail's head (docs/architecture.md, decision 11, docs/checkpoints.md).

A hash chain alone cannot show that its newest events were cut off: the shorter chain is
still a valid chain. A checkpoint is a small signed document naming the sequence number and
hash of the head at some moment; published outside the database (trial registry entry,
e-mail to the evaluators, the trial master file) it proves later that every event up to it
is still there, in order and unchanged. ``rct audit checkpoint`` writes one on demand; seal,
reveal and every analysis run write one automatically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from protocols.canonical import canonical_bytes
from rct.audit import utc_now
from rct.db.models import AuditCheckpoint, AuditEvent, ProtocolVersion
from rct.errors import InputError, NotInitialised
from rct.keys import fingerprint, verify_signature

if TYPE_CHECKING:
    from rct.audit_signatures import Registry
    from rct.keys import Signer
    from rct.workspace import Workspace

__all__ = [
    "FORMAT",
    "Checkpoint",
    "checkpoint_dir",
    "check_checkpoint",
    "describe",
    "latest_checkpoint",
    "load_checkpoint",
    "make_checkpoint",
    "record_checkpoint",
    "stored_checkpoints",
    "tracking",
]

FORMAT = "rct-checkpoint-v1"
_LABEL = b"rct-checkpoint-v1\n"
_FIELDS = ("format", "trial", "seq", "head", "time", "signer", "public_key")


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint document and where it was written."""

    document: dict[str, Any]
    path: Path | None

    def line(self) -> str:
        return f"Checkpoint: {describe(self.document)}" + (f" -> {self.path}" if self.path else "")


def _message(doc: dict[str, Any]) -> bytes:
    return _LABEL + canonical_bytes({k: doc[k] for k in _FIELDS})


def make_checkpoint(session: Session, signer: Signer, trial: str) -> dict[str, Any]:
    """A signed checkpoint of the current head, read in ``session``."""
    last = session.execute(
        select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    if last is None:
        raise InputError("the audit trail is empty: there is no head to checkpoint")
    doc: dict[str, Any] = {
        "format": FORMAT,
        "trial": trial,
        "seq": int(last.seq),
        "head": last.hash,
        "time": utc_now(),
        "signer": signer.user,
        "public_key": signer.public.b64,
    }
    doc["signature"] = signer.sign(_message(doc))
    return doc


def checkpoint_dir(url: str) -> Path:
    """``RCT_CHECKPOINT_DIR``, else ``checkpoints/`` beside an SQLite database file, else
    ``checkpoints/`` in the working directory."""
    env = os.environ.get("RCT_CHECKPOINT_DIR")
    if env:
        return Path(env)
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        return Path(url[len("sqlite:///") :]).parent / "checkpoints"
    return Path("checkpoints")


def record_checkpoint(ws: Workspace, output: Path | None = None) -> Checkpoint:
    """Sign the current head as the acting user, keep it in the database (so bundles carry
    it) and write it to ``output`` (default: ``checkpoint-SEQ.json`` in
    :func:`checkpoint_dir`)."""
    with ws.session() as s:
        actor = ws.actor(s)
        signer = ws.signer(s, actor)
        # the trial's id as every protocol version records it (rct.protocols refuses a
        # version of another trial); read directly, so the workspace's automatic
        # checkpoints do not load the protocol store, which imports the workspace
        trial = s.scalar(
            select(ProtocolVersion.trial_id).order_by(ProtocolVersion.version.desc()).limit(1)
        )
        if trial is None:
            raise NotInitialised(
                "no protocol is loaded; run 'rct init --protocol FILE'", code="no-protocol"
            )
    with ws.transaction() as s:
        doc = make_checkpoint(s, signer, trial)
        s.add(
            AuditCheckpoint(
                seq=doc["seq"],
                head=doc["head"],
                signer=doc["signer"],
                document=json.dumps(doc, sort_keys=True),
            )
        )
    path = output or checkpoint_dir(ws.url) / f"checkpoint-{doc['seq']:06d}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return Checkpoint(doc, path)


def stored_checkpoints(session: Session) -> list[dict[str, Any]]:
    """Every checkpoint kept in the database, oldest first."""
    rows = session.scalars(select(AuditCheckpoint.document).order_by(AuditCheckpoint.id))
    return [json.loads(r) for r in rows]


def latest_checkpoint(session: Session) -> dict[str, Any] | None:
    """The newest checkpoint kept in the database (None if none was ever written): what
    certificates, bundles and the report carry so a reader can compare it with the one the
    trial published."""
    row = session.scalars(
        select(AuditCheckpoint.document).order_by(AuditCheckpoint.id.desc()).limit(1)
    ).first()
    return None if row is None else dict(json.loads(row))


def describe(doc: dict[str, Any]) -> str:
    """One line naming a checkpoint document: event, head, time, signer and key."""
    return (
        f"event {doc['seq']}, head {doc['head']}, {doc['time']}, signed by {doc['signer']} "
        f"(key {fingerprint(doc['public_key'])[:16]}...)"
    )


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint file (InputError naming the file if it is not one)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError
        for k in (*_FIELDS, "signature"):
            doc[k]  # noqa: B018 - presence check
    except FileNotFoundError:
        raise InputError(f"checkpoint file {path} does not exist") from None
    except (ValueError, KeyError, OSError):
        raise InputError(f"{path} is not an {FORMAT} checkpoint file") from None
    return doc


def tracking(
    events: Iterable[dict[str, Any]], seqs: set[int], seen: dict[int, str]
) -> Iterator[dict[str, Any]]:
    """Pass ``events`` through, noting the hash of each event whose seq is in ``seqs``."""
    for rec in events:
        if rec.get("seq") in seqs:
            seen[rec["seq"]] = rec.get("hash", "")
        yield rec


def check_checkpoint(
    doc: dict[str, Any], seen: dict[int, str], last_seq: int, registry: Registry | None
) -> str:
    """'' if the verified chain still holds ``doc``'s head, else what is wrong."""
    seq, head, signer = doc["seq"], doc["head"], doc["signer"]
    if not verify_signature(doc["public_key"], doc["signature"], _message(doc)):
        return f"checkpoint at event {seq}: its signature does not verify (altered or forged)"
    if registry is not None:
        user = registry.users.get(signer)
        if user is None or doc["public_key"] not in user.all_keys:
            return (
                f"checkpoint at event {seq} is signed by {signer} with a key the audit "
                "chain never registered for them"
            )
    if seq > last_seq:
        return (
            f"checkpoint at event {seq} (head {head[:12]}...) but the trail ends at event "
            f"{last_seq}: {seq - last_seq} event(s) were removed from its end"
        )
    if seen.get(seq) != head:
        return (
            f"checkpoint at event {seq}: the trail's event {seq} has hash "
            f"{str(seen.get(seq))[:12]}..., not the published {head[:12]}... "
            "(events before it were removed or rewritten)"
        )
    return ""
