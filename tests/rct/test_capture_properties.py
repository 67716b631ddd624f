"""Properties of submission: any single corruption of a valid file is rejected whole,
naming its row and column, with the database unchanged; valid files round-trip through
export and import; amendments never lose a version."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocols import load_protocol, shipped_protocol_path
from rct.capture.dataset import export_trial
from rct.capture.errors import SubmissionRejected
from rct.capture.submit import submit_return
from rct.capture.values import current_cells, versions
from rct.workspace import Workspace
from tests.rct.capture_helpers import return_csv, snapshot

Make = Callable[[str], Workspace]
P = load_protocol(shipped_protocol_path())
UNITS = [u.id for u in P.units]
PERIODS = [str(q) for q in P.schedule.quarters]
CODES = [i.code for i in P.indicators]
FAST = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@st.composite
def valid_returns(draw: st.DrawFn) -> list[tuple[str, str, str, int]]:
    keys = draw(
        st.lists(
            st.tuples(st.sampled_from(UNITS), st.sampled_from(PERIODS), st.sampled_from(CODES)),
            min_size=1,
            max_size=12,
            unique=True,
        )
    )
    return [(u, p, i, draw(st.integers(0, 900))) for u, p, i in keys]


CORRUPTIONS = (
    "wrong_type",
    "out_of_range",
    "unknown_borough",
    "unknown_indicator",
    "bad_period",
    "duplicate",
    "blank",
)


def corrupt(
    rows: list[tuple[str, str, str, int]], kind: str, at: int
) -> tuple[list[tuple[object, ...]], int, str]:
    """The corrupted rows, the file row of the problem and the column it is in."""
    out: list[tuple[object, ...]] = [tuple(r) for r in rows]
    u, p, i, v = rows[at]
    if kind == "duplicate":
        out.append((u, p, i, v))
        return out, len(out) + 1, "value"
    column, new = {
        "wrong_type": ("value", (u, p, i, "12a")),
        "out_of_range": ("value", (u, p, i, 10**6)),
        "unknown_borough": ("borough", ("E09999999", p, i, v)),
        "unknown_indicator": ("indicator", (u, p, "not_an_indicator", v)),
        "bad_period": ("period", (u, p.replace("-Q", "Q"), i, v)),
        "blank": ("value", (u, p, i, None)),
    }[kind]
    out[at] = new
    return out, at + 2, column


@pytest.mark.slow
@FAST
@given(
    rows=valid_returns(),
    kind=st.sampled_from(CORRUPTIONS),
    pick=st.integers(0, 11),
    blank_column=st.sampled_from(["borough", "period", "indicator", "value"]),
)
def test_any_single_corruption_is_rejected_whole_naming_row_and_column(
    workspace_as: Make,
    rows: list[tuple[str, str, str, int]],
    kind: str,
    pick: int,
    blank_column: str,
) -> None:
    sam = workspace_as("sam")
    at = pick % len(rows)
    bad, row, column = corrupt(rows, kind, at)
    if kind == "blank":
        idx = ["borough", "period", "indicator", "value"].index(blank_column)
        r = list(rows[at])
        r[idx] = None
        bad[at] = tuple(r)
        column = blank_column
    before = snapshot(sam.url)
    with pytest.raises(SubmissionRejected) as err:
        submit_return(sam, "r.csv", data=return_csv(bad))
    problems = err.value.report.problems
    assert len(problems) == 1, problems
    assert problems[0].row == row and (problems[0].column or "").split(" ")[0] == column
    assert f"row {row}" in str(err.value) and column in str(err.value)
    assert snapshot(sam.url) == before


@pytest.mark.slow
@FAST
@given(rows=valid_returns())
def test_export_then_import_gives_the_same_values(
    workspace_as: Make, tmp_path: Path, rows: list[tuple[str, str, str, int]]
) -> None:
    sam = workspace_as("sam")
    # hypothesis reuses the trial across examples: an amendment stores values that differ
    # from an earlier example's
    submit_return(sam, "r.csv", data=return_csv(rows), reason="example")
    out = tmp_path / f"e{abs(hash(tuple(rows)))}"
    export_trial(sam, out, ["csv"])
    exported = (out / "analysis_dataset.csv").read_bytes()
    again = submit_return(sam, "export.csv", data=exported, allow_blank=True)
    assert not again.stored and again.unchanged_cells >= len(rows)
    with sam.session() as s:
        stored = {k: c.value for k, c in current_cells(s).items()}
    parsed = {
        (r["borough"], r["period"], r["indicator"]): float(r["value"])
        for r in csv.DictReader(io.StringIO(exported.decode()))
        if r["value"]
    }
    assert parsed == stored
    assert {k: v for k, v in stored.items() if k in {(u, p, i) for u, p, i, _ in rows}} == {
        (u, p, i): float(v) for u, p, i, v in rows
    }


@pytest.mark.slow
@FAST
@given(first=valid_returns(), changes=st.lists(st.integers(0, 900), min_size=1, max_size=4))
def test_amendment_history_is_never_lost(
    workspace_as: Make, first: list[tuple[str, str, str, int]], changes: list[int]
) -> None:
    sam = workspace_as("sam")
    with sam.session() as s:
        before = versions(s)
    submit_return(sam, "r.csv", data=return_csv(first), reason="example")
    u, p, i, v = first[0]
    expected = [float(x) for x in [v, *changes]]
    seen = [expected[0]]
    for n, value in enumerate(changes):
        res = submit_return(
            sam, f"a{n}.csv", data=return_csv([(u, p, i, value)]), reason=f"correction {n}"
        )
        if float(value) != seen[-1]:
            assert res.stored
            seen.append(float(value))
    with sam.session() as s:
        after = versions(s)
        hist = [h["value"] for h in versions(s, unit=u, period=p, indicator=i)]
    old_keys = {(r["borough"], r["period"], r["indicator"], r["version"]): r for r in before}
    assert all(
        old_keys[k] == r
        for r in after
        if (k := (r["borough"], r["period"], r["indicator"], r["version"])) in old_keys
    )
    assert len(after) >= len(before)
    assert hist[-len(seen) :] == seen
