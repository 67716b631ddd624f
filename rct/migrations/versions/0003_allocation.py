"""Sealed allocation: one live allocation per trial, enforced by a unique slot.

Revision ID: 0003_allocation
Revises: 0002_data_capture
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_allocation"
down_revision = "0002_data_capture"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "allocations",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("live_slot", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("protocol_version", sa.Integer(), nullable=False),
        sa.Column("protocol_fingerprint", sa.String(64), nullable=False),
        sa.Column("units_fingerprint", sa.String(64), nullable=False),
        sa.Column("space_fingerprint", sa.String(64), nullable=False),
        sa.Column("design", sa.Text(), nullable=False),
        sa.Column("algorithm", sa.Text(), nullable=False),
        sa.Column("commitment", sa.String(64), nullable=False),
        sa.Column("envelope", sa.Text(), nullable=False),
        sa.Column("sealed_at", sa.String(32), nullable=False),
        sa.Column("sealed_by", sa.String(200), nullable=False),
        sa.Column("replaces_id", sa.Integer(), nullable=True),
        sa.Column("revealed_at", sa.String(32), nullable=True),
        sa.Column("revealed_by", sa.String(200), nullable=True),
        sa.Column("seed_hex", sa.String(64), nullable=True),
        sa.Column("scheme_index", sa.Integer(), nullable=True),
        sa.Column("arms", sa.Text(), nullable=True),
        sa.Column("voided_at", sa.String(32), nullable=True),
        sa.Column("voided_by", sa.String(200), nullable=True),
        sa.Column("void_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_allocations"),
        sa.UniqueConstraint("live_slot", name="uq_allocations_live_slot"),
        sa.ForeignKeyConstraint(
            ["replaces_id"], ["allocations.id"], name="fk_allocations_replaces_id_allocations"
        ),
        sa.CheckConstraint(
            "status IN ('sealed', 'revealed', 'void')", name="ck_allocations_status"
        ),
        sa.CheckConstraint(
            "live_slot IS NULL OR live_slot = 1", name="ck_allocations_live_slot_one"
        ),
        sa.CheckConstraint(
            "(status = 'void') = (live_slot IS NULL)", name="ck_allocations_void_not_live"
        ),
    )


def downgrade() -> None:
    op.drop_table("allocations")
