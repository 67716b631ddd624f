"""The service layer's entry point: one trial database and the person acting on it.

Every state change goes through :meth:`Workspace.change`, which opens one transaction,
checks the actor's role, and gives the caller a function to record the audit event in that
same transaction: the change and its event land together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from rct import audit
from rct.db.engine import ensure_current, make_engine
from rct.db.errors import from_driver_error
from rct.db.models import AuditEvent, User
from rct.errors import (
    MissingKey,
    PermissionDenied,
    ProtocolStateError,
    UnknownUser,
)
from rct.roles import PERMISSIONS, allowed

if TYPE_CHECKING:
    from rct.checkpoints import Checkpoint
    from rct.keys import KeyStore, Signer

_INSUFFICIENT_PRIVILEGE = "42501"  # PostgreSQL: permission denied

#: actions after which a signed checkpoint of the head is written automatically
AUTO_CHECKPOINT = frozenset({"allocation.seal", "allocation.reveal", "analysis.run"})

__all__ = ["Actor", "Workspace", "Recorder"]


@dataclass(frozen=True)
class Actor:
    """The person acting, as registered: name, role and (data managers) borough."""

    name: str
    role: str
    borough: str | None = None


class Recorder:
    """Writes audit events for one actor inside one transaction."""

    def __init__(self, session: Session, actor: Actor, signer: Signer | None = None) -> None:
        self.session = session
        self.actor = actor
        self.signer = signer
        self.actions: list[str] = []

    def __call__(
        self, action: str, entity: str, payload: dict[str, Any] | None = None, reason: str = ""
    ) -> AuditEvent:
        self.actions.append(action)
        return audit.append(
            self.session,
            actor=self.actor.name,
            role=self.actor.role,
            action=action,
            entity=entity,
            payload=payload,
            reason=reason,
            signer=self.signer,
        )


class Workspace:
    """A trial database opened by a named user."""

    def __init__(
        self,
        url: str,
        user: str,
        *,
        engine: Engine | None = None,
        check_schema: bool = True,
        keys: KeyStore | None = None,
        claimed: bool = True,
    ) -> None:
        """Open ``url`` as ``user``.

        On a PostgreSQL login mapped to a trial user (``rct db login add``) the mapped
        user acts, whatever ``user`` says: a ``user`` that was ``claimed`` (named with
        ``--as`` or ``RCT_USER``) and differs is refused; an unclaimed default (the
        operating system's login name) gives way to the mapping.
        """
        # lazy: loads cryptography (start-up time)
        from rct.keys import KeyStore

        self.url = url
        self.user = user
        self.keys = keys or KeyStore()
        #: the checkpoint written automatically by the last seal, reveal or analysis run
        self.last_checkpoint: Checkpoint | None = None
        #: the PostgreSQL login this workspace connects as (None on SQLite, or not checked)
        self.login: str | None = None
        self.engine = engine or make_engine(url, must_exist=check_schema)
        if check_schema:
            try:
                ensure_current(self.engine)
                self._act_as_login(claimed)
            except BaseException:
                if engine is None:
                    self.engine.dispose()
                raise

    def _act_as_login(self, claimed: bool) -> None:
        """Act as the trial user the connection's login is mapped to, if it is."""
        # lazy: loads rct.db.logins (start-up time)
        from rct.db.logins import connection_login

        found = connection_login(self.engine)
        if found is None:
            return
        self.login = found.login
        if found.user is None or found.user == self.user:
            return
        if claimed:
            raise PermissionDenied(
                f"the database login {found.login} acts as trial user {found.user} only, not "
                f"as {self.user}; drop --as/RCT_USER or connect with {self.user}'s own login",
                code="login-mismatch",
            )
        self.user = found.user

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A read session (its transaction is rolled back at the end)."""
        with Session(self.engine, expire_on_commit=False) as s:
            try:
                yield s
            except (OperationalError, ProgrammingError) as exc:
                raise from_driver_error(exc) from None
            finally:
                s.rollback()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One write transaction: committed if the block succeeds, rolled back otherwise.

        Writers are serialised before they read anything, on both backends: SQLite by
        ``BEGIN IMMEDIATE`` (:mod:`rct.db.engine`), PostgreSQL by the audit trail's
        transaction-level advisory lock taken here first. So a writer always decides on
        what the previous writer committed: eight concurrent amendments of one cell give
        eight consecutive versions, eight identical imports one import (issue #11). A
        database login that may not write (a read-only PostgreSQL role) gets one line
        naming what was refused, not a traceback.
        """
        with Session(self.engine, expire_on_commit=False) as s:
            try:
                with s.begin():
                    if self.engine.dialect.name == "postgresql":
                        audit.serialise_writers(s)
                    yield s
            except DBAPIError as exc:
                if getattr(exc.orig, "sqlstate", None) == _INSUFFICIENT_PRIVILEGE:
                    first = str(exc.orig).strip().splitlines()[0]
                    raise PermissionDenied(
                        f"the database login {self.engine.url.username or ''} may not make "
                        f"this change ({first}); use a login with write access for this "
                        "trial role",
                        code="database-refused",
                    ) from None
                if isinstance(exc, (OperationalError, ProgrammingError)):
                    raise from_driver_error(exc) from None
                raise

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

    def read_public(self, session: Session) -> Actor:
        """The reader of what anyone who can open the trial may see, registered or not.

        Completeness, allocation and audit verification, the protocol and the arms-free
        report are public within the trial: evaluators and boroughs check them without an
        account. A registered user reads as registered; anyone else as ``unregistered``
        (a read writes nothing, so there is nothing to refuse or record).
        """
        u = session.get(User, self.user)
        if u is None or not u.active:
            return Actor(self.user, "unregistered")
        return Actor(u.name, u.role, u.borough)

    def read_as(self, session: Session, permission: str = "read") -> Actor:
        """Check that the acting user may read (no refusal is recorded for reads)."""
        actor = self.actor(session)
        if not allowed(actor.role, permission):
            raise PermissionDenied(
                f"{actor.name} ({actor.role}) may not {permission}", code="role-not-permitted"
            )
        return actor

    def signer(self, session: Session, actor: Actor) -> Signer:
        """Open ``actor``'s private key and check it is the key registered for them.

        ``--as NAME`` only chooses whose key file to open: without it and its passphrase
        nothing can be signed, so nothing can be changed in NAME's name.
        """
        registered = session.scalar(select(User.public_key).where(User.name == actor.name))
        if registered is None:
            signing = session.scalar(select(func.count()).where(User.public_key.is_not(None)))
            if not signing:
                raise ProtocolStateError(
                    "this trial's audit trail is not signed yet (created before signed "
                    "events): an admin runs 'rct audit start-signing' once",
                    code="trial-not-signing",
                )
            raise MissingKey(
                f"{actor.name} has no registered public key: they run 'rct key create' and "
                f"an admin runs 'rct user key {actor.name} --public-key {actor.name}.pub'",
                code="key-not-registered",
            )
        signer = self.keys.signer(actor.name)
        if signer.public.b64 != registered:
            raise MissingKey(
                f"the key in {self.keys.key_path(actor.name)} is not the key registered for "
                f"{actor.name}; use the key file you registered",
                code="key-mismatch",
            )
        return signer

    @contextmanager
    def change(self, permission: str, entity: str) -> Iterator[Recorder]:
        """Open a write transaction for an action that needs ``permission``, signed by the
        acting user's own key.

        A refusal (no such user, no permission, no usable key) is itself recorded in the
        audit trail (in its own transaction, since the refused change never happens), then
        raised.
        """
        refusal: tuple[Actor, str] | None = None
        error: PermissionDenied | ProtocolStateError | None = None
        with self.session() as s:
            try:
                actor: Actor | None = self.actor(s)
            except UnknownUser:
                refusal = (Actor(self.user, "unregistered"), "is not a registered user")
                actor = None
            if actor is not None and not allowed(actor.role, permission):
                roles = ", ".join(sorted(PERMISSIONS.get(permission, ())))
                refusal = (actor, f"has role {actor.role}; {permission} needs {roles}")
            if refusal is None:
                assert actor is not None
                try:
                    signer = self.signer(s, actor)
                except (PermissionDenied, ProtocolStateError) as exc:
                    refusal, error = (actor, f"cannot sign: {exc}"), exc
        if refusal is None:
            with self.transaction() as s:
                current = self.actor(s)
                if current != actor:
                    raise PermissionDenied(
                        f"{self.user}'s registration changed meanwhile; retry",
                        code="registration-changed",
                    )
                recorder = Recorder(s, current, signer)
                yield recorder
            if AUTO_CHECKPOINT.intersection(recorder.actions):
                # lazy: loads cryptography (start-up time)
                from rct.checkpoints import record_checkpoint

                self.last_checkpoint = record_checkpoint(self)
            return
        self._refuse(permission, entity, *refusal, error=error)

    def _refuse(
        self,
        permission: str,
        entity: str,
        actor: Actor,
        why: str,
        error: PermissionDenied | ProtocolStateError | None = None,
    ) -> None:
        note = "the refusal was recorded in the audit trail"
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
        except (DBAPIError, PermissionDenied):
            # the refusal is raised even if this database login may not record it
            note = "this database login cannot record the refusal in the audit trail"
        if actor.role == "unregistered":
            with self.session() as s:
                self.actor(s)  # raises UnknownUser with its guidance
        if error is not None:
            raise type(error)(f"{error}; {note}", code=error.code)
        raise PermissionDenied(f"{actor.name} {why}; {note}", code="role-not-permitted")
