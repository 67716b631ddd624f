"""Covariate-adjusted randomisation test over the actual scheme space, and its CI.

The test of Gail et al. (1996, Stat Med 15:1069-1092), as in cvcrand's ``cptest``
(Li et al. 2016): fit the outcome model *without* the intervention, aggregate residuals per
cluster, and take as statistic the difference in mean cluster residual between arms. Its
randomisation distribution is the statistic recomputed for every admissible scheme; the
two-sided p-value is the proportion of schemes with ``|T| >= |T_observed|``, so over an
enumerated space it is exactly ``k / |space|``.

Cluster residual (``residual=``):

* ``"ratio"`` - ``log(sum O / sum E)`` per cluster (counts or binary; natural with
  exposures of different sizes);
* ``"mean"`` - the mean response residual ``y - fitted`` per cluster (cvcrand uses the
  GLM working residuals for binary outcomes; response residuals are used here for every
  family).

Confidence interval by test inversion (Rabideau & Wang 2021, Stat Med 40:4634-4650;
Garthwaite 1996, Biometrics 52:1387-1393, searches by stochastic approximation; with an
enumerated space the p-value is computed exactly, so the limits are found by bisection):
for a candidate effect ``delta`` the rows exposed under the *actual* allocation get
``delta`` added to their offset (log rate/odds ratio) or subtracted from their outcome
(gaussian), the model without intervention is refitted, and ``delta`` is in the interval
when the test of that shifted null is not rejected at ``1 - level``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import optimize

from analysis.coded_warnings import CodedWarning
from analysis.errors import DataError, ModelSpecificationError, RandomisationSpaceError
from analysis.glmm.design import Design, build_design
from analysis.shared.glm import GLM_FAMILIES, fit_glm
from analysis.shared.results import TestResult

__all__ = ["RandomisationResult", "randomisation_test"]

_REL_TIE = 1e-9


@dataclass(frozen=True)
class RandomisationResult:
    """Outcome of a randomisation test: statistic, exact p-value and inverted-test CI."""

    statistic: float
    pvalue: float
    count: int
    n_schemes: int
    estimate: float
    ci: tuple[float, float]
    level: float
    cluster_residuals: dict[str, float] = field(default_factory=dict)
    warnings: tuple[CodedWarning, ...] = ()

    def to_test_result(self) -> TestResult:
        return TestResult(
            statistic=self.statistic,
            pvalue=self.pvalue,
            distribution="randomisation",
            df=(float(self.n_schemes),),
            null="no intervention effect in any cluster",
        )


def _check_space(schemes: NDArray[np.int_], actual: NDArray[np.int_], ngroups: int) -> None:
    if schemes.ndim != 2 or schemes.shape[1] != ngroups:
        raise RandomisationSpaceError(f"schemes must be a 2-D array with {ngroups} columns")
    if not np.isin(schemes, (0, 1)).all() or not np.isin(actual, (0, 1)).all():
        raise RandomisationSpaceError("schemes and actual allocation must be 0/1")
    if actual.shape != (ngroups,):
        raise RandomisationSpaceError("actual allocation has the wrong length")
    if not (schemes == actual).all(axis=1).any():
        raise RandomisationSpaceError("the actual allocation is not a scheme of the space")
    n1 = schemes.sum(axis=1)
    if np.any(n1 == 0) or np.any(n1 == ngroups):
        raise RandomisationSpaceError("every scheme needs clusters in both arms")


def _statistics(schemes: NDArray[np.float64], resid: NDArray[np.float64]) -> NDArray[np.float64]:
    n1 = schemes.sum(axis=1)
    return np.asarray(schemes @ resid / n1 - (1 - schemes) @ resid / (schemes.shape[1] - n1))


class _Tester:
    """Residuals and statistics for a given null effect ``delta``."""

    def __init__(
        self, design: Design, family: str, residual: str, exposed: NDArray[np.float64]
    ) -> None:
        self.design, self.family, self.residual, self.exposed = design, family, residual, exposed

    def residuals(self, delta: float) -> NDArray[np.float64]:
        d = self.design
        y, off = d.y, d.offset
        if self.family == "gaussian":
            y = y - delta * self.exposed
        else:
            off = off + delta * self.exposed
        fitted = fit_glm(y, d.X, self.family, offset=off).fitted
        g, G = d.group, d.ngroups
        if self.residual == "ratio":
            obs = np.bincount(g, weights=y, minlength=G)
            exp_ = np.bincount(g, weights=fitted, minlength=G)
            if np.any(obs <= 0):
                empty = ", ".join(str(d.group_labels[i]) for i in np.flatnonzero(obs <= 0))
                raise DataError(
                    f"a cluster has no events ({empty}): the ratio residual "
                    "log(observed / expected) needs at least one event in every cluster "
                    "(the mean residual, residual='mean', does not)"
                )
            return np.asarray(np.log(obs / exp_))
        return np.asarray(
            np.bincount(g, weights=y - fitted, minlength=G) / np.bincount(g, minlength=G)
        )


def randomisation_test(
    data: pd.DataFrame,
    formula: str,
    group: str,
    schemes: NDArray[np.int_],
    actual: NDArray[np.int_],
    *,
    units: list[str] | None = None,
    family: str = "poisson",
    exposure: str | None = None,
    post_indicator: str | None = None,
    residual: str = "ratio",
    level: float = 0.95,
    ci: bool = True,
) -> RandomisationResult:
    """Randomisation test of no intervention effect over an admissible scheme space.

    Parameters
    ----------
    data : pandas.DataFrame
    formula : str
        Outcome model *without* the intervention, e.g. ``"count ~ C(quarter) + baseline"``.
    group : str
        Cluster column.
    schemes : ndarray (n_schemes, n_clusters) of 0/1
        The admissible scheme space, columns in the order of ``units``.
    actual : ndarray (n_clusters,)
        The allocation actually used (a row of ``schemes``).
    units : list of str, optional
        Cluster labels in column order (default: sorted labels).
    family : {"poisson", "binomial", "gaussian"}
    exposure : str, optional
        Exposure column (log offset), e.g. child population.
    post_indicator : str, optional
        0/1 column; only follow-up rows (1) enter the statistic and the model.
    residual : {"ratio", "mean"}
    level : float
        Confidence level of the inverted-test interval.
    ci : bool
        Whether to compute the interval (a few hundred GLM fits).
    """
    if family not in GLM_FAMILIES:
        raise ModelSpecificationError(f"unknown family {family!r}")
    if residual not in ("ratio", "mean") or (residual == "ratio" and family == "gaussian"):
        raise ModelSpecificationError("residual must be 'ratio' (counts, binary) or 'mean'")
    rows = data if post_indicator is None else data[data[post_indicator] == 1]
    design = build_design(rows, formula, group, exposure=exposure)
    labels = list(design.group_labels)
    order = labels if units is None else [str(u) for u in units]
    if sorted(order) != labels:
        # name them: "units do not match" left a statistician to guess that a borough with
        # no values at all cannot take part in a test over the whole scheme space
        absent = sorted(set(order) - set(labels))
        extra = sorted(set(labels) - set(order))
        detail = "; ".join(
            text
            for text in (
                f"no data for {', '.join(absent)}" if absent else "",
                f"data for units outside the scheme space: {', '.join(extra)}" if extra else "",
            )
            if text
        )
        raise RandomisationSpaceError(
            "units do not match the clusters in the data"
            + (f" ({detail}): the test needs every unit of the scheme space" if detail else "")
        )
    S = np.asarray(schemes)
    a = np.asarray(actual)
    _check_space(S, a, len(order))
    # reorder columns from the caller's unit order to the design's sorted order
    perm = [order.index(lab) for lab in labels]
    S_sorted = S[:, perm].astype(np.float64)
    a_sorted = a[perm].astype(np.float64)
    exposed = a_sorted[design.group]
    tester = _Tester(design, family, residual, exposed)
    actual_row = int(np.flatnonzero((S == a).all(axis=1))[0])

    def pvalue(delta: float) -> tuple[float, int, float, NDArray[np.float64]]:
        r = tester.residuals(delta)
        t = _statistics(S_sorted, r)
        t_obs = float(t[actual_row])
        k = int(np.sum(np.abs(t) >= abs(t_obs) * (1 - _REL_TIE) - 1e-14))
        return k / len(t), k, t_obs, r

    p0, k0, t0, r0 = pvalue(0.0)
    if not (np.all(np.isfinite(r0)) and math.isfinite(t0)):
        # a NaN statistic counted no scheme as extreme: p = 0 reported as "significant"
        raise DataError(
            "the cluster residuals of the null model are not finite numbers, so no "
            "randomisation statistic can be computed from these data"
        )
    unit = 1.0 if residual == "ratio" else float(np.sqrt(np.mean(design.y**2)))
    if float(np.ptp(r0)) <= 1e-10 * max(unit, 1e-300):
        # identical values everywhere: every scheme's statistic is 0 or rounding noise,
        # and the p-value counts noise (found by tests/analysis/test_sap_hostile.py)
        raise DataError(
            "the cluster residuals of the null model do not vary (are the values identical "
            "in every cluster?), so the randomisation test has nothing to compare"
        )
    warns: list[CodedWarning] = []
    alpha = 1 - level
    estimate = float("nan")
    lo, hi = -np.inf, np.inf
    if ci:
        # a Gaussian effect is on the outcome's own scale: search as far as the interval
        # does (the fixed +-64 failed to bracket an effect of -3e6 on rates of 1e7)
        reach = 5.0 if family != "gaussian" else max(5.0, 10.0 * float(np.std(design.y)))
        estimate = _zero_of_statistic(lambda d: pvalue(d)[2], reach)
        # beyond a rate/odds ratio of e^20 (or 100 outcome SDs) an effect is treated as unbounded
        span = 20.0 if family != "gaussian" else 100.0 * float(np.std(design.y) + 1e-12)
        lo, hi = _invert(lambda d: pvalue(d)[0], estimate, alpha, span)
        if not np.isfinite(lo) or not np.isfinite(hi):
            warns.append(
                CodedWarning(
                    "unbounded-interval",
                    f"the scheme space ({len(S)} schemes) cannot reject any effect at level "
                    f"{alpha:g}: the confidence interval is unbounded",
                )
            )
    return RandomisationResult(
        statistic=t0,
        pvalue=p0,
        count=k0,
        n_schemes=len(S),
        estimate=estimate,
        ci=(float(lo), float(hi)),
        level=level,
        cluster_residuals=dict(zip(labels, (float(v) for v in r0))),
        warnings=tuple(warns),
    )


def _zero_of_statistic(f: Callable[[float], float], span: float = 5.0) -> float:
    """The effect at which the observed statistic is zero (the interval's centre)."""
    a, b = -1.0, 1.0
    fa, fb = f(a), f(b)
    while fa * fb > 0 and b < span * 10:
        a, b = a * 2, b * 2
        fa, fb = f(a), f(b)
    if fa * fb > 0:
        raise DataError("cannot locate the effect estimate by test inversion")
    return float(optimize.brentq(f, a, b, xtol=1e-10))


def _invert(
    f: Callable[[float], float], centre: float, alpha: float, max_step: float, tol: float = 1e-6
) -> tuple[float, float]:
    """Limits of {delta : p(delta) > alpha} around ``centre`` by bracketing and bisection."""
    limits = []
    for direction in (-1.0, 1.0):
        inside, step = centre, 0.05
        outside = None
        for _ in range(60):
            cand = centre + direction * step
            if f(cand) <= alpha:
                outside = cand
                break
            inside = cand
            step *= 2
            if step > max_step:
                break
        if outside is None:
            limits.append(direction * np.inf)
            continue
        # at least a few float steps apart: on an outcome of scale 1e13 two neighbouring
        # doubles are more than ``tol`` apart, the midpoint equalled an end and the loop
        # never ended (found by tests/analysis/test_sap_hostile.py)
        close = max(tol, 4.0 * float(np.spacing(max(abs(inside), abs(outside)))))
        while abs(outside - inside) > close:
            mid = 0.5 * (inside + outside)
            if f(mid) > alpha:
                inside = mid
            else:
                outside = mid
        limits.append(0.5 * (inside + outside))
    return limits[0], limits[1]
