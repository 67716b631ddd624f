"""ICC estimators: ranges, known cases, latent-scale formulas."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.errors import ModelSpecificationError
from analysis.glmm import fit_glmm
from analysis.glmm.families import Array
from analysis.icc import icc_anova, icc_latent

DATA = Path(__file__).resolve().parents[2] / "tools" / "r_reference" / "data"
COUNTS = pd.read_csv(DATA / "sim_trial_counts.csv")


def test_anova_icc_is_zero_when_clusters_do_not_differ() -> None:
    data = pd.DataFrame(
        {"g": np.repeat(list("ABCD"), 5), "y": np.tile([1.0, 2.0, 3.0, 4.0, 5.0], 4)}
    )
    res = icc_anova(data, "y", "g")
    assert res.icc == 0.0 and res.ci[0] == 0.0


def test_anova_icc_interval_brackets_estimate() -> None:
    data = COUNTS.assign(lrate=np.log(COUNTS["count"] / COUNTS["population"]))
    res = icc_anova(data, "lrate", "borough")
    assert res.ci[0] <= res.icc <= res.ci[1]


def test_latent_poisson_icc_uses_nakagawa_distribution_specific_variance() -> None:
    fit = fit_glmm(
        COUNTS, "count ~ arm + post + treat", "borough", family="poisson", exposure="population"
    )
    res = icc_latent(
        COUNTS, "count ~ arm + post + treat", "borough", family="poisson", exposure="population"
    )
    s2 = fit.variance_components["cluster"]
    eta = (
        fit.params["Intercept"]
        + fit.params["arm"] * COUNTS["arm"]
        + fit.params["post"] * COUNTS["post"]
        + fit.params["treat"] * COUNTS["treat"]
        + np.log(COUNTS["population"])
    )
    lam = np.mean(np.exp(eta + s2 / 2))
    assert res.icc == pytest.approx(s2 / (s2 + np.log1p(1 / lam)), rel=1e-10)
    assert res.ci[0] < res.icc < res.ci[1]


def test_latent_icc_for_gaussian_family_is_refused() -> None:
    with pytest.raises(ModelSpecificationError):
        icc_latent(COUNTS, "count ~ arm", "borough", family="gaussian")


def test_profile_limits_solve_the_profile_equation_with_a_handful_of_refits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The latent ICC's interval reuses the fit's optimum and needs few constrained refits
    (warm-started Newton on the signed root), yet each limit satisfies the profile equation
    D(s) - D_min = chi2(0.95, 1) to far better than the interval's reported precision."""
    from scipy import stats

    import analysis.icc as icc
    from analysis.glmm.model import Problem, best_fit, build_problem

    prob = build_problem(
        COUNTS,
        "count ~ arm + post + treat",
        "borough",
        family="poisson",
        offset=None,
        exposure="population",
        trials=None,
        nagq=1,
    )
    x_hat, _, _ = best_fit(prob)
    refits: list[float] = []
    original = icc._constrained_fit

    def counting(p: Problem, sd: float, z0: Array) -> Array:
        refits.append(sd)
        return original(p, sd, z0)

    monkeypatch.setattr(icc, "_constrained_fit", counting)
    lo, hi = icc.profile_limits(prob, x_hat)
    assert 0 < lo < x_hat[0] < hi
    assert len(refits) <= 12
    d_min, crit = prob.objective(x_hat), stats.chi2.ppf(0.95, 1)
    for limit in (lo, hi):
        monkeypatch.setattr(icc, "_constrained_fit", original)
        z = original(prob, limit, x_hat[1:])
        assert prob.objective(np.r_[limit, z]) - d_min == pytest.approx(crit, abs=1e-6)
