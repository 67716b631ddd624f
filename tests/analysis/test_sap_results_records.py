"""Results read back from their JSON are the typed objects that wrote it (issue #14)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from analysis.coded_warnings import LEGACY, CodedWarning
from analysis.errors import DataError
from analysis.sap.results import (
    AnalysisResult,
    IccSummary,
    MethodResult,
    SapResults,
    results_json,
)
from analysis.sap.runner import run_sap
from tests.analysis.test_sap_runner import ARMS, QUICK, QUICK_VALUES, SPACE, UNITS


def _edge_results() -> SapResults:
    unbounded = MethodResult(
        method="randomisation",
        ok=True,
        model="randomisation-poisson-ratio",
        inference="randomisation-test-inversion",
        term="intervention",
        measure="rate ratio",
        scale="log",
        coefficient=-0.123456789012345,
        std_error=None,
        coefficient_ci=(-math.inf, 0.5),
        effect=0.88,
        effect_ci=(0.0, math.inf),
        statistic=None,
        pvalue=0.25,
        df=None,
        clusters=7,
        observations=84,
        warnings=(CodedWarning("unbounded-interval", "few schemes"),),
        details={"count": 9, "cluster_residuals": {"u1": 0.1}},
    )
    failed = MethodResult("kenward-roger", ok=False, error="Gaussian models only")
    analysis = AnalysisResult(
        name="re-referrals",
        role="primary",
        outcome="da_re_referrals",
        outcome_label="Re-referrals",
        family="poisson",
        formula="y ~ treatment",
        offset="log_children",
        periods="follow_up",
        description="",
        clusters=7,
        observations=84,
        missing_values=2,
        icc=IccSummary(error="no variance between clusters"),
        methods=(unbounded, failed),
        primary_inference="randomisation",
    )
    broken = AnalysisResult(
        "care",
        "secondary",
        "cic",
        "In care",
        "poisson",
        "",
        "",
        "all",
        "",
        0,
        0,
        0,
        None,
        (),
        error="no data",
    )
    return SapResults({"id": "T"}, {"data_snapshot_hash": "ab"}, (broken, analysis), level=0.9)


def test_results_read_back_write_the_same_bytes_edge_values() -> None:
    text = _edge_results().to_json()
    assert SapResults.from_json(text).to_json() == text


def test_results_of_a_run_read_back_write_the_same_bytes() -> None:
    text = run_sap(QUICK, QUICK_VALUES, ARMS, SPACE, UNITS, icc=True).to_json()
    back = SapResults.from_json(text)
    assert back.to_json() == text
    assert all(isinstance(m, MethodResult) for a in back.analyses for m in a.methods)


def _method(data: dict[str, Any]) -> dict[str, Any]:
    analysis = next(a for a in data["analyses"] if a["name"] == "re-referrals")
    return analysis["methods"][0]  # type: ignore[no-any-return]


def test_warnings_are_stored_with_their_codes() -> None:
    data = json.loads(_edge_results().to_json())
    stored = _method(data)["warnings"]
    assert stored == [{"code": "unbounded-interval", "message": "few schemes"}]


def test_results_with_plain_string_warnings_read_back_and_write_the_same_bytes() -> None:
    # results files written before warnings had codes hold plain strings
    data = json.loads(_edge_results().to_json())
    _method(data)["warnings"] = ["few schemes"]
    text = results_json(data)
    back = SapResults.from_json(text)
    assert back.analysis("re-referrals").methods[0].warnings == (
        CodedWarning(LEGACY, "few schemes"),
    )
    assert back.to_json() == text


def test_results_read_back_keep_what_was_not_finite_as_nan() -> None:
    m = SapResults.from_json(_edge_results().to_json()).analysis("re-referrals").methods[0]
    assert math.isnan(m.coefficient_ci[0]) and m.std_error is None and m.df is None


def test_failed_lists_failed_analyses_and_methods_in_the_json_order() -> None:
    assert _edge_results().failed() == ["re-referrals/kenward-roger", "care"]


def test_results_of_another_format_are_refused() -> None:
    with pytest.raises(DataError, match="format"):
        SapResults.from_dict({"format": "something-else/1"})


def test_a_float_that_rounds_past_the_largest_double_is_written_as_null() -> None:
    """1.7976931348623157e308 rounded to the results' significant digits overflows to inf;
    it is written as null like any other non-finite value, not refused by the JSON writer."""
    from analysis.sap.results import results_json, stable

    assert stable(1.7976931348623157e308) is None
    assert stable(-1.7976931348623157e308) is None
    assert results_json({"x": 1.7976931348623157e308}) == '{\n  "x": null\n}\n'
