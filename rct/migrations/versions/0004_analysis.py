"""Stored SAP results: one append-only row per 'rct analyse run'.

Revision ID: 0004_analysis
Revises: 0003_allocation
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_analysis"
down_revision = "0003_allocation"
branch_labels = None
depends_on = None

TABLE = "analysis_runs"

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
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("protocol_version", sa.Integer(), nullable=False),
        sa.Column("protocol_fingerprint", sa.String(64), nullable=False),
        sa.Column("snapshot_hash", sa.String(64), nullable=False),
        sa.Column("allocation_id", sa.Integer(), nullable=False),
        sa.Column("commitment", sa.String(64), nullable=False),
        sa.Column("results_sha256", sa.String(64), nullable=False),
        sa.Column("results_json", sa.Text(), nullable=False),
        sa.Column("post_hoc", sa.Text(), nullable=False),
        sa.Column("audit_seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=f"pk_{TABLE}"),
        sa.ForeignKeyConstraint(
            ["allocation_id"], ["allocations.id"], name=f"fk_{TABLE}_allocation_id_allocations"
        ),
    )
    sqlite = op.get_bind().dialect.name == "sqlite"
    for sql in SQLITE_TRIGGERS if sqlite else POSTGRES_TRIGGERS:
        op.execute(sql)


def downgrade() -> None:
    raise NotImplementedError("stored results are never dropped: restore from a backup instead")
