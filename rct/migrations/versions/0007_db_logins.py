"""Database logins mapped to trial users, for PostgreSQL's row-level security (issue #12).

Revision ID: 0007_db_logins
Revises: 0006_guard_users_allocations

``rct db login add LOGIN --user NAME`` records which trial user a PostgreSQL login acts as.
The application then acts as that user on such a connection, whatever ``--as`` says, and
the row-level security policies written by ``rct db roles`` key a data manager's writes on
it (docs/database-roles.md). Rows are only added: a login is never re-pointed at another
person behind the audit trail's back. The table exists on SQLite too (unused there), so
both backends share one schema revision.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_db_logins"
down_revision = "0006_guard_users_allocations"
branch_labels = None
depends_on = None

TABLE = "db_logins"

SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER {TABLE}_no_update BEFORE UPDATE ON {TABLE}
       BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only: UPDATE refused'); END""",
    f"""CREATE TRIGGER {TABLE}_no_delete BEFORE DELETE ON {TABLE}
       BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only: DELETE refused'); END""",
]

# rct_refuse_change() is created by 0001_workspace.
POSTGRES_TRIGGERS = [
    f"""CREATE TRIGGER {TABLE}_no_update_delete BEFORE UPDATE OR DELETE ON {TABLE}
       FOR EACH ROW EXECUTE FUNCTION rct_refuse_change()""",
    f"""CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE}
       FOR EACH STATEMENT EXECUTE FUNCTION rct_refuse_change()""",
]


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("login", sa.String(63), nullable=False),
        sa.Column("user_name", sa.String(200), sa.ForeignKey("users.name"), nullable=False),
        sa.Column("granted_at", sa.String(32), nullable=False),
        sa.Column("granted_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("login", name="pk_db_logins"),
    )
    sqlite = op.get_bind().dialect.name == "sqlite"
    for sql in SQLITE_TRIGGERS if sqlite else POSTGRES_TRIGGERS:
        op.execute(sql)


def downgrade() -> None:
    raise NotImplementedError("login mappings are never dropped: restore from a backup instead")
