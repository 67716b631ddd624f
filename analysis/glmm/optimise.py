"""Numerical pieces of a GLMM fit: finite-difference derivatives and the optimiser.

The deviance is minimised over ``(theta, beta)`` jointly (lme4's second stage). With the
exact gradient (every model but the Poisson-lognormal) the minimiser is a projected
quasi-Newton method written here (:func:`_minimise_exact`): finite-difference Hessians of
the exact gradient, BFGS updates between them, box bounds (``theta >= 0``, the negative
binomial's upper bound on ``log(size)``) by projection. It locates the optimum to far
better than the 1e-4 agreement we promise with lme4, in a handful of iterations and
without the per-iteration overhead of a general-purpose library routine (which dominated
a 7 x 13 fit). Without a gradient it is L-BFGS-B on central differences with a Newton
polish. The Hessian used for the standard errors is lme4's ``deriv12`` formula: central
second differences with an absolute step of 1e-4 (``vcov.merMod`` with
``use.hessian = TRUE`` returns ``2 * solve(H)`` restricted to the fixed effects). Every
finite difference comes from :mod:`analysis.shared.numderiv`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from scipy import optimize

from analysis.errors import ConvergenceError
from analysis.glmm.families import Array
from analysis.shared.numderiv import (
    central_gradient,
    central_hessian,
    central_jacobian,
    relative_steps,
)

__all__ = ["fd_gradient", "fd_hessian", "minimise"]

Objective = Callable[[Array], float]
#: The objective and its gradient at one point (one pass over the conditional modes).
ValueAndGradient = Callable[[Array], tuple[float, Array]]
#: Exact gradients at the rows of a ``(k, n)`` array of points, as a ``(k, n)`` array.
BatchGradient = Callable[[Array], Array]


def fd_gradient(f: Objective, x: Array, step: float = 1e-6) -> Array:
    """Central-difference gradient, steps ``step * max(|x_i|, 1)``
    (:func:`analysis.shared.numderiv.central_gradient`)."""
    return central_gradient(f, x, relative_steps(x, step, floor=1.0))


def fd_hessian(f: Objective, x: Array, delta: float = 1e-4) -> Array:
    """Central-difference Hessian with absolute step ``delta`` (lme4's ``deriv12``;
    :func:`analysis.shared.numderiv.central_hessian`)."""
    return central_hessian(f, x, np.full(len(x), float(delta)))


def gradient_hessian(vg: ValueAndGradient, x: Array, step: float = 1e-5) -> Array:
    """Hessian by central differences of an exact gradient (2 n gradient evaluations
    instead of the 2 n^2 deviance evaluations of :func:`fd_hessian`), symmetrised
    (:func:`analysis.shared.numderiv.central_jacobian` of the gradient)."""
    H = central_jacobian(lambda z: vg(z)[1], x, relative_steps(x, step, floor=1.0))
    return np.asarray(0.5 * (H + H.T), dtype=np.float64)


def gradient_hessian_batched(grads: BatchGradient, x: Array, step: float = 1e-5) -> Array:
    """:func:`gradient_hessian` with the ``2 n`` gradients evaluated in one call of
    ``grads`` (``(2 n, n)`` points to their ``(2 n, n)`` gradients): the same points and
    formula, one vectorised pass instead of ``2 n`` separate ones."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    h = relative_steps(x, step, floor=1.0)
    shifts = np.diag(h)
    G = np.asarray(grads(np.vstack((x + shifts, x - shifts))), dtype=np.float64)
    H = ((G[:n] - G[n:]) / (2.0 * h[:, None])).T
    return np.asarray(0.5 * (H + H.T), dtype=np.float64)


