"""Registering the people who act in the trial, each with one role (docs/architecture.md, decision 9)."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rct import audit
from rct import protocols as protocol_store
from rct.audit import utc_now
from rct.db.models import User
from rct.errors import InputError
from rct.roles import ROLES
from rct.workspace import Workspace

__all__ = ["add_user", "bootstrap_admin", "list_users"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,199}$")


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise InputError(
            f"user name {name!r} must be letters, digits and . _ @ - "
            "(starting with a letter or digit)"
        )


def add_user(ws: Workspace, name: str, role: str, borough: str | None = None) -> User:
    """Register ``name`` with ``role``; data managers need the borough they submit for."""
    _check_name(name)
    if role not in ROLES:
        raise InputError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if role == "data-manager" and not borough:
        raise InputError("a data manager is scoped to one borough: give --borough CODE")
    if role != "data-manager" and borough:
        raise InputError(f"only data managers have a borough; {role} acts for every borough")
    with ws.change("user.add", f"user/{name}") as record:
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
        )
        s.add(user)
        s.flush()
        record("user.add", f"user/{name}", {"name": name, "role": role, "borough": unit_id})
        return user


def bootstrap_admin(session: Session, name: str) -> bool:
    """Register ``name`` as the first admin of an empty trial; False if users exist."""
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
        )
    )
    session.flush()
    audit.append(
        session,
        actor=name,
        role="admin",
        action="user.bootstrap",
        entity=f"user/{name}",
        payload={"name": name, "role": "admin"},
    )
    return True


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.name)).all())
