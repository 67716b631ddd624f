"""Reading the trial's stored protocol: current version, history, what locking would accept."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from rct import protocols as store
from rct.roles import Permission, allowed
from rct.workspace import Workspace

__all__ = [
    "ProtocolVersionRecord",
    "current_protocol",
    "protocol_history",
    "illustrative_before_lock",
    "analysis_count",
]


@dataclass(frozen=True)
class ProtocolVersionRecord:
    """One stored version of the protocol, as ``rct protocol history`` lists it."""

    version: int
    status: str
    fingerprint: str
    created_at: str
    created_by: str
    locked_at: str | None
    reason: str
    source: str

    @classmethod
    def from_stored(cls, v: store.StoredProtocol) -> ProtocolVersionRecord:
        return cls(
            v.version,
            v.status,
            v.fingerprint,
            v.created_at,
            v.created_by,
            v.locked_at,
            v.reason,
            v.source_name,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def current_protocol(ws: Workspace, *, public: bool = False) -> store.StoredProtocol:
    """The trial's current protocol version; ``public`` lets unregistered readers see it
    (the protocol is public within the trial), otherwise the reader must be registered."""
    with ws.session() as s:
        if public:
            ws.read_public(s)
        else:
            ws.read_as(s)
        return store.current(s)


def protocol_history(ws: Workspace) -> list[ProtocolVersionRecord]:
    """Every stored version of the protocol, oldest first."""
    with ws.session() as s:
        ws.read_as(s)
        return [ProtocolVersionRecord.from_stored(v) for v in store.history(s)]


def illustrative_before_lock(ws: Workspace) -> list[str]:
    """Covariate values marked illustrative in the current protocol, for a user who may
    lock it; empty for anyone else (whom :func:`rct.protocols.lock` refuses and records)."""
    with ws.session() as s:
        if not allowed(ws.read_public(s).role, Permission.PROTOCOL_LOCK):
            return []
        return store.illustrative_values(store.current(s).protocol)


def analysis_count(ws: Workspace) -> int:
    """How many analyses the current protocol's SAP prespecifies (sizes a progress bar;
    the run itself checks the role)."""
    with ws.session() as s:
        return len(store.current(s).protocol.analyses)
