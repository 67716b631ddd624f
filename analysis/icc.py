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

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from analysis.errors import ConvergenceError, DataError, ModelSpecificationError
from analysis.glmm.families import Array
from analysis.glmm.model import LOG_SIZE_MAX, SIZE_MAX, Problem, best_fit, build_problem
from analysis.glmm.optimise import minimise

__all__ = ["IccResult", "icc_anova", "icc_latent", "profile_cluster_sd", "profile_limits"]


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
    if not msw > 0:
        # F = msb / msw divided by zero (found by tests/analysis/test_sap_hostile.py)
        raise DataError(
            f"{outcome} does not vary within clusters: the ANOVA ICC and its interval are undefined"
        )
    n0 = (N - np.sum(sizes**2) / N) / (G - 1)
    icc = (msb - msw) / (msb + (n0 - 1) * msw)
    F = msb / msw
    a = 1 - level
    # F quantiles as scipy.stats' f.ppf computes them, without importing scipy.stats
    fl = F / special.fdtri(G - 1, N - G, 1 - a / 2)
    fu = F / special.fdtri(G - 1, N - G, a / 2)
    lo, hi = (fl - 1) / (fl + n0 - 1), (fu - 1) / (fu + n0 - 1)
    return IccResult(
        icc=float(max(icc, 0.0)),
        ci=(float(max(lo, 0.0)), float(min(max(hi, 0.0), 1.0))),
        level=level,
        method="anova-searle",
        scale="observed",
    )


#: Relative precision of the profile limits of the cluster SD. The interval is reported to
#: three or four significant digits and lme4's own (spline-interpolated) profile agrees with
#: the exact one to about 1e-4, so solving the limits more precisely buys nothing.
PROFILE_RTOL = 1e-6


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
    x_hat, _, _ = best_fit(prob)
    lo, hi = profile_limits(prob, x_hat, level=level)
    return abs(float(x_hat[0])), lo, hi


def chi2_1_quantile(level: float) -> float:
    """The ``level`` quantile of chi-squared on 1 df, as scipy.stats' ``chi2.ppf`` computes
    it, from scipy.special (scipy.stats costs about half a second to import)."""
    return float(2.0 * special.gammaincinv(0.5, level))


def profile_limits(prob: Problem, x_hat: Array, *, level: float = 0.95) -> tuple[float, float]:
    """Limits of the profile-likelihood interval of the cluster SD from a fitted optimum.

    The profile deviance ``D(s)`` re-minimises every other parameter at SD ``s``; by the
    envelope theorem its slope is the deviance's partial derivative in the SD at that
    constrained optimum, which the engine's exact gradient gives for free. Each limit
    solves ``sqrt(D(s) - D_min) = sqrt(chi2_level(1))`` (the signed root of the profile is
    close to linear in ``s``) by Newton's method, safeguarded by bisection once the limit
    is bracketed; every constrained refit starts from the previous one. A handful of refits
    per limit, instead of a bracketing search to 1e-8.
    """
    d_min = prob.objective(x_hat)
    target = float(np.sqrt(chi2_1_quantile(level)))
    sd_hat = abs(float(x_hat[0]))
    warm = {"z": x_hat[1:].copy()}

    def profile(sd: float) -> tuple[float, float]:
        """Signed-root distance to the target at ``sd`` and its derivative in ``sd``."""
        z = _constrained_fit(prob, sd, warm["z"])
        warm["z"] = z
        x = np.r_[sd, z]
        if prob.value_and_grad is not None:
            value, grad = prob.value_and_grad(x)
            slope = float(grad[0])
        else:
            value = prob.objective(x)
            h = 1e-6 * max(1.0, sd)
            slope = (prob.objective(np.r_[sd + h, z]) - prob.objective(np.r_[sd - h, z])) / (2 * h)
        excess = max(value - d_min, 1e-300)
        root = float(np.sqrt(excess))
        return root - target, slope / (2.0 * root)

    lower = 0.0
    if sd_hat > 1e-4:
        at_zero, _ = profile(0.0)
        warm["z"] = x_hat[1:].copy()
        if at_zero > 0:
            lower = _solve_limit(profile, sd_hat, sd_hat, 0.0, 0.5 * sd_hat)
    warm["z"] = x_hat[1:].copy()
    upper = _solve_limit(profile, sd_hat, sd_hat, np.inf, 1.5 * sd_hat + 0.05)
    return lower, upper


def _constrained_fit(prob: Problem, sd: float, z0: Array) -> Array:
    """The other parameters re-minimised with the cluster SD held at ``sd``."""

    def f(z: Array) -> float:
        return prob.objective(np.r_[sd, z])

    vg = None
    if prob.value_and_grad is not None:
        full = prob.value_and_grad

        def vg(z: Array) -> tuple[float, Array]:
            value, grad = full(np.r_[sd, z])
            return value, grad[1:]

    grads = None
    if prob.gradients is not None:
        batch = prob.gradients

        def grads(points: Array) -> Array:
            """The exact gradients at many points in one pass (the quasi-Newton Hessian's)."""
            return batch(np.column_stack((np.full(len(points), sd), points)))[:, 1:]

    z, _, _ = minimise(
        f,
        z0,
        prob.lower[1:],
        upper=prob.upper[1:],
        newton_steps=0,
        value_and_grad=vg,
        gradients=grads,
    )
    return z


def _solve_limit(
    profile: Callable[[float], tuple[float, float]],
    sd_hat: float,
    inside: float,
    outside: float,
    start: float,
) -> float:
    """Root of ``profile`` between the estimate and ``outside`` (0 or infinity)."""
    upward = outside > sd_hat
    # bracket: [inside, outside] with profile(inside) < 0 <= profile(outside)
    s = start
    for _ in range(60):
        r, slope = profile(s)
        if r < 0:
            inside = s
        else:
            outside = s
        if abs(r) < 1e-9:
            return s
        step_ok = slope != 0 and np.isfinite(slope)
        cand = s - r / slope if step_ok else np.nan
        lo_b, hi_b = (inside, outside) if upward else (outside, inside)
        if not (np.isfinite(cand) and lo_b < cand < hi_b):
            cand = 2.0 * s if np.isinf(outside) else 0.5 * (inside + outside)
        if abs(cand - s) <= PROFILE_RTOL * max(s, 1e-3):
            return float(cand)
        s = float(cand)
    raise ConvergenceError("the profile-likelihood limit of the cluster SD was not found")


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
    # one fit; the interval's refits start from its optimum
    x_hat, _, _ = best_fit(prob)
    lo, hi = profile_limits(prob, x_hat, level=level)
    s2 = float(x_hat[0]) ** 2
    s2_obs = float(x_hat[1]) ** 2 if family == "poisson_olre" else 0.0
    if family == "binomial":
        other = np.pi**2 / 3
    else:
        beta = x_hat[2:] if family in ("poisson_olre", "negative_binomial") else x_hat[1:]
        eta = prob.design.X @ beta + prob.design.offset
        lam = float(np.mean(np.exp(eta + 0.5 * (s2 + s2_obs))))
        extra = 0.0
        if family == "negative_binomial":
            at_bound = float(x_hat[1]) >= LOG_SIZE_MAX - 1e-4
            extra = 1.0 / (SIZE_MAX if at_bound else float(np.exp(x_hat[1])))
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
