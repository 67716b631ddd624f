"""Property: verification passes for an honest certificate and fails for any change to the
seed, the protocol or the unit table (pure: no database)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from allocation import commitment
from protocols import load_protocol, loads_protocol, shipped_protocol_path
from protocols.canonical import canonical_json
from rct.allocation.design import space_for_protocol
from rct.allocation.verify import verify_allocation
from rct.audit import GENESIS, event_hash

PROTOCOL = load_protocol(shipped_protocol_path())
SPACE = space_for_protocol(PROTOCOL)


def honest(seed: bytes) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    com = commitment(seed, PROTOCOL.fingerprint(), PROTOCOL.units_fingerprint())
    drawn = SPACE.draw(seed)
    cert = {
        "allocation": 1,
        "protocol_fingerprint": PROTOCOL.fingerprint(),
        "units_fingerprint": PROTOCOL.units_fingerprint(),
        "space_fingerprint": SPACE.fingerprint(),
        "commitment": com,
        "seed": seed.hex(),
        "arms": drawn.arms,
        "scheme_index": drawn.index,
    }
    events, prev = [], GENESIS
    for seq, (action, payload) in enumerate(
        [
            ("allocation.seal", {"allocation": 1, "commitment": com}),
            ("allocation.reveal", {"allocation": 1, "seed": seed.hex(), "arms": drawn.arms}),
        ],
        1,
    ):
        fields = {
            "seq": seq,
            "occurred_at": "2026-11-23T00:00:00.000000Z",
            "actor": "sam",
            "role": "statistician",
            "action": action,
            "entity": "allocation/1",
            "reason": "",
            "payload": canonical_json(payload),
        }
        h = event_hash(prev, fields)
        events.append({**fields, "prev_hash": prev, "hash": h})
        prev = h
    return cert, events


@settings(max_examples=25, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32))
def test_honest_certificate_verifies(seed: bytes) -> None:
    cert, events = honest(seed)
    assert all(c.ok for c in verify_allocation(cert, PROTOCOL, events))


@settings(max_examples=25, deadline=None)
@given(
    seed=st.binary(min_size=32, max_size=32),
    position=st.integers(0, 63),
    digit=st.sampled_from("0123456789abcdef"),
)
def test_any_change_to_the_seed_fails(seed: bytes, position: int, digit: str) -> None:
    cert, events = honest(seed)
    changed = cert["seed"][:position] + digit + cert["seed"][position + 1 :]
    if changed == cert["seed"]:
        return
    cert["seed"] = changed
    failed = {c.name for c in verify_allocation(cert, PROTOCOL, events) if not c.ok}
    assert "commitment" in failed


@settings(max_examples=15, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), unit=st.integers(0, 6), delta=st.integers(1, 5000))
def test_any_change_to_the_units_fails(seed: bytes, unit: int, delta: int) -> None:
    cert, events = honest(seed)
    text = shipped_protocol_path().read_text()
    original = PROTOCOL.units[unit]
    pop = int(original.covariates["child_population"])
    marker = f'id = "{original.id}"'
    head, tail = text.split(marker, 1)
    tail = tail.replace(f"child_population = {pop}", f"child_population = {pop + delta}", 1)
    changed = loads_protocol(head + marker + tail)
    failed = {c.name for c in verify_allocation(cert, changed, events) if not c.ok}
    assert {"protocol fingerprint", "unit table fingerprint"} <= failed
