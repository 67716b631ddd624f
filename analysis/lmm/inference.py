"""Small-sample inference for the fixed effects: Satterthwaite and Kenward-Roger.

Satterthwaite follows lmerTest (Kuznetsova, Brockhoff & Christensen 2017, J Stat Softw
82(13)): the variance parameters are ``(theta, sigma)``; their covariance is twice the
(pseudo-)inverse of the Hessian of the deviance, the gradient of ``cov(beta)`` is a numerical
Jacobian, and for a contrast ``L`` the df are ``2 (L'CL)^2 / (g'Ag)``.

Kenward-Roger follows pbkrtest's ``vcovAdj`` and ``Lb_ddf`` (Halekoh & Hojsgaard 2014, J Stat
Softw 59(9); Kenward & Roger 1997, Biometrics 53:983-997): the variance parameters are the
variances and covariances of the random effects and the residual variance, ``Sigma =
sum_k gamma_k G_k``, and the expected-information form of the bias correction is used. All
``n x n`` products are evaluated cluster by cluster through Woodbury identities.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from analysis.coded_warnings import CodedWarning
from analysis.lmm.design import MixedDesign
from analysis.lmm.likelihood import covbeta_varpar, deviance_varpar
from analysis.shared.numderiv import richardson_hessian, richardson_jacobian

__all__ = ["KenwardRoger", "Satterthwaite", "kenward_roger", "satterthwaite"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Satterthwaite:
    """Satterthwaite df of each coefficient and the pieces they come from."""

    df: FloatArray
    vcov_varpar: FloatArray
    jacobian: FloatArray
    hessian_eigenvalues: FloatArray
    warnings: tuple[CodedWarning, ...]


def satterthwaite(
    design: MixedDesign, theta: FloatArray, sigma: float, vcov_beta: FloatArray, *, reml: bool
) -> Satterthwaite:
    """Satterthwaite df for every coefficient, as ``lmerTest::contest1D`` computes them."""
    varpar = np.append(np.asarray(theta, dtype=float), sigma)
    hess = richardson_hessian(lambda v: deviance_varpar(design, v, reml=reml), varpar)
    # The Hessian in sigma / sigma-hat, not sigma: its sigma entries scale as 1 / sigma^2,
    # so on an outcome of large scale (rates of 1e7) they fell below the absolute
    # eigenvalue tolerance, were dropped as "singular", and the df (and p-value) changed
    # with the outcome's units, silently (found by tests/analysis/test_sap_hostile.py). The
    # thetas are already scale free. Where every eigenvalue passes, as on ordinary data,
    # the inverse is the same as lmerTest's.
    unit = np.ones_like(varpar)
    if sigma > 0 and math.isfinite(sigma):
        unit[-1] = sigma
    evals, evecs = np.linalg.eigh(hess * np.outer(unit, unit))
    tol = 1e-8
    warns: list[CodedWarning] = []
    if np.any(evals < -tol):
        warns.append(
            CodedWarning(
                "satterthwaite-hessian-negative",
                f"Satterthwaite: deviance Hessian has {int(np.sum(evals < -tol))} negative "
                "eigenvalue(s); model failed to converge",
            )
        )
    if np.any(np.abs(evals) <= tol):
        warns.append(
            CodedWarning(
                "satterthwaite-hessian-singular",
                f"Satterthwaite: deviance Hessian has {int(np.sum(np.abs(evals) <= tol))} "
                "eigenvalue(s) close to zero; model may not have converged",
            )
        )
    pos = evals > tol
    h_inv = (evecs[:, pos] / evals[pos]) @ evecs[:, pos].T
    vcov_varpar = 2.0 * h_inv * np.outer(unit, unit)
    jac = richardson_jacobian(lambda v: covbeta_varpar(design, v), varpar)
    p = vcov_beta.shape[0]
    df = np.empty(p)
    for j in range(p):
        grad = jac[j, j, :]
        df[j] = 2.0 * vcov_beta[j, j] ** 2 / float(grad @ vcov_varpar @ grad)
    return Satterthwaite(df, vcov_varpar, jac, evals, tuple(warns))


@dataclass(frozen=True)
class KenwardRoger:
    """Kenward-Roger adjusted covariance of beta and df of each coefficient."""

    vcov_adjusted: FloatArray
    df: FloatArray
    p_matrices: tuple[FloatArray, ...]
    w_matrix: FloatArray


def kenward_roger(
    design: MixedDesign, theta: FloatArray, sigma: float, vcov_beta: FloatArray
) -> KenwardRoger:
    """Kenward-Roger adjustment at a REML fit (pbkrtest ``vcovAdj`` + ``Lb_ddf`` per coefficient)."""
    q, p = design.q, design.p
    s2 = sigma**2
    lam = design.covariance.lambda_block(np.asarray(theta, dtype=float))
    codes = design.codes
    seg = design.starts
    zl = design.Z @ lam
    m = np.einsum("ji,gjk,kl->gil", lam, design.ztz, lam) + np.eye(q)

    def apply_w(mat: FloatArray) -> FloatArray:
        """``Sigma^{-1} mat`` for an (n, k) matrix, cluster by cluster (Woodbury)."""
        ztm = np.add.reduceat(design.Z[:, :, None] * mat[:, None, :], seg, axis=0)
        k = np.linalg.solve(m, np.einsum("ji,gjk->gik", lam, ztm))
        return np.asarray((mat - np.einsum("nq,nqk->nk", zl, k[codes])) / s2, dtype=np.float64)

    def seg_cross(a: FloatArray, b: FloatArray) -> FloatArray:
        return np.asarray(
            np.add.reduceat(a[:, :, None] * b[:, None, :], seg, axis=0), dtype=np.float64
        )

    wx = apply_w(design.X)
    wz = apply_w(design.Z)
    w2x = apply_w(wx)
    a_g = seg_cross(design.Z, wz)  # Z'WZ per cluster
    b_g = seg_cross(design.Z, wx)  # Z'WX
    c_g = seg_cross(wz, wx)  # Z'W^2X
    f_g = seg_cross(wz, wz)  # Z'W^2Z
    xw2x = wx.T @ wx
    xw3x = wx.T @ w2x
    # tr(W_g^2) from the Woodbury form of W_g = (I - P_g) / s2, P_g = Z L M^{-1} L'Z'.
    s_g = np.einsum("ji,gjk,kl->gil", lam, design.ztz, lam)
    minv_s = np.linalg.solve(m, s_g)
    tr_w2 = (
        design.nobs
        - 2 * np.trace(minv_s, axis1=1, axis2=2).sum()
        + np.einsum("gij,gji->", minv_s, minv_s)
    ) / s2**2

    comps = list(design.covariance.covariance_basis())
    n_re = len(comps)
    n_par = n_re + 1
    pp: list[FloatArray] = []
    for e in comps:
        pp.append(-np.einsum("gqa,qr,grb->ab", b_g, e, b_g))
    pp.append(-xw2x)
    qq: dict[tuple[int, int], FloatArray] = {}
    ktr = np.empty((n_par, n_par))
    for r in range(n_par):
        for s in range(r, n_par):
            if r < n_re and s < n_re:
                er, es = comps[r], comps[s]
                qq[r, s] = np.einsum("gia,ij,gjk,kl,glb->ab", b_g, er, a_g, es, b_g)
                ktr[r, s] = np.einsum("ij,gjk,kl,gli->", er, a_g, es, a_g)
            elif r < n_re:
                er = comps[r]
                qq[r, s] = np.einsum("gia,ij,gjb->ab", b_g, er, c_g)
                ktr[r, s] = np.einsum("ij,gji->", er, f_g)
            else:
                qq[r, s] = xw3x
                ktr[r, s] = tr_w2
            ktr[s, r] = ktr[r, s]
    phi = vcov_beta
    ie2 = np.empty((n_par, n_par))
    for i in range(n_par):
        for j in range(i, n_par):
            ie2[i, j] = ie2[j, i] = (
                ktr[i, j] - 2 * np.sum(phi * qq[i, j]) + np.sum((phi @ pp[i]) * (pp[j] @ phi))
            )
    cond = np.min(np.abs(np.linalg.eigvalsh(ie2)))
    w = 2 * (np.linalg.inv(ie2) if cond > 1e-10 else np.linalg.pinv(ie2))
    w = 0.5 * (w + w.T)
    uu = np.zeros((p, p))
    for i in range(n_par - 1):
        for j in range(i + 1, n_par):
            uu += w[i, j] * (qq[i, j] - pp[i] @ phi @ pp[j])
    uu = uu + uu.T
    for i in range(n_par):
        uu += w[i, i] * (qq[i, i] - pp[i] @ phi @ pp[i])
    vadj = phi + 2 * phi @ uu @ phi
    df = np.array([_lb_ddf(np.eye(p)[j : j + 1], phi, pp, w) for j in range(p)])
    return KenwardRoger(vadj, df, tuple(pp), w)


def _div_zero(x: float, y: float, tol: float = 1e-14) -> float:
    return 1.0 if abs(x) < tol and abs(y) < tol else x / y


def _lb_ddf(contrast: FloatArray, v0: FloatArray, pp: list[FloatArray], w: FloatArray) -> float:
    """pbkrtest's ``Lb_ddf``: Kenward-Roger denominator df for the contrast rows ``L``."""
    theta_m = contrast.T @ np.linalg.solve(contrast @ v0 @ contrast.T, contrast)
    tv0 = theta_m @ v0
    a1 = a2 = 0.0
    n_par = len(pp)
    for i in range(n_par):
        ui = tv0 @ pp[i] @ v0
        for j in range(i, n_par):
            e = 1.0 if i == j else 2.0
            uj = tv0 @ pp[j] @ v0
            a1 += e * w[i, j] * np.trace(ui) * np.trace(uj)
            a2 += e * w[i, j] * float(np.sum(ui * uj.T))
    qn = contrast.shape[0]
    b = (a1 + 6 * a2) / (2 * qn)
    g = ((qn + 1) * a1 - (qn + 4) * a2) / ((qn + 2) * a2)
    denom = 3 * qn + 2 * (1 - g)
    c1, c2, c3 = g / denom, (qn - g) / denom, (qn + 2 - g) / denom
    v0_ = 1 + c1 * b
    v1 = 1 - c2 * b
    v2 = 1 - c3 * b
    v0_ = 0.0 if abs(v0_) < 1e-10 else v0_
    rho = (1 / qn) * _div_zero(1 - a2 / qn, v1) ** 2 * v0_ / v2
    return float(4 + (qn + 2) / (qn * rho - 1))
