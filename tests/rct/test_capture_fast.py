"""The fast paths of validated imports decide exactly as the definitions they replace.

* The vectorised history rules (:mod:`rct.capture.outliers`) give the same findings as
  judging each cell by the scalar definition of the rules (:func:`count_outlier`, medians
  of the history), written out here cell by cell.
* The pseudonym HMAC with precomputed key states equals :func:`hmac.digest`.
* Dates not written ``YYYY-MM-DD`` with zero padding are stored normalised, as before.
"""

from __future__ import annotations

import hashlib
import hmac
import statistics
from collections.abc import Callable

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text

from protocols import load_protocol, shipped_protocol_path
from rct.capture.children import _hmac_hex
from rct.capture.children_store import submit_children
from rct.capture.outliers import FINE, FIRES, UNDECIDED, count_tail_decisions, reference
from rct.capture.rules import CV_FLOOR, LOOKBACK, MIN_HISTORY, TAIL, count_outlier, evaluate
from rct.capture.settings import set_child_records
from rct.workspace import Workspace

P = load_protocol(shipped_protocol_path())
QUARTERS = [str(q) for q in P.schedule.quarters]
Key = tuple[str, str, str]


def scalar_history_rules(values: dict[Key, float], targets: list[Key]) -> list[tuple[Key, str]]:
    """(cell, rule) of the history rules, judged cell by cell from their definitions."""
    types = {i.code: i.type for i in P.indicators}
    out = []
    for key in sorted(set(targets)):
        u, p, ind = key
        idx = QUARTERS.index(p)
        hist = [values[(u, q, ind)] for q in QUARTERS[:idx] if (u, q, ind) in values]
        hist = hist[-LOOKBACK:]
        x = values[key]
        if x == 0 and len(hist) >= 3 and statistics.median(hist) >= 5:
            out.append((key, "zero_where_usually_counts"))
        elif len(hist) >= MIN_HISTORY and types[ind] == "count" and count_outlier(x, hist)[0]:
            out.append((key, "outlier_history"))
    return out


series = st.lists(
    st.one_of(st.integers(0, 12), st.integers(20, 400)), min_size=1, max_size=min(14, len(QUARTERS))
)


@settings(max_examples=60, deadline=None)
@given(st.lists(series, min_size=1, max_size=4), st.sampled_from([1, 2, 8, 40, 250]))
def test_vectorised_history_rules_give_the_scalar_findings(
    runs: list[list[int]], scale: int
) -> None:
    codes = [i.code for i in P.indicators]
    values: dict[Key, float] = {}
    for n, run in enumerate(runs):
        for q, v in enumerate(run):
            values[(f"u{n % 2}", QUARTERS[q], codes[n % len(codes)])] = float(v * scale // 8)
    found = [(f.key, f.rule) for f in evaluate(P, values, list(values))]
    history = [(k, r) for k, r in found if r in ("outlier_history", "zero_where_usually_counts")]
    assert history == scalar_history_rules(values, list(values))


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 3000),
    st.lists(st.integers(0, 3000), min_size=MIN_HISTORY, max_size=LOOKBACK),
)
def test_tail_bounds_never_contradict_the_exact_tails(k: int, hist: list[int]) -> None:
    matrix = np.full((1, LOOKBACK), np.nan)
    matrix[0, LOOKBACK - len(hist) :] = hist
    _, m, v = reference(matrix, CV_FLOOR)
    decision = int(count_tail_decisions(np.array([float(k)]), m, v, TAIL)[0])
    fires = count_outlier(k, [float(h) for h in hist])[0]
    assert decision == UNDECIDED or decision == (FIRES if fires else FINE)


@given(st.binary(min_size=1, max_size=150), st.lists(st.binary(max_size=80), max_size=5))
def test_fast_hmac_equals_the_standard_library(key: bytes, messages: list[bytes]) -> None:
    assert _hmac_hex(key, messages) == [hmac.digest(key, m, hashlib.sha256).hex() for m in messages]


def test_dates_without_zero_padding_are_stored_normalised(
    workspace_as: Callable[[str], Workspace],
) -> None:
    set_child_records(workspace_as("sam"), True, "test")
    sam = workspace_as("sam")
    data = b"borough,child_id,referral_date,cp_plan_date\ncamden,A1,2025-2-3,2025-03-01\n"
    assert submit_children(sam, "c.csv", data=data).stored
    engine = create_engine(sam.url)
    with engine.connect() as conn:
        got = conn.execute(text("SELECT referral_date, cp_plan_date FROM child_records")).all()
    engine.dispose()
    assert [tuple(r) for r in got] == [("2025-02-03", "2025-03-01")]
