"""Typed results of the GLMM and GEE fits.

:class:`GlmmResults` and :class:`GeeResults` are :class:`~analysis.shared.results.FitResults`
(estimates, covariance, df, p-values, intervals) with the family-specific quantities as
typed fields: the log-likelihood, AIC, theta and the NB2 size are attributes a caller can
rely on, rather than keys of the ``extra`` mapping. ``extra`` still carries the same values
(and the less central ones: optimiser message, RX covariance, conditional modes) for the
code that renders results generically.
"""

from __future__ import annotations

from dataclasses import dataclass

from analysis.shared.results import FitResults

__all__ = ["GeeResults", "GlmmResults"]


@dataclass(frozen=True, eq=False)
class GlmmResults(FitResults):
    """A GLMM fit (:func:`analysis.glmm.fit_glmm`).

    Attributes
    ----------
    loglik : float
        Log-likelihood at the estimates (lme4's ``logLik``; glmmTMB's for the NB2).
    deviance : float
        The objective minimised (lme4's Laplace/AGQ deviance).
    aic : float
        ``-2 loglik + 2 (number of theta, size and fixed-effect parameters)``.
    theta : tuple of float
        Random-effect parameters in lme4's order (SDs for scalar terms, Cholesky factors
        for correlated slopes).
    theta_names : tuple of str
        lme4's names of ``theta``.
    nagq : int
        Quadrature points (1 = Laplace).
    size : float or None
        NB2 size ``k`` (variance ``mu + mu^2 / k``); None for the other families.
    """

    loglik: float = float("nan")
    deviance: float = float("nan")
    aic: float = float("nan")
    theta: tuple[float, ...] = ()
    theta_names: tuple[str, ...] = ()
    nagq: int = 1
    size: float | None = None


@dataclass(frozen=True, eq=False)
class GeeResults(FitResults):
    """A GEE fit (:func:`analysis.gee.fit_gee`): exchangeable working correlation.

    Attributes
    ----------
    alpha : float
        Estimated working correlation.
    scale : float
        Estimated scale (dispersion) parameter.
    """

    alpha: float = float("nan")
    scale: float = float("nan")
