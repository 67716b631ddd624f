"""Tables of outcome data capture (migration ``0002_data_capture``).

A submission is one accepted file. Each indicator cell (borough x quarter x indicator) is
stored as numbered versions: version 1 from the first return, a new version for each
amendment, none ever overwritten (triggers refuse UPDATE and DELETE). Data-quality queries
keep their current status on the query row and every step in ``dq_query_events``.
Times are ISO 8601 UTC text, as in :mod:`rct.db.models`.
"""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from rct.db.base import Base

__all__ = [
    "CaptureSetting",
    "Submission",
    "IndicatorValue",
    "DataQuery",
    "DataQueryEvent",
    "ChildRecord",
]


class CaptureSetting(Base):
    """A data-capture setting (``child_records``, ``pseudonym_key``): key, value, who set it."""

    __tablename__ = "capture_settings"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    set_at: Mapped[str] = mapped_column(String(32))
    set_by: Mapped[str] = mapped_column(String(200))


class Submission(Base):
    """One accepted file: its SHA-256, who sent it, when, how many rows, its audit event."""

    __tablename__ = "submissions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    source_name: Mapped[str] = mapped_column(String(500))
    file_sha256: Mapped[str] = mapped_column(String(64), index=True)
    submitted_by: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    submitted_at: Mapped[str] = mapped_column(String(32))
    row_count: Mapped[int] = mapped_column(Integer)
    cells_changed: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text, default="")
    audit_seq: Mapped[int] = mapped_column(Integer)
    key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)

    __table_args__ = (CheckConstraint("kind IN ('returns', 'amendment', 'children')", name="kind"),)


class IndicatorValue(Base):
    """One version of one indicator cell (an ``IndicatorValue`` in the trial's language)."""

    __tablename__ = "indicator_values"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    unit_id: Mapped[str] = mapped_column(String(100))
    period: Mapped[str] = mapped_column(String(7))
    indicator: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    value: Mapped[float] = mapped_column(Float)
    comment: Mapped[str] = mapped_column(Text, default="")
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"))
    file_row: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[str] = mapped_column(String(32))
    recorded_by: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (
        CheckConstraint("version >= 1", name="version"),
        UniqueConstraint("unit_id", "period", "indicator", "version"),
    )


class DataQuery(Base):
    """A data-quality query on one cell: open -> answered -> closed."""

    __tablename__ = "dq_queries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    unit_id: Mapped[str] = mapped_column(String(100))
    period: Mapped[str] = mapped_column(String(7))
    indicator: Mapped[str] = mapped_column(String(100))
    rule: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    raised_at: Mapped[str] = mapped_column(String(32))
    raised_by: Mapped[str] = mapped_column(String(200))
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"), nullable=True)
    updated_at: Mapped[str] = mapped_column(String(32))

    __table_args__ = (
        CheckConstraint("status IN ('open', 'answered', 'closed')", name="status"),
        Index("ix_dq_queries_status", "status"),
        Index("ix_dq_queries_unit_id", "unit_id"),
    )


class DataQueryEvent(Base):
    """One step of a query's life (raised, answered, closed) with who, when and the text."""

    __tablename__ = "dq_query_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    query_id: Mapped[int] = mapped_column(ForeignKey("dq_queries.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    at: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)


class ChildRecord(Base):
    """One pseudonymised child-level referral record (no direct identifiers are stored)."""

    __tablename__ = "child_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"))
    unit_id: Mapped[str] = mapped_column(String(100))
    child_key: Mapped[str] = mapped_column(String(64))
    referral_date: Mapped[str] = mapped_column(String(10))
    da_at_intake: Mapped[bool | None] = mapped_column(nullable=True)
    da_after_assessment: Mapped[bool | None] = mapped_column(nullable=True)
    cp_plan_date: Mapped[str | None] = mapped_column(String(10), nullable=True)
    into_care_date: Mapped[str | None] = mapped_column(String(10), nullable=True)
    re_referral_date: Mapped[str | None] = mapped_column(String(10), nullable=True)

    __table_args__ = (UniqueConstraint("unit_id", "child_key", "referral_date"),)
