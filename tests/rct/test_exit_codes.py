"""Every exit code as the README's table says, command by command, with one clear line.

One table of cases: each sets up what the command needs (a file, a trial in a given state, a
broken database), runs ``rct`` through its real entry point and checks the exit code, that
standard error is one ``Error: ... [code]`` line (no traceback) ending with the documented
code of the problem (docs/error-codes.md).
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.rct.helpers import run_cli

README_CODES = {
    0: "success",
    1: "a general error",
    2: "bad input or usage",
    3: "database not reachable or not initialised",
    4: "not found",
    5: "unknown user or permission refused",
    6: "the protocol or allocation is not in the needed state",
    7: "the audit chain is broken",
    8: "a verification or reproduction failed",
    9: "returns are overdue",
}


def _trial(tmp: Path) -> str:
    """A SQLite trial: shipped protocol locked, admin ann, statistician sam."""
    from protocols import load_protocol, shipped_protocol_path
    from rct import protocols as store
    from rct.initialise import initialise
    from rct.users import add_user
    from rct.workspace import Workspace

    url = f"sqlite:///{tmp / 'rct.db'}"
    path = shipped_protocol_path()
    initialise(url, "ann", load_protocol(path), str(path))
    ws = Workspace(url, "ann")
    add_user(ws, "sam", "statistician")
    ws.close()
    ws = Workspace(url, "sam")
    store.lock(ws)
    ws.close()
    return url


def _sealed(tmp: Path) -> str:
    from rct.allocation import sealing
    from rct.workspace import Workspace

    url = _trial(tmp)
    ws = Workspace(url, "sam")
    sealing.seal(ws, "correct horse battery staple", tmp / "envelope.json")
    ws.close()
    return url


def _table_dropped(tmp: Path) -> str:
    from sqlalchemy import create_engine, text

    url = _trial(tmp)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("PRAGMA foreign_keys = OFF"))
        conn.execute(text("DROP TABLE indicator_values"))
    engine.dispose()
    return url


def _fit_csv(tmp: Path) -> str:
    rows = ["y,x,g"] + [f"{i % 5 + i // 7},{i % 2},{i % 6}" for i in range(36)]
    (tmp / "d.csv").write_text("\n".join(rows) + "\n")
    return ""


def _bad_protocol(tmp: Path) -> str:
    (tmp / "bad.toml").write_text("format_version = 1\n[trial]\nid = 1\n")
    return ""


def _nothing(tmp: Path) -> str:
    return ""


def _empty_sqlite(tmp: Path) -> str:
    (tmp / "empty.db").write_bytes(b"")
    return f"sqlite:///{tmp / 'empty.db'}"


@dataclass(frozen=True)
class Case:
    id: str
    setup: Callable[[Path], str]
    args: list[str]
    code: int
    #: the error code that ends the message's first line (docs/error-codes.md)
    error: str
    one_line: bool = True


CASES = [
    Case("shipped protocol is valid", _nothing, ["protocol", "validate", "{shipped}"], 0, ""),
    Case(
        "missing protocol file",
        _nothing,
        ["protocol", "validate", "nope.toml"],
        4,
        "protocol-file-not-found",
    ),
    Case(
        "init with a missing protocol file",
        _nothing,
        ["--db", "sqlite:///{tmp}/x.db", "init", "--protocol", "nope.toml"],
        4,
        "protocol-file-not-found",
    ),
    Case(
        "invalid protocol",
        _bad_protocol,
        ["protocol", "validate", "bad.toml"],
        2,
        "protocol-invalid",
        one_line=False,
    ),
    Case(
        "analyse fit with an unknown column",
        _fit_csv,
        [
            "analyse",
            "fit",
            "d.csv",
            "--formula",
            "y ~ nosuch",
            "--group",
            "g",
            "--family",
            "gaussian",
        ],
        2,
        "invalid-input",
    ),
    Case(
        "analyse fit with a bad formula",
        _fit_csv,
        ["analyse", "fit", "d.csv", "--formula", "y ~ x +", "--group", "g", "--family", "gaussian"],
        2,
        "invalid-input",
    ),
    Case(
        "analyse fit with an unknown group column",
        _fit_csv,
        [
            "analyse",
            "fit",
            "d.csv",
            "--formula",
            "y ~ x",
            "--group",
            "nosuch",
            "--family",
            "gaussian",
        ],
        2,
        "invalid-input",
    ),
    Case(
        "allocate verify before reveal",
        _sealed,
        ["--db", "{url}", "--as", "sam", "allocate", "verify"],
        6,
        "not-revealed",
    ),
    Case(
        "connection refused",
        _nothing,
        ["--db", "postgresql://postgres@127.0.0.1:1/trial", "--as", "sam", "completeness"],
        3,
        "database-unreachable",
    ),
    Case(
        "no database file",
        _nothing,
        ["--db", "sqlite:///{tmp}/none.db", "--as", "sam", "completeness"],
        3,
        "not-initialised",
    ),
    Case(
        "database not initialised",
        _empty_sqlite,
        ["--db", "{url}", "--as", "sam", "completeness"],
        3,
        "not-initialised",
    ),
    Case(
        "a table of the trial schema is missing",
        _table_dropped,
        ["--db", "{url}", "--as", "sam", "completeness"],
        3,
        "not-initialised",
    ),
    Case(
        "unknown user may not change anything",
        _trial,
        ["--db", "{url}", "--as", "nobody", "user", "add", "x", "--role", "evaluator"],
        5,
        "unknown-user",
    ),
    Case(
        "a role that may not",
        _trial,
        ["--db", "{url}", "--as", "sam", "user", "add", "x", "--role", "evaluator"],
        5,
        "role-not-permitted",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_exit_code_is_the_readme_s(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from protocols import shipped_protocol_path

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RCT_DATABASE_URL", raising=False)
    monkeypatch.delenv("RCT_USER", raising=False)
    url = case.setup(tmp_path)
    fill = {"url": url, "tmp": str(tmp_path), "shipped": str(shipped_protocol_path())}
    run = run_cli(capsys, *[a.format(**fill) for a in case.args])
    assert run.code == case.code, (run.code, run.out, run.err)
    assert case.code in README_CODES
    if case.code == 0:
        return
    assert "Traceback" not in run.err
    assert run.err.startswith("Error: "), run.err
    assert run.err.splitlines()[0].endswith(f" [{case.error}]"), run.err
    if case.one_line:
        assert len(run.err.strip().splitlines()) == 1, run.err


def test_missing_psycopg_names_the_extra(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if the extra were not installed
    run = run_cli(capsys, "--db", "postgresql://postgres@127.0.0.1:5432/x", "completeness")
    assert run.code == 3, run.err
    assert run.err.strip() == (
        "Error: PostgreSQL support is not installed; run: pip install 'rct[postgres]' "
        "[driver-missing]"
    )


@pytest.mark.postgres
def test_database_permission_refused_is_exit_5(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A login role the database refuses (no privileges on the trial's tables): exit 5."""
    from sqlalchemy import create_engine, text

    from tests.conftest import _create_pg_database, _drop_pg_database, postgres_admin_url

    url, name = _create_pg_database()
    role = f"rct_noperm_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        from protocols import load_protocol, shipped_protocol_path
        from rct.initialise import initialise

        initialise(url, "ann", load_protocol(shipped_protocol_path()), "shipped")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
            conn.execute(text(f'GRANT SELECT ON alembic_version TO "{role}"'))
        base, db = url.rsplit("@", 1)
        role_url = f"postgresql://{role}@{db}"
        monkeypatch.delenv("RCT_DATABASE_URL", raising=False)
        run = run_cli(capsys, "--db", role_url, "--as", "ann", "completeness")
        assert run.code == 5, run.err
        assert run.err.startswith("Error: the database refused permission"), run.err
        assert len(run.err.strip().splitlines()) == 1
    finally:
        admin.dispose()
        _drop_pg_database(name)
        eng = create_engine(str(postgres_admin_url()), isolation_level="AUTOCOMMIT")
        with eng.connect() as conn:
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        eng.dispose()


def test_every_readme_exit_code_is_documented() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    for code, meaning in README_CODES.items():
        assert f"{code} {meaning}" in " ".join(readme.split()), (code, meaning)
