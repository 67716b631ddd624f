"""The randomness stream matches its written specification (docs/randomness.md)."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allocation.errors import StreamError
from allocation.stream import RandomStream

SEED = bytes.fromhex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
LABEL = "test-vectors"


def reference_block(seed: bytes, label: str, counter: int) -> bytes:
    """Independent transcription of the spec's block definition."""
    msg = b"rct-stream-v1" + b"\x00" + label.encode() + b"\x00" + counter.to_bytes(8, "big")
    return hmac.new(seed, msg, hashlib.sha256).digest()


def test_block_zero_matches_documented_vector() -> None:
    assert RandomStream(SEED, LABEL).block(0).hex() == (
        "6b2d9de4a61bb1d7f02dff5ebc334ae5a21160d55f7d64ae1ef8fd954a51060f"
    )


def test_block_one_matches_documented_vector() -> None:
    assert RandomStream(SEED, LABEL).block(1).hex() == (
        "7262f2a5aece253be3274fe1a31fa7bbe014e0d3f6a1804cdb6b3ea42bb921a7"
    )


def test_blocks_follow_the_hmac_definition() -> None:
    stream = RandomStream(SEED, "another label é")
    for i in range(5):
        assert stream.block(i) == reference_block(SEED, "another label é", i)


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (2, [1, 1, 1, 0, 0, 1, 1, 1]),
        (6, [3, 5, 5, 4, 3, 1, 0, 5]),
        (10, [4, 6, 1, 7, 0, 3, 5, 2]),
        (1000, [813, 484, 539, 471, 45, 862, 51, 741]),
    ],
)
def test_randbelow_matches_documented_vectors(n: int, expected: list[int]) -> None:
    stream = RandomStream(SEED, LABEL)
    assert [stream.randbelow(n) for _ in range(8)] == expected


def test_randbelow_six_reads_one_byte_per_accepted_draw() -> None:
    stream = RandomStream(SEED, LABEL)
    [stream.randbelow(6) for _ in range(4)]
    assert stream.bytes_consumed == 4  # 0x6b&7=3, 0x2d&7=5, 0x9d&7=5, 0xe4&7=4: no rejection


def test_randbelow_one_consumes_nothing() -> None:
    stream = RandomStream(SEED, LABEL)
    assert stream.randbelow(1) == 0
    assert stream.bytes_consumed == 0


def test_shuffle_of_ten_matches_documented_vector() -> None:
    assert RandomStream(SEED, "shuffle").shuffle(list(range(10))) == [7, 5, 2, 4, 8, 6, 0, 3, 9, 1]


@settings(max_examples=50, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=2**70),
    label=st.text(min_size=1).filter(lambda s: "\x00" not in s),
)
def test_randbelow_is_always_in_range(n: int, label: str) -> None:
    stream = RandomStream(SEED, label)
    assert all(0 <= stream.randbelow(n) < n for _ in range(5))


@settings(max_examples=50, deadline=None)
@given(items=st.lists(st.integers(), max_size=30))
def test_shuffle_is_a_permutation(items: list[int]) -> None:
    assert sorted(RandomStream(SEED, "p").shuffle(items)) == sorted(items)


def test_distinct_labels_give_distinct_streams() -> None:
    assert RandomStream(SEED, "a").block(0) != RandomStream(SEED, "b").block(0)


def test_sample_returns_distinct_items() -> None:
    got = RandomStream(SEED, "s").sample(list(range(20)), 7)
    assert len(set(got)) == 7 and set(got) <= set(range(20))


def test_bernoulli_uses_the_exact_fraction() -> None:
    stream = RandomStream(SEED, LABEL)
    # p = 0.8 = 4/5: randbelow(5) < 4; the first draws of randbelow(5) on this stream are
    # 3 (0x6b&7), then 0x2d&7 = 5 rejected, 0x9d&7 = 5 rejected, 0xe4&7 = 4.
    assert stream.bernoulli(0.8) is True
    assert stream.bernoulli(0.8) is False


@pytest.mark.parametrize("seed", [b"", bytes(31), bytes(33), "x" * 32])
def test_seed_must_be_32_bytes(seed: object) -> None:
    with pytest.raises(StreamError):
        RandomStream(seed, LABEL)  # type: ignore[arg-type]


@pytest.mark.parametrize("label", ["", "a\x00b"])
def test_label_must_be_nonempty_without_nul(label: str) -> None:
    with pytest.raises(StreamError):
        RandomStream(SEED, label)


def test_randbelow_rejects_zero() -> None:
    with pytest.raises(StreamError):
        RandomStream(SEED, LABEL).randbelow(0)


def test_importing_the_package_does_not_load_numpy_or_pandas() -> None:
    import subprocess
    import sys

    code = "import sys, allocation; print('numpy' in sys.modules or 'pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (2, [1, 1, 1, 0, 0, 1, 1, 1]),
        (6, [3, 5, 5, 4, 3, 1, 0, 5]),
        (10, [4, 6, 1, 7, 0, 3, 5, 2]),
        (1000, [813, 484, 539, 471, 45, 862, 51, 741]),
    ],
)
def test_vectorised_randbelow_matches_documented_vectors(n: int, expected: list[int]) -> None:
    assert RandomStream(SEED, LABEL).randbelow_array(n, 8).tolist() == expected


@settings(max_examples=60, deadline=None)
@given(
    n=st.one_of(st.integers(1, 300), st.integers(1, 2**63)),
    count=st.integers(0, 400),
    label=st.text(min_size=1, max_size=8).filter(lambda s: "\x00" not in s),
)
def test_vectorised_randbelow_consumes_exactly_the_same_bytes(
    n: int, count: int, label: str
) -> None:
    fast, slow = RandomStream(SEED, label), RandomStream(SEED, label)
    assert fast.randbelow_array(n, count).tolist() == [slow.randbelow(n) for _ in range(count)]
    assert fast.bytes_consumed == slow.bytes_consumed
    assert fast.read(40) == slow.read(40)


def test_peek_does_not_consume_and_reads_continue_across_blocks() -> None:
    stream = RandomStream(SEED, LABEL)
    ahead = stream.peek(70)
    assert stream.bytes_consumed == 0
    assert stream.read(5) + stream.read(65) == ahead
    assert ahead[:64] == reference_block(SEED, LABEL, 0) + reference_block(SEED, LABEL, 1)
