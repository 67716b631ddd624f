"""The service layer's entry point: one trial database and the person acting on it.

Every state change goes through :meth:`Workspace.change`, which opens one transaction,
checks the actor's role, and gives the caller a function to record the audit event in that
same transaction: the change and its event land together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from rct import audit
from rct.db.engine import ensure_current, make_engine
from rct.db.models import AuditEvent, User
from rct.errors import DatabaseError, PermissionDenied, UnknownUser
from rct.roles import PERMISSIONS, allowed

__all__ = ["Actor", "Workspace", "Recorder"]


@dataclass(frozen=True)
class Actor:
    """The person acting, as registered: name, role and (data managers) borough."""

    name: str
    role: str
    borough: str | None = None


class Recorder:
    """Writes audit events for one actor inside one transaction."""

    def __init__(self, session: Session, actor: Actor) -> None:
        self.session = session
        self.actor = actor

    def __call__(
        self, action: str, entity: str, payload: dict[str, Any] | None = None, reason: str = ""
    ) -> AuditEvent:
        return audit.append(
            self.session,
            actor=self.actor.name,
            role=self.actor.role,
            action=action,
            entity=entity,
            payload=payload,
            reason=reason,
        )


class Workspace:
    """A trial database opened by a named user."""

    def __init__(
        self, url: str, user: str, *, engine: Engine | None = None, check_schema: bool = True
    ) -> None:
        self.url = url
        self.user = user
        self.engine = engine or make_engine(url, must_exist=check_schema)
        if check_schema:
            ensure_current(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A read session (its transaction is rolled back at the end)."""
        with Session(self.engine, expire_on_commit=False) as s:
            try:
                yield s
            except OperationalError as exc:
                raise DatabaseError(f"database error: {exc.orig}") from None
            finally:
                s.rollback()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One write transaction: committed if the block succeeds, rolled back otherwise.

        Writers are serialised before they read anything, on both backends: SQLite by
        ``BEGIN IMMEDIATE`` (:mod:`rct.db.engine`), PostgreSQL by the audit trail's
        transaction-level advisory lock taken here first. So a writer always decides on
        what the previous writer committed: eight concurrent amendments of one cell give
        eight consecutive versions, eight identical imports one import (issue #11).
        """
        with Session(self.engine, expire_on_commit=False) as s:
            try:
                with s.begin():
                    if self.engine.dialect.name == "postgresql":
                        audit.serialise_writers(s)
                    yield s
            except OperationalError as exc:
                raise DatabaseError(f"database error: {exc.orig}") from None

    def actor(self, session: Session) -> Actor:
        """The registered user acting now (UnknownUser if not registered or inactive)."""
        u = session.get(User, self.user)
        if u is None or not u.active:
            n = session.scalar(select(func.count()).select_from(User)) or 0
            hint = (
                "ask an admin to run 'rct user add NAME --role ROLE'"
                if n
                else "run 'rct init' to register the first (admin) user"
            )
            raise UnknownUser(
                f"user {self.user!r} is not registered in this trial; {hint}, "
                "or act as another user with --as NAME or RCT_USER"
            )
        return Actor(u.name, u.role, u.borough)

    def read_as(self, session: Session, permission: str = "read") -> Actor:
        """Check that the acting user may read (no refusal is recorded for reads)."""
        actor = self.actor(session)
        if not allowed(actor.role, permission):
            raise PermissionDenied(f"{actor.name} ({actor.role}) may not {permission}")
        return actor

    @contextmanager
    def change(self, permission: str, entity: str) -> Iterator[Recorder]:
        """Open a write transaction for an action that needs ``permission``.

        A refusal is itself recorded in the audit trail (in its own transaction, since the
        refused change never happens), then raised as :class:`PermissionDenied`.
        """
        refusal: tuple[Actor, str] | None = None
        with self.transaction() as s:
            try:
                actor = self.actor(s)
            except UnknownUser:
                refusal = (Actor(self.user, "unregistered"), "is not a registered user")
                actor = None
            if actor is not None and not allowed(actor.role, permission):
                roles = ", ".join(sorted(PERMISSIONS.get(permission, ())))
                refusal = (actor, f"has role {actor.role}; {permission} needs {roles}")
            if refusal is None:
                assert actor is not None
                yield Recorder(s, actor)
                return
        self._refuse(permission, entity, *refusal)

    def _refuse(self, permission: str, entity: str, actor: Actor, why: str) -> None:
        try:
            with self.transaction() as s:
                audit.append(
                    s,
                    actor=actor.name,
                    role=actor.role,
                    action="refused",
                    entity=entity,
                    payload={"permission": permission, "why": why},
                )
        except DBAPIError:  # the refusal is raised even if it cannot be recorded
            pass
        if actor.role == "unregistered":
            with self.session() as s:
                self.actor(s)  # raises UnknownUser with its guidance
        raise PermissionDenied(f"{actor.name} {why}; the refusal was recorded in the audit trail")
