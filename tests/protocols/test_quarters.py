"""Calendar quarters written YYYY-Qn."""

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols import Quarter, QuarterError


def test_quarter_dates() -> None:
    q = Quarter.parse("2026-Q3")
    assert (q.start, q.end) == (dt.date(2026, 7, 1), dt.date(2026, 9, 30))
    assert str(q + 2) == "2027-Q1"


@pytest.mark.parametrize("text", ["2026-Q5", "2026Q3", "26-Q1", "", "2026-q3x"])
def test_bad_quarters_are_refused_with_the_expected_form(text: str) -> None:
    with pytest.raises(QuarterError, match="YYYY-Qn"):
        Quarter.parse(text)


@given(st.integers(1900 * 4, 2200 * 4))
def test_quarter_text_round_trips(index: int) -> None:
    q = Quarter.from_index(index)
    assert Quarter.parse(str(q)) == q
    assert Quarter.containing(q.start) == q == Quarter.containing(q.end)
