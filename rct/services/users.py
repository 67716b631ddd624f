"""Reading who is registered in the trial, as typed user records."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from rct.db.models import User
from rct.keys import fingerprint
from rct.users import list_users
from rct.workspace import Workspace

__all__ = ["UserRecord", "user_records"]


@dataclass(frozen=True)
class UserRecord:
    """A registered user as ``rct user list`` shows them (no key material, its fingerprint)."""

    name: str
    role: str
    borough: str | None
    active: bool
    created_at: str
    key_fingerprint: str | None

    @classmethod
    def from_user(cls, u: User) -> UserRecord:
        fp = fingerprint(u.public_key) if u.public_key else None
        return cls(u.name, u.role, u.borough, u.active, u.created_at, fp)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def user_records(ws: Workspace) -> list[UserRecord]:
    """Every registered user, by name (any registered user may read the list)."""
    with ws.session() as s:
        ws.read_as(s)
        return [UserRecord.from_user(u) for u in list_users(s)]
