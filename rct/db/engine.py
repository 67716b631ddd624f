"""Engines for the two supported backends, and schema upgrades through Alembic.

SQLite is opened so that every write transaction starts with ``BEGIN IMMEDIATE``: the
database lock is taken before anything is read, which serialises writers (and so the audit
chain) instead of failing late with "database is locked". PostgreSQL serialises audit
appends with a transaction-level advisory lock (see :mod:`rct.audit`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.exc import OperationalError, ProgrammingError, SQLAlchemyError

from rct.db.errors import from_driver_error, missing_driver
from rct.errors import DatabaseError, NotInitialised
from rct.leftovers import create_private

__all__ = ["make_engine", "upgrade", "current_revision", "head_revision", "ensure_current"]

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def make_engine(url: str, *, must_exist: bool = False) -> Engine:
    """Create an engine for ``url``; with ``must_exist``, refuse a missing SQLite file."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if must_exist and path not in ("", ":memory:") and not Path(path).exists():
            raise NotInitialised(
                f"no trial database at {path}; run 'rct init' here first, or give --db URL"
            )
        if path not in ("", ":memory:") and "?" not in path and not path.startswith("file:"):
            # created owner-only before SQLite opens it: it holds the pseudonymisation key
            try:
                create_private(path)
            except OSError:
                pass  # no such directory, read-only place: SQLite reports it in its words
        engine = create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
            dbapi_connection.isolation_level = None
            cur = dbapi_connection.cursor()
            cur.execute("PRAGMA foreign_keys = ON")
            cur.execute("PRAGMA busy_timeout = 60000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    try:
        return create_engine(url, pool_pre_ping=True)
    except ImportError as exc:
        hint = missing_driver(url, exc)
        if hint is not None:
            raise hint from None
        raise DatabaseError(f"cannot use database {url!r}: {exc}") from None
    except SQLAlchemyError as exc:
        raise DatabaseError(f"cannot use database {url!r}: {exc}") from None


def _alembic_config(engine: Engine) -> Any:
    # lazy: loads sqlalchemy, alembic (start-up time)
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine) -> None:
    """Create the schema or bring it up to the newest migration."""
    # lazy: loads sqlalchemy, alembic (start-up time)
    from alembic import command

    try:
        command.upgrade(_alembic_config(engine), "head")
    except (OperationalError, ProgrammingError) as exc:
        raise from_driver_error(exc) from None


_REVISION = re.compile(
    r"""(?m)^(down_revision|revision)\s*(?::[^=]*)?=\s*(?:"([^"]*)"|'([^']*)'|None)"""
)


def head_revision() -> str:
    """The newest schema revision, read from the migration files without importing Alembic.

    Every command that opens a trial checks the database is at this revision; importing
    Alembic for it would cost a read-only command most of its start-up time. The head is
    the one revision no other migration names as its ``down_revision`` (a test checks it
    is Alembic's own answer).
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted((MIGRATIONS / "versions").glob("*.py")):
        for key, dq, sq in _REVISION.findall(path.read_text(encoding="utf-8")):
            value = dq or sq
            if value:
                (revisions if key == "revision" else parents).add(value)
    heads = sorted(revisions - parents)
    if len(heads) != 1:
        raise DatabaseError(f"the toolkit's migrations have {len(heads)} heads: {heads}")
    return heads[0]


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at, or None when it has no trial schema."""
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            row = conn.exec_driver_sql("SELECT version_num FROM alembic_version").first()
            return None if row is None else str(row[0])
    except (OperationalError, ProgrammingError) as exc:
        raise from_driver_error(exc) from None


def ensure_current(engine: Engine) -> None:
    """Refuse to work on a database without a trial, or one needing ``rct init`` to upgrade."""
    rev = current_revision(engine)
    if rev is None:
        raise NotInitialised("this database has no trial yet; run 'rct init' first")
    if rev != head_revision():
        raise DatabaseError(
            f"the database schema is at revision {rev}, this toolkit needs {head_revision()}; "
            "run 'rct init' to upgrade it",
            code="schema-outdated",
        )
