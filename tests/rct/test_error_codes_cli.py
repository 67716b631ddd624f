"""The CLI reports every error with its stable code, and as JSON after --json (#14)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.rct.helpers import run_cli

Cap = pytest.CaptureFixture[str]


def test_an_error_line_ends_with_its_code(tmp_path: Path, capsys: Cap) -> None:
    run = run_cli(
        capsys, "--db", f"sqlite:///{tmp_path / 'none.db'}", "--as", "sam", "completeness"
    )
    assert run.code == 3
    assert run.err.startswith("Error: ") and run.err.rstrip("\n").endswith(" [not-initialised]")
    assert run.out == ""


def test_an_error_after_json_is_also_json_with_code_and_exit_code(
    tmp_path: Path, capsys: Cap
) -> None:
    db = f"sqlite:///{tmp_path / 'none.db'}"
    run = run_cli(capsys, "--db", db, "--as", "sam", "completeness", "--json")
    assert run.code == 3
    error = json.loads(run.out)["error"]
    assert error["code"] == "not-initialised" and error["exit_code"] == 3
    assert run.err == f"Error: {error['message']} [not-initialised]\n"


def test_a_usage_error_carries_the_usage_code(capsys: Cap) -> None:
    run = run_cli(capsys, "completeness", "--no-such-option")
    assert run.code == 2
    assert run.err.rstrip("\n").splitlines()[-1].endswith(" [usage]"), run.err


def test_json_is_only_printed_for_the_command_that_asked(tmp_path: Path, capsys: Cap) -> None:
    db = f"sqlite:///{tmp_path / 'none.db'}"
    run_cli(capsys, "--db", db, "--as", "sam", "completeness", "--json")
    run = run_cli(capsys, "--db", db, "--as", "sam", "completeness")
    assert run.code == 3 and run.out == ""
