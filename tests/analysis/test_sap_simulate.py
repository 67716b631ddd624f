"""The simulator: seeded, documented defaults, subsets consistent with the full simulation."""

from __future__ import annotations

import math
from typing import TypedDict

import numpy as np
import pytest

from analysis.errors import DataError, ModelSpecificationError
from analysis.sap.simulate import (
    DEFAULT_BASE_RATES,
    SimulationSettings,
    sd_from_cv,
    simulate_values,
)
from protocols import Quarter
from tests.analysis.test_sap_runner import ARMS, SHIPPED


class _Noise(TypedDict, total=False):
    sd_between: float
    quarter_sd: float
    sd_observation: float
    missing: float


QUIET = _Noise(sd_between=0.0, quarter_sd=0.0, sd_observation=0.0)


def test_the_same_seed_gives_the_same_values_and_another_seed_others() -> None:
    a = simulate_values(SHIPPED, ARMS, seed=7)
    assert a.equals(simulate_values(SHIPPED, ARMS, seed=7))
    assert not a["value"].equals(simulate_values(SHIPPED, ARMS, seed=8)["value"])


def test_one_row_per_unit_quarter_and_indicator_with_whole_non_negative_counts() -> None:
    v = simulate_values(SHIPPED, ARMS, seed=1)
    assert len(v) == 7 * len(SHIPPED.schedule.quarters) * 5
    assert not v.duplicated(["unit", "period", "indicator"]).any()
    assert (v["value"] >= 0).all() and (v["value"] == np.round(v["value"])).all()


def test_a_subset_of_quarters_reproduces_the_full_simulation() -> None:
    full = simulate_values(SHIPPED, ARMS, seed=3)
    follow = [str(q) for q in SHIPPED.schedule.follow_up]
    part = simulate_values(SHIPPED, ARMS, seed=3, quarters=follow, indicators=["da_re_referrals"])
    want = full[full["period"].isin(follow) & (full["indicator"] == "da_re_referrals")]
    assert part.reset_index(drop=True).equals(want.reset_index(drop=True))


def test_control_counts_average_the_base_rate_times_the_denominator() -> None:
    st = SimulationSettings(**QUIET)
    v = simulate_values(SHIPPED, ARMS, seed=4, settings=st, indicators=["cp_plans_with_da"])
    camden = v[v["unit"] == "camden"]  # control, 43,000 children
    assert ARMS["camden"] == "control"
    expected = 43000 * DEFAULT_BASE_RATES["cp_plans_with_da"] / 10000
    se = math.sqrt(expected / len(camden))
    assert abs(camden["value"].mean() - expected) < 4 * se


def test_the_rate_ratio_applies_to_intervention_units_in_follow_up_only() -> None:
    st = SimulationSettings(rate_ratios={"da_referral_at_intake": 0.5}, **QUIET)
    v = simulate_values(SHIPPED, ARMS, seed=5, settings=st, indicators=["da_referral_at_intake"])
    unit = next(u for u, a in ARMS.items() if a == "intervention")
    rows = v[v["unit"] == unit]
    phases = rows["period"].map(
        lambda p: SHIPPED.schedule.phase(__import__("protocols").Quarter.parse(p))
    )
    base = rows.loc[phases == "baseline", "value"].mean()
    follow = rows.loc[phases == "follow_up", "value"].mean()
    assert follow / base == pytest.approx(0.5, rel=0.15)


def test_referrals_at_intake_use_the_units_own_baseline_rate() -> None:
    st = SimulationSettings(**QUIET)
    v = simulate_values(SHIPPED, ARMS, seed=6, settings=st, indicators=["da_referral_at_intake"])
    tower = SHIPPED.unit("tower_hamlets").covariates
    expected = float(tower["child_population"]) * float(tower["baseline_da_referral_rate"]) / 10000
    rows = v[(v["unit"] == "tower_hamlets") & (v["period"] < "2026-Q4")]
    assert rows["value"].mean() == pytest.approx(expected, rel=0.05)


def test_missingness_blanks_cells_at_about_the_given_rate() -> None:
    v = simulate_values(SHIPPED, ARMS, seed=2, settings=SimulationSettings(missing=0.2))
    assert 0.15 < v["value"].isna().mean() < 0.25
    assert not simulate_values(SHIPPED, ARMS, seed=2)["value"].isna().any()


