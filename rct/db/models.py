"""Tables of the trial workspace: protocol versions, users and the audit trail.

Times are stored as ISO 8601 text in UTC with microseconds (``2026-11-23T16:05:59.123456Z``)
so they round-trip byte for byte on both backends and can be hashed in the audit chain.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Index, Integer, String, Text, true
from sqlalchemy.orm import Mapped, mapped_column

from rct.db.base import Base

ROLES = ("statistician", "data-manager", "evaluator", "admin")


class ProtocolVersion(Base):
    """One version of the trial protocol. Versions are only ever added.

    ``status`` is ``draft`` until the statistician locks it; an amendment adds a new
    ``locked`` version with its reason. The current protocol is the highest version.
    """

    __tablename__ = "protocol_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    trial_id: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))
    canonical: Mapped[str] = mapped_column(Text)
    source_name: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[str] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(200))
    locked_at: Mapped[str | None] = mapped_column(String(32), nullable=True)
    locked_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (CheckConstraint("status IN ('draft', 'locked')", name="status"),)


class User(Base):
    """A person who acts in the trial, with one role (data managers: one borough)."""

    __tablename__ = "users"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    role: Mapped[str] = mapped_column(String(32))
    borough: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[str] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True, server_default=true())
    #: base64 of the raw Ed25519 public key registered by a signed event (None: registered
    #: before signing began and no key registered since).
    public_key: Mapped[str | None] = mapped_column(String(60), nullable=True)

    __table_args__ = (
        CheckConstraint(
            "role IN ('statistician', 'data-manager', 'evaluator', 'admin')", name="role"
        ),
        CheckConstraint(
            "(role = 'data-manager') = (borough IS NOT NULL)", name="borough_for_data_manager"
        ),
    )


class AuditEvent(Base):
    """One event of the append-only, hash-chained audit trail (docs/architecture.md, decision 2)."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    occurred_at: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(100))
    entity: Mapped[str] = mapped_column(String(300))
    reason: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: base64 Ed25519 signature of the actor over ``audit.signing_message`` (None: unsigned,
    #: i.e. written before signing began, or a refusal).
    signature: Mapped[str | None] = mapped_column(String(100), nullable=True)

    __table_args__ = (Index("ix_audit_events_action", "action"),)


class AuditCheckpoint(Base):
    """A signed checkpoint of the audit trail's head (``rct audit checkpoint``), kept so that
    bundles can carry it; the copy that counts is the one published outside the database."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(Integer)
    head: Mapped[str] = mapped_column(String(64))
    signer: Mapped[str] = mapped_column(String(200))
    document: Mapped[str] = mapped_column(Text)
