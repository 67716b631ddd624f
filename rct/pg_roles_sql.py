"""The SQL of ``rct db roles``: PostgreSQL roles per trial role, with least privilege.

What it builds, for one trial database and a role-name prefix ``P`` (roles are global to a
PostgreSQL cluster, so every name carries the trial's prefix):

* ``P_owner``: owns every table and function of the trial and logs in as nobody. Owning a
  table is what allows disabling its triggers, dropping it or bypassing its row-level
  security; nobody holds that.
* ``P_admin``, ``P_statistician``, ``P_data_manager``, ``P_evaluator``: group roles without
  login, one per trial role. ``rct db login add`` makes a person's login a member of one.
  Each may SELECT every table; the evaluator nothing more. The others may INSERT (and
  UPDATE where the application updates: a lock, a reveal, a query's status, a user's
  registration) only the tables their role writes. Nobody may DELETE or TRUNCATE, and the
  audit table is INSERT-only for everyone.
* Row-level security on the audit trail and the data-capture tables, keyed on the login:
  ``session_user`` -> ``db_logins`` -> the trial user -> their role and borough. A login
  writes audit events, submissions, values and queries only in the name of its own trial
  user, and a data manager's login only for their own borough, with ``psql`` as with
  ``rct``.

Statements are idempotent: running them again (after ``rct init`` upgraded the schema)
brings new tables under the owner and re-creates the policies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["TRIAL_ROLE_GROUPS", "RoleNames", "default_prefix", "roles_sql", "login_sql"]

#: trial role -> the suffix of its PostgreSQL group role
TRIAL_ROLE_GROUPS = {
    "admin": "admin",
    "statistician": "statistician",
    "data-manager": "data_manager",
    "evaluator": "evaluator",
}

#: table -> trial roles whose group may INSERT into it
INSERT: dict[str, tuple[str, ...]] = {
    "audit_events": ("admin", "statistician", "data-manager"),
    "audit_checkpoints": ("admin", "statistician", "data-manager"),
    "users": ("admin",),
    "protocol_versions": ("admin", "statistician"),
    "capture_settings": ("admin", "statistician"),
    "allocations": ("statistician",),
    "analysis_runs": ("statistician",),
    "submissions": ("admin", "statistician", "data-manager"),
    "indicator_values": ("admin", "statistician", "data-manager"),
    "child_records": ("admin", "statistician", "data-manager"),
    "dq_queries": ("admin", "statistician", "data-manager"),
    "dq_query_events": ("admin", "statistician", "data-manager"),
}
#: table -> trial roles whose group may UPDATE it (the triggers limit which columns change)
UPDATE: dict[str, tuple[str, ...]] = {
    "users": ("admin",),
    "protocol_versions": ("statistician",),
    "capture_settings": ("admin", "statistician"),
    "allocations": ("statistician",),
    "dq_queries": ("admin", "statistician", "data-manager"),
}

# The acting trial user, role and borough of this connection's login, as functions the
# policies call (a policy holds the function itself, not its name, so nothing can stand in
# for it later). Tables are schema-qualified so that a temporary table cannot either.
_LOGIN_USER = "FROM public.db_logins l WHERE l.login = session_user::text"
_LOGIN_JOIN = (
    "FROM public.db_logins l JOIN public.users u ON u.name = l.user_name "
    "WHERE l.login = session_user::text AND u.active"
)
FUNCTIONS = {
    "rct_login_user": f"SELECT l.user_name::text {_LOGIN_USER}",
    "rct_login_role": f"SELECT u.role::text {_LOGIN_JOIN}",
    "rct_login_borough": f"SELECT u.borough::text {_LOGIN_JOIN}",
}
ME = "public.rct_login_user()"
MY_ROLE = "public.rct_login_role()"
MY_BOROUGH = "public.rct_login_borough()"
STAFF = f"{MY_ROLE} IN ('admin', 'statistician')"
OWN_BOROUGH = f"({STAFF} OR ({MY_ROLE} = 'data-manager' AND unit_id = {MY_BOROUGH}))"
OWN_SUBMISSION = (
    f"EXISTS (SELECT 1 FROM public.submissions s WHERE s.id = submission_id "
    f"AND s.submitted_by = {ME})"
)

#: table -> (INSERT check, UPDATE check or None): who may write which rows
POLICIES: dict[str, tuple[str, str | None]] = {
    "audit_events": (f"actor = {ME}", None),
    "submissions": (f"submitted_by = {ME} AND role = {MY_ROLE}", None),
    "indicator_values": (f"recorded_by = {ME} AND {OWN_BOROUGH} AND {OWN_SUBMISSION}", None),
    "child_records": (f"{OWN_BOROUGH} AND {OWN_SUBMISSION}", None),
    "dq_queries": (f"raised_by = {ME} AND {OWN_BOROUGH}", OWN_BOROUGH),
    "dq_query_events": (
        f"actor = {ME} AND ({STAFF} OR EXISTS (SELECT 1 FROM public.dq_queries q "
        f"WHERE q.id = query_id AND q.unit_id = {MY_BOROUGH}))",
        None,
    ),
}

_NAME = re.compile(r"[^a-z0-9_]+")


@dataclass(frozen=True)
class RoleNames:
    """The PostgreSQL role names of one trial, all starting with ``prefix``."""

    prefix: str

    @property
    def owner(self) -> str:
        return f"{self.prefix}owner"

    def group(self, trial_role: str) -> str:
        """The group role of a trial role (``admin``, ``data-manager``, ...)."""
        return f"{self.prefix}{TRIAL_ROLE_GROUPS[trial_role]}"

    @property
    def groups(self) -> list[str]:
        return [self.group(r) for r in TRIAL_ROLE_GROUPS]

    @property
    def all(self) -> list[str]:
        return [self.owner, *self.groups]


def default_prefix(database: str) -> str:
    """``rct_<database>_`` in lower case, letters, digits and ``_`` only, short enough that
    every role name fits PostgreSQL's 63 bytes."""
    base = _NAME.sub("_", database.lower()).strip("_") or "trial"
    return f"rct_{base[:40]}_"


