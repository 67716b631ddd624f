"""Which allocation record is current: the live one (sealed or revealed) and the latest.

Kept apart from :mod:`rct.allocation.sealing` (sealing and revealing) so that
:mod:`rct.protocols`, which refuses amendments that would change a live allocation, can
ask without importing the allocation service that itself builds on protocols.
"""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from allocation.commitment import COMMITMENT_V1
from rct.allocation.records import AllocationStatus
from rct.db.allocation_models import AllocationRecord

__all__ = ["AllocationStatus", "commitment_version", "live", "latest"]


def live(session: Session) -> AllocationRecord | None:
    """The live (sealed or revealed) allocation, if any."""
    return session.scalars(select(AllocationRecord).where(AllocationRecord.live_slot == 1)).first()


def latest(session: Session) -> AllocationRecord | None:
    """The most recent allocation record, live or void."""
    return session.scalars(select(AllocationRecord).order_by(AllocationRecord.id.desc())).first()


def commitment_version(row: AllocationRecord) -> str:
    """The commitment algorithm the allocation was sealed with (its stored label)."""
    return str(json.loads(row.algorithm).get("commitment", COMMITMENT_V1))
