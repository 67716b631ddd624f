"""``protocol lock`` names illustrative covariates and needs --accept-illustrative to lock
them; ``data template`` never overwrites a file without --force."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from protocols import shipped_protocol_path
from tests.rct.helpers import run_cli

Cap = pytest.CaptureFixture[str]


def _trial(url: str, capsys: Cap, protocol: Path | None = None) -> None:
    extra = ["--protocol", str(protocol)] if protocol else []
    assert run_cli(capsys, "--db", url, "--as", "ann", "init", *extra).code == 0
    add = ["user", "add", "sam", "--role", "statistician"]
    assert run_cli(capsys, "--db", url, "--as", "ann", *add).code == 0


def _status(url: str, capsys: Cap) -> str:
    import json

    out = run_cli(capsys, "--db", url, "--as", "sam", "protocol", "show", "--json").out
    return str(json.loads(out)["status"])


def test_lock_names_illustrative_covariates_and_refuses_without_the_flag(
    db_url: str, capsys: Cap
) -> None:
    _trial(db_url, capsys)
    run = run_cli(capsys, "--db", db_url, "--as", "sam", "protocol", "lock")
    assert run.code == 6
    warning, error = run.err.strip().splitlines()
    assert warning.startswith("Warning: 14 covariate values are marked illustrative (camden.")
    assert warning.endswith("[covariates-illustrative]")
    assert error.startswith("Error: not locked:") and "--accept-illustrative" in error
    assert _status(db_url, capsys) == "draft"


def test_lock_with_the_flag_locks_and_records_what_was_accepted(db_url: str, capsys: Cap) -> None:
    import json

    _trial(db_url, capsys)
    run = run_cli(
        capsys, "--db", db_url, "--as", "sam", "protocol", "lock", "--accept-illustrative"
    )
    assert run.code == 0, run.err
    assert "Warning: 14 covariate values are marked illustrative" in run.err
    assert run.out.startswith("Locked protocol version 1")
    log = run_cli(capsys, "--db", db_url, "--as", "sam", "audit", "log", "--json")
    lock = [e for e in json.loads(log.out) if e["action"] == "protocol.lock"]
    accepted = lock[0]["payload"]["accepted_illustrative"]
    assert "camden.child_population" in accepted and len(accepted) == 14


def test_a_protocol_without_illustrative_values_locks_without_a_word(
    tmp_path: Path, capsys: Cap
) -> None:
    url = f"sqlite:///{tmp_path / 'rct.db'}"
    text = shipped_protocol_path().read_text(encoding="utf-8")
    confirmed = re.sub(r"(?m)^illustrative_covariates = .*\n", "", text)
    path = tmp_path / "confirmed.toml"
    path.write_text(confirmed, encoding="utf-8")
    _trial(url, capsys, path)
    run = run_cli(capsys, "--db", url, "--as", "sam", "protocol", "lock")
    assert run.code == 0, run.err
    assert run.err == ""


def test_template_refuses_to_overwrite_without_force(tmp_path: Path, capsys: Cap) -> None:
    url = f"sqlite:///{tmp_path / 'rct.db'}"
    _trial(url, capsys)
    filled = tmp_path / "return.csv"
    filled.write_text("borough,period,indicator,value\nE09000007,2026-Q3,da_re_referrals,7\n")
    args = ["--db", url, "--as", "sam", "data", "template", "--borough", "camden"]
    args += ["--period", "2026-Q3", "-o", str(filled)]
    run = run_cli(capsys, *args)
    assert run.code == 2
    assert "already exists" in run.err and "--force" in run.err
    assert filled.read_text().endswith(",7\n")  # untouched
    run = run_cli(capsys, *args, "--force")
    assert run.code == 0, run.err
    assert "borough_name" in filled.read_text()
