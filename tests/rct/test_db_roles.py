"""PostgreSQL roles per trial role (``rct db roles``, ``rct db login add``; issue #12).

Against the real server: a data manager's login cannot write another borough's rows even
with plain SQL, an evaluator's login reads and writes nothing, nobody changes or removes an
audit event, and a login lacking a privilege gets one ``Error:`` line with exit 5. Roles
are global to the server, so each test's names carry its own database's prefix and are
dropped at teardown.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from tests.rct.helpers import raw_connection, run_cli

pytestmark = pytest.mark.postgres

CAMDEN = "borough,period,indicator,value\ncamden,2025-Q1,da_referral_at_intake,3\n"
ENFIELD = "borough,period,indicator,value\nenfield,2025-Q1,da_referral_at_intake,4\n"


@dataclass
class RoledTrial:
    """A PostgreSQL trial with its roles made and one login per person."""

    admin_url: str  # the superuser connection the trial was made with
    prefix: str
    logins: dict[str, str]  # trial user -> login

    def url(self, user: str) -> str:
        return self.admin_url.replace("postgres@", f"{self.logins[user]}@", 1)


def _drop_roles(admin_url: str, roles: list[str]) -> None:
    with raw_connection(admin_url) as conn:
        existing = [
            r
            for r in roles
            if conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": r}).first()
        ]
        if existing:
            conn.execute(text("DROP OWNED BY " + ", ".join(f'"{r}"' for r in existing)))
            for r in existing:
                conn.execute(text(f'DROP ROLE "{r}"'))


@pytest.fixture
def pg_trial_url() -> Iterator[str]:
    """A trial on a fresh PostgreSQL database: locked protocol, admin ann, statistician
    sam (as ``trial_url``, PostgreSQL only; fails without it under RCT_REQUIRE_POSTGRES=1)."""
    from protocols import load_protocol, shipped_protocol_path
    from rct import protocols as store
    from rct.initialise import initialise
    from rct.users import add_user
    from rct.workspace import Workspace
    from tests.conftest import _create_pg_database, _drop_pg_database

    url, name = _create_pg_database()
    try:
        path = shipped_protocol_path()
        initialise(url, "ann", load_protocol(path), str(path))
        ws = Workspace(url, "ann")
        add_user(ws, "sam", "statistician")
        ws.close()
        ws = Workspace(url, "sam")
        store.lock(ws)
        ws.close()
        yield url
    finally:
        _drop_pg_database(name)


@pytest.fixture
def roled(pg_trial_url: str) -> Iterator[RoledTrial]:
    """ann (admin), sam (statistician), dee (camden) and gus (enfield) as data managers,
    eve (evaluator); roles made by ann over the superuser connection; a login each."""
    from rct.pg_roles import add_login, create_roles, plan_roles
    from rct.users import add_user
    from rct.workspace import Workspace

    ws = Workspace(pg_trial_url, "ann")
    plan = plan_roles(pg_trial_url)
    tag = uuid.uuid4().hex[:8]
    logins = {u: f"{u}_{tag}" for u in ("ann", "sam", "dee", "gus", "eve")}
    try:
        add_user(ws, "dee", "data-manager", "camden")
        add_user(ws, "gus", "data-manager", "enfield")
        add_user(ws, "eve", "evaluator")
        create_roles(ws, plan)
        for user, login in logins.items():
            add_login(ws, login, user, create=True)
        ws.close()
        yield RoledTrial(pg_trial_url, plan.names.prefix, logins)
    finally:
        ws.close()
        _drop_roles(pg_trial_url, [*plan.names.all, *logins.values()])


def _sql(url: str, statement: str, params: dict[str, object] | None = None) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(statement), params or {})
    finally:
        engine.dispose()


def _refused(url: str, statement: str, params: dict[str, object] | None = None) -> str:
    """The first line of the database's refusal of ``statement`` (fails if it is accepted)."""
    with pytest.raises(DBAPIError) as info:
        _sql(url, statement, params)
    return str(info.value.orig).splitlines()[0]


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), err
    return lines[0]


SUBMISSION = (
    "INSERT INTO submissions (kind, source_name, file_sha256, submitted_by, role, "
    "submitted_at, row_count, cells_changed, reason, audit_seq) VALUES ('returns', 'psql', "
    "'00', :by, 'data-manager', '2026-01-01T00:00:00Z', 1, 1, '', 1) RETURNING id"
)
VALUE = (
    "INSERT INTO indicator_values (unit_id, period, indicator, version, value, comment, "
    "submission_id, file_row, recorded_at, recorded_by, reason) VALUES (:unit, '2025-Q1', "
    "'da_referral_at_intake', 1, 99, '', :sub, 1, '2026-01-01T00:00:00Z', :by, '')"
)


