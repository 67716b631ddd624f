"""Covariate-adjusted cluster-level analysis (two-stage, Hayes & Moulton 2017, ch. 10).

With seven clusters the simplest valid analysis works on one number per cluster:

1. Stage one fits a regression of the outcome on the covariates but *not* the
   intervention (Poisson with log exposure for rates, logistic for proportions, linear
   for means) to the follow-up rows, and gives each row an expected value. With
   ``post_indicator`` and ``adjust_baseline=True`` each cluster's own baseline
   summary (log rate, logit proportion or mean over the baseline rows) is added as a
   cluster-level covariate.
2. Each cluster gets a residual: the ratio residual ``log(sum O / sum E)`` (Bennett et al.
   2002, Stat Med 21:1551-1563, for rates) or the difference residual
   ``(sum O - sum E) / exposure`` (rate, risk or mean difference per unit exposure).
3. An unpaired t-test compares the mean residual between arms. The pooled variance has
   ``G - 2`` degrees of freedom as usual; the reference t distribution has
   ``G - 2 - q`` degrees of freedom, ``q`` the number of cluster-level covariate columns
   in stage one (Hayes & Moulton's adjustment). For ratio residuals the estimate and CI
   are reported as a rate (risk) ratio on exponentiation.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from analysis.errors import DataError, ModelSpecificationError
from analysis.glmm.design import build_design
from analysis.shared.dof import between_cluster_columns
from analysis.shared.glm import GLM_FAMILIES, fit_glm
from analysis.shared.results import FitResults

__all__ = ["cluster_level_analysis", "cluster_arms"]

#: Residuals spread less than this (relative to the outcome's scale) are rounding noise.
_NO_SPREAD = 1e-10


def cluster_arms(data: pd.DataFrame, group: str, arm: str) -> pd.Series:
    """The arm (0/1) of each cluster, indexed by sorted cluster label; refuses mixed arms."""
    for col in (group, arm):
        if col not in data.columns:
            raise DataError(f"column {col!r} is not in the data")
    # numpy rather than a pandas groupby: simulations call this thousands of times
    labels, codes = np.unique(data[group].astype(str).to_numpy(), return_inverse=True)
    coded = data[arm].to_numpy(dtype=np.float64)
    low = np.full(len(labels), np.inf)
    high = np.full(len(labels), -np.inf)
    np.minimum.at(low, codes.ravel(), coded)
    np.maximum.at(high, codes.ravel(), coded)
    if np.any(low != high):
        raise DataError(f"arm column {arm!r} varies within a cluster")
    if not set(low.tolist()) <= {0.0, 1.0}:
        raise DataError("arm must be coded 0 (control) / 1 (intervention)")
    if len(set(low.tolist())) < 2:
        raise DataError("both arms must be present")
    return pd.Series(low.astype(int), index=pd.Index(labels.tolist(), name=group), name="min")


def _baseline_summary(rows: pd.DataFrame, outcome: str, exposure: str | None, family: str) -> float:
    total = float(rows[outcome].sum())
    if family == "poisson":
        denom = float(rows[exposure].sum()) if exposure else float(len(rows))
        return float(np.log((total if total > 0 else 0.5) / denom))
    if family == "binomial":
        n = float(len(rows))
        p = min(max(total, 0.5), n - 0.5) / n
        return float(np.log(p / (1 - p)))
    return total / len(rows)


def cluster_level_analysis(
    data: pd.DataFrame,
    outcome: str,
    group: str,
    arm: str,
    covariates: str = "1",
    *,
    family: str = "poisson",
    exposure: str | None = None,
    post_indicator: str | None = None,
    adjust_baseline: bool = True,
    residual: str = "ratio",
) -> FitResults:
    """Two-stage cluster-level analysis.

    Parameters
    ----------
    data : pandas.DataFrame
        Row-level data (borough-quarters or children).
    outcome, group, arm : str
        Outcome column, cluster column, arm column (0/1, constant within cluster).
    covariates : str
        Right-hand side of the stage-one formula, without the intervention
        (e.g. ``"C(quarter)"``; ``"1"`` for none).
    family : {"poisson", "binomial", "gaussian"}
    exposure : str, optional
        Exposure column for rates (log taken as offset), e.g. child population.
    post_indicator : str, optional
        0/1 column marking follow-up rows; only these are analysed, and the baseline rows
        give the cluster baseline covariate when ``adjust_baseline``.
    residual : {"ratio", "difference"}

    Returns
    -------
    FitResults
        One coefficient, ``"intervention"``: the difference in mean log ratio residuals
        (log rate/risk ratio) or in mean difference residuals, with a t reference on
        ``G - 2 - q`` df. ``extra`` holds the cluster residuals, ``ratio`` and ``ratio_ci``
        (ratio residuals), ``t`` and ``q``.
    """
    if family not in GLM_FAMILIES:
        raise ModelSpecificationError(f"unknown family {family!r}; choose from {GLM_FAMILIES}")
    if residual not in ("ratio", "difference"):
        raise ModelSpecificationError("residual must be 'ratio' or 'difference'")
    if residual == "ratio" and family == "gaussian":
        raise ModelSpecificationError("ratio residuals need a count or binary outcome")
    arms = cluster_arms(data, group, arm)
    df_rows = data.copy()
    df_rows["_cluster"] = df_rows[group].astype(str)
    rhs = covariates
    if post_indicator is not None:
        base = df_rows[df_rows[post_indicator] == 0]
        df_rows = df_rows[df_rows[post_indicator] == 1].copy()
        if adjust_baseline:
            if set(base["_cluster"]) != set(df_rows["_cluster"]):
                raise DataError("every cluster needs baseline rows to adjust for baseline")
            summary = {
                c: _baseline_summary(r, outcome, exposure, family)
                for c, r in base.groupby("_cluster")
            }
            df_rows["_baseline"] = df_rows["_cluster"].map(summary)
            rhs = f"{covariates} + _baseline"
    design = build_design(df_rows, f"{outcome} ~ {rhs}", "_cluster", exposure=exposure)
    expected = fit_glm(design.y, design.X, family, offset=design.offset).fitted
    ngroups = design.ngroups
    obs = np.bincount(design.group, weights=design.y, minlength=ngroups)
    exp_ = np.bincount(design.group, weights=expected, minlength=ngroups)
    if residual == "ratio":
        if np.any(obs <= 0):
            empty = ", ".join(str(design.group_labels[i]) for i in np.flatnonzero(obs <= 0))
            raise DataError(
                f"a cluster has no events in follow-up ({empty}): the ratio residual "
                "log(observed / expected) needs at least one event in every cluster (the "
                "difference residual, residual='difference', does not)"
            )
        resid = np.log(obs / exp_)
    else:
        if family == "poisson" and exposure is not None:
            denom = np.bincount(design.group, weights=np.exp(design.offset), minlength=ngroups)
        else:
            denom = np.bincount(design.group, minlength=ngroups).astype(np.float64)
        resid = (obs - exp_) / denom
    labels = list(design.group_labels)
    a = arms.reindex(labels).to_numpy()
    if np.any(pd.isna(a)):
        raise DataError("some clusters have no follow-up rows")
    within = ~between_cluster_columns(design.X, design.group)
    q = int(np.sum(~within)) - 1  # cluster-level columns other than the intercept
    r1, r0 = resid[a == 1], resid[a == 0]
    if len(r1) < 2 or len(r0) < 2:
        raise DataError("each arm needs at least two clusters for a t-test")
    sp2 = (np.sum((r1 - r1.mean()) ** 2) + np.sum((r0 - r0.mean()) ** 2)) / (ngroups - 2)
    se = float(np.sqrt(sp2 * (1 / len(r1) + 1 / len(r0))))
    est = float(r1.mean() - r0.mean())
    dfree = float(ngroups - 2 - q)
    if dfree < 1:
        raise DataError(
            f"{ngroups} clusters leave no degrees of freedom after {q} cluster-level covariates"
        )
    # ratio residuals are on the log scale; difference residuals in the outcome's units
    unit = 1.0 if residual == "ratio" else float(np.sqrt(np.mean(design.y**2)))
    if not (math.isfinite(se) and se > _NO_SPREAD * max(unit, 1e-300)):
        # every cluster's residual equal within each arm (identical counts everywhere):
        # the t statistic divided by zero, or by rounding noise of 1e-15 and reported an
        # ordinary-looking p-value (found by tests/analysis/test_sap_hostile.py)
        raise DataError(
            "the cluster residuals do not vary within either arm, so the t-test has no "
            "variance to estimate (are the values identical in every cluster?)"
        )
    extra: dict[str, Any] = {
        "cluster_residuals": dict(zip(labels, (float(v) for v in resid))),
        "observed": dict(zip(labels, (float(v) for v in obs))),
        "expected": dict(zip(labels, (float(v) for v in exp_))),
        "q_cluster_level_covariates": q,
        "t": est / se,
        "residual": residual,
    }
    result = FitResults(
        params=pd.Series([est], index=["intervention"]),
        cov_params=pd.DataFrame([[se * se]], index=["intervention"], columns=["intervention"]),
        df=pd.Series([dfree], index=["intervention"]),
        model=f"cluster-level-{family}-{residual}",
        inference="t-test-hayes-moulton-df",
        nobs=design.nobs,
        ngroups=ngroups,
        extra=extra,
    )
    if residual == "ratio":
        ci = result.conf_int()
        extra["ratio"] = float(np.exp(est))
        extra["ratio_ci"] = [float(np.exp(ci.iloc[0, 0])), float(np.exp(ci.iloc[0, 1]))]
    return result
