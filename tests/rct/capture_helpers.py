"""Shared helpers for the data-capture tests: returns as bytes, table snapshots."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import create_engine, text

CAPTURE_TABLES = (
    "submissions",
    "indicator_values",
    "dq_queries",
    "dq_query_events",
    "child_records",
    "audit_events",
)


def return_csv(
    rows: Iterable[Sequence[object]],
    *,
    sep: str = ",",
    header: Sequence[str] = ("borough", "period", "indicator", "value"),
) -> bytes:
    lines = [sep.join(header)]
    lines += [sep.join("" if c is None else str(c) for c in r) for r in rows]
    return ("\n".join(lines) + "\n").encode("utf-8")


def snapshot(url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the capture tables and the audit trail, for before/after comparisons."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                t: sorted(tuple(r) for r in conn.execute(text(f"SELECT * FROM {t}")))
                for t in CAPTURE_TABLES
            }
    finally:
        engine.dispose()


def count(url: str, table: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()
