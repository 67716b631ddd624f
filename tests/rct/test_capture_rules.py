"""Data-quality rules: the outlier rule's tail probabilities match the Poisson formula
computed independently, and each rule fires where documented and not elsewhere."""

from __future__ import annotations

import math

import pytest

from protocols import load_protocol, shipped_protocol_path
from rct.capture.rules import TAIL, count_outlier, evaluate

P = load_protocol(shipped_protocol_path())


def poisson_upper(x: int, lam: float) -> float:
    """P(X >= x) for X ~ Poisson(lam), summed directly (independent of scipy)."""
    return 1.0 - sum(math.exp(-lam) * lam**k / math.factorial(k) for k in range(x))


@pytest.mark.parametrize("x", range(0, 16))
def test_small_count_rule_agrees_with_the_poisson_tail(x: int) -> None:
    fires, m, sd = count_outlier(x, [2, 2, 2, 2])
    lower = 1.0 - poisson_upper(x + 1, 2.0)
    assert m == 2.0 and sd == pytest.approx(math.sqrt(2.0))
    assert fires == (poisson_upper(x, 2.0) < TAIL or lower < TAIL)


def test_documented_thresholds_for_small_counts() -> None:
    assert count_outlier(9, [2, 2, 2, 2])[0] and not count_outlier(8, [2, 2, 2, 2])[0]


def test_overdispersed_history_widens_the_limits() -> None:
    # 70 against a flat history of 40s fires; against a history that varies widely it does not
    assert count_outlier(70, [40, 40, 40, 40])[0]
    assert not count_outlier(70, [20, 60, 30, 55, 40])[0]


def history(
    unit: str, ind: str, values: list[float], start: int = 0
) -> dict[tuple[str, str, str], float]:
    qs = [str(q) for q in P.schedule.quarters]
    return {(unit, qs[start + k], ind): v for k, v in enumerate(values)}


def test_outlier_needs_four_quarters_of_history() -> None:
    vals = history("camden", "da_re_referrals", [10, 10, 10, 80])
    assert evaluate(P, vals, [k for k in vals if k[1] == "2025-Q4"]) == []
    vals = history("camden", "da_re_referrals", [10, 10, 10, 10, 80])
    found = evaluate(P, vals, [k for k in vals if k[1] == "2026-Q1"])
    assert [f.rule for f in found] == ["outlier_history"]


def test_a_zero_where_the_borough_usually_counts_is_queried() -> None:
    vals = history("camden", "cp_plans_with_da", [30, 28, 35, 0])
    found = evaluate(P, vals, [("camden", "2025-Q4", "cp_plans_with_da")])
    assert [f.rule for f in found] == ["zero_where_usually_counts"]
    assert "blank, not 0" in found[0].message


def test_consistency_rules_between_indicators() -> None:
    q = "2025-Q1"
    vals = {
        ("camden", q, "da_referral_at_intake"): 70.0,
        ("camden", q, "da_flagged_after_assessment"): 4.0,
        ("camden", q, "cp_plans_with_da"): 16.0,
    }
    rules = sorted(f.rule for f in evaluate(P, vals, list(vals)))
    assert rules == ["cp_plans_exceed_flagged", "flagged_far_below_intake"]
    ok = {**vals, ("camden", q, "da_flagged_after_assessment"): 40.0}
    assert evaluate(P, ok, list(ok)) == []


def nb_pmf(k: int, mean: float, var: float) -> float:
    """Negative binomial pmf with the given mean and variance, from log-gamma directly."""
    n, p = mean * mean / (var - mean), mean / var
    return math.exp(
        math.lgamma(k + n)
        - math.lgamma(n)
        - math.lgamma(k + 1)
        + n * math.log(p)
        + k * math.log(1 - p)
    )


@pytest.mark.parametrize("x", [0, 20, 35, 60, 75, 120])
def test_overdispersed_tails_agree_with_the_negative_binomial_sum(x: int) -> None:
    from rct.capture.rules import tails

    history: list[float] = [20, 60, 30, 55, 40]  # median 40, MAD 15: variance (1.4826 * 15)^2
    lower, upper, m, v = tails(x, history)
    assert m == 40 and v == pytest.approx((1.4826 * 15) ** 2)
    exact_lower = sum(nb_pmf(k, m, v) for k in range(x + 1))
    assert lower == pytest.approx(exact_lower, rel=1e-9, abs=1e-15)
    assert upper == pytest.approx(1 - exact_lower + nb_pmf(x, m, v), rel=1e-9, abs=1e-12)
