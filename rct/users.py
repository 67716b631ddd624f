"""Registering the people who act in the trial, each with one role and one public key
(docs/architecture.md, decisions 9 and 10).

Every registration is a signed audit event carrying the new user's public key; the first
admin's registration (the genesis) is signed by the key it registers, and its fingerprint is
what the trial master file records.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rct import audit
from rct import protocols as protocol_store
from rct.audit import utc_now
from rct.db.models import User
from rct.errors import InputError, NotFound, PermissionDenied, ProtocolStateError
from rct.roles import ROLES, Role
from rct.workspace import Workspace

if TYPE_CHECKING:
    from rct.keys import PublicKey, Signer

__all__ = [
    "add_user",
    "bootstrap_admin",
    "change_role",
    "list_users",
    "register_key",
    "start_signing",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,199}$")


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise InputError(
            f"user name {name!r} must be letters, digits and . _ @ - "
            "(starting with a letter or digit)"
        )


def add_user(
    ws: Workspace,
    name: str,
    role: str,
    borough: str | None = None,
    public_key: PublicKey | None = None,
) -> User:
    """Register ``name`` with ``role`` and their public key (default: ``NAME.pub`` in the
    workspace's key directory); data managers need the borough they submit for."""
    _check_name(name)
    if role not in ROLES:
        raise InputError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if role == Role.DATA_MANAGER and not borough:
        raise InputError("a data manager is scoped to one borough: give --borough CODE")
    if role != Role.DATA_MANAGER and borough:
        raise InputError(f"only data managers have a borough; {role} acts for every borough")
    with ws.change("user.add", f"user/{name}") as record:
        # The key is looked up only once the actor may register users, so a refusal names
        # the missing permission rather than someone else's missing key file.
        pub = public_key or ws.keys.public_key(name)
        s = record.session
        unit_id = None
        if borough:
            protocol = protocol_store.current(s).protocol
            try:
                unit_id = protocol.unit(borough).id
            except KeyError:
                known = ", ".join(f"{u.id} ({u.gss_code})" for u in protocol.units)
                raise InputError(
                    f"borough {borough!r} is not a unit of this trial; known: {known}"
                ) from None
        if s.get(User, name) is not None:
            raise InputError(f"user {name!r} is already registered")
        user = User(
            name=name,
            role=role,
            borough=unit_id,
            created_at=utc_now(),
            created_by=record.actor.name,
            active=True,
            public_key=pub.b64,
        )
        s.add(user)
        s.flush()
        record(
            "user.add",
            f"user/{name}",
            {
                "name": name,
                "role": role,
                "borough": unit_id,
                "public_key": pub.b64,
                "fingerprint": pub.fingerprint,
            },
        )
        return user


def bootstrap_admin(session: Session, name: str, signer: Signer) -> bool:
    """Register ``name`` as the first admin of an empty trial with ``signer``'s public key,
    in a genesis event signed by that key; False if users exist."""
    _check_name(name)
    if (session.scalar(select(func.count()).select_from(User)) or 0) > 0:
        return False
    session.add(
        User(
            name=name,
            role="admin",
            borough=None,
            created_at=utc_now(),
            created_by=name,
            active=True,
            public_key=signer.public.b64,
        )
    )
    session.flush()
    audit.append(
        session,
        actor=name,
        role="admin",
        action="user.bootstrap",
        entity=f"user/{name}",
        payload={
            "name": name,
            "role": "admin",
            "public_key": signer.public.b64,
            "fingerprint": signer.public.fingerprint,
            "signatures": "ed25519-v1",
        },
        signer=signer,
    )
    return True


def _borough_id(s: Session, borough: str) -> str:
    protocol = protocol_store.current(s).protocol
    try:
        return protocol.unit(borough).id
    except KeyError:
        known = ", ".join(f"{u.id} ({u.gss_code})" for u in protocol.units)
        raise InputError(
            f"borough {borough!r} is not a unit of this trial; known: {known}"
        ) from None


def change_role(ws: Workspace, name: str, role: str, borough: str | None = None) -> User:
    """Give ``name`` another role (and borough), in a signed ``user.role`` event (admins)."""
    if role not in ROLES:
        raise InputError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if (role == Role.DATA_MANAGER) != bool(borough):
        raise InputError("data managers, and only they, need --borough CODE")
    with ws.change("user.add", f"user/{name}") as record:
        s = record.session
        user = s.get(User, name)
        if user is None:
            raise NotFound(f"no user {name!r}; register them with 'rct user add'")
        unit_id = _borough_id(s, borough) if borough else None
        if (user.role, user.borough) == (role, unit_id):
            raise InputError(f"{name} is already {role}" + (f" for {unit_id}" if unit_id else ""))
        before = {"role": user.role, "borough": user.borough}
        user.role, user.borough = role, unit_id
        s.flush()
        record(
            "user.role",
            f"user/{name}",
            {"name": name, "role": role, "borough": unit_id, "before": before},
        )
        return user


def register_key(ws: Workspace, name: str, public_key: PublicKey) -> None:
    """Register (or replace) ``name``'s public key in a signed ``user.key`` event (admins)."""
    with ws.change("user.add", f"user/{name}") as record:
        user = record.session.get(User, name)
        if user is None:
            raise NotFound(f"no user {name!r}; register them with 'rct user add'")
        user.public_key = public_key.b64
        record.session.flush()
        record(
            "user.key",
            f"user/{name}",
            {"name": name, "public_key": public_key.b64, "fingerprint": public_key.fingerprint},
        )


def start_signing(ws: Workspace) -> str:
    """Begin signing in a trial created before signed events: the acting admin registers
    their own key in an ``audit.signing-start`` event signed by it. Events before it stay
    valid as "unsigned, before signing began". Returns the key's fingerprint."""
    with ws.transaction() as s:
        actor = ws.actor(s)
        if actor.role != Role.ADMIN:
            raise PermissionDenied(
                f"{actor.name} ({actor.role}) may not start signing: admins only",
                code="role-not-permitted",
            )
        if s.scalar(select(func.count()).where(User.public_key.is_not(None))):
            raise ProtocolStateError(
                "this trial's events are signed already", code="already-signing"
            )
        signer = ws.keys.signer(actor.name)
        user = s.get(User, actor.name)
        assert user is not None
        user.public_key = signer.public.b64
        s.flush()
        audit.append(
            s,
            actor=actor.name,
            role="admin",
            action="audit.signing-start",
            entity="audit",
            payload={
                "name": actor.name,
                "public_key": signer.public.b64,
                "fingerprint": signer.public.fingerprint,
                "signatures": "ed25519-v1",
            },
            signer=signer,
        )
        return signer.public.fingerprint


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.name)).all())