def test_negative_binomial_noise_is_overdispersed() -> None:
    st = SimulationSettings(noise="negative-binomial", nb_size=2.0, sd_between=0.0, quarter_sd=0.0)
    v = simulate_values(
        SHIPPED, ARMS, seed=9, settings=st, indicators=["da_flagged_after_assessment"]
    )
    rows = v[(v["unit"] == "enfield") & (v["period"] < "2026-Q4")]["value"]
    assert rows.var() > 3 * rows.mean()


def test_a_coefficient_of_variation_converts_to_a_log_scale_sd() -> None:
    assert sd_from_cv(0.0) == 0.0
    assert sd_from_cv(0.25) == pytest.approx(math.sqrt(math.log(1 + 0.0625)))


def test_bad_settings_and_missing_arms_are_refused() -> None:
    with pytest.raises(ModelSpecificationError):
        SimulationSettings(missing=1.0)
    with pytest.raises(ModelSpecificationError):
        SimulationSettings(noise="gamma")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="arms are missing"):
        simulate_values(SHIPPED, {"camden": "control"}, seed=1)


# Values of seed 7 (default settings, camden, re-referrals, every quarter) computed before
# unit-specific trends were added to the simulator: sd_trend = 0 must keep them.
SEED_7_CAMDEN_RE_REFERRALS = [16, 25, 31, 21, 20, 25, 25, 19, 24, 18, 31, 21, 24]


def test_without_trends_a_seed_gives_the_values_it_gave_before_trends_existed() -> None:
    v = simulate_values(SHIPPED, ARMS, seed=7, settings=SimulationSettings(sd_trend=0.0))
    rows = v[(v["unit"] == "camden") & (v["indicator"] == "da_re_referrals")]
    assert rows["value"].tolist() == SEED_7_CAMDEN_RE_REFERRALS


def test_trends_change_values_only_through_the_trend() -> None:
    # Deterministic means (no observation noise) so a count changes only if its mean does.
    quiet = _Noise(sd_observation=0.0, missing=0.3)
    flat = simulate_values(SHIPPED, ARMS, seed=11, settings=SimulationSettings(**quiet))
    trended = simulate_values(
        SHIPPED, ARMS, seed=11, settings=SimulationSettings(sd_trend=0.05, **quiet)
    )
    first = str(SHIPPED.schedule.quarters[0])
    at_start = flat["period"] == first
    # t = 0 in the first quarter: the trend has not moved anything there yet
    assert flat[at_start].equals(trended[at_start])
    # the same cells are missing (missingness draws are untouched)
    assert flat["value"].isna().equals(trended["value"].isna())
    later = ~at_start & flat["value"].notna()
    assert (flat.loc[later, "value"] != trended.loc[later, "value"]).mean() > 0.5


def test_trend_slopes_vary_between_units_with_the_given_sd() -> None:
    st = SimulationSettings(
        sd_trend=0.1,
        sd_between=0.0,
        quarter_sd=0.0,
        sd_observation=0.0,
        other_rate_ratio=1.0,
        rate_ratios={},
        base_rates={k: 1e6 for k in DEFAULT_BASE_RATES},  # huge counts: Poisson noise ~0.1%
        use_unit_referral_rate=False,
    )
    v = simulate_values(SHIPPED, ARMS, seed=12, settings=st)
    v["t"] = v["period"].map(lambda p: SHIPPED.schedule.quarters.index(Quarter.parse(p)))
    slopes = [
        np.polyfit(g["t"], np.log(g["value"]), 1)[0] for _, g in v.groupby(["unit", "indicator"])
    ]
    assert len(slopes) == 35
    # 35 slopes: the sample SD of N(0, 0.1^2) draws lies within 0.1 * (1 +- 0.5) w.p. > 0.9999
    assert 0.05 < float(np.std(slopes, ddof=1)) < 0.15


def test_a_negative_trend_sd_is_refused() -> None:
    with pytest.raises(ModelSpecificationError, match="sd_trend"):
        SimulationSettings(sd_trend=-0.01)
