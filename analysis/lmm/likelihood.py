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
    "deviance_and_gradient",
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


class _Core:
    """Per-cluster pieces at one theta, shared by the deviance and its gradient.

    ``m = I + L'Z'ZL`` per cluster and ``sol = m^{-1} L'Z'[X y]``; ``cross`` is
    ``[X y]' V^{-1} [X y]`` summed over clusters (Woodbury), from which beta is profiled.
    """

    __slots__ = ("lam", "lzz", "m", "rhs", "sol", "logdet_v", "cross")

    def __init__(self, design: MixedDesign, theta: FloatArray) -> None:
        lam = design.covariance.lambda_block(np.asarray(theta, dtype=float))
        lzz = lam.T @ design.ztz
        m = lzz @ lam
        idx = np.arange(m.shape[1])
        m[:, idx, idx] += 1.0
        chol = np.linalg.cholesky(m)
        rhs = lam.T @ design.ztxy
        sol = np.linalg.solve(m, rhs)
        self.lam, self.lzz, self.m, self.rhs, self.sol = lam, lzz, m, rhs, sol
        self.logdet_v = 2.0 * float(np.log(chol[:, idx, idx]).sum())
        self.cross = design.xyxy - np.einsum("gqa,gqb->ab", rhs, sol)


def _profile(design: MixedDesign, core: _Core) -> ProfiledState:
    p = design.p
    cross = core.cross
    xtvix = 0.5 * (cross[:p, :p] + cross[:p, :p].T)
    xtviy = cross[:p, p]
    chol_x = np.linalg.cholesky(xtvix)
    beta = np.linalg.solve(xtvix, xtviy)
    pwrss = float(cross[p, p] - beta @ xtviy)
    logdet_x = 2.0 * float(np.log(np.diag(chol_x)).sum())
    return ProfiledState(core.logdet_v, xtvix, xtviy, beta, pwrss, logdet_x)


def evaluate(design: MixedDesign, theta: FloatArray) -> ProfiledState:
    """Profile beta out at ``theta``.

    Raises
    ------
    numpy.linalg.LinAlgError
        If ``X' V^{-1} X`` is not positive definite at ``theta``.
    """
    return _profile(design, _Core(design, theta))


def _criterion(design: MixedDesign, st: ProfiledState, reml: bool) -> float:
    n, p = design.nobs, design.p
    if reml:
        nr = n - p
        return float(st.logdet_v + st.logdet_xtvix + nr * (1.0 + _LOG_2PI + np.log(st.pwrss / nr)))
    return float(st.logdet_v + n * (1.0 + _LOG_2PI + np.log(st.pwrss / n)))


def profiled_deviance(design: MixedDesign, theta: FloatArray, *, reml: bool) -> float:
    """lme4's deviance (ML) or REML criterion with beta and sigma profiled out.

    Returns ``inf`` where the model is numerically degenerate, so optimisers step back.
    """
    if design.q == 1:
        return _scalar_deviance_and_gradient(design, float(theta[0]), reml)[0]
    try:
        st = evaluate(design, theta)
    except np.linalg.LinAlgError:
        return float("inf")
    if st.pwrss <= 0:
        return float("inf")
    return _criterion(design, st, reml)


