"""Outcome data capture: submissions, versioned indicator values, data-quality queries,
pseudonymised child-level records and the capture settings (with the pseudonym key).

Revision ID: 0002_data_capture
Revises: 0001_workspace

Submissions, indicator value versions, query events and child-level records are only ever
added (docs/architecture.md, decision 6): triggers refuse UPDATE and DELETE on them on both backends,
as 0001 does for the audit trail. A query's current status and the capture settings are
the only rows that change, and every change to them is audited by the service layer.
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0002_data_capture"
down_revision = "0001_workspace"
branch_labels = None
depends_on = None

APPEND_ONLY = ("submissions", "indicator_values", "dq_query_events", "child_records")


def _sqlite_triggers(table: str) -> list[str]:
    return [
        f"""CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
            BEGIN SELECT RAISE(ABORT, '{table} is append-only: UPDATE refused'); END""",
        f"""CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
            BEGIN SELECT RAISE(ABORT, '{table} is append-only: DELETE refused'); END""",
    ]


def _postgres_triggers(table: str) -> list[str]:
    # rct_refuse_change() was created by 0001_workspace.
    return [
        f"""CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION rct_refuse_change()""",
        f"""CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION rct_refuse_change()""",
    ]


def upgrade() -> None:
    op.create_table(
        "capture_settings",
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("set_at", sa.String(32), nullable=False),
        sa.Column("set_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_capture_settings"),
    )
    op.create_table(
        "submissions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("source_name", sa.String(500), nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False),
        sa.Column("submitted_by", sa.String(200), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("submitted_at", sa.String(32), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("cells_changed", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("audit_seq", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=True),
        sa.CheckConstraint("kind IN ('returns', 'amendment', 'children')",
                           name="ck_submissions_kind"),
        sa.PrimaryKeyConstraint("id", name="pk_submissions"),
    )
    op.create_index("ix_submissions_file_sha256", "submissions", ["file_sha256"])
    op.create_table(
        "indicator_values",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("unit_id", sa.String(100), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("indicator", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("file_row", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.String(32), nullable=False),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.CheckConstraint("version >= 1", name="ck_indicator_values_version"),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"],
                                name="fk_indicator_values_submission_id_submissions"),
        sa.PrimaryKeyConstraint("id", name="pk_indicator_values"),
        sa.UniqueConstraint("unit_id", "period", "indicator", "version",
                            name="uq_indicator_values_unit_id"),
    )
    op.create_table(
        "dq_queries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("unit_id", sa.String(100), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("indicator", sa.String(100), nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("raised_at", sa.String(32), nullable=False),
        sa.Column("raised_by", sa.String(200), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.CheckConstraint("status IN ('open', 'answered', 'closed')",
                           name="ck_dq_queries_status"),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"],
                                name="fk_dq_queries_submission_id_submissions"),
        sa.PrimaryKeyConstraint("id", name="pk_dq_queries"),
    )
    op.create_index("ix_dq_queries_status", "dq_queries", ["status"])
    op.create_index("ix_dq_queries_unit_id", "dq_queries", ["unit_id"])
    op.create_table(
        "dq_query_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("query_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["query_id"], ["dq_queries.id"],
                                name="fk_dq_query_events_query_id_dq_queries"),
        sa.PrimaryKeyConstraint("id", name="pk_dq_query_events"),
    )
    op.create_index("ix_dq_query_events_query_id", "dq_query_events", ["query_id"])
    op.create_table(
        "child_records",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.String(100), nullable=False),
        sa.Column("child_key", sa.String(64), nullable=False),
        sa.Column("referral_date", sa.String(10), nullable=False),
        sa.Column("da_at_intake", sa.Boolean(), nullable=True),
        sa.Column("da_after_assessment", sa.Boolean(), nullable=True),
        sa.Column("cp_plan_date", sa.String(10), nullable=True),
        sa.Column("into_care_date", sa.String(10), nullable=True),
        sa.Column("re_referral_date", sa.String(10), nullable=True),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"],
                                name="fk_child_records_submission_id_submissions"),
        sa.PrimaryKeyConstraint("id", name="pk_child_records"),
        sa.UniqueConstraint("unit_id", "child_key", "referral_date",
                            name="uq_child_records_unit_id"),
    )
    # The trial-specific pseudonym key: 256 bits from the operating system's CSPRNG, made
    # once when the capture tables are created. RCT_PSEUDONYM_KEY overrides it (see
    # docs/guide-data-manager.md); it is never exported, printed or written to the audit.
    op.bulk_insert(
        sa.table("capture_settings", sa.column("key", sa.String), sa.column("value", sa.Text),
                 sa.column("set_at", sa.String), sa.column("set_by", sa.String)),
        [{"key": "pseudonym_key", "value": secrets.token_hex(32),
          "set_at": "migration 0002_data_capture", "set_by": "rct"}],
    )
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in APPEND_ONLY:
        for sql in _sqlite_triggers(table) if sqlite else _postgres_triggers(table):
            op.execute(sql)


def downgrade() -> None:
    raise NotImplementedError("submissions are never dropped: restore from a backup instead")
