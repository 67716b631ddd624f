"""Who may do what: the permission table the service layer checks (docs/architecture.md, decision 9)."""

from __future__ import annotations

__all__ = ["ROLES", "PERMISSIONS", "allowed"]

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


def allowed(role: str, permission: str) -> bool:
    return role in PERMISSIONS.get(permission, frozenset())
