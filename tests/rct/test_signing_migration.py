"""A trial created before signed events keeps verifying (issue #12 item 8)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from protocols.canonical import canonical_json
from rct import audit
from rct.audit_checks import TrailVerdict, verify_trail
from rct.capture.settings import set_child_records
from rct.db.engine import _alembic_config, make_engine, upgrade
from rct.errors import ProtocolStateError
from rct.keys import KeyStore
from rct.users import register_key, start_signing
from rct.workspace import Workspace
from tests.rct.helpers import run_cli

LEGACY: list[tuple[str, str, str, dict[str, str | None]]] = [
    ("ann", "admin", "user.bootstrap", {"name": "ann", "role": "admin"}),
    ("ann", "admin", "user.add", {"name": "sam", "role": "statistician", "borough": None}),
]


def legacy_trial(url: str) -> None:
    """A database at the last unsigned revision, with events as that version wrote them."""
    from alembic import command

    engine = make_engine(url)
    command.upgrade(_alembic_config(engine), "0004_analysis")
    prev = audit.GENESIS
    with engine.begin() as conn:
        for name, role in (("ann", "admin"), ("sam", "statistician")):
            conn.execute(
                text(
                    "INSERT INTO users (name, role, borough, created_at, created_by, active) "
                    "VALUES (:n, :r, NULL, '2026-01-01T00:00:00.000000Z', 'ann', :t)"
                ),
                {"n": name, "r": role, "t": True},
            )
        for seq, (actor, role, action, payload) in enumerate(LEGACY, 1):
            fields = audit._hashed_fields(
                seq,
                f"2026-01-01T00:00:0{seq}.000000Z",
                actor,
                role,
                action,
                f"user/{payload['name']}",
                "",
                canonical_json(payload),
            )
            h = audit.event_hash(prev, fields)
            conn.execute(
                text(
                    "INSERT INTO audit_events (seq, occurred_at, actor, role, action, entity, "
                    "reason, payload, prev_hash, hash) VALUES (:seq, :occurred_at, :actor, "
                    ":role, :action, :entity, :reason, :payload, :prev, :hash)"
                ),
                {**fields, "prev": prev, "hash": h},
            )
            prev = h
    upgrade(engine)
    engine.dispose()


def verdict(url: str) -> TrailVerdict:
    ws = Workspace(url, "ann")
    try:
        with ws.session() as s:
            return verify_trail(s)
    finally:
        ws.close()


def test_unsigned_events_before_signing_start_are_not_tampering(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    legacy_trial(db_url)
    v = verdict(db_url)
    assert v.ok, v.to_dict()
    assert v.chain.signing_from is None and v.chain.unsigned_before == 2
    # nobody can change anything until an admin starts signing
    with pytest.raises(ProtocolStateError) as refused:
        set_child_records(Workspace(db_url, "sam"), True, "try")
    assert refused.value.code == "trial-not-signing"
    fp = start_signing(Workspace(db_url, "ann"))
    assert fp == KeyStore().public_key("ann").fingerprint
    register_key(Workspace(db_url, "ann"), "sam", KeyStore().public_key("sam"))
    set_child_records(Workspace(db_url, "sam"), True, "now signed")
    v = verdict(db_url)
    assert v.ok, v.to_dict()
    assert v.chain.signing_from == 4 and v.chain.unsigned_before == 3  # 2 + the refusal
    assert v.chain.genesis_fingerprint == fp
    r = run_cli(capsys, "--db", db_url, "--as", "sam", "audit", "verify")
    assert r.code == 0
    assert "3 unsigned events before signing began" in r.out
    assert "Signatures valid from event 4" in r.out
    # an unsigned change after the signing-start event is tampering
    with Workspace(db_url, "ann").transaction() as s:
        audit.append(
            s,
            actor="sam",
            role="statistician",
            action="data.settings",
            entity="setting/child_records",
            payload={"child_records": "disabled"},
        )
    v = verdict(db_url)
    assert not v.ok and "UNSIGNED" in v.chain.problem


def test_start_signing_is_for_admins_and_once(db_url: str) -> None:
    from rct.errors import PermissionDenied

    legacy_trial(db_url)
    with pytest.raises(PermissionDenied) as refused:
        start_signing(Workspace(db_url, "sam"))
    assert refused.value.code == "role-not-permitted"
    start_signing(Workspace(db_url, "ann"))
    with pytest.raises(ProtocolStateError) as again:
        start_signing(Workspace(db_url, "ann"))
    assert again.value.code == "already-signing"
