"""``rct data`` end to end through the real entry point: template, check, import, amend,
history, queries, export, settings; every refusal is one clear line and a non-zero exit."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.rct.capture_helpers import return_csv
from tests.rct.helpers import Run, run_cli

Cap = pytest.CaptureFixture[str]
CLI = Callable[..., Run]


@pytest.fixture
def cli(trial_url: str, capsys: Cap) -> CLI:
    def run(user: str, *args: str) -> Run:
        return run_cli(capsys, "--db", trial_url, "--as", user, *args)

    assert (
        run("ann", "user", "add", "dee", "--role", "data-manager", "--borough", "Camden").code == 0
    )
    return run


def test_template_filled_in_imports(cli: CLI, tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    r = cli("dee", "data", "template", "--period", "2025-Q3", "-o", str(path))
    assert r.code == 0, r.err
    lines = path.read_text().splitlines()
    assert lines[0] == "borough,borough_name,period,indicator,indicator_label,value,comment"
    assert all(line.startswith("E09000007,Camden,2025-Q3,") for line in lines[1:])
    blank = cli("dee", "data", "check", str(path))
    assert blank.code == 2 and blank.err.count("value is empty") == 5
    filled = [",".join(p[:5] + ["3", ""]) for p in (line.split(",") for line in lines[1:])]
    path.write_text("\n".join([lines[0], *filled]) + "\n")
    assert cli("dee", "data", "check", str(path)).code == 0
    r = cli("dee", "data", "import", str(path), "--json")
    assert r.code == 0 and json.loads(r.out)["new_cells"] == 5
    again = cli("dee", "data", "import", str(path))
    assert again.code == 0 and "nothing changed" in again.out


def test_excel_template_round_trip(cli: CLI, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    path = tmp_path / "t.xlsx"
    assert (
        cli(
            "sam",
            "data",
            "template",
            "--borough",
            "enfield",
            "--period",
            "2025-Q1",
            "-o",
            str(path),
        ).code
        == 0
    )
    book = load_workbook(path)
    sheet = book.active
    for row in range(2, sheet.max_row + 1):
        sheet.cell(row=row, column=6, value=row)
    book.save(path)
    r = cli("sam", "data", "import", str(path))
    assert r.code == 0 and "5 new cells" in r.out


def test_rejected_file_lists_every_problem_and_stores_nothing(cli: CLI, tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(
        return_csv(
            [
                ("camden", "2025-Q1", "da_re_referrals", "x"),
                ("enfield", "2025-Q1", "da_re_referrals", 3),
            ]
        )
    )
    r = cli("dee", "data", "import", str(path))
    assert r.code == 2 and "row 2, column value (D): not a number" in r.err
    assert "row 3, column borough (A): you may submit only for camden" in r.err
    r = cli("dee", "data", "import", str(path), "--json")
    assert r.code == 2 and len(json.loads(r.out)["problems"]) == 2
    assert json.loads(cli("sam", "data", "history", "--json").out) == []


def test_amend_then_history_shows_both_versions(cli: CLI, tmp_path: Path) -> None:
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_bytes(return_csv([("camden", "2025-Q1", "da_re_referrals", 4)]))
    second.write_bytes(return_csv([("camden", "2025-Q1", "da_re_referrals", 5)]))
    assert cli("dee", "data", "import", str(first)).code == 0
    refused = cli("dee", "data", "import", str(second))
    assert refused.code == 2 and "rct data amend" in refused.err
    assert cli("dee", "data", "amend", str(second), "--reason", "late referral").code == 0
    hist = json.loads(cli("dee", "data", "history", "--borough", "camden", "--json").out)
    assert [(h["version"], h["value"], h["reason"]) for h in hist] == [
        (1, 4.0, ""),
        (2, 5.0, "late referral"),
    ]
    assert cli("dee", "data", "history", "--borough", "enfield").code != 0


def test_queries_workflow_from_the_command_line(cli: CLI, tmp_path: Path) -> None:
    assert (
        cli(
            "sam",
            "data",
            "queries",
            "raise",
            "--borough",
            "camden",
            "--period",
            "2025-Q1",
            "--indicator",
            "da_re_referrals",
            "--text",
            "Is this complete?",
        ).code
        == 0
    )
    [q] = json.loads(cli("dee", "data", "queries", "--status", "open", "--json").out)
    assert cli("dee", "data", "queries", "answer", str(q["id"]), "--text", "yes").code == 0
    refused = cli("dee", "data", "queries", "close", str(q["id"]), "--text", "done")
    assert refused.code == 5 and refused.err.count("\n") == 1
    assert cli("sam", "data", "queries", "close", str(q["id"]), "--text", "ok").code == 0
    assert "closed" in cli("sam", "data", "queries").out


def test_export_and_settings_commands(cli: CLI, tmp_path: Path) -> None:
    r = cli("sam", "data", "export", "-o", str(tmp_path / "x"), "--format", "csv", "--json")
    assert r.code == 0 and len(json.loads(r.out)["snapshot_hash"]) == 64
    assert "off" in cli("sam", "data", "settings").out
    r = cli("sam", "data", "settings", "--child-records", "on", "--reason", "DSA signed")
    assert r.code == 0 and "child-level records: on" in r.out
    no_reason = cli("sam", "data", "settings", "--child-records", "off")
    assert no_reason.code == 2 and no_reason.err.count("\n") == 1


def test_cli_modules_do_not_import_heavy_libraries() -> None:
    code = (
        "import sys, rct.cli.data, rct.cli.completeness; "
        "print([m for m in ('pandas', 'sqlalchemy', 'openpyxl') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
