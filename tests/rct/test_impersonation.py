"""Impersonation changes nothing (issue #12, done-when list): naming someone with ``--as``
or ``RCT_USER`` without their private key can neither void nor re-seal the allocation,
on SQLite and PostgreSQL; each attempt is one line, exit 5, recorded as a refusal."""

from __future__ import annotations

from pathlib import Path

import pytest

from rct.allocation import sealing
from rct.audit_checks import verify_trail
from rct.keys import KeyStore
from rct.workspace import Workspace
from tests.rct.helpers import run_cli
from tests.rct.trial_helpers import PASSPHRASE, populated_trial


def allocation_state(url: str) -> tuple[int, str, str, int]:
    ws = Workspace(url, "ann")
    try:
        with ws.session() as s:
            row = sealing.latest(s)
            assert row is not None
            v = verify_trail(s)
            assert v.ok, v.to_dict()
            return row.id, row.status, row.commitment, v.chain.unsigned_refusals
    finally:
        ws.close()


@pytest.mark.parametrize("how", ["RCT_USER", "--as"])
def test_re_randomising_in_someone_elses_name_changes_nothing(
    trial_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    populated_trial(trial_url, reveal=False, tmp_dir=tmp_path)
    before = allocation_state(trial_url)
    # the attacker's own key directory, with a key of their own filed under sam's name
    mallory = KeyStore(tmp_path / "mallory", lambda _u: "mallory's own passphrase")
    mallory.create("sam", log2n=10)
    monkeypatch.setenv("RCT_KEY_DIR", str(tmp_path / "mallory"))
    monkeypatch.setenv("RCT_KEY_PASSPHRASE", "mallory's own passphrase")
    monkeypatch.setenv("RCT_PASSPHRASE", PASSPHRASE)
    who = ["--as", "sam"] if how == "--as" else []
    if how == "RCT_USER":
        monkeypatch.setenv("RCT_USER", "sam")
    r = run_cli(capsys, "--db", trial_url, *who, "allocate", "void", "--reason", "unlucky draw")
    assert r.code == 5 and r.err.count("\n") == 1, r.err
    assert r.err.startswith("Error: ") and "not the key registered for sam" in r.err
    envelope = str(tmp_path / "env2.json")
    r = run_cli(capsys, "--db", trial_url, *who, "allocate", "seal", "--envelope", envelope)
    assert r.code == 5 and r.err.count("\n") == 1, r.err
    assert not Path(envelope).exists()
    after = allocation_state(trial_url)
    assert after[:3] == before[:3]  # same allocation, still sealed, same commitment
    assert after[3] == before[3] + 2  # the two attempts, recorded as refusals
