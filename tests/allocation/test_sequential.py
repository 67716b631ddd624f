"""Sequential methods stay within their bounds and are reproducible from seed and arrival order."""

from __future__ import annotations

from collections import Counter
from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allocation import Minimisation, PermutedBlocks
from allocation.errors import SequentialError

seeds = st.binary(min_size=32, max_size=32)


@settings(max_examples=40, deadline=None)
@given(
    seed=seeds,
    strata=st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=60),
    ratio=st.sampled_from([(1, 1), (2, 1), (1, 3)]),
    multiples=st.sampled_from([(1,), (1, 2), (2, 3)]),
)
def test_permuted_blocks_never_exceed_one_block_of_imbalance(
    seed: bytes, strata: list[str], ratio: tuple[int, int], multiples: tuple[int, ...]
) -> None:
    pb = PermutedBlocks(seed, ratio=ratio, multiples=multiples)
    counts: dict[str, Counter[str]] = {}
    unit = sum(ratio)
    for i, s in enumerate(strata):
        arm = pb.assign(f"u{i}", s).arm
        c = counts.setdefault(s, Counter())
        c[arm] += 1
        total = sum(c.values())
        for a, r in zip(pb.arms, ratio):
            # deviation from the ratio share is less than one (largest) block
            assert abs(c[a] - total * r / unit) < r * max(multiples) + 1e-9


def test_permuted_blocks_are_exactly_in_ratio_at_block_ends() -> None:
    pb = PermutedBlocks(bytes(32), ratio=(2, 1), multiples=(1,))
    arms = [pb.assign(f"u{i}").arm for i in range(30)]
    for end in range(3, 31, 3):
        assert Counter(arms[:end])["intervention"] == 2 * end // 3


def test_permuted_blocks_reproduce_from_seed_and_arrival_order() -> None:
    def run() -> list[str]:
        pb = PermutedBlocks(bytes(range(32)))
        return [pb.assign(f"u{i}", "ab"[i % 2]).arm for i in range(20)]

    assert run() == run()


def test_unit_cannot_be_assigned_twice() -> None:
    pb = PermutedBlocks(bytes(32))
    pb.assign("x")
    with pytest.raises(SequentialError):
        pb.assign("x")


levels = st.fixed_dictionaries({"sex": st.sampled_from("mf"), "site": st.sampled_from("123")})


@settings(max_examples=40, deadline=None)
@given(
    seed=seeds,
    units=st.lists(levels, min_size=1, max_size=40),
    bound=st.sampled_from([1, 2, 3]),
    imbalance=st.sampled_from(["range", "variance"]),
)
def test_minimisation_respects_max_imbalance(
    seed: bytes,
    units: list[dict[str, str]],
    bound: int,
    imbalance: Literal["range", "variance"],
) -> None:
    m = Minimisation(
        seed, {"sex": 1.0, "site": 2.0}, p_preferred=0.7, max_imbalance=bound, imbalance=imbalance
    )
    for i, lv in enumerate(units):
        m.assign(f"u{i}", lv)
        assert max(m.totals) - min(m.totals) <= bound


@settings(max_examples=40, deadline=None)
@given(seed=seeds, units=st.lists(st.sampled_from("abc"), min_size=1, max_size=40))
def test_deterministic_single_factor_minimisation_keeps_levels_within_one(
    seed: bytes, units: list[str]
) -> None:
    m = Minimisation(seed, {"f": 1.0}, p_preferred=1)
    per_level: dict[str, Counter[str]] = {}
    for i, lv in enumerate(units):
        arm = m.assign(f"u{i}", {"f": lv}).arm
        per_level.setdefault(lv, Counter())[arm] += 1
        c = per_level[lv]
        assert abs(c["intervention"] - c["control"]) <= 1


def test_minimisation_with_unequal_ratio_tracks_the_ratio() -> None:
    m = Minimisation(bytes(32), {"f": 1.0}, ratio=(2, 1), p_preferred=1)
    for i in range(30):
        m.assign(f"u{i}", {"f": "x"})
    assert m.totals == [20, 10]


def test_minimisation_reproduces_from_seed_and_arrival_order() -> None:
    def run() -> list[str]:
        m = Minimisation(bytes(range(32)), {"a": 1.0, "b": 1.0})
        return [m.assign(f"u{i}", {"a": "xy"[i % 2], "b": "pqr"[i % 3]}).arm for i in range(25)]

    assert run() == run()


def test_minimisation_needs_every_factor_level() -> None:
    m = Minimisation(bytes(32), {"a": 1.0})
    with pytest.raises(SequentialError):
        m.assign("u", {})
