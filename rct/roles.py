"""Who may do what: the permission table the service layer checks (docs/architecture.md, decision 9)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ROLES", "PERMISSIONS", "Permission", "Role", "allowed"]

ROLES = ("statistician", "data-manager", "evaluator", "admin")

_ALL = frozenset(ROLES)

#: permission -> roles that hold it. Data managers' borough scope is checked by the
#: service that handles their data, since it depends on the record.
PERMISSIONS: dict[str, frozenset[str]] = {
    "read": _ALL,
    "user.add": frozenset({"admin"}),
    "protocol.load": frozenset({"admin", "statistician"}),
    "protocol.lock": frozenset({"statistician"}),
    "protocol.amend": frozenset({"statistician"}),
    "allocation.seal": frozenset({"statistician"}),
    "allocation.reveal": frozenset({"statistician"}),
    "allocation.void": frozenset({"statistician"}),
    "data.submit": frozenset({"data-manager", "statistician", "admin"}),
    "data.query": frozenset({"data-manager", "statistician", "admin"}),
    "data.query.raise": frozenset({"statistician", "admin"}),
    "data.query.close": frozenset({"statistician", "admin"}),
    "data.settings": frozenset({"statistician", "admin"}),
    "analysis.run": frozenset({"statistician"}),
}


class Role(StrEnum):
    """A trial role (equal to its name as stored and shown, e.g. ``"data-manager"``)."""

    STATISTICIAN = "statistician"
    DATA_MANAGER = "data-manager"
    EVALUATOR = "evaluator"
    ADMIN = "admin"
    #: not a role one can hold: the reader of public information without an account
    UNREGISTERED = "unregistered"


class Permission(StrEnum):
    """A permission of :data:`PERMISSIONS` (equal to its name, e.g. ``"protocol.lock"``)."""

    READ = "read"
    USER_ADD = "user.add"
    PROTOCOL_LOAD = "protocol.load"
    PROTOCOL_LOCK = "protocol.lock"
    PROTOCOL_AMEND = "protocol.amend"
    ALLOCATION_SEAL = "allocation.seal"
    ALLOCATION_REVEAL = "allocation.reveal"
    ALLOCATION_VOID = "allocation.void"
    DATA_SUBMIT = "data.submit"
    DATA_QUERY = "data.query"
    DATA_QUERY_RAISE = "data.query.raise"
    DATA_QUERY_CLOSE = "data.query.close"
    DATA_SETTINGS = "data.settings"
    ANALYSIS_RUN = "analysis.run"


def allowed(role: str, permission: str) -> bool:
    return role in PERMISSIONS.get(permission, frozenset())
