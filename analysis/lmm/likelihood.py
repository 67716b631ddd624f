"""Profiled (RE)ML deviance of a linear mixed model in lme4's theta parameterisation.

The marginal covariance of cluster g is ``sigma^2 V_g`` with ``V_g = I + Z_g L L' Z_g'``, where
``L`` (q x q, lower triangular) is the relative covariance factor of one cluster block,
a linear function of ``theta`` given by the design's covariance structure (for one
unstructured term its lower triangle, column by column, is ``theta``) (Bates, Maechler, Bolker & Walker 2015, J Stat Softw 67(1)).
By Woodbury, ``V_g^{-1} = I - Z_g L M_g^{-1} L' Z_g'`` with ``M_g = I + L' Z_g'Z_g L`` (q x q) and
``log|V_g| = log|M_g|``, so the deviance needs only the per-cluster cross-products of
:class:`~analysis.lmm.design.MixedDesign`, evaluated for all clusters at once as stacked
q x q arrays: the cost of one evaluation does not depend on the number of rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from analysis.lmm.design import MixedDesign

__all__ = [
    "ProfiledState",
    "covbeta_varpar",
    "deviance_varpar",
    "evaluate",
    "profiled_deviance",
]

FloatArray = NDArray[np.float64]
_LOG_2PI = float(np.log(2 * np.pi))


@dataclass(frozen=True)
class ProfiledState:
    """Quantities of the model at one theta, with beta profiled out.

    ``pwrss`` is the penalised weighted residual sum of squares ``r^2(theta)``; the
    covariance of beta-hat is ``sigma^2 * inv(xtvix)``.
    """

    logdet_v: float
    xtvix: FloatArray
    xtviy: FloatArray
    beta: FloatArray
    pwrss: float
    logdet_xtvix: float


def evaluate(design: MixedDesign, theta: FloatArray) -> ProfiledState:
    """Profile beta out at ``theta``.

    Raises
    ------
    numpy.linalg.LinAlgError
        If ``X' V^{-1} X`` is not positive definite at ``theta``.
    """
    q = design.q
    lam = design.covariance.lambda_block(np.asarray(theta, dtype=float))
    a = np.einsum("ji,gjk,kl->gil", lam, design.ztz, lam)
    m = a + np.eye(q)
    chol_m = np.linalg.cholesky(m)
    logdet_v = 2.0 * float(np.sum(np.log(np.diagonal(chol_m, axis1=1, axis2=2))))
    u = np.einsum("ji,gjk->gik", lam, design.ztx)
    v = np.einsum("ji,gj->gi", lam, design.zty)
    cu = np.linalg.solve(chol_m, u)
    cv = np.linalg.solve(chol_m, v[:, :, None])[:, :, 0]
    xtvix = design.xtx - np.einsum("gqp,gqr->pr", cu, cu)
    xtvix = 0.5 * (xtvix + xtvix.T)
    xtviy = design.xty - np.einsum("gqp,gq->p", cu, cv)
    ytviy = design.yty - float(np.sum(cv * cv))
    chol_x = np.linalg.cholesky(xtvix)
    beta = np.linalg.solve(xtvix, xtviy)
    pwrss = float(ytviy - beta @ xtviy)
    logdet_x = 2.0 * float(np.sum(np.log(np.diag(chol_x))))
    return ProfiledState(logdet_v, xtvix, xtviy, beta, pwrss, logdet_x)


def profiled_deviance(design: MixedDesign, theta: FloatArray, *, reml: bool) -> float:
    """lme4's deviance (ML) or REML criterion with beta and sigma profiled out.

    Returns ``inf`` where the model is numerically degenerate, so optimisers step back.
    """
    try:
        st = evaluate(design, theta)
    except np.linalg.LinAlgError:
        return float("inf")
    n, p = design.nobs, design.p
    if st.pwrss <= 0:
        return float("inf")
    if reml:
        nr = n - p
        return float(st.logdet_v + st.logdet_xtvix + nr * (1.0 + _LOG_2PI + np.log(st.pwrss / nr)))
    return float(st.logdet_v + n * (1.0 + _LOG_2PI + np.log(st.pwrss / n)))


def deviance_varpar(design: MixedDesign, varpar: FloatArray, *, reml: bool) -> float:
    """Deviance as a function of ``(theta, sigma)``, beta profiled only (lmerTest's ``devfun_vp``)."""
    sigma2 = float(varpar[-1]) ** 2
    st = evaluate(design, varpar[:-1])
    n, p = design.nobs, design.p
    dev = st.logdet_v + st.pwrss / sigma2 + n * (_LOG_2PI + np.log(sigma2))
    if reml:
        dev += st.logdet_xtvix - p * (_LOG_2PI + np.log(sigma2))
    return float(dev)


def covbeta_varpar(design: MixedDesign, varpar: FloatArray) -> FloatArray:
    """Covariance of beta-hat, ``sigma^2 inv(X'V^{-1}X)``, as a function of ``(theta, sigma)``."""
    st = evaluate(design, varpar[:-1])
    return np.asarray(float(varpar[-1]) ** 2 * np.linalg.inv(st.xtvix), dtype=np.float64)