def minimise(
    f: Objective,
    x0: Array,
    lower: Array,
    *,
    upper: Array | None = None,
    newton_steps: int = 4,
    value_and_grad: ValueAndGradient | None = None,
    gtol: float = 1e-9,
    gradients: BatchGradient | None = None,
) -> tuple[Array, bool, str]:
    """Minimise ``f`` subject to ``lower <= x <= upper``; return (x, converged, message).

    Coordinates that end on a bound are held there by the Newton polish and left out of the
    convergence check (their gradient need not vanish). With ``value_and_grad`` (the exact
    gradient, see :meth:`analysis.glmm.likelihood.MarginalDeviance.value_and_gradient`)
    L-BFGS-B takes one deviance evaluation per step instead of ``2 n + 1``, and the Newton
    polish differentiates the gradient rather than the deviance. ``gtol`` is L-BFGS-B's
    projected-gradient tolerance: profiles that only need a few significant digits pass a
    looser one. ``gradients`` (the same exact gradient at many points in one call) lets
    the quasi-Newton Hessian's finite differences be evaluated together.
    """
    if value_and_grad is not None:
        return _minimise_exact(f, value_and_grad, x0, lower, upper, newton_steps, gtol, gradients)
    hi = np.full(len(x0), np.inf) if upper is None else np.asarray(upper, dtype=np.float64)
    bounds = [
        (lo if np.isfinite(lo) else None, up if np.isfinite(up) else None)
        for lo, up in zip(lower, hi)
    ]
    res = optimize.minimize(
        f,
        x0,
        jac=lambda x: fd_gradient(f, x),
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 2000, "ftol": 1e-15, "gtol": gtol, "maxcor": 20},
    )
    x = np.asarray(res.x, dtype=np.float64)
    message = str(res.message)
    # Newton polish on the free coordinates (those not pinned at their bound).
    free = ~((x <= lower + 1e-7) | (x >= hi - 1e-7))
    decrement = np.inf
    for _ in range(newton_steps):
        g = fd_gradient(f, x)[free]
        base = x.copy()

        def f_free(z: Array, b: Array = base) -> float:
            return f(_embed(b, free, z))

        H = fd_hessian(f_free, x[free], delta=1e-5)
        try:
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            break
        decrement = float(g @ step)
        cand = x.copy()
        cand[free] = x[free] - step
        if np.all(cand >= lower) and np.all(cand <= hi) and f(cand) <= f(x) + 1e-12:
            x = cand
        else:
            break
        if abs(decrement) < 1e-14:
            break
    g_final = fd_gradient(f, x)[free]
    converged = bool(np.all(np.isfinite(x))) and float(np.max(np.abs(g_final), initial=0.0)) < 1e-3
    return x, converged, message


def _bounds(lower: Array, hi: Array) -> list[tuple[float | None, float | None]]:
    return [
        (lo if np.isfinite(lo) else None, up if np.isfinite(up) else None)
        for lo, up in zip(lower, hi)
    ]