def _scalar_deviance_and_gradient(
    design: MixedDesign, theta: float, reml: bool
) -> tuple[float, FloatArray]:
    """:func:`deviance_and_gradient` for one random-effect column per cluster (``q = 1``).

    Every per-cluster matrix is a scalar, so ``M_g = 1 + t^2 Z_g'Z_g`` and the Woodbury
    sums become weighted cross-products: one small matrix product per evaluation, which
    is what makes a fit at the trial's size take about a millisecond.
    """
    lam = design.covariance.lambda_block(np.array([theta]))[0, 0]
    p = design.p
    ztz = design.ztz[:, 0, 0]
    ztxy = design.ztxy[:, 0, :]
    m = 1.0 + lam * lam * ztz
    inv_m = 1.0 / m
    cross = design.xyxy - (lam * lam) * ((ztxy.T * inv_m) @ ztxy)
    xtvix = 0.5 * (cross[:p, :p] + cross[:p, :p].T)
    xtviy = cross[:p, p]
    try:
        chol_x = np.linalg.cholesky(xtvix)
    except np.linalg.LinAlgError:
        return float("inf"), np.zeros(1)
    beta = np.linalg.solve(xtvix, xtviy)
    pwrss = float(cross[p, p] - beta @ xtviy)
    if pwrss <= 0:
        return float("inf"), np.zeros(1)
    st = ProfiledState(
        float(np.log(m).sum()),
        xtvix,
        xtviy,
        beta,
        pwrss,
        2.0 * float(np.log(np.diag(chol_x)).sum()),
    )
    # Z'V^{-1}Z = ztz / m and Z'V^{-1}[X y] = ztxy / m per cluster.
    q_g = ztxy[:, :p] * inv_m[:, None]
    w = ztxy[:, p] * inv_m - q_g @ beta
    scale = (design.nobs - p if reml else design.nobs) / pwrss
    g = float((ztz * inv_m).sum()) - scale * float(w @ w)
    if reml:
        g -= float(np.einsum("ga,ab,gb->", q_g, np.linalg.inv(xtvix), q_g))
    dlam = design.lambda_basis[0, 0, 0]
    return _criterion(design, st, reml), np.array([2.0 * g * lam * dlam])


def deviance_and_gradient(
    design: MixedDesign, theta: FloatArray, *, reml: bool
) -> tuple[float, FloatArray]:
    """The profiled criterion and its exact gradient in theta.

    With ``S_k = dV_g/dtheta_k = Z_g (E_k L' + L E_k') Z_g'`` (``E_k = dL/dtheta_k``):
    ``d log|V| = sum_g tr(Z_g'V_g^{-1}Z_g S)``, ``d r^2 = -sum_g w_g' S w_g`` with
    ``w_g = Z_g'V_g^{-1}(y_g - X_g beta)`` (beta-hat minimises ``r^2``, so its own change
    does not count) and, for REML, ``d log|X'V^{-1}X| = -tr(A^{-1} sum_g Q_g' S Q_g)`` with
    ``Q_g = Z_g'V_g^{-1}X_g``. Each trace is ``2 <E_k, G L>`` for a symmetric ``q x q``
    matrix ``G`` summed over clusters, so the gradient costs about one more evaluation.
    Returns ``(inf, 0)`` where the model is numerically degenerate.
    """
    if design.q == 1:
        return _scalar_deviance_and_gradient(design, float(theta[0]), reml)
    try:
        core = _Core(design, theta)
        st = _profile(design, core)
    except np.linalg.LinAlgError:
        return float("inf"), np.zeros(len(theta))
    if st.pwrss <= 0:
        return float("inf"), np.zeros(len(theta))
    p = design.p
    # Z'V^{-1}Z and Z'V^{-1}[X y] per cluster (Woodbury).
    ztviz = design.ztz - np.swapaxes(core.lzz, 1, 2) @ np.linalg.solve(core.m, core.lzz)
    ztvixy = design.ztxy - np.swapaxes(core.lzz, 1, 2) @ core.sol
    q_g = ztvixy[:, :, :p]
    w = ztvixy[:, :, p] - q_g @ st.beta
    g_mat = ztviz.sum(axis=0)
    scale = (design.nobs - p if reml else design.nobs) / st.pwrss
    g_mat = g_mat - scale * (w.T @ w)
    if reml:
        a_inv = np.linalg.inv(st.xtvix)
        g_mat = g_mat - np.einsum("gia,ab,gjb->ij", q_g, a_inv, q_g)
    grad = 2.0 * np.tensordot(design.lambda_basis, g_mat @ core.lam, axes=([1, 2], [0, 1]))
    return _criterion(design, st, reml), np.asarray(grad, dtype=np.float64)


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
