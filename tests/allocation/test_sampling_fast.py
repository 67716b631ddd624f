"""The fast sampler draws exactly the schemes and bytes of the call-by-call specification."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allocation.enumeration import StrataPlan, sample_space, strata_plan
from allocation.errors import DesignError
from allocation.stream import RandomStream


@st.composite
def plans(draw: st.DrawFn) -> StrataPlan:
    n = draw(st.integers(4, 34))
    n_treated = draw(st.integers(1, n - 1))
    stratified = draw(st.booleans())
    strata = [draw(st.sampled_from("abcd")) for _ in range(n)] if stratified else None
    try:
        plan = strata_plan(strata, n, n_treated)
    except DesignError:
        plan = strata_plan(None, n, n_treated)
    return plan


@settings(max_examples=60, deadline=None)
@given(plan=plans(), seed=st.binary(min_size=32, max_size=32), share=st.floats(0.01, 0.99))
def test_fast_sampling_equals_the_sequential_specification(
    plan: StrataPlan, seed: bytes, share: float
) -> None:
    if plan.total < 3:
        return
    size = max(1, min(plan.total - 1, 400, int(plan.total * share)))
    fast, slow = RandomStream(seed, "scheme-sample"), RandomStream(seed, "scheme-sample")
    a = sample_space(plan, size, fast, fast=True)
    b = sample_space(plan, size, slow, fast=False)
    assert a.tolist() == b.tolist()
    assert fast.bytes_consumed == slow.bytes_consumed


@pytest.mark.parametrize("n", [30, 36, 70])
def test_fast_sampling_at_thirty_units_and_beyond_four_byte_counts(n: int) -> None:
    # C(36, 18) > 2**32: five-byte randbelow(total); 70 units: schemes wider than 64 bits
    fast, slow = RandomStream(bytes(32), "scheme-sample"), RandomStream(bytes(32), "scheme-sample")
    plan = strata_plan(None, n, n // 2)
    a = sample_space(plan, 2000, fast, fast=True)
    b = sample_space(plan, 2000, slow, fast=False)
    assert a.tolist() == b.tolist() and fast.bytes_consumed == slow.bytes_consumed
