"""Commitments bind seed, protocol and units; fingerprints ignore row order."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allocation import commitment, new_seed, units_fingerprint
from allocation.commitment import verify_commitment
from allocation.errors import CommitmentError

P = hashlib.sha256(b"protocol").hexdigest()
U = hashlib.sha256(b"units").hexdigest()
hexes = st.binary(min_size=1).map(lambda b: hashlib.sha256(b).hexdigest())


def test_commitment_matches_documented_message() -> None:
    seed = bytes(range(32))
    msg = b"rct-commitment-v1\x00" + seed + P.encode() + U.encode()
    assert commitment(seed, P, U) == hashlib.sha256(msg).hexdigest()


@settings(max_examples=50)
@given(
    seed=st.binary(min_size=32, max_size=32),
    other=st.binary(min_size=32, max_size=32),
    p=hexes,
    u=hexes,
)
def test_any_change_changes_the_commitment(seed: bytes, other: bytes, p: str, u: str) -> None:
    base = commitment(seed, P, U)
    if other != seed:
        assert commitment(other, P, U) != base
    if p != P:
        assert commitment(seed, p, U) != base
    if u != U:
        assert commitment(seed, P, u) != base


def test_verify_rejects_a_mismatch() -> None:
    seed = new_seed()
    c = commitment(seed, P, U)
    verify_commitment(c, seed, P, U)
    with pytest.raises(CommitmentError):
        verify_commitment(c, new_seed(), P, U)


def test_new_seed_is_32_fresh_bytes() -> None:
    a, b = new_seed(), new_seed()
    assert len(a) == 32 and a != b


def test_malformed_fingerprint_is_refused() -> None:
    with pytest.raises(CommitmentError):
        commitment(bytes(32), P.upper(), U)


def test_units_fingerprint_ignores_row_and_column_order() -> None:
    df = pd.DataFrame({"x": [1.5, 2.0, 3.0], "k": ["a", "b", "c"]}, index=["u1", "u2", "u3"])
    assert units_fingerprint(df, ["x", "k"]) == units_fingerprint(
        df.iloc[::-1][["k", "x"]], ["k", "x"]
    )


def test_units_fingerprint_changes_with_a_value() -> None:
    df = pd.DataFrame({"x": [1.5, 2.0]}, index=["u1", "u2"])
    changed = df.assign(x=[1.5, 2.5])
    assert units_fingerprint(df, ["x"]) != units_fingerprint(changed, ["x"])
