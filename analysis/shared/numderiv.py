"""Finite-difference derivatives for every model family, in one place.

* :func:`central_gradient`, :func:`central_hessian` and :func:`central_jacobian`: central
  differences with a given
  step per coordinate (the optimisers' gradients, Newton polish and convergence checks;
  with ``steps = np.full(n, 1e-4)`` the Hessian is lme4's ``deriv12``, from which
  ``vcov.merMod`` takes GLMM standard errors); :func:`relative_steps` gives the usual
  steps ``rel * max(|x|, floor)``.
* :func:`richardson_hessian` and :func:`richardson_jacobian`: Richardson-extrapolated
  derivatives, step for step as R's numDeriv computes them.

lmerTest obtains the Satterthwaite degrees of freedom from ``numDeriv::hessian`` of the
deviance and ``numDeriv::jacobian`` of the covariance of beta. Using the same step sizes
and extrapolation (Gilbert & Varadhan, numDeriv 2019: ``eps = 1e-4``, ``d = 0.1`` for the
Hessian and ``1e-4`` for the Jacobian, ``r = 4`` halvings) makes our degrees of freedom agree
with lmerTest's far inside the tolerance at which the two could otherwise differ.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "central_gradient",
    "central_hessian",
    "central_hessian_batched",
    "central_jacobian",
    "relative_steps",
    "richardson_hessian",
    "richardson_jacobian",
]

FloatArray = NDArray[np.float64]
_ZERO_TOL = float(np.sqrt(np.finfo(float).eps / 7e-7))


def relative_steps(x: FloatArray, rel: float, floor: float = 1.0) -> FloatArray:
    """Steps ``rel * max(|x_i|, floor)``: relative to the coordinate, absolute near zero."""
    return np.asarray(rel * np.maximum(np.abs(np.asarray(x, dtype=float)), floor), dtype=np.float64)


def central_gradient(
    func: Callable[[FloatArray], float], x: FloatArray, steps: FloatArray
) -> FloatArray:
    """Central-difference gradient, ``(f(x + h_i e_i) - f(x - h_i e_i)) / (2 h_i)``."""
    x = np.asarray(x, dtype=float)
    g = np.empty_like(x)
    for i in range(x.shape[0]):
        e = np.zeros_like(x)
        e[i] = steps[i]
        g[i] = (func(x + e) - func(x - e)) / (2.0 * steps[i])
    return g


def central_hessian(
    func: Callable[[FloatArray], float], x: FloatArray, steps: FloatArray
) -> FloatArray:
    """Central-difference Hessian: second differences on the diagonal, the four-point
    formula off it (lme4's ``deriv12`` when every step is 1e-4)."""
    x = np.asarray(x, dtype=float)
    n = x.shape[0]
    f0 = func(x)
    hess = np.empty((n, n))
    shifts = np.diag(np.asarray(steps, dtype=float))
    for i in range(n):
        ei = shifts[i]
        hess[i, i] = (func(x + ei) - 2.0 * f0 + func(x - ei)) / steps[i] ** 2
        for j in range(i):
            ej = shifts[j]
            hess[i, j] = hess[j, i] = (
                func(x + ei + ej) - func(x + ei - ej) - func(x - ei + ej) + func(x - ei - ej)
            ) / (4.0 * steps[i] * steps[j])
    return hess


def central_hessian_batched(
    func: Callable[[FloatArray], FloatArray], x: FloatArray, steps: FloatArray
) -> FloatArray:
    """:func:`central_hessian` with every point evaluated in one call: ``func`` maps a
    ``(k, n)`` array of points to their ``k`` values. The same ``1 + 2 n^2`` points and
    the same formulas; for models whose evaluation vectorises over points (the GLMM's
    PIRLS) this replaces ``2 n^2`` calls by one."""
    x = np.asarray(x, dtype=float)
    n = x.shape[0]
    shifts = np.diag(np.asarray(steps, dtype=float))
    pairs = [(i, j) for i in range(n) for j in range(i)]
    points = [x]
    points += [x + shifts[i] for i in range(n)] + [x - shifts[i] for i in range(n)]
    for i, j in pairs:
        ei, ej = shifts[i], shifts[j]
        points += [x + ei + ej, x + ei - ej, x - ei + ej, x - ei - ej]
    values = np.asarray(func(np.asarray(points)), dtype=np.float64)
    f0, fp, fm = values[0], values[1 : n + 1], values[n + 1 : 2 * n + 1]
    hess = np.empty((n, n))
    for i in range(n):
        hess[i, i] = (fp[i] - 2.0 * f0 + fm[i]) / steps[i] ** 2
    for k, (i, j) in enumerate(pairs):
        a, b, c, d = values[2 * n + 1 + 4 * k : 2 * n + 5 + 4 * k]
        hess[i, j] = hess[j, i] = (a - b - c + d) / (4.0 * steps[i] * steps[j])
    return hess


def central_jacobian(
    func: Callable[[FloatArray], FloatArray], x: FloatArray, steps: FloatArray
) -> FloatArray:
    """Central-difference Jacobian of a vector function, shape ``(len(func(x)), len(x))``
    (e.g. a Hessian from an exact gradient)."""
    x = np.asarray(x, dtype=float)
    cols = []
    for i in range(x.shape[0]):
        e = np.zeros_like(x)
        e[i] = steps[i]
        cols.append((np.asarray(func(x + e)) - np.asarray(func(x - e))) / (2.0 * steps[i]))
    return np.asarray(np.column_stack(cols), dtype=np.float64)


def _initial_steps(x: FloatArray, d: float, eps: float) -> FloatArray:
    return np.asarray(np.abs(d * x) + eps * (np.abs(x) < _ZERO_TOL), dtype=np.float64)


def _extrapolate(approx: FloatArray) -> FloatArray:
    """Richardson extrapolation over axis 0 of successively halved steps."""
    a = approx.copy()
    r = a.shape[0]
    for m in range(1, r):
        a = (a[1 : r + 1 - m] * 4.0**m - a[: r - m]) / (4.0**m - 1.0)
    return np.asarray(a[0], dtype=np.float64)


def richardson_hessian(
    func: Callable[[FloatArray], float],
    x: FloatArray,
    *,
    d: float = 0.1,
    eps: float = 1e-4,
    r: int = 4,
) -> FloatArray:
    """Hessian of a scalar function (numDeriv's ``genD`` / ``hessian``)."""
    x = np.asarray(x, dtype=float)
    n = x.shape[0]
    f0 = func(x)
    h0 = _initial_steps(x, d, eps)
    hdiag = np.empty(n)
    for i in range(n):
        approx = np.empty(r)
        h = h0.copy()
        for k in range(r):
            e = np.zeros(n)
            e[i] = h[i]
            approx[k] = (func(x + e) - 2 * f0 + func(x - e)) / h[i] ** 2
            h = h / 2
        hdiag[i] = _extrapolate(approx)
    hess = np.diag(hdiag)
    for i in range(n):
        for j in range(i):
            approx = np.empty(r)
            h = h0.copy()
            for k in range(r):
                e = np.zeros(n)
                e[i] = h[i]
                e[j] = h[j]
                f1, f2 = func(x + e), func(x - e)
                approx[k] = (f1 - 2 * f0 + f2 - hdiag[i] * h[i] ** 2 - hdiag[j] * h[j] ** 2) / (
                    2 * h[i] * h[j]
                )
                h = h / 2
            hess[i, j] = hess[j, i] = _extrapolate(approx)
    return hess


def richardson_jacobian(
    func: Callable[[FloatArray], FloatArray],
    x: FloatArray,
    *,
    d: float = 1e-4,
    eps: float = 1e-4,
    r: int = 4,
) -> FloatArray:
    """Jacobian of an array-valued function, shape ``func(x).shape + (len(x),)``."""
    x = np.asarray(x, dtype=float)
    n = x.shape[0]
    f0 = np.asarray(func(x), dtype=float)
    out = np.empty(f0.shape + (n,))
    h0 = _initial_steps(x, d, eps)
    for i in range(n):
        approx = np.empty((r,) + f0.shape)
        h = h0.copy()
        for k in range(r):
            e = np.zeros(n)
            e[i] = h[i]
            approx[k] = (np.asarray(func(x + e)) - np.asarray(func(x - e))) / (2 * h[i])
            h = h / 2
        out[..., i] = _extrapolate(approx)
    return out
