"""Anchored heads (issue #12 item 2): a published checkpoint exposes truncation and erasure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from rct.audit_checks import TrailVerdict, verify_trail
from rct.capture.settings import set_child_records
from rct.capture.submit import submit_return
from rct.checkpoints import record_checkpoint
from rct.workspace import Workspace
from tests.rct.helpers import raw_connection, run_cli, triggers_bypassed
from tests.rct.trial_helpers import returns_csv


def verify(url: str, *files: Path) -> TrailVerdict:
    ws = Workspace(url, "ann")
    try:
        with ws.session() as s:
            return verify_trail(s, list(files))
    finally:
        ws.close()


def toggle(url: str, n: int) -> None:
    ws = Workspace(url, "sam")
    try:
        for i in range(n):
            set_child_records(ws, i % 2 == 0, f"toggle {i}")
    finally:
        ws.close()


def checkpoint(url: str, user: str, path: Path) -> dict[str, Any]:
    ws = Workspace(url, user)
    try:
        return record_checkpoint(ws, path).document
    finally:
        ws.close()


def last_seq(url: str) -> int:
    ws = Workspace(url, "ann")
    try:
        with ws.session() as s:
            return int(s.execute(text("SELECT max(seq) FROM audit_events")).scalar_one())
    finally:
        ws.close()


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_tail_truncation_is_caught_by_a_checkpoint(trial_url: str, tmp_path: Path, k: int) -> None:
    toggle(trial_url, 6)
    cp = tmp_path / "published.json"
    doc = checkpoint(trial_url, "sam", cp)
    assert doc["seq"] == last_seq(trial_url)
    assert verify(trial_url, cp).ok
    with triggers_bypassed(trial_url) as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq > :s"), {"s": doc["seq"] - k})
    # the shorter chain is still a valid chain: only the checkpoint can tell
    assert verify(trial_url).ok
    v = verify(trial_url, cp)
    assert not v.ok
    assert f"{k} event(s) were removed from its end" in v.problems[0]


def test_an_erased_import_is_caught_by_a_checkpoint(trial_url: str, tmp_path: Path) -> None:
    ws = Workspace(trial_url, "sam")
    first = last_seq(trial_url)
    submit_return(ws, "returns.csv", data=returns_csv(last_period="2026-Q1"))
    ws.close()
    cp = tmp_path / "after-import.json"
    checkpoint(trial_url, "ann", cp)
    with triggers_bypassed(trial_url) as conn:
        # the import's events (its rows have their own append-only guards)
        conn.execute(text("DELETE FROM audit_events WHERE seq > :s"), {"s": first})
    # the chain alone is valid; the submission left behind names an event that is gone
    # (rct.capture.cells_seal), and the checkpoint sees the shorter trail
    alone = verify(trial_url)
    assert alone.chain.ok and not alone.ok
    assert any("not a data import or amendment" in p for p in alone.problems)
    v = verify(trial_url, cp)
    assert not v.ok and any("removed from its end" in p for p in v.problems)


def test_rewritten_history_is_caught_by_a_checkpoint(trial_url: str, tmp_path: Path) -> None:
    toggle(trial_url, 2)
    cp = tmp_path / "cp.json"
    doc = checkpoint(trial_url, "ann", cp)
    # an insider with SQL access deletes the trail after event 4 and re-does the changes
    # with their own key: a valid, signed chain of the same length, but a different head
    with triggers_bypassed(trial_url) as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq > 4"))
    toggle(trial_url, 2)
    assert last_seq(trial_url) == doc["seq"]
    assert verify(trial_url).ok
    v = verify(trial_url, cp)
    assert not v.ok and "not the published" in v.problems[0]


def test_a_forged_or_altered_checkpoint_is_refused(trial_url: str, tmp_path: Path) -> None:
    cp = tmp_path / "cp.json"
    doc = checkpoint(trial_url, "ann", cp)
    doc["seq"] = doc["seq"] - 1
    cp.write_text(json.dumps(doc))
    v = verify(trial_url, cp)
    assert not v.ok and "signature does not verify" in v.problems[0]


def test_seal_writes_a_checkpoint_automatically(
    trial_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rct.allocation import sealing

    monkeypatch.setenv("RCT_CHECKPOINT_DIR", str(tmp_path / "auto"))
    ws = Workspace(trial_url, "sam")
    submit_return(ws, "returns.csv", data=returns_csv(last_period="2026-Q1"))
    sealing.seal(ws, "correct horse battery staple", tmp_path / "env.json")
    cp = ws.last_checkpoint
    ws.close()
    assert cp is not None and cp.path is not None and cp.path.parent == tmp_path / "auto"
    assert cp.document["seq"] == last_seq(trial_url)
    assert verify(trial_url, cp.path).ok


def test_cli_checkpoint_and_verify(
    trial_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cp.json"
    r = run_cli(capsys, "--db", trial_url, "--as", "ann", "audit", "checkpoint", "-o", str(out))
    assert r.code == 0 and r.out.startswith("Checkpoint: event 4, head ")
    r = run_cli(
        capsys, "--db", trial_url, "--as", "eve", "audit", "verify", "--checkpoint", str(out)
    )
    # eve is not registered in this trial, but anyone who can open it may verify it (#9)
    assert r.code == 0 and "1 checkpoint(s) hold" in r.out
    r = run_cli(
        capsys, "--db", trial_url, "--as", "sam", "audit", "verify", "--checkpoint", str(out)
    )
    assert r.code == 0 and "1 checkpoint(s) hold" in r.out
    with triggers_bypassed(trial_url) as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq = 4"))
    r = run_cli(
        capsys, "--db", trial_url, "--as", "sam", "audit", "verify", "--checkpoint", str(out)
    )
    assert r.code == 7 and r.err.count("\n") == 1 and "removed from its end" in r.err


def test_an_import_erased_whole_is_caught_by_a_checkpoint(trial_url: str, tmp_path: Path) -> None:
    """The attack of the issue, done fully: with every trigger off (PostgreSQL's
    ``session_replication_role = replica``, SQLite's triggers dropped) the import's audit
    events, its submission, its values and its queries are all deleted. What is left is a
    consistent database and a valid chain; only the published checkpoint tells."""
    ws = Workspace(trial_url, "sam")
    first = last_seq(trial_url)
    result = submit_return(ws, "returns.csv", data=returns_csv(last_period="2026-Q1"))
    ws.close()
    assert result.stored
    cp = tmp_path / "after-import.json"
    checkpoint(trial_url, "ann", cp)
    with raw_connection(trial_url) as conn:
        if conn.dialect.name == "sqlite":
            for (name,) in conn.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            ).all():
                conn.execute(text(f'DROP TRIGGER "{name}"'))
        else:
            conn.execute(text("SET session_replication_role = replica"))
        sub = result.submission_id
        conn.execute(
            text(
                "DELETE FROM dq_query_events WHERE query_id IN "
                "(SELECT id FROM dq_queries WHERE submission_id = :s)"
            ),
            {"s": sub},
        )
        for table in ("dq_queries", "indicator_values"):
            conn.execute(text(f"DELETE FROM {table} WHERE submission_id = :s"), {"s": sub})
        conn.execute(text("DELETE FROM submissions WHERE id = :s"), {"s": sub})
        conn.execute(text("DELETE FROM audit_events WHERE seq > :s"), {"s": first})
    with raw_connection(trial_url) as conn:
        for table in ("submissions", "indicator_values", "dq_queries"):
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 0
    assert verify(trial_url).ok  # nothing left to contradict the shorter trail
    v = verify(trial_url, cp)
    assert not v.ok and "removed from its end" in v.problems[0]
