"""Which trial user a PostgreSQL login acts as (table ``db_logins``, docs/database-roles.md).

On PostgreSQL the connection's own login is evidence of who is acting: ``rct db login add``
maps a login to one trial user, the row-level security policies of ``rct db roles`` key a
data manager's writes on that mapping, and the application acts as the mapped user on such
a connection whatever ``--as`` says. SQLite has no logins: nothing is mapped there.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from rct.db.errors import from_driver_error

__all__ = ["ConnectionLogin", "connection_login"]


@dataclass(frozen=True)
class ConnectionLogin:
    """The database login of a connection and the trial user it is mapped to (or None)."""

    login: str
    user: str | None


def connection_login(engine: Engine) -> ConnectionLogin | None:
    """The login behind ``engine``'s connections and its trial user; None on SQLite.

    ``session_user`` is the login that authenticated: ``SET ROLE`` changes
    ``current_user`` but not it, so a login cannot borrow another's mapping.
    """
    if engine.dialect.name != "postgresql":
        return None
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT session_user::text, (SELECT l.user_name FROM public.db_logins l "
                    "WHERE l.login = session_user::text)"
                )
            ).one()
    except (OperationalError, ProgrammingError) as exc:
        raise from_driver_error(exc) from None
    return ConnectionLogin(str(row[0]), None if row[1] is None else str(row[1]))
