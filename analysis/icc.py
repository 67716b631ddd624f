"""Intracluster correlation coefficients with confidence intervals, for every outcome.

* Gaussian outcomes (:func:`icc_anova`): the one-way ANOVA estimator
  ``(MSB - MSW) / (MSB + (n0 - 1) MSW)`` with ``n0 = (N - sum n_i^2 / N) / (G - 1)``, and
  the F-based interval of Searle (1971), exact for balanced clusters and, with ``n0``,
  the usual approximation for unbalanced ones (Thomas & Hultquist 1978; Donner & Wells
  1986). Estimates and limits below zero are reported as zero.
* Counts and binary outcomes (:func:`icc_latent`): the latent-scale ICC of a random-
  intercept GLMM (Nakagawa, Johnson & Schielzeth 2017, J R Soc Interface 14:20170213):
  ``s2 / (s2 + pi^2/3)`` for the logistic model; ``s2 / (s2 + s2_obs + log(1 + 1/lambda))``
  for the Poisson(-lognormal) model and ``s2 / (s2 + log(1 + 1/lambda + 1/k))`` for the
  NB2 model, with ``lambda`` the mean over observations of
  ``exp(fixed-effect linear predictor incl. offset + (s2 + s2_obs) / 2)``. The interval is
  the profile-likelihood interval of the cluster SD (the deviance rising by the
  chi-square(1) quantile, every other parameter re-maximised) carried through the ICC
  formula with the other terms at their estimates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

from analysis.errors import DataError, ModelSpecificationError
from analysis.glmm.model import build_problem, fit_glmm
from analysis.glmm.optimise import minimise

__all__ = ["IccResult", "icc_anova", "icc_latent", "profile_cluster_sd"]


@dataclass(frozen=True)
class IccResult:
    """An ICC with its confidence interval and how both were obtained."""

    icc: float
    ci: tuple[float, float]
    level: float
    method: str
    scale: str


def icc_anova(data: pd.DataFrame, outcome: str, group: str, *, level: float = 0.95) -> IccResult:
    """One-way ANOVA ICC of a Gaussian outcome with Searle's F-based interval."""
    for col in (outcome, group):
        if col not in data.columns:
            raise DataError(f"column {col!r} is not in the data")
    if data[outcome].isna().any():
        raise DataError(f"column {outcome!r} has missing values")
    y = data[outcome].to_numpy(dtype=np.float64)
    g = data[group].astype(str)
    sizes = g.value_counts().to_numpy(dtype=np.float64)
    G, N = len(sizes), float(len(y))
    if G < 2 or N - G < 1:
        raise DataError("the ANOVA ICC needs at least two clusters and some replication")
    means = pd.Series(y).groupby(g.to_numpy()).transform("mean").to_numpy()
    ssb = float(np.sum((means - y.mean()) ** 2))
    ssw = float(np.sum((y - means) ** 2))
    msb, msw = ssb / (G - 1), ssw / (N - G)
    n0 = (N - np.sum(sizes**2) / N) / (G - 1)
    icc = (msb - msw) / (msb + (n0 - 1) * msw)
    F = msb / msw
    a = 1 - level
    fl = F / stats.f.ppf(1 - a / 2, G - 1, N - G)
    fu = F / stats.f.ppf(a / 2, G - 1, N - G)
    lo, hi = (fl - 1) / (fl + n0 - 1), (fu - 1) / (fu + n0 - 1)
    return IccResult(
        icc=float(max(icc, 0.0)),
        ci=(float(max(lo, 0.0)), float(min(max(hi, 0.0), 1.0))),
        level=level,
        method="anova-searle",
        scale="observed",
    )


def profile_cluster_sd(
    data: pd.DataFrame,
    formula: str,
    group: str,
    *,
    family: str,
    exposure: str | None = None,
    offset: str | None = None,
    trials: str | None = None,
    nagq: int = 1,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """Profile-likelihood interval of the cluster random-effect SD: (estimate, lower, upper)."""
    prob = build_problem(
        data,
        formula,
        group,
        family=family,
        offset=offset,
        exposure=exposure,
        trials=trials,
        nagq=nagq,
    )
    x_hat, _, _ = minimise(prob.objective, prob.x0, prob.lower)
    d_min = prob.objective(x_hat)
    crit = float(stats.chi2.ppf(level, 1))
    sd_hat = abs(float(x_hat[0]))

    def excess(sd: float) -> float:
        def f(z: np.ndarray) -> float:
            return prob.objective(np.r_[sd, z])

        z, _, _ = minimise(f, x_hat[1:], prob.lower[1:], newton_steps=0)
        return f(z) - d_min - crit

    lower = 0.0
    if sd_hat > 1e-4 and excess(0.0) > 0:
        lower = float(optimize.brentq(excess, 0.0, sd_hat, xtol=1e-8))
    hi = max(2 * sd_hat, 0.1)
    for _ in range(30):
        if excess(hi) > 0:
            break
        hi *= 2
    upper = float(optimize.brentq(excess, sd_hat, hi, xtol=1e-8))
    return sd_hat, lower, upper


def icc_latent(
    data: pd.DataFrame,
    formula: str,
    group: str,
    *,
    family: str,
    exposure: str | None = None,
    offset: str | None = None,
    trials: str | None = None,
    nagq: int = 1,
    level: float = 0.95,
) -> IccResult:
    """Latent-scale ICC of a random-intercept GLMM with a profile-likelihood interval."""
    if family not in ("binomial", "poisson", "poisson_olre", "negative_binomial"):
        raise ModelSpecificationError(f"no latent-scale ICC for family {family!r}")
    fit = fit_glmm(
        data,
        formula,
        group,
        family=family,
        exposure=exposure,
        offset=offset,
        trials=trials,
        nagq=nagq,
    )
    _, lo, hi = profile_cluster_sd(
        data,
        formula,
        group,
        family=family,
        exposure=exposure,
        offset=offset,
        trials=trials,
        nagq=nagq,
        level=level,
    )
    s2 = float(fit.variance_components["cluster"])
    s2_obs = float(fit.variance_components.get("observation", 0.0))
    if family == "binomial":
        other = np.pi**2 / 3
    else:
        prob = build_problem(
            data,
            formula,
            group,
            family=family,
            offset=offset,
            exposure=exposure,
            trials=trials,
            nagq=nagq,
        )
        eta = prob.design.X @ fit.params.to_numpy() + prob.design.offset
        lam = float(np.mean(np.exp(eta + 0.5 * (s2 + s2_obs))))
        extra = 1.0 / float(fit.extra["size"]) if family == "negative_binomial" else 0.0
        other = s2_obs + float(np.log1p(1.0 / lam + extra))

    def to_icc(v: float) -> float:
        return v / (v + other)

    return IccResult(
        icc=to_icc(s2),
        ci=(to_icc(lo**2), to_icc(hi**2)),
        level=level,
        method="glmm-profile-likelihood",
        scale="latent",
    )
