"""The function glmer's ``vcov`` differentiates: lme4's Laplace devfun, PIRLS and all.

Why this module exists. ``vcov()`` of a ``glmer`` fit (lme4 1.1-31, ``use.hessian = TRUE``
by default) is ``2 * solve(H)`` restricted to the fixed effects, where ``H`` is the
``deriv12`` finite-difference Hessian (absolute step 1e-4, exact central second
differences) of the stage-2 deviance function in ``(theta, beta)``. That function is *not*
the exact Laplace approximation that :mod:`analysis.glmm.likelihood` computes, and its
curvature differs by up to ~5e-4 relative in the standard errors. What it is, read from the
lme4 sources:

* ``mkdevfun(rho, nAGQ = 1)`` (R/lmer.R) evaluates, at every call, ``resp$setOffset(
  baseOffset); resp$updateMu(lp0)`` - the conditional means are *reset* to the linear
  predictor ``lp0`` saved by ``updateGlmerDevfun`` at the end of stage 1 (the nAGQ = 0 fit:
  ``theta`` optimised with ``beta`` and ``u`` jointly at their penalised modes, see
  :func:`stage_one_predictor`) - then moves ``X beta`` into the offset and calls
  ``pwrssUpdate`` with ``uOnly`` (src/external.cpp, ``glmerLaplace``).
* ``pwrssUpdate`` iterates ``internal_glmerWrkIter``: working weights and response at the
  current ``eta`` (``updateXwts``, which refactors ``L L' = Lambda' Z' W Z Lambda + I`` and
  stores ``ldL2 = log|L|^2``), ``solveU`` for the new ``u`` (``u0 = 0``, so ``u = delu``),
  ``updateMu``; ``pdev = sum(devResid) + |u|^2``. It stops as soon as
  ``|oldpdev - pdev| / pdev < tolPwrss`` (``glmerControl(tolPwrss = 1e-7)``; ``oldpdev``
  starts at ``DBL_MAX``, so at least two iterations), halving the step towards the previous
  ``delu`` (at most 10 times, without refactoring L) when ``pdev`` increased.
* The value is ``resp$Laplace(ldL2, ldRX2, sqrL) = ldL2 + |u|^2 + aic`` (src/respModule.cpp,
  ``glmResp::Laplace``): deviance and penalty at the last iterate but ``log|L|^2`` with the
  weights of the *previous* iterate.

Starting from ``lp0`` (close to the optimum) PIRLS typically stops after two iterations, so
``log|L|^2`` is taken at one Newton step from a point that does not move with
``(theta, beta)``: equal to the exact Laplace value to second order, but with a different
second derivative - the whole of the difference from glmer's standard errors. The
deviance is deterministic (no warm start is carried between calls), so ``deriv12`` of it
is reproducible, and :class:`GlmerLaplaceDevfun` reproduces it. It is used only for the
covariance: estimation keeps the exact Laplace deviance (glmer's optimum agrees with it to
far better than 1e-4).

``vcov.merMod`` falls back to the ``RX``-based matrix ``sigma^2 * pp$unsc()`` (``(RX' RX)^-1``,
``RX' RX = X'WX - X'W Z Lambda (L L')^-1 Lambda' Z' W X`` with the weights of the last
factorisation) when ``2 * solve(H)`` is not positive definite; :meth:`GlmerLaplaceDevfun.
rx_covariance` gives that matrix (``sigma = 1`` for these families).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from analysis.errors import ConvergenceError
from analysis.glmm.clusters import cluster_sums, row_cluster_sums
from analysis.glmm.families import Array, Family
from analysis.glmm.optimise import minimise, newton_1d

__all__ = ["GlmerLaplaceDevfun", "PirlsState", "stage_one_predictor"]

IntArray = NDArray[np.intp]
TOL_PWRSS = 1e-7  # glmerControl()$tolPwrss
MAXIT = 100  # mkGlmerDevfun(maxit = 100L)
#: Points x observations up to which :meth:`GlmerLaplaceDevfun.batch` vectorises.
_BATCH_CELLS = 2_000_000


@dataclass(frozen=True)
class _RandomEffects:
    """``Z Lambda`` of a random intercept per cluster [and per observation (OLRE)]."""

    group: IntArray
    ngroups: int
    olre: bool

    def thetas(self, theta: Array) -> tuple[float, float]:
        return float(theta[0]), float(theta[1]) if self.olre else 0.0

    def gsum(self, x: Array) -> Array:
        """Sum over the observations of each cluster (vector or matrix columns)."""
        return cluster_sums(self.group, self.ngroups, x)

    def gsum_rows(self, x: Array) -> Array:
        """Cluster sums of every row of a ``k x n`` array: ``k x G``."""
        return row_cluster_sums(self.group, self.ngroups, x)

    def predictor(self, theta: Array, uc: Array, v: Array) -> Array:
        t1, t2 = self.thetas(theta)
        return np.asarray(t1 * uc[self.group] + t2 * v, dtype=np.float64)

    def solve(self, theta: Array, w: Array, rc: Array, rv: Array) -> tuple[Array, Array, float]:
        """Solve ``(I + Lambda' Z' W Z Lambda) (uc, v) = (rc, rv)``; also ``log|L|^2``.

        The observation-level block is diagonal, so it is eliminated first and the cluster
        block is solved through its (diagonal) Schur complement.
        """
        t1, t2 = self.thetas(theta)
        if not self.olre:
            # a random intercept alone: L L' is diagonal
            schur = 1.0 + t1 * t1 * self.gsum(w)
            uc = rc / (schur[:, None] if rc.ndim == 2 else schur)
            return uc, np.zeros_like(rv), float(np.sum(np.log(schur)))
        a = 1.0 + t2 * t2 * w
        h = t1 * t2 * w
        schur = 1.0 + t1 * t1 * self.gsum(w) - self.gsum(h * h / a)
        if rv.ndim == 2:
            a2, h2 = a[:, None], h[:, None]
            uc = (rc - self.gsum(h2 * rv / a2)) / schur[:, None]
            v = (rv - h2 * uc[self.group]) / a2
        else:
            uc = (rc - self.gsum(h * rv / a)) / schur
            v = (rv - h * uc[self.group]) / a
        return uc, v, float(np.sum(np.log(a)) + np.sum(np.log(schur)))

    def crossprod(self, theta: Array, wx: Array) -> tuple[Array, Array]:
        """``Lambda' Z' wx`` split into its cluster and observation blocks."""
        t1, t2 = self.thetas(theta)
        return t1 * self.gsum(wx), t2 * wx

    def fixed_schur(self, theta: Array, X: Array, w: Array) -> Array:
        """``RX' RX = X'WX - X'W Z Lambda (L L')^-1 Lambda' Z' W X`` (lme4's ``updateDecomp``)."""
        bc, bv = self.crossprod(theta, w[:, None] * X)
        dc, dv, _ = self.solve(theta, w, bc, bv)
        out = X.T @ (w[:, None] * X) - bc.T @ dc - bv.T @ dv
        return np.asarray(0.5 * (out + out.T), dtype=np.float64)


@dataclass(frozen=True)
class PirlsState:
    """Where glmer's PIRLS stopped: last iterate and the weights of the last factorisation."""

    eta: Array
    uc: Array
    v: Array
    weights: Array
    ldl2: float
    iterations: int


@dataclass
class GlmerLaplaceDevfun:
    """lme4's stage-2 Laplace deviance function of ``x = (theta, beta)`` (see module doc).

    Parameters
    ----------
    family : Family
        Poisson or binomial (canonical links: PIRLS weights are the second derivatives).
    X, offset, group
        Fixed-effects design, offset (``baseOffset``), cluster codes ``0 .. G-1``.
    olre : bool
        An observation-level random intercept as well (``theta = (cluster, observation)``).
    lp0 : ndarray
        Linear predictor (offset excluded) every evaluation restarts from (lme4's ``lp0``).
    """

    family: Family
    X: Array
    offset: Array
    group: IntArray
    olre: bool
    lp0: Array
    tol: float = TOL_PWRSS
    maxit: int = MAXIT

    def __post_init__(self) -> None:
        self._re = _RandomEffects(self.group, int(self.group.max()) + 1, self.olre)
        self.ntheta = 2 if self.olre else 1

    def _pdev(self, eta: Array, uc: Array, v: Array) -> float:
        return float(np.sum(self.family.deviance_residuals(eta)) + uc @ uc + v @ v)

    def pirls(self, theta: Array, beta: Array) -> PirlsState:
        """``pwrssUpdate(uOnly = TRUE)`` from ``eta = offset + lp0`` (src/external.cpp)."""
        fam, re = self.family, self._re
        off = self.offset + self.X @ beta
        eta = self.offset + self.lp0
        uc, v = np.zeros(re.ngroups), np.zeros(len(eta))
        oldpdev = float(np.finfo(np.float64).max)
        for it in range(self.maxit):
            old_uc, old_v = uc, v
            d1, w = fam.derivatives(eta)
            z = _working_response(eta - off, d1, w)  # wrkResp: offset excluded
            rc, rv = re.crossprod(theta, w * z)
            uc, v, ldl2 = re.solve(theta, w, rc, rv)
            weights = w
            eta = off + re.predictor(theta, uc, v)
            pdev = self._pdev(eta, uc, v)
            # relative change, written without dividing by pdev: a saturated fit (every
            # count equal, follow-up only) has pdev == 0 and divided by zero
            if abs(oldpdev - pdev) < self.tol * abs(pdev) or pdev == oldpdev:
                return PirlsState(eta, uc, v, weights, ldl2, it + 1)
            if pdev > oldpdev:  # step halving towards the previous delu, L not refactored
                for _ in range(10):
                    if pdev <= oldpdev:
                        break
                    uc, v = 0.5 * (old_uc + uc), 0.5 * (old_v + v)
                    eta = off + re.predictor(theta, uc, v)
                    pdev = self._pdev(eta, uc, v)
                if pdev - oldpdev > self.tol:
                    raise ConvergenceError("PIRLS step-halving failed to reduce deviance")
            oldpdev = pdev
        raise ConvergenceError(f"PIRLS did not converge in {self.maxit} iterations")

    def __call__(self, x: Array) -> float:
        """``ldL2 + |u|^2 + aic`` at ``x = (theta, beta)`` (``glmResp::Laplace``)."""
        theta, beta = x[: self.ntheta], x[self.ntheta :]
        st = self.pirls(theta, beta)
        pen = float(st.uc @ st.uc + st.v @ st.v)
        return st.ldl2 + pen + float(np.sum(self.family.neg2_loglik(st.eta)))

    def batch(self, xs: Array) -> Array:
        """:meth:`__call__` at every row of ``xs`` (k points), for a random intercept alone
        vectorised over the points: the same PIRLS iterations, step halvings and stopping
        rule row by row (a row stops changing once it has converged), so deriv12's
        ``1 + 2 n^2`` evaluations cost about one. Falls back to a loop over the rows for the
        observation-level model or when the ``k x n`` arrays would be large."""
        xs = np.atleast_2d(np.asarray(xs, dtype=np.float64))
        k, n = xs.shape[0], len(self.offset)
        if self.olre or k * n > _BATCH_CELLS:
            return np.array([self(x) for x in xs])
        fam, re = self.family, self._re
        t = np.abs(xs[:, 0])[:, None]
        off = self.offset + xs[:, 1:] @ self.X.T
        eta = np.broadcast_to(self.offset + self.lp0, (k, n)).copy()
        uc = np.zeros((k, re.ngroups))
        oldpdev = np.full(k, np.finfo(np.float64).max)
        value = np.full(k, np.nan)
        active = np.ones(k, dtype=bool)
        g = self.group

        def pdev_of(e: Array, c: Array) -> Array:
            return np.asarray(fam.deviance_residuals(e).sum(axis=1) + (c * c).sum(axis=1))

        for _ in range(self.maxit):
            old_uc = uc
            d1, w = fam.derivatives(eta)
            with np.errstate(all="ignore"):
                z = eta - off - d1 / w
            bad = ~(np.all(w > 0, axis=1) & np.all(np.isfinite(z), axis=1))
            if np.any(bad & active):
                raise ConvergenceError("PIRLS working weights vanished (separation or overflow)")
            schur = 1.0 + t * t * re.gsum_rows(w)
            new_uc = t * re.gsum_rows(w * z) / schur
            ldl2 = np.log(schur).sum(axis=1)
            new_eta = off + t * new_uc[:, g]
            pdev = pdev_of(new_eta, new_uc)
            # as in pirls: no division, so a saturated fit (pdev == 0) converges
            change = np.abs(oldpdev - pdev)
            done = active & ((change < self.tol * np.abs(pdev)) | (pdev == oldpdev))
            if done.any():
                nll = fam.neg2_loglik(new_eta[done]).sum(axis=1)
                value[done] = ldl2[done] + (new_uc[done] ** 2).sum(axis=1) + nll
            step = active & ~done
            halve = step & (pdev > oldpdev)
            for _h in range(10):
                if not halve.any():
                    break
                new_uc = np.where(halve[:, None], 0.5 * (old_uc + new_uc), new_uc)
                new_eta = np.where(halve[:, None], off + t * new_uc[:, g], new_eta)
                pdev = np.where(halve, pdev_of(new_eta, new_uc), pdev)
                halve = halve & (pdev > oldpdev)
            if np.any(step & (pdev - oldpdev > self.tol)):
                raise ConvergenceError("PIRLS step-halving failed to reduce deviance")
            active = step
            if not active.any():
                return value
            uc = np.where(active[:, None], new_uc, uc)
            eta = np.where(active[:, None], new_eta, eta)
            oldpdev = np.where(active, pdev, oldpdev)
        raise ConvergenceError(f"PIRLS did not converge in {self.maxit} iterations")

    def rx_covariance(self, x: Array) -> Array:
        """``pp$unsc()`` after an evaluation at ``x``: vcov(use.hessian = FALSE)."""
        theta, beta = x[: self.ntheta], x[self.ntheta :]
        st = self.pirls(theta, beta)
        return np.asarray(np.linalg.inv(self._re.fixed_schur(theta, self.X, st.weights)))


def _working_response(lin: Array, d1: Array, w: Array) -> Array:
    """``lin + (y - mu) / mu.eta``; refuses zero weights (fitted probabilities of 0 or 1)."""
    with np.errstate(all="ignore"):
        z = lin - d1 / w
    if not (np.all(w > 0) and np.all(np.isfinite(z))):
        raise ConvergenceError("PIRLS working weights vanished (separation or overflow)")
    return np.asarray(z, dtype=np.float64)


def _joint_modes(
    family: Family,
    X: Array,
    offset: Array,
    re: _RandomEffects,
    theta: Array,
    start: tuple[Array, Array, Array],
    tol: float = 1e-11,
    max_iter: int = 100,
) -> tuple[Array, Array, Array, Array, float]:
    """Penalised modes of ``(beta, u)`` at fixed ``theta`` (lme4's nAGQ = 0 PIRLS, solved
    to convergence by Newton's method with step halving); also eta and ``log|L|^2``."""
    beta, uc, v = start
    if not re.olre:
        b, c, e, ldl2 = _joint_modes_ri(
            family, X, offset, re, float(theta[0]), beta, uc, tol, max_iter
        )
        return b, c, v, e, ldl2

    def penalised(b: Array, c: Array, vv: Array) -> tuple[Array, float]:
        e = offset + X @ b + re.predictor(theta, c, vv)
        with np.errstate(all="ignore"):
            dev = float(np.sum(family.deviance_residuals(e)) + c @ c + vv @ vv)
        return e, dev if np.isfinite(dev) else np.inf

    eta, obj = penalised(beta, uc, v)
    for _ in range(max_iter):
        d1, w = family.derivatives(eta)
        z = _working_response(eta - offset, d1, w)
        bc, bv = re.crossprod(theta, w[:, None] * X)
        dc, dv, _ = re.solve(theta, w, bc, bv)
        rc, rv = re.crossprod(theta, w * z)
        sc, sv, _ = re.solve(theta, w, rc, rv)
        schur = X.T @ (w[:, None] * X) - bc.T @ dc - bv.T @ dv
        new_beta = np.linalg.solve(schur, X.T @ (w * z) - bc.T @ sc - bv.T @ sv)
        new_uc, new_v = sc - dc @ new_beta, sv - dv @ new_beta
        step = 1.0
        for _half in range(30):
            cand = (
                beta + step * (new_beta - beta),
                uc + step * (new_uc - uc),
                v + step * (new_v - v),
            )
            ceta, cobj = penalised(*cand)
            if cobj <= obj + 1e-10 * (1.0 + abs(obj)):
                break
            step *= 0.5
        change = max(float(np.max(np.abs(c - o), initial=0.0)) for c, o in zip(cand, (beta, uc, v)))
        beta, uc, v = cand
        eta, obj = ceta, cobj
        if change < tol:
            break
    else:
        raise ConvergenceError("stage-1 (nAGQ = 0) modes did not converge")
    _, w = family.derivatives(eta)
    _, _, ldl2 = re.solve(theta, w, np.zeros(re.ngroups), np.zeros(len(eta)))
    return beta, uc, v, eta, ldl2


def _joint_modes_ri(
    family: Family,
    X: Array,
    offset: Array,
    re: _RandomEffects,
    t: float,
    beta: Array,
    uc: Array,
    tol: float,
    max_iter: int,
) -> tuple[Array, Array, Array, float]:
    """:func:`_joint_modes` for a random intercept alone: ``L L'`` is diagonal, so the
    ``beta`` step is the Schur complement of a diagonal block (no observation-level
    arrays)."""
    g = re.group

    def penalised(b: Array, c: Array) -> tuple[Array, float]:
        e = offset + X @ b + t * c[g]
        with np.errstate(all="ignore"):
            dev = float(np.sum(family.deviance_residuals(e)) + c @ c)
        return e, dev if np.isfinite(dev) else np.inf

    eta, obj = penalised(beta, uc)
    for _ in range(max_iter):
        d1, w = family.derivatives(eta)
        z = _working_response(eta - offset, d1, w)
        wX = w[:, None] * X
        diag = 1.0 + t * t * re.gsum(w)
        bc = t * re.gsum(wX)
        dc = bc / diag[:, None]
        sc = t * re.gsum(w * z) / diag
        schur = X.T @ wX - bc.T @ dc
        new_beta = np.linalg.solve(schur, X.T @ (w * z) - bc.T @ sc)
        new_uc = sc - dc @ new_beta
        step = 1.0
        for _half in range(30):
            cb, cc = beta + step * (new_beta - beta), uc + step * (new_uc - uc)
            ceta, cobj = penalised(cb, cc)
            if cobj <= obj + 1e-10 * (1.0 + abs(obj)):
                break
            step *= 0.5
        change = max(float(np.max(np.abs(cb - beta), initial=0.0)), float(np.max(np.abs(cc - uc))))
        beta, uc, eta, obj = cb, cc, ceta, cobj
        # a full Newton step of 1e-8 leaves an error of order 1e-16 (quadratic convergence)
        if change < tol or (change < 1e-8 and step == 1.0):
            break
    else:
        raise ConvergenceError("stage-1 (nAGQ = 0) modes did not converge")
    _, w = family.derivatives(eta)
    return beta, uc, eta, float(np.sum(np.log1p(t * t * re.gsum(w))))


def stage_one_predictor(
    family: Family,
    X: Array,
    offset: Array,
    group: IntArray,
    olre: bool,
    theta: Array,
    beta: Array,
) -> Array:
    """glmer's ``lp0``: ``X beta + Z Lambda u`` at the stage-1 (nAGQ = 0) optimum.

    Stage 1 (``glmerControl(nAGQ0initStep = TRUE)``) minimises over ``theta >= 0`` the
    deviance ``log|L|^2 + |u|^2 + aic`` at the joint penalised modes of ``(beta, u)``;
    ``updateGlmerDevfun`` then saves ``lp0 <- pp$linPred(1)``. ``theta`` and ``beta`` (the
    final estimates) only start the search.
    """
    re = _RandomEffects(group, int(group.max()) + 1, olre)
    n = len(offset)
    state: dict[str, tuple[Array, Array, Array]] = {
        "start": (beta.copy(), np.zeros(re.ngroups), np.zeros(n))
    }
    # the modes at the last theta searched: the search usually ends on the point it
    # evaluated last, whose modes are then not solved for again
    last: list[tuple[Array, tuple[Array, Array, Array, Array, float]]] = []

    def modes(t: Array) -> tuple[Array, Array, Array, Array, float]:
        if last and np.array_equal(last[0][0], t):
            return last[0][1]
        out = _joint_modes(family, X, offset, re, np.abs(t), state["start"])
        state["start"] = (out[0], out[1], out[2])
        last[:] = [(np.array(t, dtype=np.float64), out)]
        return out

    def deviance(t: Array) -> float:
        b, uc, v, eta, ldl2 = modes(t)
        return ldl2 + float(uc @ uc + v @ v) + float(np.sum(family.neg2_loglik(eta)))

    t0 = np.maximum(np.abs(np.asarray(theta, dtype=np.float64)), 1e-3)
    t1 = newton_1d(deviance, t0) if len(t0) == 1 else None
    if t1 is None:
        t1, _, _ = minimise(deviance, t0, np.zeros(len(t0)))
    b, uc, v, _, _ = modes(t1)
    return np.asarray(X @ b + re.predictor(np.abs(t1), uc, v), dtype=np.float64)
