"""PostgreSQL roles for a trial and the logins that act as its users (docs/database-roles.md).

``rct db roles`` runs :func:`create_roles`: the roles, grants and row-level security of
:mod:`rct.pg_roles_sql`, in one transaction with its signed audit event. ``rct db login add``
runs :func:`add_login`: a person's PostgreSQL login joins their trial role's group and is
mapped to them in ``db_logins``, so the database itself enforces what the application checks
(docs/architecture.md, decision 10). Both need a superuser connection and an admin's key.
SQLite has no roles: a trial there is protected by its file's permissions.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from rct.audit import utc_now
from rct.db.models import User
from rct.errors import InputError, NotFound, PermissionDenied, ProtocolStateError
from rct.pg_roles_sql import (
    TRIAL_ROLE_GROUPS,
    RoleNames,
    check_prefix,
    default_prefix,
    login_sql,
    roles_sql,
)
from rct.workspace import Workspace

__all__ = [
    "RolesPlan",
    "LoginGrant",
    "LoginRecord",
    "plan_roles",
    "create_roles",
    "add_login",
    "list_logins",
]

_LOGIN = re.compile(r"[a-z_][a-z0-9_.-]{0,62}")


@dataclass(frozen=True)
class RolesPlan:
    """The roles of one trial database and the statements that set them up."""

    database: str
    names: RoleNames
    statements: list[str] = field(default_factory=list)

    @property
    def sql(self) -> str:
        return "".join(f"{s};\n" for s in self.statements)

    def to_dict(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "prefix": self.names.prefix,
            "owner": self.names.owner,
            "groups": {r: self.names.group(r) for r in TRIAL_ROLE_GROUPS},
            "sql_sha256": hashlib.sha256(self.sql.encode("utf-8")).hexdigest(),
        }


@dataclass(frozen=True)
class LoginGrant:
    """A login mapped to a trial user and made a member of their role's group."""

    login: str
    user: str
    role: str
    borough: str | None
    group: str
    created: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "login": self.login,
            "user": self.user,
            "role": self.role,
            "borough": self.borough,
            "group": self.group,
            "created": self.created,
        }


def _require_postgres(url: str) -> str:
    """The database name of a PostgreSQL ``url``; InputError for any other backend."""
    if not url.startswith("postgresql"):
        raise InputError(
            "rct db applies to PostgreSQL only: this trial's database is SQLite, whose "
            "access control is the file's permissions"
        )
    database = make_url(url).database
    if not database:
        raise InputError("the PostgreSQL URL names no database: give --db postgresql://.../DB")
    return database


def _names(url: str, prefix: str | None) -> tuple[str, RoleNames]:
    database = _require_postgres(url)
    chosen = prefix if prefix is not None else default_prefix(database)
    why = check_prefix(chosen)
    if why is not None:
        raise InputError(f"--prefix {chosen!r}: {why}")
    return database, RoleNames(chosen)


def plan_roles(url: str, prefix: str | None = None) -> RolesPlan:
    """The roles and SQL for the trial database at ``url``; nothing is connected to."""
    database, names = _names(url, prefix)
    return RolesPlan(database, names, roles_sql(names, database))


def _require_superuser(session: Session, what: str) -> None:
    row = session.execute(
        text("SELECT current_user::text, rolsuper FROM pg_roles WHERE rolname = current_user")
    ).one()
    if not row[1]:
        raise PermissionDenied(
            f"{what} needs a PostgreSQL superuser connection; {row[0]} is not one: connect "
            "with --db postgresql://SUPERUSER@HOST/DB, or give the output of 'rct db roles "
            "--print-sql' to your database administrator",
            code="superuser-required",
        )


