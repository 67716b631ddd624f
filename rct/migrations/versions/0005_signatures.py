"""Signed audit events, registered public keys and published checkpoints (issue #12).

Revision ID: 0005_signatures
Revises: 0004_analysis

A trial created before this revision keeps its unsigned events; they verify as "unsigned,
before signing began" up to the ``audit.signing-start`` event an admin writes once with
``rct audit start-signing`` (docs/signatures.md).
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_signatures"
down_revision = "0004_analysis"
branch_labels = None
depends_on = None

TABLE = "audit_checkpoints"

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
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        # SQLite's ALTER TABLE ADD COLUMN does not fire the UPDATE trigger: the audit table
        # keeps its append-only guard throughout.
        op.execute("ALTER TABLE audit_events ADD COLUMN signature VARCHAR(100)")
    else:
        op.add_column("audit_events", sa.Column("signature", sa.String(100), nullable=True))
    op.add_column("users", sa.Column("public_key", sa.String(60), nullable=True))
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("head", sa.String(64), nullable=False),
        sa.Column("signer", sa.String(200), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_checkpoints"),
    )
    for sql in SQLITE_TRIGGERS if sqlite else POSTGRES_TRIGGERS:
        op.execute(sql)


def downgrade() -> None:
    raise NotImplementedError("signatures are never dropped: restore from a backup instead")
