"""The CLI for the trial workspace: init, users, protocol, audit; clear one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from protocols import shipped_protocol_path
from tests.rct.helpers import run_cli, triggers_bypassed

Cap = pytest.CaptureFixture[str]


@pytest.fixture
def cli_trial(db_url: str, capsys: Cap) -> str:
    """A trial initialised through the CLI by ann (admin), with statistician sam."""
    assert run_cli(capsys, "--db", db_url, "--as", "ann", "init").code == 0
    assert (
        run_cli(
            capsys, "--db", db_url, "--as", "ann", "user", "add", "sam", "--role", "statistician"
        ).code
        == 0
    )
    return db_url


def test_init_registers_first_admin_and_loads_protocol(db_url: str, capsys: Cap) -> None:
    r = run_cli(capsys, "--db", db_url, "--as", "ann", "init", "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["admin"] == "ann" and data["protocol_status"] == "draft" and data["created"]
    again = json.loads(run_cli(capsys, "--db", db_url, "--as", "ann", "init", "--json").out)
    assert not again["protocol_changed"] and again["admin"] is None


def test_lock_then_show_reports_locked_fingerprint(cli_trial: str, capsys: Cap) -> None:
    assert (
        run_cli(
            capsys, "--db", cli_trial, "--as", "sam", "protocol", "lock", "--accept-illustrative"
        ).code
        == 0
    )
    shown = json.loads(
        run_cli(capsys, "--db", cli_trial, "--as", "sam", "protocol", "show", "--json").out
    )
    fp = run_cli(capsys, "protocol", "fingerprint", str(shipped_protocol_path())).out.strip()
    assert shown["status"] == "locked" and shown["fingerprint"] == fp


def test_locked_protocol_refuses_a_different_file_but_accepts_an_amendment(
    cli_trial: str, capsys: Cap, tmp_path: Path
) -> None:
    run_cli(capsys, "--db", cli_trial, "--as", "sam", "protocol", "lock", "--accept-illustrative")
    changed = tmp_path / "p2.toml"
    changed.write_text(
        shipped_protocol_path()
        .read_text()
        .replace("submission_deadline_days = 45", "submission_deadline_days = 60")
    )
    r = run_cli(capsys, "--db", cli_trial, "--as", "sam", "init", "--protocol", str(changed))
    assert r.code != 0 and "protocol amend" in r.err and r.err.count("\n") == 1
    r = run_cli(
        capsys,
        "--db",
        cli_trial,
        "--as",
        "sam",
        "protocol",
        "amend",
        str(changed),
        "--reason",
        "deadline agreed with boroughs",
    )
    assert r.code == 0, r.err
    hist = json.loads(
        run_cli(capsys, "--db", cli_trial, "--as", "sam", "protocol", "history", "--json").out
    )
    assert [h["version"] for h in hist] == [1, 2]
    assert hist[1]["reason"] == "deadline agreed with boroughs"
    assert hist[0]["fingerprint"] != hist[1]["fingerprint"]


def test_amend_needs_a_reason(cli_trial: str, capsys: Cap) -> None:
    r = run_cli(
        capsys, "--db", cli_trial, "--as", "sam", "protocol", "amend", str(shipped_protocol_path())
    )
    assert r.code == 2 and "--reason" in r.err


def test_wrong_role_is_refused_with_one_line(cli_trial: str, capsys: Cap) -> None:
    r = run_cli(capsys, "--db", cli_trial, "--as", "ann", "protocol", "lock")
    assert r.code == 5
    assert r.err.strip() == (
        "Error: ann has role admin; protocol.lock needs statistician; "
        "the refusal was recorded in the audit trail [role-not-permitted]"
    )


def test_unknown_user_is_told_what_to_do(cli_trial: str, capsys: Cap) -> None:
    r = run_cli(capsys, "--db", cli_trial, "--as", "zoe", "user", "list")
    assert r.code == 5 and "rct user add" in r.err and r.err.count("\n") == 1


def test_missing_database_says_run_init(tmp_path: Path, capsys: Cap) -> None:
    r = run_cli(capsys, "--db", str(tmp_path / "none.db"), "--as", "ann", "protocol", "show")
    assert r.code == 3 and "rct init" in r.err and "Traceback" not in r.err


def test_invalid_protocol_file_lists_every_problem(tmp_path: Path, capsys: Cap) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        shipped_protocol_path()
        .read_text()
        .replace('"E09000007"', '"X1"')
        .replace("maximum = 5000", "maximum = -1", 1)
    )
    r = run_cli(capsys, "protocol", "validate", str(bad), "--json")
    assert r.code == 2
    locations = [p["location"] for p in json.loads(r.out)["problems"]]
    assert locations == ["units[0].gss_code", "indicators[0].maximum"]
    r = run_cli(capsys, "protocol", "validate", str(bad))
    assert r.code == 2 and "units[0].gss_code" in r.err and "Traceback" not in r.err


def test_data_manager_needs_a_known_borough(cli_trial: str, capsys: Cap) -> None:
    r = run_cli(
        capsys,
        "--db",
        cli_trial,
        "--as",
        "ann",
        "user",
        "add",
        "dee",
        "--role",
        "data-manager",
        "--borough",
        "Hackney",
    )
    assert r.code == 2 and "not a unit of this trial" in r.err
    r = run_cli(
        capsys,
        "--db",
        cli_trial,
        "--as",
        "ann",
        "user",
        "add",
        "dee",
        "--role",
        "data-manager",
        "--borough",
        "E09000007",
    )
    assert r.code == 0 and "camden" in r.out


def test_audit_verify_passes_then_names_the_broken_link(cli_trial: str, capsys: Cap) -> None:
    r = run_cli(capsys, "--db", cli_trial, "--as", "sam", "audit", "verify")
    assert r.code == 0 and "intact: 3 events" in r.out
    with triggers_bypassed(cli_trial) as conn:
        from sqlalchemy import text

        conn.execute(text("UPDATE audit_events SET reason = 'edited' WHERE seq = 2"))
    r = run_cli(capsys, "--db", cli_trial, "--as", "sam", "audit", "verify")
    assert r.code == 7 and "BROKEN at event 2" in r.err


def test_audit_export_jsonl_verifies_on_its_own(
    cli_trial: str, capsys: Cap, tmp_path: Path
) -> None:
    from rct.audit import verify_events

    out = tmp_path / "audit.jsonl"
    assert (
        run_cli(capsys, "--db", cli_trial, "--as", "sam", "audit", "export", "-o", str(out)).code
        == 0
    )
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert verify_events(events).ok and len(events) == 3
    csv_out = tmp_path / "audit.csv"
    assert (
        run_cli(
            capsys,
            "--db",
            cli_trial,
            "--as",
            "sam",
            "audit",
            "export",
            "--format",
            "csv",
            "-o",
            str(csv_out),
        ).code
        == 0
    )
    assert csv_out.read_text().splitlines()[0].startswith("seq,occurred_at,actor")


def test_bad_database_url_is_a_clear_error(capsys: Cap) -> None:
    r = run_cli(capsys, "--db", "mysql://x/y", "protocol", "show")
    assert r.code == 2 and "unsupported database URL" in r.err
