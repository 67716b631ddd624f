"""Tables of the sealed allocation (docs/architecture.md, decision 5).

One row per seal. ``live_slot`` is 1 for the live allocation (sealed or revealed) and NULL
once voided; its UNIQUE constraint is how the database itself guarantees one live
allocation per trial, so two statisticians sealing at the same moment cannot both succeed.
Before reveal a row holds only the commitment and the encrypted envelope: nothing in it
tells the arms apart.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rct.db.base import Base


class AllocationRecord(Base):
    __tablename__ = "allocations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    live_slot: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    protocol_version: Mapped[int] = mapped_column(Integer)
    protocol_fingerprint: Mapped[str] = mapped_column(String(64))
    units_fingerprint: Mapped[str] = mapped_column(String(64))
    space_fingerprint: Mapped[str] = mapped_column(String(64))
    design: Mapped[str] = mapped_column(Text)
    algorithm: Mapped[str] = mapped_column(Text)
    commitment: Mapped[str] = mapped_column(String(64))
    envelope: Mapped[str] = mapped_column(Text)
    sealed_at: Mapped[str] = mapped_column(String(32))
    sealed_by: Mapped[str] = mapped_column(String(200))
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("allocations.id"), nullable=True)
    revealed_at: Mapped[str | None] = mapped_column(String(32), nullable=True)
    revealed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    seed_hex: Mapped[str | None] = mapped_column(String(64), nullable=True)
    scheme_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    arms: Mapped[str | None] = mapped_column(Text, nullable=True)
    voided_at: Mapped[str | None] = mapped_column(String(32), nullable=True)
    voided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    void_reason: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        UniqueConstraint("live_slot", name="uq_allocations_live_slot"),
        CheckConstraint("status IN ('sealed', 'revealed', 'void')", name="status"),
        CheckConstraint("live_slot IS NULL OR live_slot = 1", name="live_slot_one"),
        CheckConstraint("(status = 'void') = (live_slot IS NULL)", name="void_not_live"),
    )
