"""The SAP runner: every prespecified method runs and reports, failures are reported,
effects are recovered, and the results are invariant and byte-stable."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import replace
from random import Random
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.sap.results import SIGNIFICANT_DIGITS, stable
from analysis.sap.runner import run_sap
from analysis.sap.simulate import SimulationSettings, simulate_values
from protocols import Analysis, Protocol, Quarter, load_protocol, shipped_protocol_path

SHIPPED = load_protocol(shipped_protocol_path())
UNITS = tuple(sorted(u.id for u in SHIPPED.units))
ARMS = {u: ("intervention" if i in (1, 3, 5) else "control") for i, u in enumerate(UNITS)}
SPACE = np.array([[int(i in c) for i in range(7)] for c in itertools.combinations(range(7), 3)])


def small_protocol(analyses: tuple[Analysis, ...] | None = None) -> Protocol:
    """The shipped protocol with a short schedule (4 baseline, 1 transition, 3 follow-up
    quarters) and, by default, only the primary analysis: quick to fit in tests."""
    s = SHIPPED.schedule
    schedule = replace(
        s,
        baseline_start=Quarter.parse("2025-Q1"),
        baseline_end=Quarter.parse("2025-Q4"),
        follow_up_start=Quarter.parse("2026-Q2"),
        follow_up_end=Quarter.parse("2026-Q4"),
        go_live="2026-04-01",
    )
    if analyses is None:
        primary = SHIPPED.analysis("primary_re_referrals")
        analyses = (
            replace(primary, inference=("between-within", "cluster-level", "randomisation")),
        )
    return replace(SHIPPED, schedule=schedule, analyses=analyses)


def every_method_protocol() -> Protocol:
    primary = SHIPPED.analysis("primary_re_referrals")
    return small_protocol(
        (
            replace(
                primary,
                inference=(
                    "between-within",
                    "wald-normal",
                    "gee-mancl-derouen",
                    "cluster-level",
                    "randomisation",
                ),
            ),
            Analysis(
                name="sensitivity_gee_post",
                role="sensitivity",
                outcome="da_re_referrals",
                family="poisson",
                fixed=("treatment", "arm", "post"),
                offset="child_population",
                inference=("gee-mancl-derouen",),
            ),
            replace(
                SHIPPED.analysis("sensitivity_re_referrals_rate_lmm"),
                inference=(
                    "satterthwaite",
                    "kenward-roger",
                    "between-within",
                    "wald-normal",
                    "cluster-level",
                    "randomisation",
                ),
            ),
            SHIPPED.analysis("sensitivity_re_referrals_overdispersion"),
            SHIPPED.analysis("sensitivity_re_referrals_follow_up_only"),
        )
    )


STRONG = SimulationSettings(rate_ratios={"da_re_referrals": 0.4}, sd_between=0.2)


@pytest.fixture(scope="module")
def every_method() -> dict[str, Any]:
    p = every_method_protocol()
    values = simulate_values(p, ARMS, seed=3, settings=STRONG)
    res = run_sap(p, values, ARMS, SPACE, UNITS)
    results: dict[str, Any] = json.loads(res.to_json())
    return results


def _method(results: dict[str, Any], analysis: str, method: str) -> dict[str, Any]:
    a = next(a for a in results["analyses"] if a["name"] == analysis)
    return next(m for m in a["methods"] if m["method"] == method)


def test_every_prespecified_method_reports_an_effect_ci_p_value_and_counts(
    every_method: dict[str, Any],
) -> None:
    ok = (
        [
            ("primary_re_referrals", m)
            for m in ("between-within", "wald-normal", "cluster-level", "randomisation")
        ]
        + [("sensitivity_gee_post", "gee-mancl-derouen")]
        + [
            ("sensitivity_re_referrals_rate_lmm", m)
            for m in (
                "satterthwaite",
                "kenward-roger",
                "between-within",
                "wald-normal",
                "cluster-level",
                "randomisation",
            )
        ]
        + [
            ("sensitivity_re_referrals_overdispersion", "between-within"),
            ("sensitivity_re_referrals_follow_up_only", "between-within"),
            ("sensitivity_re_referrals_follow_up_only", "cluster-level"),
        ]
    )
    for analysis, method in ok:
        m = _method(every_method, analysis, method)
        assert m["status"] == "ok", (analysis, method, m)
        e = m["effect"]
        assert e["ci_lower"] < e["estimate"] < e["ci_upper"], (analysis, method)
        assert 0 <= m["pvalue"] <= 1
        assert m["clusters"] == 7 and m["observations"] > 0


def test_effects_are_on_the_natural_scale(every_method: dict[str, Any]) -> None:
    bw = _method(every_method, "primary_re_referrals", "between-within")
    assert bw["effect"]["measure"] == "rate ratio"
    assert bw["effect"]["estimate"] == pytest.approx(
        math.exp(bw["coefficient"]["estimate"]), rel=1e-9
    )
    lmm = _method(every_method, "sensitivity_re_referrals_rate_lmm", "satterthwaite")
    assert lmm["effect"]["measure"] == "mean difference"
    assert lmm["effect"]["estimate"] == lmm["coefficient"]["estimate"]


def test_a_large_simulated_effect_is_recovered(every_method: dict[str, Any]) -> None:
    # true rate ratio 0.4; cluster-level analysis has only 4 df, so its p-value is looser
    for method, p_max in (
        ("between-within", 0.05),
        ("cluster-level", 0.1),
        ("randomisation", 0.05),
    ):
        m = _method(every_method, "primary_re_referrals", method)
        assert abs(math.log(m["effect"]["estimate"]) - math.log(0.4)) < 0.3, method
        assert m["pvalue"] < p_max, method
    nb = _method(every_method, "sensitivity_re_referrals_overdispersion", "between-within")
    assert abs(math.log(nb["effect"]["estimate"]) - math.log(0.4)) < 0.3


def test_a_fit_that_fails_is_reported_with_its_message_not_raised(
    every_method: dict[str, Any],
) -> None:
    gee = _method(every_method, "primary_re_referrals", "gee-mancl-derouen")
    assert gee["status"] == "failed"
    assert "degrees of freedom" in gee["error"]


def test_the_randomisation_p_value_is_k_over_the_size_of_the_space() -> None:
    p = small_protocol()
    values = simulate_values(p, ARMS, seed=5)
    actual = np.array([int(ARMS[u] == "intervention") for u in UNITS])
    for rows in (SPACE, np.vstack([actual, SPACE[::3]])):
        res = run_sap(p, values, ARMS, rows, UNITS, icc=False, randomisation_ci=False)
        m = next(m for m in res.analyses[0].methods if m.method == "randomisation")
        assert m.details["n_schemes"] == len(rows)
        assert m.pvalue == m.details["count"] / len(rows)


def test_every_analysis_reports_an_icc_with_interval(every_method: dict[str, Any]) -> None:
    for a in every_method["analyses"]:
        icc = a["icc"]
        assert icc["status"] == "ok", a["name"]
        assert 0 <= icc["ci_lower"] <= icc["icc"] <= icc["ci_upper"] <= 1


def test_between_within_df_of_the_follow_up_only_analysis_is_clusters_minus_between_terms(
    every_method: dict[str, Any],
) -> None:
    # treatment and baseline are both constant within a borough in follow-up: 7 - 3 = 4 df
    assert (
        _method(every_method, "sensitivity_re_referrals_follow_up_only", "between-within")["df"]
        == 4
    )


def test_results_record_provenance_and_package_versions() -> None:
    p = small_protocol()
    values = simulate_values(p, ARMS, seed=2)
    res = run_sap(
        p,
        values,
        ARMS,
        SPACE,
        UNITS,
        icc=False,
        provenance={"data_snapshot_hash": "abc", "allocation_commitment": "def"},
    )
    prov = res.to_dict()["provenance"]
    assert prov["protocol_fingerprint"] == p.fingerprint()
    assert prov["data_snapshot_hash"] == "abc" and prov["allocation_commitment"] == "def"
    assert set(prov["packages"]) >= {"numpy", "scipy", "pandas", "patsy", "rct"}


def test_an_analysis_without_data_is_reported_failed_and_the_others_still_run() -> None:
    p = small_protocol(
        (SHIPPED.analysis("primary_re_referrals"), SHIPPED.analysis("secondary_cp_plans"))
    )
    values = simulate_values(p, ARMS, seed=2, indicators=["da_re_referrals"])
    res = run_sap(p, values, ARMS, SPACE, UNITS, icc=False, randomisation_ci=False)
    assert "no observed values" in res.analysis("secondary_cp_plans").error
    assert all(
        m.ok
        for m in res.analysis("primary_re_referrals").methods
        if m.method != "gee-mancl-derouen"
    )


def test_missing_values_are_left_out_and_counted() -> None:
    p = small_protocol()
    values = simulate_values(p, ARMS, seed=3, settings=SimulationSettings(missing=0.15))
    res = run_sap(p, values, ARMS, SPACE, UNITS, icc=False, randomisation_ci=False)
    a = res.analysis("primary_re_referrals")
    assert a.missing_values > 0
    assert a.observations + a.missing_values == 7 * 7


def test_randomisation_without_a_scheme_space_fails_clearly() -> None:
    p = small_protocol()
    values = simulate_values(p, ARMS, seed=3)
    res = run_sap(p, values, ARMS, icc=False)
    m = next(m for m in res.analysis("primary_re_referrals").methods if m.method == "randomisation")
    assert not m.ok and "scheme space" in m.error


def test_post_hoc_analyses_are_labelled_in_json_and_markdown() -> None:
    p = small_protocol()
    values = simulate_values(p, ARMS, seed=3)
    res = run_sap(
        p,
        values,
        ARMS,
        SPACE,
        UNITS,
        icc=False,
        randomisation_ci=False,
        post_hoc={"primary_re_referrals": "added in protocol version 2"},
    )
    a = res.to_dict()["analyses"][0]
    assert a["post_hoc"] is True and a["post_hoc_reason"] == "added in protocol version 2"
    md = res.summary_markdown()
    assert "## Primary: primary_re_referrals (POST HOC)" in md
    assert "added in protocol version 2" in md


def test_markdown_has_a_line_per_method_icc_clusters_and_observations() -> None:
    p = small_protocol()
    values = simulate_values(p, ARMS, seed=4)
    md = run_sap(p, values, ARMS, SPACE, UNITS).summary_markdown()
    assert "- between-within: rate ratio " in md and ", df = " in md
    assert "- cluster-level: rate ratio " in md
    assert "- randomisation: rate ratio " in md and "admissible schemes" in md
    assert "- ICC " in md
    assert "7 clusters, 49 observations" in md


# ---------------------------------------------------------------- determinism


def test_stored_floats_keep_ten_significant_digits() -> None:
    assert stable(1.23456789012345) == 1.23456789
    assert stable(-0.0) == 0.0 and str(stable(-0.0)) == "0.0"
    assert stable(float("inf")) is None and stable(float("nan")) is None
    assert stable({"a": (np.float64(2.0) / 3,)}) == {
        "a": [float(f"{2 / 3:.{SIGNIFICANT_DIGITS}g}")]
    }


QUICK = small_protocol()
QUICK_VALUES = simulate_values(QUICK, ARMS, seed=21)


def _quick(
    values: pd.DataFrame,
    protocol: Protocol = QUICK,
    arms: dict[str, str] = ARMS,
    units: tuple[str, ...] = UNITS,
) -> str:
    return run_sap(
        protocol, values, arms, SPACE, units, icc=False, randomisation_ci=False
    ).to_json()


@pytest.fixture(scope="module")
def reference_json() -> str:
    return _quick(QUICK_VALUES)


def test_results_json_is_byte_identical_across_two_runs(reference_json: str) -> None:
    assert _quick(QUICK_VALUES) == reference_json


@settings(
    max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.randoms(use_true_random=False))
def test_results_json_is_byte_identical_under_row_shuffling(
    reference_json: str, rnd: Random
) -> None:
    order = list(range(len(QUICK_VALUES)))
    rnd.shuffle(order)
    assert _quick(QUICK_VALUES.iloc[order].reset_index(drop=True)) == reference_json


@settings(
    max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.permutations(range(7)))
def test_estimates_are_invariant_to_relabelling_the_clusters(
    reference_json: str, perm: list[int]
) -> None:
    new_ids = [f"b{perm[i]}" for i in range(7)]
    rename = dict(zip(UNITS, new_ids))
    protocol = replace(QUICK, units=tuple(replace(u, id=rename[u.id]) for u in QUICK.units))
    values = QUICK_VALUES.assign(unit=QUICK_VALUES["unit"].map(rename))
    arms = {rename[u]: a for u, a in ARMS.items()}
    relabelled = json.loads(_quick(values, protocol, arms, tuple(new_ids)))
    reference = json.loads(reference_json)
    for got, want in zip(relabelled["analyses"][0]["methods"], reference["analyses"][0]["methods"]):
        assert got["status"] == want["status"] == "ok"
        for key in ("estimate", "std_error"):
            if want["coefficient"][key] is not None:
                assert got["coefficient"][key] == pytest.approx(want["coefficient"][key], rel=1e-6)
        if want["statistic"] is not None:
            assert got["statistic"] == pytest.approx(want["statistic"], rel=1e-6)
        assert got["pvalue"] == pytest.approx(want["pvalue"], rel=1e-4)


def test_analyses_fitted_in_parallel_give_the_same_bytes_and_report_each_one() -> None:
    """``workers`` forked processes (a task per analysis' fits and per distinct ICC) give
    byte-identical results to one process, and progress names every analysis once."""
    protocol = small_protocol(
        tuple(
            SHIPPED.analysis(name)
            for name in (
                "primary_re_referrals",
                "sensitivity_re_referrals_glmm",  # shares the primary's ICC
                "secondary_cp_plans",
                "secondary_into_care",
            )
        )
    )
    values = simulate_values(protocol, ARMS, seed=5)
    one = run_sap(protocol, values, ARMS, SPACE, UNITS, randomisation_ci=False)
    names: list[str] = []
    many = run_sap(
        protocol,
        values,
        ARMS,
        SPACE,
        UNITS,
        randomisation_ci=False,
        workers=3,
        progress=names.append,
    )
    assert len({a.outcome for a in protocol.analyses}) == 3
    assert all(a.icc is not None and not a.icc.error for a in one.analyses)
    assert many.to_json() == one.to_json()
    assert sorted(names) == sorted(a.name for a in protocol.analyses)


def test_the_engines_loaded_before_forking_are_the_ones_the_methods_load() -> None:
    """``ENGINES`` names modules that exist and that the methods import lazily, so the
    forked workers inherit them instead of importing each on their own."""
    import importlib
    from pathlib import Path

    from analysis.sap.runner import ENGINES

    root = Path(__file__).resolve().parents[2] / "analysis" / "sap"
    source = (root / "methods.py").read_text() + (root / "runner.py").read_text()
    for engine in ENGINES:
        importlib.import_module(engine)
        assert f"from {engine} import" in source, engine


def _die(kind: str, i: int) -> Any:
    """A worker killed in the middle of its task (as by kill -9 or the OOM killer)."""
    import os

    os._exit(9)


def test_a_worker_that_dies_leaves_the_analyses_to_this_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A killed worker breaks the pool; the run finishes in this process with the same
    bytes instead of failing with a traceback."""
    from analysis.sap import runner

    monkeypatch.setattr(runner, "_task", _die)
    protocol = small_protocol(
        (SHIPPED.analysis("primary_re_referrals"), SHIPPED.analysis("secondary_cp_plans"))
    )
    values = simulate_values(protocol, ARMS, seed=5)
    alone = run_sap(protocol, values, ARMS, SPACE, UNITS, icc=False, randomisation_ci=False)
    broken = run_sap(
        protocol, values, ARMS, SPACE, UNITS, icc=False, randomisation_ci=False, workers=2
    )
    assert broken.to_json() == alone.to_json()
