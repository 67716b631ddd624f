"""Arms that are used must be the arms the sealed commitment gives (issue #12 item 3).

The ``allocations`` row is what analyses, exports, bundles and reports read the arms from.
A row edited behind the application's back (``UPDATE allocations SET arms = ...`` with the
append-only guard dropped) must not feed an analysis: before the arms are handed out they
are recomputed from the revealed seed and compared with the row, and the seed is checked
against the commitment recorded in the signed seal event of the audit trail.
"""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from allocation import CommitmentError, commitment
from rct import protocols as protocol_store
from rct.allocation.design import committed_inputs, space_for_protocol
from rct.allocation.state import commitment_version
from rct.db.allocation_models import AllocationRecord
from rct.db.models import AuditEvent
from rct.errors import RctError

__all__ = ["ArmsNotVerified", "verified_arms"]


class ArmsNotVerified(RctError):
    """The stored arms do not follow from the sealed commitment: refuse to use them."""

    exit_code = 8
    code = "arms-not-verified"


def _sealed_commitment(session: Session, allocation_id: int) -> str | None:
    for payload in session.scalars(
        select(AuditEvent.payload)
        .where(AuditEvent.action == "allocation.seal")
        .order_by(AuditEvent.seq)
    ):
        p = json.loads(payload)
        if p.get("allocation") == allocation_id:
            return str(p.get("commitment"))
    return None


def verified_arms(session: Session, row: AllocationRecord) -> dict[str, str]:
    """The row's arms, once they are shown to follow from its sealed commitment."""

    def refuse(why: str) -> ArmsNotVerified:
        return ArmsNotVerified(
            f"the stored arms of allocation #{row.id} do not verify: {why}; analyses and "
            "exports refuse them (run 'rct allocate verify' and 'rct audit verify')"
        )

    stored = dict(json.loads(row.arms or "{}"))
    try:
        seed = bytes.fromhex(row.seed_hex or "")
    except ValueError as exc:
        raise refuse(f"the revealed seed is malformed ({exc})") from None
    protocol = next(
        (
            sp.protocol
            for sp in protocol_store.history(session)
            if sp.version == row.protocol_version
        ),
        None,
    )
    if protocol is None or protocol.fingerprint() != row.protocol_fingerprint:
        raise refuse(f"protocol version {row.protocol_version} is missing or altered")
    # The commitment is recomputed with the algorithm the allocation was sealed with
    # (rct-commitment-v1 or -v2, docs/randomness.md), from the stored protocol version.
    version = commitment_version(row)
    inputs = committed_inputs(protocol, version)
    if inputs["units_fingerprint"] != row.units_fingerprint:
        raise refuse("the stored units fingerprint is not the protocol's units object")
    try:
        com = commitment(
            seed,
            row.protocol_fingerprint,
            row.units_fingerprint,
            inputs["design_fingerprint"],
            version=version,
        )
    except (ValueError, CommitmentError) as exc:
        raise refuse(f"the revealed seed is malformed ({exc})") from None
    if com != row.commitment or _sealed_commitment(session, row.id) != com:
        raise refuse("the seed does not open the commitment recorded when it was sealed")
    drawn = space_for_protocol(protocol).draw(seed)
    if drawn.arms != stored:
        differing = sorted(u for u in drawn.arms if stored.get(u) != drawn.arms[u])
        raise refuse(f"the seed gives other arms for {', '.join(differing) or 'some units'}")
    return stored
