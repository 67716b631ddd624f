"""Users and allocations keep their history: no row is deleted, identity and sealed
fields never change, revealed and voided fields are written once (issue #12).

Revision ID: 0006_guard_users_allocations
Revises: 0005_signatures

What may still change is what a signed audit event records: a user's role, borough, key
and active flag (``user.role``, ``user.key``), an allocation's reveal and void. ``rct audit
verify`` checks the users table against the chain; analyses and exports recompute the arms
from the sealed commitment (rct/allocation/arms_guard.py).
"""

from alembic import op

revision = "0006_guard_users_allocations"
down_revision = "0005_signatures"
branch_labels = None
depends_on = None

USERS_FIXED = ("name", "created_at", "created_by")
SEALED = (
    "protocol_version",
    "protocol_fingerprint",
    "units_fingerprint",
    "space_fingerprint",
    "design",
    "algorithm",
    "commitment",
    "envelope",
    "sealed_at",
    "sealed_by",
    "replaces_id",
)
WRITE_ONCE = (
    "revealed_at",
    "revealed_by",
    "seed_hex",
    "scheme_index",
    "arms",
    "voided_at",
    "voided_by",
    "void_reason",
)


def _changed(cols: tuple[str, ...], sqlite: bool) -> str:
    op_ = "IS NOT" if sqlite else "IS DISTINCT FROM"
    return " OR ".join(f"NEW.{c} {op_} OLD.{c}" for c in cols)


def _rewritten(cols: tuple[str, ...], sqlite: bool) -> str:
    op_ = "IS NOT" if sqlite else "IS DISTINCT FROM"
    return " OR ".join(f"(OLD.{c} IS NOT NULL AND NEW.{c} {op_} OLD.{c})" for c in cols)


def _sqlite() -> list[str]:
    out = []
    for table, fixed, once in (
        ("users", USERS_FIXED, ()),
        ("allocations", SEALED, WRITE_ONCE),
    ):
        cond = _changed(fixed, True) + (" OR " + _rewritten(once, True) if once else "")
        out += [
            f"""CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
               BEGIN SELECT RAISE(ABORT, '{table} keeps its history: DELETE refused'); END""",
            f"""CREATE TRIGGER {table}_fixed_fields BEFORE UPDATE ON {table} WHEN {cond}
               BEGIN SELECT RAISE(ABORT, '{table}: recorded fields cannot change'); END""",
        ]
    return out


def _postgres() -> list[str]:
    out = []
    for table, fixed, once in (
        ("users", USERS_FIXED, ()),
        ("allocations", SEALED, WRITE_ONCE),
    ):
        cond = _changed(fixed, False) + (" OR " + _rewritten(once, False) if once else "")
        out += [
            f"""CREATE OR REPLACE FUNCTION rct_guard_{table}() RETURNS trigger AS $$
               BEGIN
                 IF TG_OP = 'DELETE' THEN
                   RAISE EXCEPTION '{table} keeps its history: DELETE refused';
                 END IF;
                 IF {cond} THEN
                   RAISE EXCEPTION '{table}: recorded fields cannot change';
                 END IF;
                 RETURN NEW;
               END $$ LANGUAGE plpgsql""",
            f"""CREATE TRIGGER {table}_guard BEFORE UPDATE OR DELETE ON {table}
               FOR EACH ROW EXECUTE FUNCTION rct_guard_{table}()""",
            f"""CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
               FOR EACH STATEMENT EXECUTE FUNCTION rct_refuse_change()""",
        ]
    return out


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for sql in _sqlite() if sqlite else _postgres():
        op.execute(sql)


def downgrade() -> None:
    raise NotImplementedError("history guards are never dropped: restore from a backup instead")