def create_roles(ws: Workspace, plan: RolesPlan) -> RolesPlan:
    """Create (or bring up to date) the trial's roles, grants and policies of ``plan``
    (from :func:`plan_roles` on ``ws.url``) and record it.

    Needs an admin acting over a superuser connection; the statements and the signed
    ``db.roles`` event commit together.
    """
    with ws.session() as s:
        _require_superuser(s, "rct db roles")
    with ws.change("user.add", f"database/{plan.database}") as record:
        for statement in plan.statements:
            record.session.execute(text(statement))
        record("db.roles", f"database/{plan.database}", plan.to_dict())
    return plan


def _role(session: Session, name: str) -> tuple[bool, bool] | None:
    """(superuser, bypasses row-level security) of an existing role, or None."""
    row = session.execute(
        text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = :n"), {"n": name}
    ).first()
    return None if row is None else (bool(row[0]), bool(row[1]))


def add_login(
    ws: Workspace, login: str, user: str, *, prefix: str | None = None, create: bool = False
) -> LoginGrant:
    """Map PostgreSQL ``login`` to trial user ``user`` and grant it their role's group.

    With ``create`` the login role is created too (without a password: the database
    administrator sets one, or pg_hba.conf names how it authenticates).
    """
    _, names = _names(ws.url, prefix)
    if not _LOGIN.fullmatch(login):
        raise InputError(
            f"login {login!r} must be lower-case letters, digits and _ . - (at most 63)"
        )
    if login.startswith(names.prefix):
        raise InputError(f"login {login!r} uses the trial's role prefix {names.prefix!r}")
    with ws.session() as s:
        _require_superuser(s, "rct db login add")
    with ws.change("user.add", f"login/{login}") as record:
        s = record.session
        person = s.get(User, user)
        if person is None or not person.active:
            raise NotFound(f"no active trial user {user!r}; an admin registers them first")
        group = names.group(person.role)
        if _role(s, group) is None:
            raise ProtocolStateError(
                f"the trial's database roles do not exist yet ({group}); run 'rct db roles' "
                "first (with the same --prefix)",
                code="database-roles-missing",
            )
        mapped = s.execute(
            text("SELECT user_name FROM db_logins WHERE login = :l"), {"l": login}
        ).scalar()
        if mapped is not None:
            raise InputError(f"login {login!r} already acts as trial user {mapped}")
        existing = _role(s, login)
        if existing is None and not create:
            raise NotFound(f"no PostgreSQL login {login!r}: create it first, or add --create")
        if existing is not None and (existing[0] or existing[1]):
            raise InputError(
                f"login {login!r} is a superuser or bypasses row-level security; map an "
                "ordinary login"
            )
        for statement in login_sql(login, group, create=existing is None):
            s.execute(text(statement))
        s.execute(
            text(
                "INSERT INTO db_logins (login, user_name, granted_at, granted_by) "
                "VALUES (:l, :u, :t, :b)"
            ),
            {"l": login, "u": user, "t": utc_now(), "b": record.actor.name},
        )
        grant = LoginGrant(login, user, person.role, person.borough, group, existing is None)
        record("db.login", f"login/{login}", grant.to_dict())
    return grant


@dataclass(frozen=True)
class LoginRecord:
    """A database login mapped to a trial user, with the user's current role and borough."""

    login: str
    user: str
    role: str
    borough: str | None
    active: bool
    granted_at: str
    granted_by: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "login": self.login,
            "user": self.user,
            "role": self.role,
            "borough": self.borough,
            "active": self.active,
            "granted_at": self.granted_at,
            "granted_by": self.granted_by,
        }


def list_logins(ws: Workspace) -> list[LoginRecord]:
    """Every login mapped to a trial user, with the user's current role and borough."""
    _require_postgres(ws.url)
    with ws.session() as s:
        ws.read_public(s)
        rows = s.execute(
            text(
                "SELECT l.login, l.user_name, u.role, u.borough, u.active, l.granted_at, "
                "l.granted_by FROM db_logins l JOIN users u ON u.name = l.user_name "
                "ORDER BY l.login"
            )
        ).all()
    return [LoginRecord(*r) for r in rows]