def test_a_data_manager_login_cannot_insert_another_boroughs_value_with_plain_sql(
    roled: RoledTrial,
) -> None:
    engine = create_engine(roled.url("dee"))
    try:
        with engine.connect() as conn:
            sub = conn.execute(text(SUBMISSION), {"by": "dee"}).scalar_one()
            conn.execute(text(VALUE), {"unit": "camden", "sub": sub, "by": "dee"})  # own: ok
            with pytest.raises(DBAPIError, match="row-level security"):
                conn.execute(text(VALUE), {"unit": "enfield", "sub": sub, "by": "dee"})
            conn.rollback()
    finally:
        engine.dispose()
    # nor in another person's name, nor as a submission of someone else's
    assert "row-level security" in _refused(roled.url("dee"), SUBMISSION, {"by": "gus"})
    assert "row-level security" in _refused(
        roled.url("dee"),
        "INSERT INTO audit_events (seq, occurred_at, actor, role, action, entity, reason, "
        "payload, prev_hash, hash) VALUES (999, 'now', 'sam', 'statistician', 'x', 'x', '', "
        "'{}', 'x', 'forged')",
    )


def test_a_data_manager_login_imports_its_own_borough_through_the_cli(
    roled: RoledTrial, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    own, other = tmp_path / "camden.csv", tmp_path / "enfield.csv"
    own.write_text(CAMDEN)
    other.write_text(ENFIELD)
    r = run_cli(capsys, "--db", roled.url("dee"), "data", "import", str(own))
    assert r.code == 0, r.err
    assert "stored as submission" in r.out
    r = run_cli(capsys, "--db", roled.url("dee"), "data", "import", str(other))
    assert r.code != 0 and "you may submit only for camden" in r.out + r.err


def test_as_cannot_override_the_login_of_the_connection(
    roled: RoledTrial, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "enfield.csv"
    path.write_text(ENFIELD)
    r = run_cli(capsys, "--db", roled.url("dee"), "--as", "gus", "data", "import", str(path))
    assert r.code == 5
    line = _one_line(r.err)
    assert f"the database login {roled.logins['dee']} acts as trial user dee only" in line


def test_an_evaluator_login_reads_and_cannot_write(
    roled: RoledTrial, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url = roled.url("eve")
    for args in (("audit", "verify"), ("completeness",), ("db", "login", "list")):
        r = run_cli(capsys, "--db", url, *args)
        assert r.code == 0, (args, r.err)
    assert "permission denied" in _refused(url, SUBMISSION, {"by": "eve"})
    path = tmp_path / "camden.csv"
    path.write_text(CAMDEN)
    r = run_cli(capsys, "--db", url, "data", "import", str(path))
    assert r.code == 5
    line = _one_line(r.err)
    assert "eve has role evaluator" in line
    assert line.endswith(
        "this database login cannot record the refusal in the audit trail [role-not-permitted]"
    )
    r = run_cli(capsys, "--db", url, "audit", "checkpoint")
    assert r.code == 5
    assert "permission denied for table audit_checkpoints" in _one_line(r.err)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET reason = 'rewritten' WHERE seq = 1",
        "DELETE FROM audit_events WHERE seq > 1",
        "TRUNCATE audit_events",
        "ALTER TABLE audit_events DISABLE TRIGGER USER",
        "SET session_replication_role = replica",
        "DROP TABLE audit_events",
    ],
)
def test_no_login_changes_or_removes_audit_events(roled: RoledTrial, statement: str) -> None:
    for user in roled.logins:
        line = _refused(roled.url(user), statement)
        assert "permission denied" in line or "must be owner" in line, (user, line)


def test_the_statistician_and_admin_logins_run_the_trial(
    roled: RoledTrial, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from tests.rct.trial_helpers import populated_trial

    populated_trial(roled.url("sam"), tmp_dir=tmp_path)  # import, seal, reveal
    r = run_cli(capsys, "--db", roled.url("sam"), "analyse", "run", "-o", str(tmp_path / "res"))
    assert r.code == 0, r.err
    r = run_cli(capsys, "--db", roled.url("ann"), "user", "add", "zoe", "--role", "evaluator")
    assert r.code == 0, r.err
    r = run_cli(capsys, "--db", roled.url("ann"), "audit", "verify")
    assert r.code == 0, r.err


def test_roles_can_be_made_again_after_an_upgrade(roled: RoledTrial) -> None:
    from rct.pg_roles import create_roles, plan_roles
    from rct.workspace import Workspace

    ws = Workspace(roled.admin_url, "ann")
    try:
        plan = create_roles(ws, plan_roles(roled.admin_url))
    finally:
        ws.close()
    assert plan.names.prefix == roled.prefix


def test_a_login_without_privileges_gets_one_line_and_exit_5(
    pg_trial_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Logins not set up by 'rct db roles': read-only, and with nothing granted at all."""
    tag = uuid.uuid4().hex[:8]
    ro, none = f"ro_{tag}", f"none_{tag}"
    db = pg_trial_url.rsplit("/", 1)[1]
    with raw_connection(pg_trial_url) as conn:
        for login in (ro, none):
            conn.execute(text(f"CREATE ROLE {login} LOGIN"))
            conn.execute(text(f'GRANT CONNECT ON DATABASE "{db}" TO {login}'))
            conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {login}"))
        conn.execute(text(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {ro}"))
    path = tmp_path / "camden.csv"
    path.write_text(CAMDEN)
    try:
        ro_url = pg_trial_url.replace("postgres@", f"{ro}@", 1)
        none_url = pg_trial_url.replace("postgres@", f"{none}@", 1)
        r = run_cli(capsys, "--db", ro_url, "--as", "sam", "data", "import", str(path))
        assert r.code == 5
        assert "permission denied for table audit_events" in _one_line(r.err)
        # a refusal the login cannot record is still the refusal, not the database's
        r = run_cli(capsys, "--db", ro_url, "--as", "nobody", "data", "import", str(path))
        assert r.code == 5
        assert "user 'nobody' is not registered" in _one_line(r.err)
        for args in (("audit", "verify"), ("data", "import", str(path)), ("completeness",)):
            r = run_cli(capsys, "--db", none_url, "--as", "sam", *args)
            assert r.code == 5, (args, r.err)
            assert "permission denied" in _one_line(r.err)
    finally:
        _drop_roles(pg_trial_url, [ro, none])


def test_login_add_refuses_what_would_escape_the_policies(
    pg_trial_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from rct.errors import InputError, NotFound, ProtocolStateError
    from rct.pg_roles import add_login, create_roles, plan_roles
    from rct.workspace import Workspace

    ws = Workspace(pg_trial_url, "ann")
    plan = plan_roles(pg_trial_url)
    login = f"sam_{uuid.uuid4().hex[:8]}"
    try:
        with pytest.raises(ProtocolStateError) as refused:
            add_login(ws, login, "sam", create=True)
        assert refused.value.code == "database-roles-missing"
        create_roles(ws, plan)
        with pytest.raises(InputError, match="superuser or bypasses row-level security"):
            add_login(ws, "postgres", "sam")
        with pytest.raises(NotFound, match="no active trial user 'nobody'"):
            add_login(ws, login, "nobody", create=True)
        with pytest.raises(NotFound, match="add --create"):
            add_login(ws, login, "sam")
        r = run_cli(
            capsys,
            "--db",
            pg_trial_url,
            "--as",
            "ann",
            "db",
            "login",
            "add",
            login,
            "--user",
            "sam",
            "--create",
        )
        assert r.code == 0, r.err
        assert r.out.startswith(f"Login {login} created and mapped to sam (statistician)")
        r = run_cli(capsys, "--db", pg_trial_url, "db", "login", "list")
        assert login in r.out and "statistician" in r.out
        with pytest.raises(InputError, match="already acts as trial user sam"):
            add_login(ws, login, "sam")
        r = run_cli(capsys, "--db", pg_trial_url, "--as", "ann", "audit", "log", "--json")
        assert '"db.login"' in r.out and '"db.roles"' in r.out
    finally:
        ws.close()
        _drop_roles(pg_trial_url, [*plan.names.all, login])


def test_a_non_superuser_is_told_to_print_the_sql(roled: RoledTrial) -> None:
    from rct.errors import PermissionDenied
    from rct.pg_roles import create_roles, plan_roles
    from rct.workspace import Workspace

    ws = Workspace(roled.url("ann"), "ann")
    try:
        with pytest.raises(PermissionDenied) as refused:
            create_roles(ws, plan_roles(roled.url("ann")))
        assert refused.value.code == "superuser-required"
    finally:
        ws.close()
