"""Refusals are clear (issue #12 item 7): permission denied, a missing key, a wrong key
passphrase, an unsigned or badly signed event: one ``Error:`` line each with the documented
exit code; refusals of changes are recorded in the audit trail (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from rct.db.models import AuditEvent
from rct.keys import KeyStore
from rct.workspace import Workspace
from tests.rct.helpers import run_cli
from tests.rct.test_signatures import _append_raw


def refusals(url: str) -> list[dict[str, object]]:
    ws = Workspace(url, "ann")
    try:
        with ws.session() as s:
            rows = s.scalars(select(AuditEvent).where(AuditEvent.action == "refused")).all()
            return [{"actor": e.actor, **json.loads(e.payload)} for e in rows]
    finally:
        ws.close()


def one_error_line(err: str) -> bool:
    return err.startswith("Error: ") and err.count("\n") == 1


@pytest.mark.parametrize(
    ("case", "code", "words"),
    [
        ("permission denied", 5, "has role statistician; user.add needs admin"),
        ("missing key", 5, "no private key for ann"),
        ("wrong key passphrase", 5, "wrong passphrase for ann's key"),
    ],
)
def test_a_refused_change_is_one_line_and_recorded(
    trial_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    code: int,
    words: str,
) -> None:
    user = "sam" if case == "permission denied" else "ann"
    if case == "missing key":
        monkeypatch.setenv("RCT_KEY_DIR", str(tmp_path / "no-keys"))
    if case == "wrong key passphrase":
        monkeypatch.setenv("RCT_KEY_PASSPHRASE", "not the passphrase of ann's key")
    before = len(refusals(trial_url))
    r = run_cli(
        capsys, "--db", trial_url, "--as", user, "user", "add", "zoe", "--role", "evaluator"
    )
    assert r.code == code and one_error_line(r.err), r.err
    assert words in r.err and "the refusal was recorded in the audit trail" in r.err
    recorded = refusals(trial_url)
    assert len(recorded) == before + 1
    assert recorded[-1]["actor"] == user and recorded[-1]["permission"] == "user.add"


@pytest.mark.parametrize("signed_by", ["nobody", "another key"])
def test_an_unsigned_or_badly_signed_event_is_one_line_exit_7(
    trial_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], signed_by: str
) -> None:
    other = None
    if signed_by == "another key":
        other = KeyStore(tmp_path / "o", lambda _u: "y" * 20)
        other.create("sam", log2n=10)
    _append_raw(trial_url, {}, other)
    r = run_cli(capsys, "--db", trial_url, "--as", "eve", "audit", "verify")
    assert r.code == 7 and one_error_line(r.err), r.err
    assert ("UNSIGNED" if other is None else "does not verify against sam's") in r.err
