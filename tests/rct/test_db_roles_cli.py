"""``rct db`` outside PostgreSQL, and the SQL it prints (issue #12)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rct.pg_roles import plan_roles
from rct.pg_roles_sql import default_prefix
from tests.rct.helpers import run_cli


@pytest.mark.parametrize("args", [("db", "roles"), ("db", "roles", "--print-sql")])
def test_db_roles_on_sqlite_says_postgresql_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...]
) -> None:
    r = run_cli(capsys, "--db", f"sqlite:///{tmp_path / 'rct.db'}", *args)
    assert r.code == 2
    assert r.err.strip().splitlines() == [
        "Error: rct db applies to PostgreSQL only: this trial's database is SQLite, whose "
        "access control is the file's permissions [invalid-input]"
    ]


def test_print_sql_names_the_trials_roles_without_connecting(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # nothing listens on port 1: the SQL is printed without a connection
    url = "postgresql://postgres@127.0.0.1:1/Safe-Trial"
    r = run_cli(capsys, "--db", url, "db", "roles", "--print-sql", "--prefix", "st_")
    assert r.code == 0, r.err
    for name in ("st_owner", "st_admin", "st_statistician", "st_data_manager", "st_evaluator"):
        assert f'CREATE ROLE "{name}" NOLOGIN' in r.out
    assert 'GRANT INSERT ON public.audit_events TO "st_admin"' in r.out
    assert "UPDATE ON public.audit_events" not in r.out
    assert "st_evaluator" not in "".join(x for x in r.out.splitlines() if "INSERT" in x)


def test_the_default_prefix_is_the_database_name_made_safe() -> None:
    assert default_prefix("Safe-Trial") == "rct_safe_trial_"
    assert len(plan_roles("postgresql+psycopg://h/" + "x" * 80).names.group("data-manager")) < 64


def test_a_bad_prefix_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql://postgres@127.0.0.1:1/trial"
    r = run_cli(capsys, "--db", url, "db", "roles", "--print-sql", "--prefix", "Bad Prefix")
    assert r.code == 2
    assert r.err.startswith("Error: --prefix 'Bad Prefix':") and r.err.count("\n") == 1
