"""``rct init``: create or upgrade a trial database, register the first admin, load a protocol."""

from __future__ import annotations

from dataclasses import dataclass

from protocols import Protocol
from rct import protocols as protocol_store
from rct.db.engine import current_revision, head_revision, make_engine, upgrade
from rct.users import bootstrap_admin
from rct.workspace import Workspace

__all__ = ["InitResult", "initialise"]


@dataclass(frozen=True)
class InitResult:
    created: bool
    upgraded_from: str | None
    bootstrapped_admin: str | None
    protocol: protocol_store.StoredProtocol
    protocol_changed: bool


def initialise(url: str, user: str, protocol: Protocol, source: str) -> InitResult:
    """Bring the database to the newest schema and load ``protocol`` as the draft."""
    engine = make_engine(url)
    try:
        before = current_revision(engine)
        if before != head_revision():
            upgrade(engine)
        ws = Workspace(url, user, engine=engine)
        with ws.transaction() as s:
            admin = name if (name := user) and bootstrap_admin(s, name) else None
        stored, changed = protocol_store.load(ws, protocol, source)
        return InitResult(
            before is None,
            before if before not in (None, head_revision()) else None,
            admin,
            stored,
            changed,
        )
    finally:
        engine.dispose()
