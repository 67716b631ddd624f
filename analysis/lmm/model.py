"""The linear mixed model ``y = X beta + Z u + e`` with one grouping factor, fitted by (RE)ML.

Random effects are nested in the cluster: lme4-style terms (``(1 | g)``, ``(1 | g:f)``,
``(1 + t | g)``, ``(0 + t | g)``, see :mod:`analysis.shared.random_effects`) or, from arrays,
one unstructured covariance over the columns of ``Z``. The fit profiles out beta and sigma^2
and minimises the
deviance over lme4's theta (see :mod:`analysis.lmm.likelihood`); inference on the fixed
effects uses a degrees-of-freedom method looked up in a registry: ``"satterthwaite"``
(lmerTest), ``"kenward-roger"`` (pbkrtest, adjusted covariance), ``"between-within"`` (SAS
DDFM=BW, :mod:`analysis.shared.dof`), ``"residual"`` (``n - p``) or ``"normal"`` (z tests).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from analysis.coded_warnings import CodedWarning
from analysis.lmm.design import MixedDesign, design_from_arrays, design_from_formula
from analysis.lmm.errors import DesignError, FitOptionError
from analysis.lmm.inference import kenward_roger, satterthwaite
from analysis.lmm.likelihood import deviance_and_gradient, evaluate, profiled_deviance
from analysis.lmm.optimize import ThetaOptimum, minimise_theta
from analysis.lmm.structure import Unstructured
from analysis.shared.dof import between_within_df
from analysis.shared.results import FitResults

__all__ = ["DF_METHODS", "LinearMixedModel"]

FloatArray = NDArray[np.float64]
METHODS = ("reml", "ml")


class _Inference(NamedTuple):
    """What a df method contributes: df per coefficient, covariance, extras, warnings."""

    df: FloatArray
    cov: FloatArray
    extra: dict[str, Any]
    warnings: list[CodedWarning]


class _Fitted:
    """Point estimates at the optimum, shared by every df method."""

    def __init__(self, design: MixedDesign, opt: ThetaOptimum, reml: bool) -> None:
        st = evaluate(design, opt.theta)
        self.theta = opt.theta
        self.reml = reml
        self.beta = st.beta
        denom = design.nobs - design.p if reml else design.nobs
        self.sigma2 = st.pwrss / denom
        vcov = self.sigma2 * np.linalg.inv(st.xtvix)
        self.vcov: FloatArray = np.asarray(0.5 * (vcov + vcov.T), dtype=np.float64)
        lam = design.covariance.lambda_block(opt.theta)
        self.re_cov = self.sigma2 * lam @ lam.T
        self.criterion = opt.deviance


def _df_satterthwaite(design: MixedDesign, f: _Fitted) -> _Inference:
    s = satterthwaite(design, f.theta, float(np.sqrt(f.sigma2)), f.vcov, reml=f.reml)
    return _Inference(s.df, f.vcov, {"vcov_varpar": s.vcov_varpar.tolist()}, list(s.warnings))


def _df_kenward_roger(design: MixedDesign, f: _Fitted) -> _Inference:
    if not f.reml:
        raise FitOptionError(
            "Kenward-Roger inference is only defined for REML fits; use method='reml'"
        )
    kr = kenward_roger(design, f.theta, float(np.sqrt(f.sigma2)), f.vcov)
    vadj = np.asarray(0.5 * (kr.vcov_adjusted + kr.vcov_adjusted.T), dtype=np.float64)
    return _Inference(kr.df, vadj, {"vcov_unadjusted": f.vcov.tolist()}, [])


def _df_between_within(design: MixedDesign, f: _Fitted) -> _Inference:
    return _Inference(between_within_df(design.X, design.codes), f.vcov, {}, [])


def _df_residual(design: MixedDesign, f: _Fitted) -> _Inference:
    return _Inference(np.full(design.p, float(design.nobs - design.p)), f.vcov, {}, [])


def _df_normal(design: MixedDesign, f: _Fitted) -> _Inference:
    return _Inference(np.full(design.p, np.inf), f.vcov, {}, [])


_DfMethod = Callable[[MixedDesign, _Fitted], _Inference]
DF_METHODS: dict[str, _DfMethod] = {
    "satterthwaite": _df_satterthwaite,
    "kenward-roger": _df_kenward_roger,
    "between-within": _df_between_within,
    "residual": _df_residual,
    "normal": _df_normal,
}


class LinearMixedModel:
    """Linear mixed model with random effects nested in one grouping factor.

    The array constructor takes one unstructured covariance over the columns of ``Z``;
    :meth:`from_formula` also takes lme4-style terms such as ``(1 | g) + (1 | g:post)``.

    Parameters
    ----------
    y : array_like, shape (n,)
    X : array_like, shape (n, p)
        Fixed-effects design, including its intercept column.
    groups : array_like, shape (n,)
        Cluster of each row.
    Z : array_like, shape (n, q), optional
        Random-effects design of each row (intercept column first); default a random
        intercept only.
    fixed_names, random_names : sequence of str, optional
    group_name : str
        Name of the grouping factor, used to name the variance components.

    Examples
    --------
    >>> model = LinearMixedModel.from_formula("Reaction ~ Days", sleep, groups="Subject",
    ...                                       re_formula="~ Days")  # doctest: +SKIP
    >>> res = model.fit(method="reml", df_method="kenward-roger")  # doctest: +SKIP
    >>> LinearMixedModel.from_formula(
    ...     "rate ~ arm * post + t + (1 | borough) + (1 | borough:quarter)", trial
    ... )  # doctest: +SKIP
    """

    def __init__(
        self,
        y: ArrayLike,
        X: ArrayLike,
        groups: ArrayLike,
        Z: ArrayLike | None = None,
        *,
        fixed_names: Sequence[str] | None = None,
        random_names: Sequence[str] | None = None,
        group_name: str = "group",
    ) -> None:
        self.design = design_from_arrays(
            y,
            X,
            groups,
            Z,
            fixed_names=fixed_names,
            random_names=random_names,
            group_name=group_name,
        )

    @classmethod
    def from_design(cls, design: MixedDesign) -> LinearMixedModel:
        """Wrap an already built :class:`MixedDesign`."""
        model = cls.__new__(cls)
        model.design = design
        return model

    @classmethod
    def from_formula(
        cls,
        formula: str,
        data: pd.DataFrame,
        *,
        groups: str | None = None,
        re_formula: str | None = None,
        random: str | Sequence[str] | None = None,
    ) -> LinearMixedModel:
        """Build from a formula such as ``"y ~ arm * post + period"`` (patsy / R syntax).

        Random effects, nested in the cluster, are given one of three ways:

        * lme4-style terms in the formula or as ``random``: ``"(1 | borough) +
          (1 | borough:post)"`` (borough x phase), ``"(1 | borough) + (1 | borough:quarter)"``
          (cluster-period), ``"(1 + t | borough)"`` (correlated slope), ``"(1 | borough) +
          (0 + t | borough)"`` (uncorrelated slope);
        * ``re_formula``, e.g. ``"~ Days"`` for lme4's ``(1 + Days | g)``, with ``groups``;
        * neither: a random intercept ``(1 | groups)``.

        Raises
        ------
        DesignError
            Also for a random term the data cannot identify, naming it.
        """
        return cls.from_design(
            design_from_formula(formula, data, groups, re_formula, random=random)
        )

    def variance_component_names(self) -> list[str]:
        """Names of theta's entries in lme4's order (``group.term``, ``group.term2.term1``
        for an off-diagonal entry), as ``names(getME(fit, "theta"))``."""
        return list(self.design.covariance.theta_names)

    def deviance(self, theta: ArrayLike, *, method: str = "reml") -> float:
        """Profiled deviance (``"ml"``) or REML criterion (``"reml"``) at ``theta``, as lme4 reports."""
        return profiled_deviance(self.design, np.asarray(theta, dtype=float), reml=_reml(method))

    def fit(
        self,
        *,
        method: str = "reml",
        df_method: str = "satterthwaite",
        start: ArrayLike | None = None,
    ) -> FitResults:
        """Fit by REML or ML and attach small-sample inference for the fixed effects.

        Parameters
        ----------
        method : {"reml", "ml"}
        df_method : {"satterthwaite", "kenward-roger", "between-within", "residual", "normal"}
            ``"kenward-roger"`` also replaces the covariance of the estimates by the
            Kenward-Roger adjusted one (REML only).
        start : array_like, optional
            Starting theta; default lme4's (identity relative factor).

        Returns
        -------
        FitResults
            ``extra`` holds ``loglik``, ``reml_criterion`` or ``deviance``, ``theta``,
            ``sigma``, ``aic``, ``bic``, the random-effect correlations, ``icc`` (random
            intercept models) and the optimiser's report.

        Raises
        ------
        FitOptionError
            For an unknown ``method`` or ``df_method``, or Kenward-Roger with ML.
        """
        reml = _reml(method)
        if df_method not in DF_METHODS:
            raise FitOptionError(
                f"unknown df_method {df_method!r}; choose one of {sorted(DF_METHODS)}"
            )
        if df_method == "kenward-roger" and not reml:
            raise FitOptionError(
                "Kenward-Roger inference is only defined for REML fits; use method='reml'"
            )
        d = self.design
        _need_residual_variation(d)
        lower = d.covariance.lower_bounds
        theta0 = d.covariance.theta_start if start is None else np.asarray(start, dtype=float)
        opt = minimise_theta(
            lambda t: deviance_and_gradient(d, t, reml=reml), lower, theta0, d.lambda_basis
        )
        fitted = _Fitted(d, opt, reml)
        if not (math.isfinite(fitted.sigma2) and fitted.sigma2 > 0):
            raise DesignError(
                f"the fit's residual variance is {fitted.sigma2:.3g}, not positive: the "
                "outcome is on a scale (or fitted so closely) that the linear mixed model "
                "cannot estimate its variance"
            )
        df, cov, extra_inf, warns = DF_METHODS[df_method](d, fitted)
        names = list(d.fixed_names)
        table = d.covariance.variance_components(fitted.theta, float(np.sqrt(fitted.sigma2)))
        vc = {c.name: c.vcov for c in table}
        extra = self._extra(fitted, opt)
        extra["varcorr"] = [
            {"group": c.group, "var1": c.var1, "var2": c.var2, "vcov": c.vcov, "sdcor": c.sdcor}
            for c in table
        ]
        extra.update(extra_inf)
        return FitResults(
            params=pd.Series(fitted.beta, index=names),
            cov_params=pd.DataFrame(cov, index=names, columns=names),
            df=pd.Series(df, index=names),
            model=f"lmm-{method}",
            inference=df_method,
            nobs=d.nobs,
            ngroups=d.ngroups,
            variance_components=vc,
            converged=opt.converged,
            warnings=tuple(opt.warnings) + tuple(warns),
            extra=extra,
        )

    def _extra(self, f: _Fitted, opt: ThetaOptimum) -> dict[str, Any]:
        d = self.design
        n_par = d.p + len(opt.theta) + 1
        loglik = -0.5 * f.criterion
        sd = np.sqrt(np.diag(f.re_cov))
        with np.errstate(divide="ignore", invalid="ignore"):
            corr = f.re_cov / np.outer(sd, sd)
        extra: dict[str, Any] = {
            "loglik": loglik,
            "reml_criterion" if f.reml else "deviance": f.criterion,
            "theta": dict(zip(self.variance_component_names(), opt.theta.tolist())),
            "sigma": float(np.sqrt(f.sigma2)),
            "aic": -2 * loglik + 2 * n_par,
            "bic": -2 * loglik + np.log(d.nobs) * n_par,
            "optimizer": {"iterations": opt.iterations, "message": opt.message},
            "singular": d.covariance.is_singular(opt.theta),
        }
        if d.q > 1 and isinstance(d.covariance, Unstructured):
            extra["random_effect_correlations"] = pd.DataFrame(
                corr, index=list(d.random_names), columns=list(d.random_names)
            ).to_dict()
        if d.q == 1:
            tau2 = float(f.re_cov[0, 0])
            extra["icc"] = tau2 / (tau2 + f.sigma2)
        return extra


def _need_residual_variation(d: MixedDesign) -> None:
    """Refuse an outcome that the fixed terms and the clusters' own means fit exactly.

    Then the residual variance is 0 at the optimum: the REML criterion divides by it (a
    ``ZeroDivisionError`` for a constant outcome), Kenward-Roger's SVD fails, and an outcome
    constant within each cluster (a count identical in every quarter, divided by the
    cluster's population) left the optimiser stopped short with a made-up residual variance
    and an ordinary-looking interval around an effect of exactly 0. Found by
    tests/analysis/test_sap_hostile.py. Only when every cluster has a random intercept
    (the structures the SAP fits); a structure without one leaves the check to the fit.
    """
    if "(Intercept)" not in d.random_names:
        return
    y = d.y
    centred = y - y.mean()
    tss = float(centred @ centred)
    dummies = np.zeros((d.nobs, d.ngroups))
    dummies[np.arange(d.nobs), d.codes] = 1.0
    design = np.hstack([d.X, dummies])
    rss = 0.0
    if tss > 0:
        fit, *_ = np.linalg.lstsq(design, y, rcond=None)
        resid = y - design @ fit
        rss = float(resid @ resid)
    if rss <= 1e-20 * tss:
        raise DesignError(
            "the outcome does not vary within clusters beyond what the fixed terms explain "
            "(it is constant, or constant within each cluster): a linear mixed model has no "
            "residual variance to estimate"
        )


def _reml(method: str) -> bool:
    if method not in METHODS:
        raise FitOptionError(f"unknown method {method!r}; choose 'reml' or 'ml'")
    return method == "reml"
