"""Table of stored SAP results (migration ``0004_analysis``).

One row per ``rct analyse run``: the deterministic results JSON as text with its SHA-256,
and the provenance it was computed from (protocol version and fingerprint, data snapshot
hash, allocation and its commitment), who ran it and when, and the sequence number of its
audit event. Rows are only added: triggers refuse UPDATE and DELETE on both backends.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from rct.db.base import Base

__all__ = ["AnalysisRun"]


class AnalysisRun(Base):
    __tablename__ = "analysis_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[str] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(200))
    protocol_version: Mapped[int] = mapped_column(Integer)
    protocol_fingerprint: Mapped[str] = mapped_column(String(64))
    snapshot_hash: Mapped[str] = mapped_column(String(64))
    allocation_id: Mapped[int] = mapped_column(ForeignKey("allocations.id"))
    commitment: Mapped[str] = mapped_column(String(64))
    results_sha256: Mapped[str] = mapped_column(String(64))
    results_json: Mapped[str] = mapped_column(Text)
    post_hoc: Mapped[str] = mapped_column(Text, default="[]")
    audit_seq: Mapped[int] = mapped_column(Integer)
