"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL tests read ``RCT_TEST_POSTGRES_URL`` (e.g.
``postgresql://postgres@127.0.0.1:5432/test``) and create a fresh database per test from
it. Without the variable they are skipped, unless ``RCT_REQUIRE_POSTGRES=1`` (as CI sets),
in which case they fail: CI must never pass with the PostgreSQL half silently skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from rct.config import normalise_url

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def postgres_admin_url() -> str | None:
    url = os.environ.get("RCT_TEST_POSTGRES_URL")
    return normalise_url(url) if url else None


def _create_pg_database() -> tuple[str, str]:
    from sqlalchemy import create_engine, text

    admin = postgres_admin_url()
    if admin is None:
        if os.environ.get("RCT_REQUIRE_POSTGRES") == "1":
            pytest.fail("RCT_REQUIRE_POSTGRES=1 but RCT_TEST_POSTGRES_URL is not set")
        pytest.skip("RCT_TEST_POSTGRES_URL is not set")
    name = f"rct_test_{uuid.uuid4().hex[:12]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return admin.rsplit("/", 1)[0] + "/" + name, name


def _drop_pg_database(name: str) -> None:
    from sqlalchemy import create_engine, text

    admin = postgres_admin_url()
    assert admin is not None
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


from tests.signing import TEST_KEY_LOG2N, make_test_keys  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def signing_keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every test acts with its users' own keys: RCT_KEY_DIR points at keys made once per
    session for TEST_USERS (at a low scrypt cost), RCT_KEY_PASSPHRASE opens them, and
    automatic checkpoints go to a session directory. Session-wide, so module-scoped
    fixtures that build trials see them too."""
    from rct import keys

    directory = tmp_path_factory.mktemp("keys")
    mp = pytest.MonkeyPatch()
    for name, value in make_test_keys(directory).items():
        mp.setenv(name, value)
    mp.setenv("RCT_CHECKPOINT_DIR", str(tmp_path_factory.mktemp("checkpoints")))
    mp.setattr(keys, "KEY_FILE_LOG2N", TEST_KEY_LOG2N)
    yield directory
    mp.undo()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database URL on each backend (SQLite file in tmp_path; fresh PG database)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'rct.db'}"
        return
    url, name = _create_pg_database()
    try:
        yield url
    finally:
        _drop_pg_database(name)


@pytest.fixture
def trial_url(db_url: str) -> str:
    """A database initialised with the shipped protocol (locked), an admin ``ann`` and a
    statistician ``sam``, on each backend."""
    from protocols import load_protocol, shipped_protocol_path
    from rct import protocols as store
    from rct.initialise import initialise
    from rct.users import add_user
    from rct.workspace import Workspace

    path = shipped_protocol_path()
    initialise(db_url, "ann", load_protocol(path), str(path))
    ws = Workspace(db_url, "ann")
    add_user(ws, "sam", "statistician")
    ws.close()
    ws = Workspace(db_url, "sam")
    store.lock(ws)
    ws.close()
    return db_url


@pytest.fixture
def workspace_as(trial_url: str) -> Iterator[object]:
    """A factory: ``workspace_as("sam")`` opens the initialised trial as that user."""
    from rct.workspace import Workspace

    opened: list[Workspace] = []

    def make(user: str) -> Workspace:
        ws = Workspace(trial_url, user)
        opened.append(ws)
        return ws

    yield make
    for ws in opened:
        ws.close()
