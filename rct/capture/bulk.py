"""Bulk inserts of many rows in the caller's transaction, by the driver's fastest path.

Validated imports store tens of thousands of indicator values or a million child-level
records. Going through the ORM (an object, or a parameter dictionary, per row) would cost
more than the database's own work, so rows are passed as tuples straight to the driver:
SQLite's ``executemany`` and PostgreSQL's ``COPY ... FROM STDIN``. Both run inside the
session's transaction, so a failure or a killed process leaves nothing behind. The
benchmark's unvalidated baseline uses the same functions, so that it measures only what
validation adds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.orm import Session

__all__ = ["bulk_insert", "CHUNK", "SQLITE_CACHE_KIB", "Progress"]

CHUNK = 50_000
#: SQLite page cache during a bulk insert (KiB), restored afterwards.
SQLITE_CACHE_KIB = 256 * 1024
Progress = Callable[[int, int], None]


def bulk_insert(
    session: Session,
    table: str,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    progress: Progress | None = None,
    total: int | None = None,
    done: int = 0,
) -> None:
    """Insert ``rows`` (tuples in ``columns`` order) into ``table`` in ``session``'s
    transaction; ``progress(done, total)`` is called after each chunk of :data:`CHUNK`."""
    raw = session.connection().connection
    names = ", ".join(columns)
    total = total if total is not None else len(rows)
    if session.get_bind().dialect.name == "postgresql":
        driver: Any = raw.driver_connection
        with driver.cursor() as cur:
            # COPY refuses tables under row-level security (a login of 'rct db roles',
            # docs/database-roles.md): those rows go as INSERTs the policies check.
            cur.execute("SELECT row_security_active(%s)", (table,))
            if cur.fetchone()[0]:
                sql = f"INSERT INTO {table} ({names}) VALUES ({', '.join(['%s'] * len(columns))})"
                for i in range(0, len(rows), CHUNK):
                    cur.executemany(sql, rows[i : i + CHUNK])
                    if progress:
                        progress(done + min(i + CHUNK, len(rows)), total)
                return
            for i in range(0, len(rows), CHUNK):
                with cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for r in rows[i : i + CHUNK]:
                        copy.write_row(r)
                if progress:
                    progress(done + min(i + CHUNK, len(rows)), total)
        return
    cur = raw.cursor()
    # A page cache big enough for the unique indexes: keys that arrive in random order
    # (pseudonyms) would otherwise make SQLite re-read most index pages.
    (cache,) = cur.execute("PRAGMA cache_size").fetchone()
    cur.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
    try:
        sql = f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})"
        for i in range(0, len(rows), CHUNK):
            cur.executemany(sql, rows[i : i + CHUNK])
            if progress:
                progress(done + min(i + CHUNK, len(rows)), total)
    finally:
        cur.execute(f"PRAGMA cache_size = {int(cache)}")
        cur.close()
