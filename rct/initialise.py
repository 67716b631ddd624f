"""``rct init``: create or upgrade a trial database, register the first admin, load a protocol."""

from __future__ import annotations

from dataclasses import dataclass

from protocols import Protocol
from rct import protocols as protocol_store
from rct.db.engine import current_revision, head_revision, make_engine, upgrade
from rct.keys import KeyStore
from rct.users import bootstrap_admin, list_users
from rct.workspace import Workspace

__all__ = ["InitResult", "initialise"]


@dataclass(frozen=True)
class InitResult:
    created: bool
    upgraded_from: str | None
    bootstrapped_admin: str | None
    protocol: protocol_store.StoredProtocol
    protocol_changed: bool
    #: fingerprint of the first admin's key, for the trial master file (new trials only)
    genesis_fingerprint: str | None = None
    #: where the first admin's key was created, if ``initialise`` had to create it
    created_key: str | None = None


def initialise(
    url: str, user: str, protocol: Protocol, source: str, keys: KeyStore | None = None
) -> InitResult:
    """Bring the database to the newest schema and load ``protocol`` as the draft.

    On an empty database ``user`` becomes the first admin, registered with their key from
    ``keys`` (created there first if they have none) in the signed genesis event.
    """
    keys = keys or KeyStore()
    engine = make_engine(url)
    try:
        before = current_revision(engine)
        if before != head_revision():
            upgrade(engine)
        ws = Workspace(url, user, engine=engine, keys=keys)
        created_key = None
        with ws.session() as s:
            empty = not list_users(s)
        genesis = None
        if empty:
            if not keys.has_key(user):
                keys.create(user)
                created_key = str(keys.key_path(user))
            signer = keys.signer(user)
            with ws.transaction() as s:
                admin = user if bootstrap_admin(s, user, signer) else None
            genesis = signer.public.fingerprint if admin else None
        else:
            admin = None
        stored, changed = protocol_store.load(ws, protocol, source)
        return InitResult(
            before is None,
            before if before not in (None, head_revision()) else None,
            admin,
            stored,
            changed,
            genesis,
            created_key,
        )
    finally:
        engine.dispose()
