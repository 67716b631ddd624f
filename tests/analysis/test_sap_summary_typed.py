"""The summary and the report's rows read typed results (issue #14): ``SapResults`` as its
JSON stores it, with attribute access, and say exactly what the file says."""

from __future__ import annotations

import math
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.coded_warnings import LEGACY, CodedWarning
from analysis.sap.results import AnalysisResult, IccSummary, MethodResult, SapResults
from analysis.sap.summary import format_p, method_line, primary_first, summary_markdown
from rct.report.results_view import effect_rows

METHODS = ("between-within", "cluster-level", "kenward-roger", "randomisation")
# finite values within 1e300: the largest doubles round (10 digits) past the largest double
number = st.floats(-1e300, 1e300) | st.sampled_from([math.nan, math.inf, -math.inf])
words = st.text("abcdefghij _-", min_size=1, max_size=10)


@st.composite
def method_results(draw: st.DrawFn, method: str) -> MethodResult:
    if not draw(st.booleans()):
        return MethodResult(
            method, ok=False, error=draw(words), warnings=(CodedWarning(LEGACY, draw(words)),)
        )
    details = (
        {"count": draw(st.integers(0, 40)), "n_schemes": draw(st.integers(1, 40))}
        if method == "randomisation"
        else {}
    )
    return MethodResult(
        method=method,
        ok=True,
        model=draw(words),
        inference=draw(words),
        term="intervention",
        measure=draw(st.sampled_from(["rate ratio", "odds ratio", "mean difference"])),
        scale=draw(st.sampled_from(["log", "identity"])),
        coefficient=draw(number),
        std_error=draw(st.none() | number),
        coefficient_ci=(draw(number), draw(number)),
        effect=draw(number),
        effect_ci=(draw(number), draw(number)),
        statistic=draw(st.none() | number),
        pvalue=draw(number),
        df=draw(st.none() | st.floats(1, 200)),
        clusters=draw(st.integers(0, 50)),
        observations=draw(st.integers(0, 5000)),
        warnings=tuple(CodedWarning(LEGACY, w) for w in draw(st.lists(words, max_size=2))),
        details=details,
    )


@st.composite
def analysis_results(draw: st.DrawFn, name: str) -> AnalysisResult:
    methods = draw(st.lists(st.sampled_from(METHODS), unique=True, max_size=3))
    icc = draw(
        st.none()
        | st.builds(IccSummary, error=words)
        | st.builds(
            IccSummary,
            icc=number,
            ci=st.tuples(number, number),
            level=st.sampled_from([0.9, 0.95]),
            method=words,
            scale=words,
        )
    )
    return AnalysisResult(
        name=name,
        role=draw(st.sampled_from(["primary", "secondary", "sensitivity"])),
        outcome=draw(words),
        outcome_label=draw(words),
        family=draw(st.sampled_from(["poisson", "binomial", "gaussian"])),
        formula=draw(words),
        offset=draw(st.sampled_from(["", "children"])),
        periods=draw(st.sampled_from(["all", "follow_up"])),
        description="",
        clusters=draw(st.integers(0, 50)),
        observations=draw(st.integers(0, 5000)),
        missing_values=draw(st.integers(0, 50)),
        icc=icc,
        methods=tuple(draw(method_results(m)) for m in methods),
        post_hoc=draw(st.booleans()),
        post_hoc_reason=draw(words),
        error=draw(st.sampled_from(["", "no data"])),
        primary_inference=draw(st.sampled_from(["", *methods])),
    )


@st.composite
def sap_results(draw: st.DrawFn) -> SapResults:
    names = draw(st.lists(words, unique=True, min_size=1, max_size=3))
    return SapResults(
        trial={"id": "T", "title": draw(words)},
        provenance={"protocol_version": 2, "packages": {"numpy": "2.0"}},
        analyses=tuple(draw(analysis_results(n)) for n in names),
        level=draw(st.sampled_from([0.9, 0.95])),
    )


@settings(max_examples=60, deadline=None)
@given(sap_results())
def test_results_read_back_from_their_json_write_the_same_bytes(results: SapResults) -> None:
    text = results.to_json()
    assert SapResults.from_json(text).to_json() == text


@settings(max_examples=60, deadline=None)
@given(sap_results())
def test_the_summary_of_results_is_the_summary_of_their_json(results: SapResults) -> None:
    stored = SapResults.from_json(results.to_json())
    assert results.summary_markdown() == summary_markdown(stored)
    assert summary_markdown(SapResults.from_json(stored.to_json())) == summary_markdown(stored)


@settings(max_examples=40, deadline=None)
@given(sap_results())
def test_the_report_rows_hold_what_the_json_holds(results: SapResults) -> None:
    stored = SapResults.from_json(results.to_json())
    effects, iccs, _ = effect_rows(stored)
    ok = [(a, m) for a in stored.analyses for _, m in primary_first(a) if m.ok]
    assert [(r["label"], r["method"]) for r in effects] == [(a.name, m.method) for a, m in ok]
    for row in effects + iccs:
        assert all(
            v is None or math.isfinite(v) for k, v in row.items() if k in ("estimate", "lower")
        )


def test_a_p_value_stored_as_null_reads_as_a_dash() -> None:
    m = MethodResult(
        method="cluster-level",
        ok=True,
        measure="rate ratio",
        effect=0.8,
        effect_ci=(0.6, math.inf),
        pvalue=math.nan,
        df=5.0,
    )
    stored = MethodResult.from_dict(
        SapResults.from_json(_one(m).to_json()).analyses[0].methods[0].to_dict()
    )
    assert format_p(stored.pvalue) == "-"
    assert (
        method_line(stored) == "cluster-level: rate ratio 0.8 (CI 0.6 to unbounded), p = -, df = 5"
    )


def test_the_report_rows_show_an_unbounded_limit_as_the_json_null() -> None:
    m = MethodResult(
        method="randomisation",
        ok=True,
        measure="rate ratio",
        effect=0.8,
        effect_ci=(0.0, math.inf),
        pvalue=0.25,
        details={"count": 3, "n_schemes": 12},
    )
    effects, _, clusters = effect_rows(SapResults.from_json(_one(m).to_json()))
    assert (effects[0]["lower"], effects[0]["upper"], effects[0]["df"]) == (0.0, None, None)
    assert effects[0]["scale"] == "ratio" and effects[0]["primary_inference"] is True
    assert clusters == 7


def _one(m: MethodResult) -> SapResults:
    a = AnalysisResult(
        "re_referrals",
        "primary",
        "da_re_referrals",
        "Re-referrals",
        "poisson",
        "y ~ treatment",
        "",
        "all",
        "",
        7,
        84,
        0,
        None,
        (m,),
    )
    return SapResults({"id": "T"}, {}, (a,))


DATA = Path(__file__).parent / "data"


def test_the_demo_summary_is_byte_identical_to_the_one_rendered_from_raw_json() -> None:
    """``demo-results.md`` was rendered from ``demo-results.json`` (``rct demo``, seed
    20261123) when the summary still walked the raw JSON dicts."""
    text = (DATA / "demo-results.json").read_text(encoding="utf-8")
    results = SapResults.from_json(text)
    assert results.to_json() == text
    assert summary_markdown(results) == (DATA / "demo-results.md").read_text(encoding="utf-8")
