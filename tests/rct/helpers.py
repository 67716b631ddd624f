"""Test helpers: run the CLI in-process, and tamper with the audit table behind the triggers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from sqlalchemy import Connection, create_engine, text


@dataclass
class Run:
    code: int
    out: str
    err: str


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    """Run ``rct ARGS`` through the real entry point (error handling included)."""
    from rct.cli import main

    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)


@contextmanager
def raw_connection(url: str) -> Iterator[Connection]:
    """A plain connection (none of the toolkit's engine settings), committed at the end."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


@contextmanager
def triggers_bypassed(url: str) -> Iterator[Connection]:
    """A connection on which the append-only triggers do not fire (to simulate tampering)."""
    with raw_connection(url) as conn:
        if conn.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER audit_events_no_update"))
            conn.execute(text("DROP TRIGGER audit_events_no_delete"))
        else:
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
        yield conn
        if conn.dialect.name != "sqlite":
            conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER USER"))
