"""Who may sign what: the key registry that the audit chain itself builds (issue #12).

Walking the chain from its first event, :class:`Registry` learns each user's role, borough
and public key only from signed registration events (``user.bootstrap``, ``user.add``,
``user.key``, ``user.role``, ``audit.signing-start``). Every later event must carry a valid
Ed25519 signature by its actor's key *as registered at that point of the chain*, record the
actor's registered role, and be an action that role may take. A row written into the
``users`` table by hand is therefore worthless: it never appears in the registry, and
:func:`users_table_problems` names it.

Trials created before signing existed start with unsigned events; they are counted as
"unsigned, before signing began" up to the ``audit.signing-start`` event an admin writes
once, and are not tampering. After that only refusals (written for people who may hold no
key) may be unsigned.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from rct.keys import fingerprint
from rct.roles import PERMISSIONS, Role

__all__ = ["ACTION_PERMISSION", "Registered", "Registry", "users_table_problems"]

#: audit action -> the permission (rct.roles) its actor must hold. Actions not listed
#: (exports, checkpoints) need only a registered, signing user.
ACTION_PERMISSION: dict[str, tuple[str, ...]] = {
    "user.add": ("user.add",),
    "user.key": ("user.add",),
    "user.role": ("user.add",),
    "protocol.load": ("protocol.load",),
    "protocol.lock": ("protocol.lock",),
    "protocol.amend": ("protocol.amend",),
    "allocation.seal": ("allocation.seal",),
    "allocation.reveal": ("allocation.reveal",),
    "allocation.reveal-failed": ("allocation.reveal",),
    "allocation.void": ("allocation.void",),
    "data.import": ("data.submit",),
    "data.amend": ("data.submit",),
    "data.import.children": ("data.submit",),
    # an import raises its rule queries in the importer's name
    "data.query.raise": ("data.query.raise", "data.submit"),
    "data.query.answer": ("data.query",),
    "data.query.close": ("data.query.close",),
    "data.settings": ("data.settings",),
    "analysis.run": ("analysis.run",),
}

_REGISTRATIONS = frozenset(
    {"user.bootstrap", "user.add", "user.key", "user.role", "audit.signing-start"}
)


@dataclass
class Registered:
    """A user as the signed chain registered them."""

    role: str
    borough: str | None
    public_key: str | None
    registered_at: int
    _key: Ed25519PublicKey | None = field(default=None, repr=False)
    #: every key ever registered for the user (checkpoints signed before a key change)
    all_keys: set[str] = field(default_factory=set, repr=False)

    def set_key(self, key: str | None) -> None:
        self.public_key, self._key = key, None
        if key:
            self.all_keys.add(key)

    def verifier(self) -> Ed25519PublicKey | None:
        if self._key is None and self.public_key:
            self._key = Ed25519PublicKey.from_public_bytes(base64.b64decode(self.public_key))
        return self._key


def _verify(key: Ed25519PublicKey | None, signature: str, message: bytes) -> bool:
    if key is None:
        return False
    try:
        key.verify(base64.b64decode(signature), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def _payload(rec: dict[str, Any]) -> dict[str, Any]:
    p = rec.get("payload")
    out = json.loads(p) if isinstance(p, str) else p
    return out if isinstance(out, dict) else {}


class Registry:
    """The users and keys the chain has registered so far, and what was unsigned."""

    def __init__(self) -> None:
        self.users: dict[str, Registered] = {}
        self.signing_from: int | None = None
        self.genesis_fingerprint: str | None = None
        self.unsigned_before = 0
        self.unsigned_refusals = 0

    def check(self, seq: int, rec: dict[str, Any], message: bytes) -> str:
        """Check one event (already hash-verified); '' when it is acceptable."""
        action = rec["action"]
        actor = rec["actor"]
        sig = rec.get("signature")
        if action == "user.bootstrap":
            return self._genesis(seq, rec, sig, message)
        if self.signing_from is None:
            if action == "audit.signing-start":
                return self._signing_start(seq, rec, sig, message)
            if sig:
                return f"event {seq} ({action}) is signed before signing began"
            self.unsigned_before += 1
            if action in _REGISTRATIONS:
                self._register(seq, rec)
            return ""
        if not sig:
            if action == "refused":
                self.unsigned_refusals += 1
                return ""
            return (
                f"event {seq} ({action} by {actor}) is UNSIGNED, but every change since "
                f"event {self.signing_from} must be signed by its actor"
            )
        user = self.users.get(actor)
        if user is None:
            return f"event {seq} ({action}) is signed as {actor}, who no signed event registered"
        if not _verify(user.verifier(), sig, message):
            return (
                f"event {seq} ({action}) has a signature that does not verify against "
                f"{actor}'s registered key"
                + (f" {fingerprint(user.public_key)[:16]}..." if user.public_key else "")
                + " (forged, altered or signed by someone else)"
            )
        if rec["role"] != user.role and action != "refused":
            return (
                f"event {seq} ({action}) records {actor} as {rec['role']}, "
                f"but the chain registered {actor} as {user.role}"
            )
        needed = ACTION_PERMISSION.get(action)
        if needed and not any(user.role in PERMISSIONS[p] for p in needed):
            return f"event {seq}: {actor} ({user.role}) may not {action}"
        if action == "audit.signing-start":
            return f"event {seq}: signing can begin only once (it began at {self.signing_from})"
        if action in _REGISTRATIONS:
            return self._register(seq, rec)
        return ""

    def _genesis(self, seq: int, rec: dict[str, Any], sig: str | None, message: bytes) -> str:
        if seq != 1 or self.users:
            return f"event {seq} is a second genesis (user.bootstrap)"
        p = _payload(rec)
        key = p.get("public_key")
        self.users[rec["actor"]] = Registered("admin", None, None, seq)
        self.users[rec["actor"]].set_key(key)
        if key is None:  # a trial created before signing existed
            self.unsigned_before += 1
            return "" if not sig else "the genesis event is signed but names no key"
        self.signing_from = seq
        self.genesis_fingerprint = fingerprint(key)
        if not sig or not _verify(self.users[rec["actor"]].verifier(), sig, message):
            return "the genesis event is not signed by the key it registers"
        return ""

    def _signing_start(self, seq: int, rec: dict[str, Any], sig: str | None, msg: bytes) -> str:
        actor = rec["actor"]
        user = self.users.get(actor)
        if user is None or user.role != Role.ADMIN:
            return f"event {seq}: signing can only be started by a registered admin, not {actor}"
        key = _payload(rec).get("public_key")
        if not isinstance(key, str):
            return f"event {seq} (audit.signing-start) names no public key"
        user.set_key(key)
        if not sig or not _verify(user.verifier(), sig, msg):
            return f"event {seq} (audit.signing-start) is not signed by the key it registers"
        self.signing_from = seq
        self.genesis_fingerprint = fingerprint(key)
        return ""

    def _register(self, seq: int, rec: dict[str, Any]) -> str:
        p = _payload(rec)
        name = p.get("name")
        action = rec["action"]
        if not isinstance(name, str):
            return f"event {seq} ({action}) names no user"
        if action == "user.add":
            if name in self.users:
                return f"event {seq} registers {name} a second time"
            self.users[name] = Registered(p.get("role", ""), p.get("borough"), None, seq)
        elif name not in self.users:
            return f"event {seq} ({action}) changes {name}, who is not registered"
        user = self.users[name]
        if action == "user.role":
            user.role, user.borough = p.get("role", ""), p.get("borough")
        if "public_key" in p and action != "user.role":
            user.set_key(p["public_key"])
        return ""


def users_table_problems(registry: Registry, rows: Iterable[dict[str, Any]]) -> list[str]:
    """Rows of the ``users`` table that no signed event accounts for (forged or altered)."""
    problems = []
    seen = set()
    for row in rows:
        name = row["name"]
        seen.add(name)
        reg = registry.users.get(name)
        if reg is None:
            problems.append(f"user {name} is in the users table but no event registered them")
            continue
        got = (row["role"], row["borough"], row.get("public_key"))
        want = (reg.role, reg.borough, reg.public_key)
        if got != want:
            problems.append(
                f"user {name} is stored as {got[0]}"
                + (f" ({got[1]})" if got[1] else "")
                + f" but the chain registered {want[0]}"
                + (f" ({want[1]})" if want[1] else "")
                + ("" if got[2] == want[2] else ", with a different key")
            )
    for name in sorted(set(registry.users) - seen):
        problems.append(f"user {name} was registered by the chain but is missing from the table")
    return problems