def _minimise_exact(
    f: Objective,
    vg: ValueAndGradient,
    x0: Array,
    lower: Array,
    upper: Array | None,
    newton_steps: int,
    gtol: float,
    gradients: BatchGradient | None = None,
) -> tuple[Array, bool, str]:
    """:func:`minimise` with the exact gradient: a projected quasi-Newton method.

    The first iteration (and any iteration after the set of free coordinates changes, or
    every ``_REFRESH`` iterations) builds the Hessian of the free coordinates (those not
    held at a bound by a gradient pointing outwards) by forward differences of the exact
    gradient; the iterations in between update it by BFGS from the gradient change, which
    keeps the quadratic model good at the cost of one evaluation per step. The Hessian is
    made positive definite if it is not (eigenvalues floored), and the step backtracks
    along the projected direction until the deviance decreases (Armijo). The search stops
    when the predicted decrease is below 1e-12 after a full step (the optimum is then
    located to about 1e-6 of a standard error) or the free gradient is below ``gtol``.
    On small problems this takes a handful of iterations and no BLAS-threaded library
    code: L-BFGS-B's per-iteration overhead dominated a 7 x 13 fit. ``newton_steps`` is
    ignored (kept for the callers of :func:`minimise`).
    """
    del newton_steps
    hi = np.full(len(x0), np.inf) if upper is None else np.asarray(upper, dtype=np.float64)
    x = np.clip(np.asarray(x0, dtype=np.float64), lower, hi)
    fx, gx = vg(x)
    message = "maximum number of Newton iterations reached"
    converged_flag = False
    B: Array | None = None
    last_free: NDArray[np.bool_] | None = None
    age = 0
    for _ in range(_NEWTON_MAXITER):
        if not (np.isfinite(fx) and np.all(np.isfinite(gx))):
            message = "non-finite deviance or gradient"
            break
        free = ~(((x <= lower) & (gx > 0)) | ((x >= hi) & (gx < 0)))
        g = gx[free]
        if float(np.max(np.abs(g), initial=0.0)) < gtol:
            message, converged_flag = "projected gradient below tolerance", True
            break
        if B is None or last_free is None or not np.array_equal(free, last_free) or age >= _REFRESH:
            B, age = _fd_hessian_free(vg, x, gx, free, gradients), 0
        last_free = free
        step = -_solve_positive(B, g)
        full = np.zeros_like(x)
        full[free] = step
        decrement = -float(g @ step)
        # no coordinate (a log SD, a log size, a log-rate coefficient) moves by more than
        # _MAX_STEP at once: far trial points only cost failed mode searches
        t = min(1.0, _MAX_STEP / max(float(np.max(np.abs(step), initial=0.0)), 1e-300))
        accepted = False
        for _half in range(40):
            cand = _snap(np.clip(x + t * full, lower, hi), lower, hi)
            fc, gc = _trial(vg, cand)
            if np.isfinite(fc) and fc <= fx - 1e-4 * t * decrement + 1e-13 * (1.0 + abs(fx)):
                accepted = True
                break
            # minimiser of the quadratic through f(x), its slope and f(x + t d), kept
            # within [t / 10, t / 2]
            rise = fc - fx + t * decrement
            shrink = 0.5 * decrement * t / rise if np.isfinite(fc) and rise > 0 else 0.5
            t *= min(0.5, max(0.1, shrink))
        if not accepted:
            if age > 0:  # a stale quasi-Newton model: rebuild it and try again
                B = None
                continue
            message, converged_flag = "no decrease along the Newton direction", decrement < 1e-8
            break
        moved = float(np.max(np.abs(cand - x), initial=0.0))
        s_vec, y_vec = (cand - x)[free], (gc - gx)[free]
        x, fx, gx = cand, fc, gc
        if (t == 1.0 and decrement < 1e-12) or moved < 1e-14:
            message, converged_flag = "Newton decrement below tolerance", True
            break
        # a shortened step means the quadratic model was poor: rebuild it where we are
        B, age = (_bfgs_update(B, s_vec, y_vec), age + 1) if t == 1.0 else (None, 0)
    free = ~(((x <= lower + 1e-7) & (gx > 0)) | ((x >= hi - 1e-7) & (gx < 0)))
    g_final = gx[free]
    converged = (
        converged_flag
        and bool(np.all(np.isfinite(x)))
        and float(np.max(np.abs(g_final), initial=0.0)) < 1e-3
    )
    return x, converged, message


#: Quasi-Newton iterations before the finite-difference Hessian is rebuilt.
_REFRESH = 15
#: Largest change of any coordinate in one step of :func:`_minimise_exact`.
_MAX_STEP = 5.0


def _snap(x: Array, lower: Array, upper: Array) -> Array:
    """Coordinates within 1e-10 of a bound put on it (a standard deviation that a
    shortened step left at 1e-17 is a boundary estimate, reported as zero)."""
    x = np.where(x - lower < 1e-10, lower, x)
    return np.asarray(np.where(upper - x < 1e-10, upper, x), dtype=np.float64)


def _trial(vg: ValueAndGradient, x: Array) -> tuple[float, Array]:
    """The deviance and gradient at a trial point; a point where they cannot be computed
    (the conditional modes fail, or overflow) counts as infinitely bad, so the line search
    shortens the step instead of aborting the fit."""
    try:
        with np.errstate(all="ignore"):
            return vg(x)
    except ConvergenceError:
        return np.inf, np.full(len(x), np.nan)


