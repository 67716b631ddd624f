"""Minimise the profiled deviance over theta, with lme4's bounds and convergence checks.

L-BFGS-B on the exact gradient (:func:`analysis.lmm.likelihood.deviance_and_gradient`) from
lme4's starting point (1 on the diagonal of the relative factor, 0 below it), then Newton
steps on the parameters away from their bound with the Hessian taken as central differences
of the exact gradient, so the optimum is found to far better precision than the tolerances
at which results are compared with R. A boundary point where moving off the bound would
lower the deviance (a saddle, see :func:`_escape_boundary`) is left. Warnings follow lme4's
checks: a boundary (singular) fit, and a scaled gradient above 0.002 at the optimum.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import optimize

from analysis.shared.numderiv import central_jacobian, relative_steps

__all__ = ["ThetaOptimum", "minimise_theta"]

FloatArray = NDArray[np.float64]
Objective = Callable[[FloatArray], tuple[float, FloatArray]]
SINGULAR_TOL = 1e-4  # lme4::isSingular's default tolerance on the diagonal of the factor
GRAD_TOL = 2e-3  # lme4's check.conv.grad tolerance on the scaled gradient
_AT_BOUND = 1e-8


@dataclass(frozen=True)
class ThetaOptimum:
    """Where the optimiser stopped and what it noticed."""

    theta: FloatArray
    deviance: float
    converged: bool
    iterations: int
    message: str
    warnings: tuple[str, ...]


def _minimise_scalar(objective: Objective, start: float) -> optimize.OptimizeResult:
    """Bounded Brent search for a single theta (e.g. a random intercept).

    The upper end of the bracket grows until the deviance rises, and the bound itself is
    compared explicitly, since Brent's method never evaluates the ends of its interval.
    """

    def f(t: float) -> float:
        return objective(np.array([t]))[0]

    upper = max(4.0 * abs(start), 4.0)
    while f(upper) < f(upper / 2) and upper < 1e8:
        upper *= 4.0
    res = optimize.minimize_scalar(
        f, bounds=(0.0, upper), method="bounded", options={"xatol": 1e-8}
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
    objective: Objective,
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
                if objective(probe)[0] < base - 1e-10:
                    alt = run(probe)
                    if alt.fun < base - 1e-10:
                        res, moved = alt, True
                    break
            if moved:
                break
        if not moved:
            break
    return res


def _hessian(objective: Objective, theta: FloatArray, idx: NDArray[np.intp]) -> FloatArray:
    """Hessian in the coordinates ``idx``: central differences of the exact gradient."""

    def grad(z: FloatArray) -> FloatArray:
        t = theta.copy()
        t[idx] = z
        return objective(t)[1][idx]

    z0 = theta[idx]
    h = central_jacobian(grad, z0, relative_steps(z0, 1e-5, floor=1e-2))
    return np.asarray(0.5 * (h + h.T), dtype=np.float64)


def minimise_theta(objective: Objective, lower: FloatArray, start: FloatArray) -> ThetaOptimum:
    """Minimise ``objective(theta) -> (deviance, gradient)`` subject to ``theta >= lower``."""
    bounds = [(lo if np.isfinite(lo) else None, None) for lo in lower]
    n_eval = 0

    def counted(x: FloatArray) -> tuple[float, FloatArray]:
        nonlocal n_eval
        n_eval += 1
        return objective(x)

    def run(x0: FloatArray) -> optimize.OptimizeResult:
        return optimize.minimize(
            counted,
            x0,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"ftol": 1e-12, "gtol": 1e-8, "maxiter": 1000},
        )

    res = _minimise_scalar(counted, float(start[0])) if start.shape[0] == 1 else run(start)
    diag = lower == 0.0
    # A gradient method that reaches a bound may stop at a saddle there; restart from
    # other scales and keep the best optimum.
    if np.any(res.x[diag] < SINGULAR_TOL):
        for scale in (0.1, 0.3, 3.0):
            alt = run(np.where(diag, np.maximum(np.abs(start), 1.0) * scale, 0.0))
            if alt.fun < res.fun - 1e-12:
                res = alt
    res = _escape_boundary(counted, run, res, diag)
    theta = np.maximum(np.asarray(res.x, dtype=float), lower)
    dev, grad = counted(theta)
    converged = bool(res.success) or "ABNORMAL" in str(res.message)
    # Newton polish on the parameters that are not on their bound.
    for _ in range(10):
        idx = np.flatnonzero((theta - lower) >= _AT_BOUND)
        if idx.size == 0:
            break
        g = grad[idx]
        if np.max(np.abs(g)) < 1e-10:
            break
        hess = _hessian(counted, theta, idx)
        try:
            step = np.linalg.solve(hess, g)
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(step)) or np.any(np.linalg.eigvalsh(hess) <= 0):
            break
        improved = False
        for scale in (1.0, 0.5, 0.25, 0.125):
            cand = theta.copy()
            cand[idx] = np.maximum(theta[idx] - scale * step, lower[idx])
            dc, gc = counted(cand)
            if dc <= dev:
                improved = dc < dev
                theta, dev, grad = cand, dc, gc
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
    idx = np.flatnonzero((theta - lower) >= SINGULAR_TOL)
    if idx.size:
        g = grad[idx]
        try:
            scaled = np.linalg.solve(_hessian(counted, theta, idx), g)
        except np.linalg.LinAlgError:
            scaled = g
        if np.max(np.abs(scaled)) > GRAD_TOL:
            converged = False
            warns.append(
                f"model failed to converge with max|grad| = {np.max(np.abs(scaled)):.3g} (tol = {GRAD_TOL})"
            )
    return ThetaOptimum(theta, dev, converged, n_eval, str(res.message), tuple(warns))
