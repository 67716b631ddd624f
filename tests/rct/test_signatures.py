"""Signed actions (issue #12 item 1): nobody acts as someone else, forged rows are caught."""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from rct import audit, keys
from rct.allocation import sealing
from rct.audit_checks import TrailVerdict, verify_trail
from rct.db.models import AuditEvent, User
from rct.errors import MissingKey, WrongKeyPassphrase
from rct.keys import KeyStore
from rct.users import add_user
from rct.workspace import Workspace
from tests.rct.helpers import raw_connection, run_cli
from tests.signing import TEST_PASSPHRASE

WS = Callable[[str], Workspace]


def verdict(url: str, user: str = "ann", checkpoints: tuple[Path, ...] = ()) -> TrailVerdict:
    ws = Workspace(url, user)
    try:
        with ws.session() as s:
            return verify_trail(s, list(checkpoints))
    finally:
        ws.close()


def events(url: str) -> int:
    ws = Workspace(url, "ann")
    try:
        with ws.session() as s:
            return int(s.scalar(select(func.count()).select_from(AuditEvent)) or 0)
    finally:
        ws.close()


def test_a_fresh_trial_is_signed_from_its_genesis(trial_url: str) -> None:
    v = verdict(trial_url)
    assert v.ok, v.to_dict()
    assert v.chain.signing_from == 1 and v.chain.unsigned_before == 0
    ann = KeyStore().public_key("ann")
    assert v.chain.genesis_fingerprint == ann.fingerprint
    ws = Workspace(trial_url, "ann")
    with ws.session() as s:
        assert all(e.signature for e in s.scalars(select(AuditEvent)))
    ws.close()


def test_key_file_is_private_and_needs_its_passphrase(tmp_path: Path) -> None:
    store_ = KeyStore(tmp_path / "k", lambda _u: "right passphrase here")
    pub = store_.create("kim", log2n=10)
    mode = stat.S_IMODE(os.stat(store_.key_path("kim")).st_mode)
    assert mode == 0o600
    raw = store_.key_path("kim").read_text()
    assert pub.b64 in raw and "PRIVATE" not in raw
    assert store_.signer("kim").public == pub
    with pytest.raises(WrongKeyPassphrase, match="wrong passphrase"):
        KeyStore(tmp_path / "k", lambda _u: "wrong").signer("kim")
    with pytest.raises(Exception, match="already exists"):
        store_.create("kim", log2n=10)