def _bfgs_update(B: Array, s: Array, y: Array) -> Array:
    """BFGS update of the Hessian model (skipped when the curvature condition fails)."""
    sy = float(s @ y)
    Bs = B @ s
    sBs = float(s @ Bs)
    if sy <= 1e-12 * float(np.linalg.norm(s) * np.linalg.norm(y)) or sBs <= 0:
        return B
    return np.asarray(B + np.outer(y, y) / sy - np.outer(Bs, Bs) / sBs, dtype=np.float64)


#: Newton iterations before :func:`_minimise_exact` gives up.
_NEWTON_MAXITER = 200


def _fd_hessian_free(
    vg: ValueAndGradient,
    x: Array,
    gx: Array,
    free: NDArray[np.bool_],
    gradients: BatchGradient | None = None,
) -> Array:
    """Hessian of the free coordinates by forward differences of the exact gradient,
    symmetrised; with ``gradients``, every shifted point's gradient in one call."""
    idx = np.flatnonzero(free)
    if gradients is not None:
        steps = 1e-6 * np.maximum(1.0, np.abs(x[idx]))
        points = np.tile(x, (len(idx), 1))
        points[np.arange(len(idx)), idx] += steps
        G: Array | None
        try:
            G = np.asarray(gradients(points), dtype=np.float64)
        except ConvergenceError:
            G = None  # the modes searched together failed: one gradient at a time below
        if G is not None:
            Hb = ((G[:, idx] - gx[idx]) / steps[:, None]).T
            return np.asarray(0.5 * (Hb + Hb.T), dtype=np.float64)
    H = np.empty((len(idx), len(idx)))
    for col, i in enumerate(idx):
        h = 1e-6 * max(1.0, abs(float(x[i])))
        e = x.copy()
        e[i] += h
        H[:, col] = (vg(e)[1][idx] - gx[idx]) / h
    return np.asarray(0.5 * (H + H.T), dtype=np.float64)


def _solve_positive(H: Array, g: Array) -> Array:
    """``H^-1 g`` with H made positive definite (eigenvalues floored at a small multiple
    of the largest) when it is not, so that ``-H^-1 g`` is a descent direction."""
    try:
        chol = np.linalg.cholesky(H)
        return np.asarray(np.linalg.solve(chol.T, np.linalg.solve(chol, g)), dtype=np.float64)
    except np.linalg.LinAlgError:
        vals, vecs = np.linalg.eigh(H)
        top = float(np.max(np.abs(vals), initial=1.0))
        vals = np.maximum(np.abs(vals), 1e-8 * top)
        return np.asarray(vecs @ ((vecs.T @ g) / vals), dtype=np.float64)


def _embed(x: Array, free: NDArray[np.bool_], z: Array) -> Array:
    out = x.copy()
    out[free] = z
    return out


def newton_1d(f: Callable[[Array], float], t0: Array) -> Array | None:
    """Minimise ``f`` over a scalar ``theta >= 0`` by Newton's method on central
    differences (two new evaluations per step besides the accepted point, each
    warm-started from the last), or None when the curvature is not positive (the caller
    falls back to the general optimiser). Stops once a step below 1e-7 (relative) has been
    taken: Newton's quadratic convergence leaves the minimiser accurate to far less."""
    t = float(t0[0])
    f0 = f(np.array([t]))
    for _ in range(50):
        h = 1e-5 * max(1.0, t)
        lo = max(t - h, 0.0)
        f_lo, f_hi = f(np.array([lo])), f(np.array([lo + 2 * h]))
        f_mid = f0 if lo + h == t else f(np.array([lo + h]))
        slope = (f_hi - f_lo) / (2 * h)
        curv = (f_hi - 2.0 * f_mid + f_lo) / h**2
        if not (np.isfinite(curv) and curv > 0):
            return None
        step = -slope / curv
        new = t + step
        f_new = f(np.array([new])) if new >= 0 else np.inf
        while f_new > f0 + 1e-12 * (1.0 + abs(f0)):
            step *= 0.5
            new = t + step
            if abs(step) < 1e-12:
                return np.array([t])
            f_new = f(np.array([new])) if new >= 0 else np.inf
        t, f0 = new, f_new
        if abs(step) < 1e-7 * max(1.0, t):
            return np.array([t])
    return None
