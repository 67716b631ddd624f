"""Simulation-based power: Monte Carlo error, reproducibility and a plain verdict."""

from __future__ import annotations

import math
from typing import TypedDict

import pytest

from analysis.errors import ModelSpecificationError
from analysis.sap.power import design_protocol, power_simulation, sd_from_icc
from tests.analysis.test_sap_runner import SHIPPED, SPACE, UNITS


class _Fast(TypedDict):
    method: str
    baseline_quarters: int
    follow_up_quarters: int


FAST = _Fast(method="cluster-level", baseline_quarters=2, follow_up_quarters=2)


def test_power_has_its_monte_carlo_standard_error() -> None:
    r = power_simulation(SHIPPED, simulations=30, seed=1, **FAST)
    assert r.fitted + r.failed == 30
    assert r.power == r.rejections / r.fitted
    assert r.mc_se == pytest.approx(math.sqrt(r.power * (1 - r.power) / r.fitted))


def test_the_same_seed_gives_the_same_power() -> None:
    a = power_simulation(SHIPPED, simulations=15, seed=4, **FAST)
    b = power_simulation(SHIPPED, simulations=15, seed=4, **FAST)
    assert a == b


def test_power_is_a_view_of_the_design_check_engine_whatever_the_workers() -> None:
    one = power_simulation(SHIPPED, simulations=6, seed=4, workers=1, **FAST)
    two = power_simulation(SHIPPED, simulations=6, seed=4, workers=2, **FAST)
    assert one == two


def test_a_huge_effect_is_almost_always_detected_and_no_effect_rarely() -> None:
    big = power_simulation(SHIPPED, simulations=30, seed=2, rate_ratio=0.2, sd_between=0.1, **FAST)
    none = power_simulation(SHIPPED, simulations=40, seed=2, rate_ratio=1.0, **FAST)
    assert big.power >= 0.9
    assert none.power <= 0.2  # nominal 5%; 40 simulations


def test_low_power_is_said_plainly() -> None:
    r = power_simulation(SHIPPED, simulations=20, seed=3, rate_ratio=0.95, **FAST)
    assert r.power < 0.5
    assert "with seven clusters this design is unlikely to detect" in r.message
    assert r.message.startswith(f"Power {r.power:.0%} (MC SE")


def test_a_randomisation_test_that_can_never_reach_alpha_is_named() -> None:
    r = power_simulation(
        SHIPPED,
        simulations=5,
        seed=3,
        method="randomisation",
        schemes=SPACE[:15],
        scheme_units=UNITS,
        baseline_quarters=2,
        follow_up_quarters=2,
    )
    assert r.power == 0.0
    assert "can never reach p < 0.05" in r.message


def test_the_primary_analysis_and_its_primary_inference_are_the_default() -> None:
    r = power_simulation(SHIPPED, simulations=2, seed=1, baseline_quarters=1, follow_up_quarters=1)
    assert (r.analysis, r.method) == ("primary_re_referrals", "cluster-level")


def test_icc_converts_to_a_between_cluster_sd_and_back() -> None:
    sd = sd_from_icc(0.05, mean_count=30.0)
    assert sd * sd / (sd * sd + math.log1p(1 / 30.0)) == pytest.approx(0.05)
    r = power_simulation(SHIPPED, simulations=2, seed=1, icc=0.05, **FAST)
    assert r.icc == pytest.approx(0.05)


def test_the_design_keeps_the_first_quarter_and_the_transition_gap() -> None:
    d = design_protocol(SHIPPED, 3, 2)
    assert [str(q) for q in d.schedule.baseline] == ["2025-Q1", "2025-Q2", "2025-Q3"]
    # the shipped protocol has one transition quarter between baseline and follow-up
    assert [str(q) for q in d.schedule.follow_up] == ["2026-Q1", "2026-Q2"]


def test_conflicting_or_impossible_settings_are_refused() -> None:
    with pytest.raises(ModelSpecificationError, match="at most one"):
        power_simulation(SHIPPED, simulations=1, icc=0.1, cv=0.2)
    with pytest.raises(ModelSpecificationError, match="no analysis"):
        power_simulation(SHIPPED, simulations=1, analysis="nope")
    with pytest.raises(ModelSpecificationError):
        design_protocol(SHIPPED, 0, 2)


def test_without_trends_power_is_what_it_was_before_trends_existed() -> None:
    default = power_simulation(SHIPPED, simulations=10, seed=6, **FAST)
    explicit = power_simulation(SHIPPED, simulations=10, seed=6, sd_trend=0.0, **FAST)
    assert default == explicit
    assert default.sd_trend == 0.0 and default.to_dict()["sd_trend"] == 0.0


def test_borough_specific_trends_lower_the_power_at_a_modest_effect() -> None:
    # Same seed: the same allocations and draws, the trends added on top (paired).
    flat = power_simulation(SHIPPED, simulations=60, seed=1, rate_ratio=0.7, **FAST)
    trended = power_simulation(
        SHIPPED, simulations=60, seed=1, rate_ratio=0.7, sd_trend=0.1, **FAST
    )
    assert trended.sd_trend == 0.1
    # measured 0.37 without and 0.15 with trends (seeds 1-6: drops of 0.17 to 0.30)
    assert trended.power < flat.power - 0.1


def test_a_negative_trend_sd_is_refused_by_the_power_simulation() -> None:
    with pytest.raises(ModelSpecificationError, match="sd_trend"):
        power_simulation(SHIPPED, simulations=1, sd_trend=-0.1, **FAST)
