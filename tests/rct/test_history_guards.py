"""Users and allocations keep their history; swapped arms are refused; a data manager reads
their own borough's audit events only (issue #12 item 3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from rct.allocation import sealing
from rct.allocation.arms_guard import ArmsNotVerified
from rct.audit_checks import verify_trail
from rct.audit_scope import event_units
from rct.capture.dataset import export_trial
from rct.capture.submit import submit_return
from rct.users import add_user, change_role
from rct.workspace import Workspace
from tests.rct.helpers import raw_connection, run_cli
from tests.rct.trial_helpers import populated_trial, returns_csv


def _bypass(conn: Connection, table: str) -> None:
    if conn.dialect.name == "sqlite":
        conn.execute(text(f"DROP TRIGGER {table}_fixed_fields"))
    else:
        conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM users WHERE name = 'sam'",
        "UPDATE users SET name = 'samuel' WHERE name = 'sam'",
        "UPDATE users SET created_by = 'mallory' WHERE name = 'sam'",
    ],
)
def test_users_rows_keep_their_history(trial_url: str, sql: str) -> None:
    with pytest.raises(DBAPIError, match="users"):
        with raw_connection(trial_url) as conn:
            conn.execute(text(sql))


def test_a_role_change_is_a_signed_event(trial_url: str) -> None:
    add_user(Workspace(trial_url, "ann"), "eve", "evaluator")
    change_role(Workspace(trial_url, "ann"), "eve", "statistician")
    ws = Workspace(trial_url, "eve")
    with ws.session() as s:
        assert ws.actor(s).role == "statistician"
        v = verify_trail(s)
    assert v.ok, v.to_dict()
    with pytest.raises(Exception, match="user.add needs admin"):
        change_role(Workspace(trial_url, "sam"), "eve", "evaluator")


def test_revealed_arms_cannot_be_swapped_and_forged_arms_are_refused(
    trial_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    populated_trial(trial_url, tmp_dir=tmp_path)
    ws = Workspace(trial_url, "sam")
    with ws.session() as s:
        row = sealing.live(s)
        assert row is not None and row.arms
        arms, row_id = json.loads(row.arms), row.id
    swapped = {u: ("control" if a != "control" else "intervention") for u, a in arms.items()}
    assert swapped != arms
    update = text("UPDATE allocations SET arms = :a WHERE id = :i")
    with pytest.raises(DBAPIError, match="cannot change"):
        with raw_connection(trial_url) as conn:
            conn.execute(update, {"a": json.dumps(swapped, sort_keys=True), "i": row_id})
    with pytest.raises(DBAPIError, match="DELETE refused"):
        with raw_connection(trial_url) as conn:
            conn.execute(text("DELETE FROM allocations"))
    # with the guard dropped the row can be edited, but nothing will use its arms
    with raw_connection(trial_url) as conn:
        _bypass(conn, "allocations")
        conn.execute(update, {"a": json.dumps(swapped, sort_keys=True), "i": row_id})
    with pytest.raises(ArmsNotVerified, match="seed gives other arms"):
        export_trial(ws, tmp_path / "export", ["csv"])
    from rct.analyses import run

    with pytest.raises(ArmsNotVerified):
        run(ws)
    ws.close()
    r = run_cli(
        capsys,
        "--db",
        trial_url,
        "--as",
        "sam",
        "data",
        "export",
        "-o",
        str(tmp_path / "e2"),
        "--format",
        "csv",
    )
    assert r.code == 8 and r.err.count("\n") == 1 and "do not verify" in r.err
    # nor are they shown as the allocation: 'allocate show' refuses them too
    r = run_cli(capsys, "--db", trial_url, "--as", "sam", "allocate", "show")
    assert r.code == 8 and r.err.count("\n") == 1 and "do not verify" in r.err


def test_a_data_manager_reads_their_own_boroughs_events_only(
    trial_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    add_user(Workspace(trial_url, "ann"), "dee", "data-manager", "E09000007")
    ws = Workspace(trial_url, "sam")
    submit_return(ws, "all.csv", data=returns_csv(last_period="2026-Q1"))
    ws.close()
    camden = b"\n".join(
        line
        for line in returns_csv(last_period="2026-Q2", seed=2).splitlines()
        if line.startswith(b"borough") or (line.startswith(b"E09000007") and b"2026-Q2" in line)
    )
    submit_return(Workspace(trial_url, "dee"), "camden.csv", data=camden + b"\n")
    r = run_cli(capsys, "--db", trial_url, "--as", "dee", "audit", "log", "--json")
    assert r.code == 0, r.err
    events = json.loads(r.out)
    data = [e for e in events if e["action"].startswith("data.")]
    assert any(e["actor"] == "dee" and e["action"] == "data.import" for e in data)
    assert all(event_units(e["action"], e["entity"], e["payload"]) == {"camden"} for e in data)
    assert all("all.csv" not in json.dumps(e) for e in events)
    r = run_cli(capsys, "--db", trial_url, "--as", "sam", "audit", "log", "--json")
    assert any("all.csv" in json.dumps(e) for e in json.loads(r.out))
