"""Typed results of the GLMM fits (the GEE's are in :mod:`analysis.gee`).

:class:`GlmmResults` is a :class:`~analysis.shared.results.FitResults`
(estimates, covariance, df, p-values, intervals) with the family-specific quantities as
typed fields: the log-likelihood, AIC, theta and the NB2 size are attributes a caller can
rely on, rather than keys of the ``extra`` mapping. ``extra`` still carries the same values
(and the less central ones: optimiser message, RX covariance, conditional modes) for the
code that renders results generically.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from analysis.coded_warnings import CodedWarning
from analysis.shared.results import FitResults

__all__ = ["GlmmResults", "glmm_results"]


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


def glmm_results(
    *,
    names: Sequence[str],
    beta: NDArray[np.float64],
    cov: NDArray[np.float64],
    df: NDArray[np.float64],
    model: str,
    inference: str,
    nobs: int,
    ngroups: int,
    variance_components: dict[str, float],
    converged: bool,
    warnings: Sequence[CodedWarning],
    deviance: float,
    loglik: float,
    n_params: int,
    theta: Sequence[float],
    theta_names: Sequence[str],
    nagq: int,
    size: float | None,
    extra: Mapping[str, Any],
) -> GlmmResults:
    """The one place a :class:`GlmmResults` is built (random intercept and several random
    effects alike): AIC ``-2 loglik + 2 n_params``, and the typed fields mirrored in
    ``extra`` (``deviance``, ``loglik``, ``aic``, ``theta``, ``nagq``, ``size``) for the
    code that renders results generically."""
    aic = -2.0 * float(loglik) + 2.0 * n_params
    labels = list(names)
    more: dict[str, Any] = dict(extra)
    more.update(
        nagq=int(nagq),
        deviance=float(deviance),
        loglik=float(loglik),
        aic=aic,
        theta=[float(t) for t in theta],
    )
    if size is not None:
        more["size"] = float(size)
    return GlmmResults(
        params=pd.Series(beta, index=labels),
        cov_params=pd.DataFrame(cov, index=labels, columns=labels),
        df=pd.Series(df, index=labels),
        model=model,
        inference=inference,
        nobs=int(nobs),
        ngroups=int(ngroups),
        variance_components=variance_components,
        converged=bool(converged),
        warnings=tuple(warnings),
        extra=more,
        loglik=float(loglik),
        deviance=float(deviance),
        aic=aic,
        theta=tuple(float(t) for t in theta),
        theta_names=tuple(theta_names),
        nagq=int(nagq),
        size=None if size is None else float(size),
    )
