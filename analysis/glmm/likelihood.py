"""Marginal deviance of a random-intercept GLMM: Laplace and adaptive Gauss-Hermite.

The model is ``eta = X beta + offset + theta_1 u_cluster [+ theta_2 v_obs]`` with spherical
random effects ``u, v ~ N(0, 1)`` (lme4's parametrisation: ``theta`` is the random-effect
standard deviation for families without a scale). Because every random effect is nested in
its cluster, the integral factorises by cluster; the conditional modes are found by
Newton's method (PIRLS for canonical links), vectorised over clusters.

The deviances are exactly lme4's (glmer) objective functions:

* Laplace (``nagq=1``, ``lme4::glmerLaplace``): ``sum(-2 log p(y | u*)) + |u*|^2 + log|L|^2``
  where ``L L' = Lambda' Z' W Z Lambda + I`` at the conditional modes ``u*``.
* AGQ (``nagq>1``, ``lme4::glmerAGQ``, scalar random intercept only): per cluster
  ``devc0 + log L_ii^2 - 2 log sum_k w_k exp(-(devc(u* + z_k / L_ii) - devc0) / 2 + z_k^2/2)``
  with ``devc(u) = sum(deviance residuals) + u^2`` (relative to the saturated model, as
  lme4 does) and ``(z_k, w_k)`` the Gauss-Hermite rule for the standard normal density.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.polynomial import hermite_e
from numpy.typing import NDArray

from analysis.errors import ConvergenceError
from analysis.glmm.clusters import cluster_sums, row_cluster_sums
from analysis.glmm.families import Array, Family

__all__ = ["MarginalDeviance", "gauss_hermite_normal"]

IntArray = NDArray[np.intp]
#: Step halvings per Newton iteration of the conditional modes (a factor of about 1e-15).
_HALVINGS = 50
#: A full Newton step of the modes below this ends the iteration (see ``_modes_ri``).
_FULL_STEP_TOL = 1e-9


def gauss_hermite_normal(n: int) -> tuple[Array, Array]:
    """Knots and weights of the n-point Gauss-Hermite rule for the N(0, 1) density
    (lme4's ``GHrule``): ``sum w_k f(z_k) ~ E f(Z)``."""
    z, w = hermite_e.hermegauss(n)
    return np.asarray(z, dtype=np.float64), np.asarray(w / np.sqrt(2.0 * np.pi), dtype=np.float64)


@dataclass
class MarginalDeviance:
    """The deviance of one dataset as a function of ``(theta, beta)``.

    Parameters
    ----------
    family : Family
    X : ndarray (n, p)
        Fixed-effects design.
    offset : ndarray (n,)
    group : ndarray of int (n,)
        Cluster codes ``0 .. G-1``.
    nagq : int
        Quadrature points (1 = Laplace).
    olre : bool
        Add an observation-level random effect (second theta; Laplace only).
    """

    family: Family
    X: Array
    offset: Array
    group: IntArray
    nagq: int = 1
    olre: bool = False
    tol: float = 1e-12
    max_iter: int = 100
    _u: Array = field(init=False, repr=False)
    _v: Array = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.ngroups = int(self.group.max()) + 1
        self._u = np.zeros(self.ngroups)
        self._v = np.zeros(len(self.family.y))
        self._z, self._w = (
            gauss_hermite_normal(self.nagq) if self.nagq > 1 else (np.zeros(1), np.ones(1))
        )
        self._eta_fixed: tuple[Array, Array] | None = None
        #: (theta, beta, u*, du*/dtheta, du*/dbeta, size) at the last gradient evaluation
        self._tangent: tuple[float, Array, Array, Array, Array, float] | None = None

    def _gsum_cols(self, m: Array) -> Array:
        """Sum the rows of ``m`` (n x p) within each cluster: a G x p matrix."""
        return cluster_sums(self.group, self.ngroups, m)

    def _fixed_predictor(self, beta: Array) -> Array:
        """``X beta + offset``, remembered for the last ``beta`` (a gradient and the value
        at the same point share it)."""
        if self._eta_fixed is not None and np.array_equal(self._eta_fixed[0], beta):
            return self._eta_fixed[1]
        eta0 = np.asarray(self.X @ beta + self.offset, dtype=np.float64)
        self._eta_fixed = (np.array(beta, dtype=np.float64), eta0)
        return eta0

    def _gsum_rows(self, m: Array) -> Array:
        """Cluster sums of every row of ``m`` (k x n): a k x G matrix."""
        return row_cluster_sums(self.group, self.ngroups, m)

    def _gsum(self, x: Array) -> Array:
        return np.asarray(
            np.bincount(self.group, weights=x, minlength=self.ngroups), dtype=np.float64
        )

    def modes(
        self, theta: Array, beta: Array, family: Family | None = None
    ) -> tuple[Array, Array, Array]:
        """Conditional modes (u per cluster, v per observation) and eta at the modes."""
        fam = self.family if family is None else family
        if not self.olre:
            t = abs(float(theta[0]))
            start = self._predicted_modes(t, beta, fam)
            u, eta = self._modes_ri(t, self._fixed_predictor(beta), fam, start)
            return u, self._v, eta
        t1 = abs(float(theta[0]))
        t2 = abs(float(theta[1])) if self.olre else 0.0
        eta0 = self._fixed_predictor(beta)
        u, v = self._u.copy(), self._v.copy() if self.olre else np.zeros_like(self._v)
        if not np.all(np.isfinite(u)) or not np.all(np.isfinite(v)):
            u, v = np.zeros_like(u), np.zeros_like(v)
        g = self.group

        def pen(uu: Array, vv: Array) -> tuple[Array, Array]:
            e = eta0 + t1 * uu[g] + t2 * vv
            return e, self._gsum(fam.neg2_loglik(e) + vv**2) + uu**2

        eta, obj = pen(u, v)
        for _ in range(self.max_iter):
            d1, d2 = fam.derivatives(eta)
            # half gradient and half Hessian of the penalised deviance
            gc = t1 * self._gsum(d1) + u
            gj = t2 * d1 + v
            a = 1.0 + t2 * t2 * d2
            hcj = t1 * t2 * d2
            hcc = 1.0 + t1 * t1 * self._gsum(d2)
            schur = hcc - self._gsum(hcj * hcj / a)
            du = (-gc + self._gsum(hcj * gj / a)) / schur
            dv = (-gj - hcj * du[g]) / a
            # predicted decrease of the penalised deviance per cluster (Newton decrement)
            decrement = -2.0 * (gc * du + self._gsum(gj * dv))
            slack = 1e-10 * (1.0 + np.abs(obj))
            for _half in range(_HALVINGS):
                nu, nv = u + du, v + dv
                neta, nobj = pen(nu, nv)
                worse = nobj > obj + slack
                if not np.any(worse):
                    break
                # halve only in the clusters that got worse
                step_arr = np.where(worse, 0.5, 1.0)
                du, dv = du * step_arr, dv * step_arr[g]
            else:
                # No decrease along the Newton direction: at the mode to rounding error when
                # the predicted decrease is itself at rounding level; otherwise a failure.
                if np.any(worse & (decrement > slack)):
                    raise ConvergenceError(
                        "conditional modes did not converge (PIRLS): no step decreases "
                        "the penalised deviance"
                    )
                keep = ~worse
                du, dv = np.where(keep, du, 0.0), np.where(keep[g], dv, 0.0)
                nu, nv = u + du, v + dv
                neta, nobj = pen(nu, nv)
            u, v, eta, obj = nu, nv, neta, nobj
            if max(np.max(np.abs(du), initial=0.0), np.max(np.abs(dv), initial=0.0)) < self.tol:
                break
        else:
            raise ConvergenceError("conditional modes did not converge (PIRLS)")
        self._u, self._v = u, v
        return u, v, eta

    def _predicted_modes(self, t: float, beta: Array, fam: Family) -> Array | None:
        """The modes at ``(t, beta)`` predicted to first order from the last gradient
        evaluation (``u* + du*/dtheta dt + du*/dbeta dbeta``): a Newton iteration or two
        fewer for every evaluation of an optimiser that moves in small steps."""
        tan = self._tangent
        if tan is None or tan[5] != fam.size or tan[0] == 0.0:
            return None
        t0, b0, u0, du_dt, du_db, _ = tan
        guess = u0 + du_dt * (t - t0) + du_db @ (beta - b0)
        return guess if bool(np.all(np.isfinite(guess))) else None

    def _modes_ri(
        self, t: float, eta0: Array, fam: Family, start: Array | None = None
    ) -> tuple[Array, Array]:
        """Conditional modes of a scalar random intercept: one Newton step per iteration for
        every cluster at once (the penalised deviance separates by cluster), halving the
        step only in clusters where it did not decrease. Starts from ``start`` or the last
        modes. Leaves the derivatives at the returned ``eta`` in ``self._at_modes`` for
        the gradient."""
        u = self._u if start is None else start
        if not np.all(np.isfinite(u)):
            u = np.zeros(self.ngroups)
        u, eta, nll, d1, d2 = _newton_modes(
            u, eta0, t, self.group, self._gsum, fam, self.tol, self.max_iter
        )
        self._u = u
        self._at_modes = (eta, nll, d1, d2)
        return u, eta

    def logdet(self, theta: Array, eta: Array, family: Family | None = None) -> Array:
        """log L_ii^2 per cluster at the modes (Schur complement for the OLRE block)."""
        fam = self.family if family is None else family
        t1 = abs(float(theta[0]))
        t2 = abs(float(theta[1])) if self.olre else 0.0
        _, d2 = fam.derivatives(eta)
        a = 1.0 + t2 * t2 * d2
        return np.asarray(self._gsum(np.log(a)) + np.log1p(t1 * t1 * self._gsum(d2 / a)))

    def __call__(self, theta: Array, beta: Array, family: Family | None = None) -> float:
        """The deviance lme4 (or glmmTMB, for the negative binomial) minimises."""
        fam = self.family if family is None else family
        u, v, eta = self.modes(theta, beta, fam)
        if not self.olre:
            _, nll, _, d2 = self._at_modes
            ld = np.log1p(float(theta[0]) ** 2 * self._gsum(d2))
            if self.nagq == 1:
                return float(nll.sum() + u @ u + ld.sum())
            return float(self._agq(theta, beta, u, eta, ld, fam))
        ld = self.logdet(theta, eta, fam)
        if self.nagq == 1:
            return float(np.sum(fam.neg2_loglik(eta)) + u @ u + v @ v + ld.sum())
        return float(self._agq(theta, beta, u, eta, ld, fam))

    def _agq(
        self, theta: Array, beta: Array, u: Array, eta: Array, ld: Array, fam: Family
    ) -> float:
        t1 = abs(float(theta[0]))
        g = self.group
        eta0 = self._fixed_predictor(beta)
        devc0 = self._gsum(fam.deviance_residuals(eta)) + u**2
        sd = np.exp(-0.5 * ld)
        z = self._z[:, None]
        uk = u + z * sd  # every quadrature node at once: nodes x clusters
        devc = self._gsum_rows(fam.deviance_residuals(eta0 + t1 * uk[:, g])) + uk**2
        mult = (self._w[:, None] * np.exp(-0.5 * (devc - devc0) + 0.5 * z * z)).sum(axis=0)
        return float(np.sum(devc0) + ld.sum() - 2.0 * np.sum(np.log(mult)))

    def saturated(self, family: Family | None = None) -> float:
        fam = self.family if family is None else family
        return float(np.sum(fam.saturated_neg2_loglik()))

    def value_and_gradient(
        self, theta: Array, beta: Array, family: Family | None = None
    ) -> tuple[float, Array]:
        """The deviance and its exact gradient in ``(theta, beta)`` (scalar random intercept).

        The conditional mode ``u*`` is a stationary point of the penalised deviance ``P``, so
        ``P(u*)`` moves with ``(theta, beta)`` only through its explicit dependence
        (envelope theorem); ``log|L|^2 = log(1 + theta^2 sum w)`` and, for AGQ, the
        quadrature nodes ``u* + z_k / L`` move with ``u*`` as well, whose derivative follows
        from implicit differentiation of the mode equation
        ``theta sum d1 + u = 0``: ``du*/dphi = -(d^2 P / du dphi) / (d^2 P / du^2)``. The AGQ
        deviance ``devc0 + ld - 2 log sum_k w_k exp(-(devc_k - devc0) / 2 + z_k^2 / 2)`` has
        the derivative ``d ld + sum_k pi_k d devc_k`` with ``pi_k`` the normalised
        quadrature terms (``devc0`` cancels). Everything is a sum within clusters, so the
        cost is a few passes over the observations.
        """
        if self.olre:
            raise ValueError("the analytic gradient covers a single random intercept")
        fam = self.family if family is None else family
        sign = -1.0 if float(theta[0]) < 0 else 1.0
        t = abs(float(theta[0]))
        X, g = self.X, self.group
        u, _, eta = self.modes(theta, beta, fam)
        _, nll, d1, d2 = self._at_modes
        sd1, sd2 = self._gsum(d1), self._gsum(d2)
        d2x = self._gsum_cols(d2[:, None] * X)
        if fam.name == "poisson":  # the third derivative of -log p is mu, as the second
            sd3, d3x = sd2, d2x
        else:
            d3 = fam.third_derivative(eta)
            sd3, d3x = self._gsum(d3), self._gsum_cols(d3[:, None] * X)
        h = 1.0 + t * t * sd2  # L_ii^2 per cluster
        du_db = -t * d2x / h[:, None]
        du_dt = -(sd1 + t * u * sd2) / h
        self._tangent = (t, np.array(beta, dtype=np.float64), u, du_dt, du_db, fam.size)
        # d log L_ii^2 = t^2 sum_i d3_i d eta_i / h, d eta_i = x_i dbeta + t du (+ u dt)
        dld_db = t * t * (d3x + t * sd3[:, None] * du_db) / h[:, None]
        dld_dt = (2.0 * t * sd2 + t * t * sd3 * (u + t * du_dt)) / h
        ld = np.log(h)
        if self.nagq == 1:
            value = float(nll.sum() + u @ u + ld.sum())
            grad_b = 2.0 * (X.T @ d1) + dld_db.sum(axis=0)
            grad_t = 2.0 * float(u @ sd1) + float(dld_dt.sum())
            return value, np.concatenate(([sign * grad_t], grad_b))
        eta0 = self._fixed_predictor(beta)
        devc0 = self._gsum(fam.deviance_residuals(eta)) + u**2
        s = np.exp(-0.5 * ld)
        ds_db, ds_dt = -0.5 * s[:, None] * dld_db, -0.5 * s * dld_dt
        # all quadrature nodes at once: (nodes x clusters) and (nodes x observations)
        z = self._z[:, None]
        uk = u + z * s
        nllk, d1k, _ = fam.terms(eta0 + t * uk[:, g])
        rsum = self._gsum_rows
        devc = rsum(nllk - fam.saturated_neg2_loglik()) + uk**2
        logterms = np.log(self._w)[:, None] - 0.5 * (devc - devc0) + 0.5 * z * z
        sk = rsum(d1k)
        slope_u = 2.0 * t * sk + 2.0 * uk  # d devc_k / d u_k
        top = logterms.max(axis=0)
        terms = np.exp(logterms - top)
        mult = terms.sum(axis=0)
        pi = terms / mult
        value = float(np.sum(devc0) + ld.sum() - 2.0 * np.sum(np.log(mult) + top))
        # sum_k pi_k d devc_k: the explicit part through eta, and the part through the
        # nodes u* + z_k s, which move with (theta, beta)
        a = (pi * slope_u).sum(axis=0)
        b = (pi * slope_u * z).sum(axis=0)
        explicit = (pi[:, g] * d1k).sum(axis=0)
        grad_b = dld_db.sum(axis=0) + 2.0 * (X.T @ explicit) + a @ du_db + b @ ds_db
        grad_t = float(dld_dt.sum() + np.sum(pi * 2.0 * uk * sk) + a @ du_dt + b @ ds_dt)
        return value, np.concatenate(([sign * grad_t], grad_b))

    def _modes_ri_batch(self, t: Array, eta0: Array, fam: Family, u: Array) -> Array:
        """:meth:`_modes_ri` for ``k`` parameter points at once: ``t`` (k,), ``eta0`` (k, n),
        starting modes ``u`` (k, G); the same Newton steps, halved per point and cluster.
        Returns the modes (k, G); the state of the single-point search is left alone."""
        u, *_ = _newton_modes(
            u, eta0, t[:, None], self.group, self._gsum_rows, fam, self.tol, self.max_iter
        )
        return np.asarray(u, dtype=np.float64)

    def gradients(self, points: Array) -> Array:
        """The exact gradients of :meth:`value_and_gradient` at ``k`` points
        ``(theta, beta)`` (rows of ``points``, scalar random intercept) in one vectorised
        pass: the conditional modes of every point start from the first-order prediction of
        the last gradient evaluation and are found together. Used for the Hessian of the
        covariance (central differences of the gradient), where the points are close."""
        if self.olre:
            raise ValueError("the analytic gradient covers a single random intercept")
        fam = self.family
        points = np.asarray(points, dtype=np.float64)
        k = points.shape[0]
        X, g, G = self.X, self.group, self.ngroups
        p = X.shape[1]
        sign = np.where(points[:, 0] < 0, -1.0, 1.0)
        t = np.abs(points[:, 0])
        B = points[:, 1:]
        eta0 = B @ X.T + self.offset
        tan = self._tangent
        if tan is not None and tan[5] == fam.size and tan[0] != 0.0:
            t0, b0, u0, du_dt0, du_db0, _ = tan
            start = u0 + du_dt0 * (t - t0)[:, None] + (B - b0) @ du_db0.T
            if not np.all(np.isfinite(start)):
                start = np.tile(self._u, (k, 1))
        else:
            start = np.tile(self._u, (k, 1))
        if not np.all(np.isfinite(start)):
            start = np.zeros((k, G))
        u = self._modes_ri_batch(t, eta0, fam, start)
        tc = t[:, None]
        eta = eta0 + tc * u[:, g]
        _, d1, d2 = fam.terms(eta)
        rsum = self._gsum_rows
        sd1, sd2 = rsum(d1), rsum(d2)

        def colsums(w: Array) -> Array:  # (k, n) weights -> (k, G, p) cluster sums of w x
            m = (w[:, None, :] * X.T[None, :, :]).reshape(k * p, -1)
            return np.asarray(rsum(m).reshape(k, p, G).transpose(0, 2, 1))

        d2x = colsums(d2)
        if fam.name == "poisson":
            sd3, d3x = sd2, d2x
        else:
            d3 = fam.third_derivative(eta)
            sd3, d3x = rsum(d3), colsums(d3)
        h = 1.0 + tc * tc * sd2
        t3 = t[:, None, None]
        du_db = -t3 * d2x / h[:, :, None]
        du_dt = -(sd1 + tc * u * sd2) / h
        dld_db = t3 * t3 * (d3x + t3 * sd3[:, :, None] * du_db) / h[:, :, None]
        dld_dt = (2.0 * tc * sd2 + tc * tc * sd3 * (u + tc * du_dt)) / h
        if self.nagq == 1:
            grad_b = 2.0 * (d1 @ X) + dld_db.sum(axis=1)
            grad_t = 2.0 * np.sum(u * sd1, axis=1) + dld_dt.sum(axis=1)
            return np.asarray(np.column_stack((sign * grad_t, grad_b)), dtype=np.float64)
        ld = np.log(h)
        devc0 = rsum(fam.deviance_residuals(eta)) + u**2
        s = np.exp(-0.5 * ld)
        ds_db, ds_dt = -0.5 * s[:, :, None] * dld_db, -0.5 * s * dld_dt
        z = self._z[None, :, None]
        q = len(self._z)
        uk = u[:, None, :] + z * s[:, None, :]  # points x nodes x clusters
        nllk, d1k, _ = fam.terms(eta0[:, None, :] + t3 * uk[:, :, g])
        sat = fam.saturated_neg2_loglik()
        devc = rsum((nllk - sat).reshape(k * q, -1)).reshape(k, q, G) + uk**2
        logterms = np.log(self._w)[None, :, None] - 0.5 * (devc - devc0[:, None, :]) + 0.5 * z * z
        sk = rsum(d1k.reshape(k * q, -1)).reshape(k, q, G)
        slope_u = 2.0 * t3 * sk + 2.0 * uk
        top = logterms.max(axis=1)
        terms = np.exp(logterms - top[:, None, :])
        pi = terms / terms.sum(axis=1)[:, None, :]
        a = (pi * slope_u).sum(axis=1)
        b = (pi * slope_u * z).sum(axis=1)
        explicit = (pi[:, :, g] * d1k).sum(axis=1)
        grad_b = (
            dld_db.sum(axis=1)
            + 2.0 * (explicit @ X)
            + np.einsum("kg,kgp->kp", a, du_db)
            + np.einsum("kg,kgp->kp", b, ds_db)
        )
        grad_t = (
            dld_dt.sum(axis=1)
            + np.sum(pi * 2.0 * uk * sk, axis=(1, 2))
            + np.sum(a * du_dt, axis=1)
            + np.sum(b * ds_dt, axis=1)
        )
        return np.asarray(np.column_stack((sign * grad_t, grad_b)), dtype=np.float64)


def _newton_modes(
    u: Array,
    eta0: Array,
    t: float | Array,
    g: NDArray[np.intp],
    gsum: Callable[[Array], Array],
    fam: Family,
    tol: float,
    max_iter: int,
) -> tuple[Array, Array, Array, Array, Array]:
    """Conditional modes of a scalar random intercept by Newton steps for every cluster at
    once (the penalised deviance separates by cluster), halving the step only where it did
    not decrease. ``u`` is (G,) with a scalar ``t`` for one parameter point, or (k, G)
    with ``t`` (k, 1) for ``k`` points (``gsum`` sums over clusters along the last axis).
    Returns the modes and ``eta``, ``nll``, ``d1``, ``d2`` at them."""
    eta = eta0 + t * u[..., g]
    nll, d1, d2 = fam.terms(eta)
    obj = gsum(nll) + u * u
    for _ in range(max_iter):
        grad = t * gsum(d1) + u
        du = -grad / (1.0 + t * t * gsum(d2))
        decrement = -grad * du
        slack = 1e-10 * (1.0 + np.abs(obj))
        for _half in range(_HALVINGS):
            nu = u + du
            neta = eta0 + t * nu[..., g]
            nnll, nd1, nd2 = fam.terms(neta)
            nobj = gsum(nnll) + nu * nu
            worse = nobj > obj + slack
            if not worse.any():
                break
            du = np.where(worse, 0.5 * du, du)
        else:
            if np.any(worse & (decrement > slack)):
                raise ConvergenceError(
                    "conditional modes did not converge (PIRLS): no step decreases "
                    "the penalised deviance"
                )
            du = np.where(worse, 0.0, du)
            nu = u + du
            neta = eta0 + t * nu[..., g]
            nnll, nd1, nd2 = fam.terms(neta)
            nobj = gsum(nnll) + nu * nu
        u, eta, obj, nll, d1, d2 = nu, neta, nobj, nnll, nd1, nd2
        size = float(np.max(np.abs(du), initial=0.0))
        # a full Newton step of 1e-9 leaves an error of order 1e-18 (quadratic
        # convergence); after a halved step only the tolerance itself will do
        if size < tol or (size < _FULL_STEP_TOL and _half == 0):
            return u, eta, nll, d1, d2
    raise ConvergenceError("conditional modes did not converge (PIRLS)")