def test_as_without_the_private_key_changes_nothing(
    trial_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = events(trial_url)
    mallory_keys = KeyStore(tmp_path / "mallory", lambda _u: "mallory's passphrase")
    ws = Workspace(trial_url, "sam", keys=mallory_keys)
    with pytest.raises(MissingKey) as refused:
        sealing.void(ws, "re-randomise")
    assert refused.value.code == "missing-key"
    ws.close()
    # a key file of mallory's own named sam.key is not sam's registered key
    mallory_keys.create("sam", log2n=10)
    ws = Workspace(trial_url, "sam", keys=mallory_keys)
    with pytest.raises(MissingKey) as refused:
        sealing.void(ws, "re-randomise")
    assert refused.value.code == "key-mismatch"
    ws.close()
    # the same through the CLI, with RCT_USER: one line, exit 5
    r = run_cli(
        capsys,
        "--db",
        trial_url,
        "--key-dir",
        str(tmp_path / "empty"),
        "--as",
        "sam",
        "allocate",
        "void",
        "--reason",
        "try again",
    )
    assert r.code == 5 and r.err.startswith("Error: ") and r.err.count("\n") == 1
    # reads still work without a key
    assert (
        run_cli(
            capsys,
            "--db",
            trial_url,
            "--key-dir",
            str(tmp_path / "empty"),
            "--as",
            "sam",
            "user",
            "list",
        ).code
        == 0
    )
    v = verdict(trial_url)
    assert v.ok
    assert events(trial_url) == before + 3  # three refusals, nothing else
    assert v.chain.unsigned_refusals == 3


def test_wrong_passphrase_is_one_line_exit_5(
    trial_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RCT_KEY_PASSPHRASE", "not the passphrase")
    r = run_cli(
        capsys, "--db", trial_url, "--as", "ann", "user", "add", "zoe", "--role", "evaluator"
    )
    assert r.code == 5 and "wrong passphrase for ann's key" in r.err
    assert r.err.count("\n") == 1


def test_forged_user_rows_are_rejected(trial_url: str, tmp_path: Path) -> None:
    mallory = KeyStore(tmp_path / "m", lambda _u: "x" * 20)
    pub = mallory.create("mallory", log2n=10)
    with raw_connection(trial_url) as conn:
        conn.execute(
            text(
                "INSERT INTO users (name, role, borough, created_at, created_by, active, "
                "public_key) VALUES ('mallory', 'statistician', NULL, '2026-01-01', 'ann', "
                ":t, :k)"
            ),
            {"t": True, "k": pub.b64},
        )
    v = verdict(trial_url)
    assert not v.ok and "mallory is in the users table but no event registered" in v.problems[0]


def test_role_escalation_by_update_is_rejected(trial_url: str) -> None:
    add_user(Workspace(trial_url, "ann"), "eve", "evaluator")
    with raw_connection(trial_url) as conn:
        conn.execute(text("UPDATE users SET role = 'statistician' WHERE name = 'eve'"))
    v = verdict(trial_url)
    assert not v.ok
    assert "eve is stored as statistician but the chain registered evaluator" in v.problems[0]


def test_events_signed_by_a_forged_user_fail_verify(trial_url: str, tmp_path: Path) -> None:
    mallory = KeyStore(tmp_path / "m", lambda _u: "x" * 20)
    pub = mallory.create("mallory", log2n=10)
    with raw_connection(trial_url) as conn:
        conn.execute(
            text(
                "INSERT INTO users (name, role, borough, created_at, created_by, active, "
                "public_key) VALUES ('mallory', 'admin', NULL, '2026-01-01', 'ann', :t, :k)"
            ),
            {"t": True, "k": pub.b64},
        )
    eve = KeyStore().public_key("eve")
    add_user(Workspace(trial_url, "mallory", keys=mallory), "eve", "evaluator", None, eve)
    v = verdict(trial_url)
    assert not v.ok
    assert "signed as mallory, who no signed event registered" in v.chain.problem


def _append_raw(url: str, fields_update: dict[str, object], sign_with: KeyStore | None) -> None:
    """Append an event with a correct hash (as an attacker with SQL access can)."""
    ws = Workspace(url, "ann")
    with ws.transaction() as s:
        signer = sign_with.signer("sam") if sign_with else None
        audit.append(
            s,
            actor=str(fields_update.get("actor", "sam")),
            role=str(fields_update.get("role", "statistician")),
            action=str(fields_update.get("action", "allocation.void")),
            entity="allocation",
            payload={"forged": True},
            signer=signer,
        )
    ws.close()


def test_an_unsigned_event_with_a_correct_hash_fails(trial_url: str) -> None:
    _append_raw(trial_url, {}, None)
    v = verdict(trial_url)
    assert not v.ok and "UNSIGNED" in v.chain.problem


def test_an_event_signed_by_another_key_fails(trial_url: str, tmp_path: Path) -> None:
    other = KeyStore(tmp_path / "o", lambda _u: "y" * 20)
    other.create("sam", log2n=10)
    _append_raw(trial_url, {}, other)
    v = verdict(trial_url)
    assert not v.ok and "does not verify against sam's registered key" in v.chain.problem


def test_a_signed_event_beyond_the_signers_role_fails(trial_url: str) -> None:
    _append_raw(
        trial_url, {"actor": "sam", "role": "statistician", "action": "user.add"}, KeyStore()
    )
    v = verdict(trial_url)
    assert not v.ok and "sam (statistician) may not user.add" in v.chain.problem


def test_a_recorded_role_the_chain_never_gave_fails(trial_url: str) -> None:
    _append_raw(trial_url, {"actor": "sam", "role": "admin", "action": "user.add"}, KeyStore())
    v = verdict(trial_url)
    assert not v.ok and "records sam as admin" in v.chain.problem


def test_cli_init_prints_the_genesis_fingerprint(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    r = run_cli(capsys, "--db", db_url, "--as", "ann", "init")
    assert r.code == 0, r.err
    assert f"Genesis key fingerprint {KeyStore().public_key('ann').fingerprint}" in r.out
    r = run_cli(capsys, "--db", db_url, "--as", "ann", "audit", "verify")
    assert r.code == 0 and "Signatures valid from event 1" in r.out


def test_cli_key_create_and_register(
    trial_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kd = tmp_path / "newkeys"
    r = run_cli(capsys, "--key-dir", str(kd), "--as", "newbie", "key", "create")
    assert r.code == 0 and "Fingerprint" in r.out
    r = run_cli(
        capsys,
        "--db",
        trial_url,
        "--as",
        "ann",
        "user",
        "add",
        "newbie",
        "--role",
        "evaluator",
        "--public-key",
        str(kd / "newbie.pub"),
    )
    assert r.code == 0, r.err
    fp = KeyStore(kd).public_key("newbie").fingerprint
    assert fp in r.out
    with Workspace(trial_url, "ann").session() as s:
        row = s.get(User, "newbie")
        assert row is not None and base64.b64decode(row.public_key or "")
    assert verdict(trial_url).ok


def test_bundle_trail_carries_signatures(trial_url: str) -> None:
    ws = Workspace(trial_url, "ann")
    with ws.session() as s:
        recs = [audit.event_record(e) for e in audit.iter_events(s)]
    ws.close()
    assert audit.verify_events(recs).ok
    recs[-1] = {**recs[-1], "signature": recs[0]["signature"]}
    assert not audit.verify_events(recs).ok
    assert json.dumps(recs)  # plain data


def test_test_keys_are_real(signing_keys: Path) -> None:
    assert (signing_keys / "ann.key").is_file()
    assert keys.KeyStore(signing_keys, lambda _u: TEST_PASSPHRASE).signer("ann")


def test_a_failed_reveal_is_recorded_signed(trial_url: str, tmp_path: Path) -> None:
    from rct.errors import InputError
    from tests.rct.trial_helpers import populated_trial

    populated_trial(trial_url, reveal=False, tmp_dir=tmp_path)
    ws = Workspace(trial_url, "sam")
    with pytest.raises(InputError, match="does not open"):
        sealing.reveal(ws, "not the passphrase at all")
    ws.close()
    v = verdict(trial_url)
    assert v.ok, v.to_dict()


@pytest.mark.postgres
def test_a_read_only_database_login_gets_one_line_refusals(
    trial_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import uuid

    if not trial_url.startswith("postgresql"):
        pytest.skip("database logins are PostgreSQL's")
    login = f"ro_{uuid.uuid4().hex[:8]}"
    db = trial_url.rsplit("/", 1)[1]
    with raw_connection(trial_url) as conn:
        conn.execute(text(f"CREATE ROLE {login} LOGIN"))
        conn.execute(text(f'GRANT CONNECT ON DATABASE "{db}" TO {login}'))
        conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {login}"))
        conn.execute(text(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {login}"))
    try:
        url = trial_url.replace("postgres@", f"{login}@", 1)
        r = run_cli(capsys, "--db", url, "--as", "sam", "audit", "verify")
        assert r.code == 0, r.err
        r = run_cli(capsys, "--db", url, "--as", "ann", "user", "add", "zoe", "--role", "evaluator")
        assert r.code == 5 and r.err.count("\n") == 1, r.err
        assert f"the database login {login} may not make this change" in r.err
    finally:
        with raw_connection(trial_url) as conn:
            conn.execute(text(f"REASSIGN OWNED BY {login} TO postgres"))
            conn.execute(text(f"DROP OWNED BY {login}"))
            conn.execute(text(f"DROP ROLE {login}"))
