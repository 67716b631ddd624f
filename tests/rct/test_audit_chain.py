"""The audit trail: hash-chained, append-only, serialised, written with its change."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from rct import audit
from rct.audit import event_record, iter_events, verify_events
from rct.db.models import AuditEvent, User
from rct.users import add_user
from rct.workspace import Workspace
from tests.rct.helpers import raw_connection, triggers_bypassed

WS = Callable[[str], Workspace]


def chain(ws: Workspace) -> audit.ChainReport:
    with ws.session() as s:
        return verify_events(event_record(e) for e in iter_events(s))


def add_users(ws: Workspace, n: int) -> None:
    pub = ws.keys.public_key("eve")  # any registered key will do for these tests
    for i in range(n):
        add_user(ws, f"evaluator{i}", "evaluator", None, pub)


def test_a_fresh_trial_has_an_intact_chain(workspace_as: WS) -> None:
    report = chain(workspace_as("ann"))
    assert report.ok and report.events == 4


def test_altered_event_is_named(workspace_as: WS, trial_url: str) -> None:
    ws = workspace_as("ann")
    add_users(ws, 3)
    with triggers_bypassed(trial_url) as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'mallory' WHERE seq = 5"))
    report = chain(ws)
    assert not report.ok and report.broken_at == 5
    assert "altered" in report.problem


def test_deleted_event_is_named(workspace_as: WS, trial_url: str) -> None:
    ws = workspace_as("ann")
    add_users(ws, 3)
    with triggers_bypassed(trial_url) as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq = 6"))
    report = chain(ws)
    assert not report.ok and report.broken_at == 6
    assert "missing or deleted" in report.problem


def test_deleted_last_event_with_renumbering_is_caught_by_links(
    workspace_as: WS, trial_url: str
) -> None:
    ws = workspace_as("ann")
    add_users(ws, 3)
    with triggers_bypassed(trial_url) as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq = 5"))
        conn.execute(text("UPDATE audit_events SET seq = seq - 1 WHERE seq > 5"))
    report = chain(ws)
    assert not report.ok and report.broken_at == 5


def test_inserted_event_is_named(workspace_as: WS, trial_url: str) -> None:
    ws = workspace_as("ann")
    add_users(ws, 2)
    with ws.session() as s:
        e = s.get(AuditEvent, 5)
        assert e is not None
        forged = event_record(e)
    with triggers_bypassed(trial_url) as conn:
        conn.execute(text("UPDATE audit_events SET seq = seq + 100 WHERE seq >= 5"))
        conn.execute(text("UPDATE audit_events SET seq = seq - 99 WHERE seq >= 105"))
        conn.execute(
            text(
                "INSERT INTO audit_events (seq, occurred_at, actor, role, action, entity, reason, "
                "payload, prev_hash, hash) VALUES (5, :t, 'mallory', 'admin', 'user.add', "
                "'user/mallory', '', '{}', :prev, :h)"
            ),
            {"t": forged["occurred_at"], "prev": forged["prev_hash"], "h": "f" * 64},
        )
    report = chain(ws)
    assert not report.ok and report.broken_at == 5


def test_reordered_events_are_named(workspace_as: WS, trial_url: str) -> None:
    ws = workspace_as("ann")
    add_users(ws, 3)
    with triggers_bypassed(trial_url) as conn:
        conn.execute(text("UPDATE audit_events SET seq = 1000 WHERE seq = 5"))
        conn.execute(text("UPDATE audit_events SET seq = 5 WHERE seq = 6"))
        conn.execute(text("UPDATE audit_events SET seq = 6 WHERE seq = 1000"))
    report = chain(ws)
    assert not report.ok and report.broken_at == 5
    assert "does not link" in report.problem


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_events SET actor = 'mallory' WHERE seq = 1",
        "DELETE FROM audit_events WHERE seq = 1",
    ],
)
def test_triggers_refuse_update_and_delete(trial_url: str, sql: str) -> None:
    with pytest.raises(DBAPIError, match="append-only"):
        with raw_connection(trial_url) as conn:
            conn.execute(text(sql))


def test_failed_change_leaves_neither_change_nor_event(
    workspace_as: WS, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = workspace_as("ann")
    before = chain(ws).events
    original = audit.append

    def append_then_fail(*args: object, **kwargs: object) -> AuditEvent:
        original(*args, **kwargs)  # type: ignore[arg-type]
        raise RuntimeError("disk full")

    monkeypatch.setattr(audit, "append", append_then_fail)
    with pytest.raises(RuntimeError):
        add_user(ws, "eve", "evaluator")
    monkeypatch.undo()
    with ws.session() as s:
        assert s.get(User, "eve") is None
    assert chain(ws).events == before


def test_refusal_is_recorded_but_changes_nothing(workspace_as: WS) -> None:
    from rct.errors import PermissionDenied

    ws = workspace_as("sam")
    with pytest.raises(PermissionDenied) as refused:
        add_user(ws, "eve", "evaluator")
    assert refused.value.code == "role-not-permitted"
    with ws.session() as s:
        assert s.get(User, "eve") is None
        last = s.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
        assert last is not None and (last.action, last.actor) == ("refused", "sam")
    assert chain(ws).ok


WRITER = textwrap.dedent("""
    import sys
    from rct.users import add_user
    from rct.workspace import Workspace
    url, prefix, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ws = Workspace(url, "ann")
    pub = ws.keys.public_key("eve")
    for i in range(n):
        add_user(ws, f"{prefix}{i}", "evaluator", None, pub)
""")


@pytest.mark.slow
def test_concurrent_writers_leave_one_intact_chain(workspace_as: WS, trial_url: str) -> None:
    n = 150
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, trial_url, prefix, str(n)],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for prefix in ("a", "b")
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    report = chain(workspace_as("ann"))
    assert report.ok, report.problem
    assert report.events == 4 + 2 * n