def check_prefix(prefix: str) -> str | None:
    """Why ``prefix`` cannot be a role-name prefix, or None when it can."""
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,49}", prefix):
        return "a role prefix is a lower-case letter then up to 49 letters, digits or '_'"
    return None


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _create_role(name: str) -> str:
    return (
        f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {_lit(name)}) "
        f"THEN CREATE ROLE {_q(name)} NOLOGIN; END IF; END $$"
    )


def roles_sql(names: RoleNames, database: str) -> list[str]:
    """Every statement, in order, that sets up the roles of the trial in ``database``."""
    groups = ", ".join(_q(g) for g in names.groups)
    out = [_create_role(n) for n in names.all]
    out += [
        f"CREATE OR REPLACE FUNCTION public.{name}() RETURNS text LANGUAGE sql STABLE AS "
        f"$$ {body} $$"
        for name, body in FUNCTIONS.items()
    ]
    out += [
        f"REVOKE ALL ON DATABASE {_q(database)} FROM PUBLIC",
        f"GRANT CONNECT ON DATABASE {_q(database)} TO {groups}",
        "REVOKE ALL ON SCHEMA public FROM PUBLIC",
        # the owner too: foreign-key checks run as the owner of the referencing table
        f"GRANT USAGE ON SCHEMA public TO {_q(names.owner)}, {groups}",
        # the owner: every table (with its sequences) and function of the trial
        "DO $$ DECLARE t record; BEGIN FOR t IN SELECT tablename FROM pg_tables "
        "WHERE schemaname = 'public' LOOP EXECUTE format('ALTER TABLE public.%I OWNER TO %I', "
        f"t.tablename, {_lit(names.owner)}); END LOOP; END $$",
        "DO $$ DECLARE f record; BEGIN FOR f IN SELECT p.oid::regprocedure AS sig FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' AND NOT EXISTS "
        "(SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e') LOOP "
        f"EXECUTE format('ALTER FUNCTION %s OWNER TO %I', f.sig, {_lit(names.owner)}); "
        "END LOOP; END $$",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC, {groups}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM PUBLIC, {groups}",
        f"REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM PUBLIC, {groups}",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {groups}",
        f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {groups}",
    ]
    writers = [r for r in TRIAL_ROLE_GROUPS if r != "evaluator"]
    out.append(
        "GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO "
        + ", ".join(_q(names.group(r)) for r in writers)
    )
    for privilege, table_roles in (("INSERT", INSERT), ("UPDATE", UPDATE)):
        for table, roles in table_roles.items():
            grantees = ", ".join(_q(names.group(r)) for r in roles)
            out.append(f"GRANT {privilege} ON public.{table} TO {grantees}")
    for table, (insert_check, update_check) in POLICIES.items():
        out += [
            f"ALTER TABLE public.{table} ENABLE ROW LEVEL SECURITY",
            f"DROP POLICY IF EXISTS rct_read ON public.{table}",
            f"CREATE POLICY rct_read ON public.{table} FOR SELECT USING (true)",
            f"DROP POLICY IF EXISTS rct_insert ON public.{table}",
            f"CREATE POLICY rct_insert ON public.{table} FOR INSERT WITH CHECK ({insert_check})",
            f"DROP POLICY IF EXISTS rct_update ON public.{table}",
        ]
        if update_check is not None:
            out.append(
                f"CREATE POLICY rct_update ON public.{table} FOR UPDATE "
                f"USING ({update_check}) WITH CHECK ({update_check})"
            )
    return out


def login_sql(login: str, group: str, *, create: bool) -> list[str]:
    """Statements that let ``login`` log in (when ``create``) as a member of ``group``."""
    out = [f"CREATE ROLE {_q(login)} LOGIN"] if create else []
    out.append(f"GRANT {_q(group)} TO {_q(login)}")
    return out
