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

from analysis.coded_warnings import CodedWarning
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
    warnings: tuple[CodedWarning, ...]


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


def _projected_newton(
    objective: Objective, lower: FloatArray, x0: FloatArray
) -> optimize.OptimizeResult:
    """Newton's method with bounds for a few parameters, on the exact gradient.

    The Hessian is central differences of the exact gradient over the free coordinates
    (those not held at their bound by a gradient pushing outwards), shifted to be positive
    definite where it is not; steps are projected onto the bounds and halved until the
    deviance decreases. Plain numpy: for three or four parameters, scipy's L-BFGS-B costs
    more in set-up and BLAS thread hand-offs than the deviance evaluations themselves.
    """
    x = np.maximum(np.asarray(x0, dtype=float), lower)
    f, g = objective(x)
    message = "maximum number of iterations reached"
    success = False
    last_hess: FloatArray | None = None
    it = 0
    while it < 100:
        it += 1
        free = ~(((x - lower) <= 1e-12) & (g > 0))
        idx = np.flatnonzero(free)
        if idx.size == 0 or np.max(np.abs(g[idx])) < 1e-9:
            message, success = "gradient below tolerance", True
            break
        hess = _forward_hessian(objective, x, g, idx)
        last_hess = hess if idx.size == x.size else None
        evals, evecs = np.linalg.eigh(hess)
        floor = 1e-8 * max(1.0, float(np.max(np.abs(evals))))
        evals = np.maximum(np.abs(evals), floor)  # a descent direction even off convexity
        step = evecs @ ((evecs.T @ g[idx]) / evals)
        t = 1.0
        accepted = False
        while t > 1e-10:
            cand = x.copy()
            cand[idx] = np.maximum(x[idx] - t * step, lower[idx])
            fc, gc = objective(cand)
            if fc <= f:
                accepted = True
                break
            t *= 0.5
        if not accepted:
            message, success = "no decrease along the Newton direction", True
            break
        done = abs(f - fc) <= 1e-13 * (1.0 + abs(f)) and np.max(np.abs(cand - x)) < 1e-9
        x, f, g = cand, fc, gc
        if done:
            message, success = "relative change below tolerance", True
            break
    return optimize.OptimizeResult(
        x=x, fun=f, jac=g, success=success, nit=it, message=message, hess=last_hess
    )


def _forward_hessian(
    objective: Objective, theta: FloatArray, grad: FloatArray, idx: NDArray[np.intp]
) -> FloatArray:
    """Hessian in the coordinates ``idx`` by forward differences of the exact gradient
    (one evaluation per coordinate; accurate to about 1e-5, ample for a Newton direction)."""
    steps = relative_steps(theta[idx], 1e-5, floor=1e-2)
    cols = []
    for j, i in enumerate(idx):
        t = theta.copy()
        t[i] += steps[j]
        cols.append((objective(t)[1][idx] - grad[idx]) / steps[j])
    h = np.column_stack(cols)
    return np.asarray(0.5 * (h + h.T), dtype=np.float64)


def _hessian(objective: Objective, theta: FloatArray, idx: NDArray[np.intp]) -> FloatArray:
    """Hessian in the coordinates ``idx``: central differences of the exact gradient."""

    def grad(z: FloatArray) -> FloatArray:
        t = theta.copy()
        t[idx] = z
        return objective(t)[1][idx]

    z0 = theta[idx]
    h = central_jacobian(grad, z0, relative_steps(z0, 1e-5, floor=1e-2))
    return np.asarray(0.5 * (h + h.T), dtype=np.float64)


def _canonical(
    theta: FloatArray, basis: FloatArray, diag: NDArray[np.bool_]
) -> tuple[FloatArray, FloatArray]:
    """Flip the sign of every column of Lambda whose diagonal entry is negative.

    ``V = I + Z L L' Z'`` does not change when a column of ``L`` changes sign, so the
    optimum can be sought without bounds and mapped onto lme4's (diagonal >= 0) at the end.
    """
    theta = np.asarray(theta, dtype=float).copy()
    signs = np.ones_like(theta)
    for k in np.flatnonzero(diag & (theta < 0)):
        cols = np.flatnonzero(np.diagonal(basis[k]) != 0)
        in_cols = np.flatnonzero(np.any(basis[:, :, cols] != 0, axis=(1, 2)))
        signs[in_cols] = -signs[in_cols]
    return theta * signs, signs


def minimise_theta(
    objective: Objective, lower: FloatArray, start: FloatArray, basis: FloatArray
) -> ThetaOptimum:
    """Minimise ``objective(theta) -> (deviance, gradient)`` subject to ``theta >= lower``.

    ``basis`` is ``dLambda/dtheta`` (shape ``(n_theta, q, q)``): it says which thetas share
    a column of Lambda, so the search can run without bounds (see :func:`_canonical`); a
    gradient method held at the bound ``theta_k = 0``, where the slope along ``theta_k``
    always vanishes, could otherwise stop at a saddle. One theta is found by Brent's method.
    """
    n_eval = 0

    def counted(x: FloatArray) -> tuple[float, FloatArray]:
        nonlocal n_eval
        n_eval += 1
        return objective(x)

    diag = lower == 0.0
    hess_last: FloatArray | None = None
    if start.shape[0] == 1:
        res = _minimise_scalar(counted, float(start[0]))
        theta = np.maximum(np.asarray(res.x, dtype=float), lower)
        dev, grad = counted(theta)
        if theta[0] > _AT_BOUND and abs(grad[0]) > 1e-10:  # Newton polish of Brent's answer
            for _ in range(3):
                hess = _hessian(counted, theta, np.array([0]))[0, 0]
                if hess <= 0:
                    break
                cand = np.maximum(theta - grad / hess, lower)
                dc, gc = counted(cand)
                if dc > dev:
                    break
                theta, dev, grad = cand, dc, gc
                if abs(grad[0]) < 1e-10:
                    break
    else:
        res = _projected_newton(counted, np.full(start.shape[0], -np.inf), start)
        theta, signs = _canonical(res.x, basis, diag)
        dev, grad = counted(theta)
        if res.hess is not None:  # the last Newton Hessian, in the flipped coordinates
            hess_last = res.hess * np.outer(signs, signs)
    converged = bool(res.success)
    warns: list[CodedWarning] = []
    if not converged:
        warns.append(CodedWarning("not-converged", f"optimizer did not converge: {res.message}"))
    if np.any(theta[diag] < SINGULAR_TOL):
        warns.append(
            CodedWarning(
                "singular-fit",
                "boundary (singular) fit: a random-effect variance is estimated as (near) zero",
            )
        )
    idx = np.flatnonzero((theta - lower) >= SINGULAR_TOL)
    if idx.size:
        g = grad[idx]
        hess = (
            hess_last[np.ix_(idx, idx)] if hess_last is not None else _hessian(counted, theta, idx)
        )
        try:
            scaled = np.linalg.solve(hess, g)
        except np.linalg.LinAlgError:
            scaled = g
        if np.max(np.abs(scaled)) > GRAD_TOL:
            converged = False
            warns.append(
                CodedWarning(
                    "convergence-gradient",
                    f"model failed to converge with max|grad| = {np.max(np.abs(scaled)):.3g} "
                    f"(tol = {GRAD_TOL})",
                )
            )
    return ThetaOptimum(theta, dev, converged, n_eval, str(res.message), tuple(warns))
