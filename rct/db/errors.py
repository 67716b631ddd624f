"""Errors from the database driver, turned into the README's exit codes with one line each.

A driver error is a stack of details (psycopg adds a "Is the server running...?" line, SQLite
names the missing table); a user needs one line saying what is wrong and what to do, and a
script needs the documented exit code: 3 when the database cannot be reached or has no trial
schema, 5 when the database refuses the login role permission.
"""

from __future__ import annotations

from rct.errors import DatabaseError, NotInitialised, PermissionDenied, RctError

__all__ = ["POSTGRES_HINT", "from_driver_error", "missing_driver"]

POSTGRES_HINT = "pip install 'rct[postgres]'"

#: SQLSTATE codes (PostgreSQL) that mean "this login role may not".
_PRIVILEGE = {"42501"}
#: SQLSTATE codes for a missing table or schema: the trial schema is not there.
_MISSING = {"42P01", "3F000"}


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


def from_driver_error(exc: BaseException) -> RctError:
    """The application error (with its exit code) for a driver error, in one line."""
    orig = getattr(exc, "orig", None) or exc
    code = str(getattr(orig, "sqlstate", "") or getattr(orig, "pgcode", "") or "")
    line = _first_line(exc)
    low = line.lower()
    if code in _PRIVILEGE or "permission denied" in low or "readonly database" in low:
        return PermissionDenied(f"the database refused permission: {line}", code="database-refused")
    missing_relation = "relation" in low and "does not exist" in low
    if code in _MISSING or "no such table" in low or missing_relation:
        return NotInitialised(
            f"the database has no trial schema ({line}); run 'rct init' to create it"
        )
    if any(
        s in low
        for s in ("connection refused", "could not connect", "connection failed", "unable to open")
    ):
        return DatabaseError(
            f"cannot reach the database: {line}; check --db URL or RCT_DATABASE_URL",
            code="database-unreachable",
        )
    return DatabaseError(f"database error: {line}")


def missing_driver(url: str, exc: ImportError) -> RctError | None:
    """One line naming the extra to install when a backend's driver is missing."""
    name = (getattr(exc, "name", None) or str(exc)).lower()
    if url.startswith("postgresql") and "psycopg" in name:
        return DatabaseError(
            f"PostgreSQL support is not installed; run: {POSTGRES_HINT}", code="driver-missing"
        )
    return None
