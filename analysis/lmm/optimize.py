"""Minimise the profiled deviance over theta, with lme4's bounds and convergence checks.

L-BFGS-B from lme4's starting point (1 on the diagonal of the relative factor, 0 below it)
with central-difference gradients, then a few Newton steps on the parameters away from their
bound, so the optimum is found to far better precision than the tolerances at which results
are compared with R. Warnings follow lme4's checks: a boundary (singular) fit, and a scaled
gradient above 0.002 at the reported optimum.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import optimize

__all__ = ["ThetaOptimum", "minimise_theta"]

FloatArray = NDArray[np.float64]
SINGULAR_TOL = 1e-4  # lme4::isSingular's default tolerance on the diagonal of the factor
GRAD_TOL = 2e-3  # lme4's check.conv.grad tolerance on the scaled gradient


@dataclass(frozen=True)
class ThetaOptimum:
    """Where the optimiser stopped and what it noticed."""

    theta: FloatArray
    deviance: float
    converged: bool
    iterations: int
    message: str
    warnings: tuple[str, ...]


def _gradient(f: Callable[[FloatArray], float], x: FloatArray, h: FloatArray) -> FloatArray:
    g = np.empty_like(x)
    for i in range(x.shape[0]):
        e = np.zeros_like(x)
        e[i] = h[i]
        g[i] = (f(x + e) - f(x - e)) / (2 * h[i])
    return g


def _hessian(f: Callable[[FloatArray], float], x: FloatArray, h: FloatArray) -> FloatArray:
    n = x.shape[0]
    f0 = f(x)
    hess = np.empty((n, n))
    for i in range(n):
        ei = np.zeros(n)
        ei[i] = h[i]
        hess[i, i] = (f(x + ei) - 2 * f0 + f(x - ei)) / h[i] ** 2
        for j in range(i):
            ej = np.zeros(n)
            ej[j] = h[j]
            hess[i, j] = hess[j, i] = (
                f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)
            ) / (4 * h[i] * h[j])
    return hess


def _steps(x: FloatArray, rel: float) -> FloatArray:
    return rel * np.maximum(np.abs(x), 1e-2)


def _minimise_scalar(
    deviance: Callable[[FloatArray], float], start: float
) -> optimize.OptimizeResult:
    """Bounded Brent search for a single theta (random intercept): few evaluations, no gradient.

    The upper end of the bracket doubles until the deviance rises, and the bound itself is
    compared explicitly, since Brent's method never evaluates the ends of its interval.
    """

    def f(t: float) -> float:
        return deviance(np.array([t]))

    upper = max(4.0 * abs(start), 4.0)
    while f(upper) < f(upper / 2) and upper < 1e8:
        upper *= 4.0
    res = optimize.minimize_scalar(
        f, bounds=(0.0, upper), method="bounded", options={"xatol": 1e-10}
    )
    x, fun = float(res.x), float(res.fun)
    f0 = f(0.0)
    if f0 <= fun:
        x, fun = 0.0, f0
    return optimize.OptimizeResult(
        x=np.array([x]),
        fun=fun,
        success=bool(res.success),
        nit=int(res.nfev),
        message=str(res.message),
    )


def _escape_boundary(
    deviance: Callable[[FloatArray], float],
    run: Callable[[FloatArray], optimize.OptimizeResult],
    res: optimize.OptimizeResult,
    diag: NDArray[np.bool_],
) -> optimize.OptimizeResult:
    """Leave a boundary point that is a saddle rather than a minimum.

    The deviance is even in each diagonal entry whose column has no other free entry, so
    at ``theta_k = 0`` its slope along ``theta_k`` is zero even when moving off the bound
    lowers it; a gradient method stays there. Probe each diagonal entry on its bound at a
    few positive values and restart from the first that lowers the deviance.
    """
    for _ in range(2 * int(diag.sum())):
        theta = np.asarray(res.x, dtype=float)
        base = float(res.fun)
        moved = False
        for k in np.flatnonzero(diag & (theta < SINGULAR_TOL)):
            for eps in (1e-2, 1e-1, 0.5):
                probe = theta.copy()
                probe[k] = eps
                if deviance(probe) < base - 1e-10:
                    alt = run(probe)
                    if alt.fun < base - 1e-10:
                        res, moved = alt, True
                    break
            if moved:
                break
        if not moved:
            break
    return res


def minimise_theta(
    deviance: Callable[[FloatArray], float], lower: FloatArray, start: FloatArray
) -> ThetaOptimum:
    """Minimise ``deviance`` over theta subject to ``theta >= lower``."""
    bounds = [(lo if np.isfinite(lo) else None, None) for lo in lower]

    def grad(x: FloatArray) -> FloatArray:
        return _gradient(deviance, x, _steps(x, 1e-6))

    def run(x0: FloatArray) -> optimize.OptimizeResult:
        return optimize.minimize(
            deviance,
            x0,
            jac=grad,
            method="L-BFGS-B",
            bounds=bounds,
            options={"ftol": 1e-15, "gtol": 1e-9, "maxiter": 2000},
        )

    if start.shape[0] == 1:
        res = _minimise_scalar(deviance, float(start[0]))
    else:
        res = run(start)
    # The deviance is even in each column of the factor, so its gradient vanishes on the
    # boundary theta_k = 0 whether or not that is a minimum: a gradient method that reaches
    # the bound stops there. Restart from other scales and keep the best optimum.
    diag = lower == 0.0
    if np.any(res.x[diag] < SINGULAR_TOL):
        for scale in (0.1, 0.3, 3.0):
            alt = run(np.where(diag, np.maximum(np.abs(start), 1.0) * scale, 0.0))
            if alt.fun < res.fun - 1e-12:
                res = alt
    res = _escape_boundary(deviance, run, res, diag)
    theta = np.maximum(np.asarray(res.x, dtype=float), lower)
    dev = deviance(theta)
    converged = bool(res.success) or "ABNORMAL" in str(res.message)
    # Newton polish on the parameters that are not on their bound.
    free = ~((theta - lower) < 1e-8)
    for _ in range(20):
        if not free.any():
            break
        idx = np.flatnonzero(free)

        def sub(z: FloatArray, idx: NDArray[np.intp] = idx, base: FloatArray = theta) -> float:
            t = base.copy()
            t[idx] = z
            return deviance(t)

        z0 = theta[idx]
        hh = _steps(z0, 1e-4)
        g = _gradient(sub, z0, _steps(z0, 1e-6))
        hess = _hessian(sub, z0, hh)
        try:
            step = np.linalg.solve(hess, g)
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(step)) or np.any(np.linalg.eigvalsh(hess) <= 0):
            break
        improved = False
        for scale in (1.0, 0.5, 0.25, 0.125):
            cand = theta.copy()
            cand[idx] = np.maximum(z0 - scale * step, lower[idx])
            dc = deviance(cand)
            if dc <= dev:
                improved = dc < dev
                theta, dev = cand, dc
                break
        if not improved or np.max(np.abs(step)) < 1e-12:
            break
    warns: list[str] = []
    if not converged:
        warns.append(f"optimizer did not converge: {res.message}")
    if np.any(theta[diag] < SINGULAR_TOL):
        warns.append(
            "boundary (singular) fit: a random-effect variance is estimated as (near) zero"
        )
    free = (theta - lower) >= SINGULAR_TOL
    if free.any():
        idx = np.flatnonzero(free)

        def sub2(z: FloatArray) -> float:
            t = theta.copy()
            t[idx] = z
            return deviance(t)

        z0 = theta[idx]
        g = _gradient(sub2, z0, _steps(z0, 1e-6))
        try:
            scaled = np.linalg.solve(_hessian(sub2, z0, _steps(z0, 1e-4)), g)
        except np.linalg.LinAlgError:
            scaled = g
        if np.max(np.abs(scaled)) > GRAD_TOL:
            converged = False
            warns.append(
                f"model failed to converge with max|grad| = {np.max(np.abs(scaled)):.3g} (tol = {GRAD_TOL})"
            )
    return ThetaOptimum(theta, dev, converged, int(res.nit), str(res.message), tuple(warns))
