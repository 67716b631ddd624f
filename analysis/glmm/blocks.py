"""Laplace deviance of a GLMM with several random-effect terms nested in one cluster.

The structures of :mod:`analysis.shared.random_effects` (``(1|g) + (1|g:f)``,
``(1+t|g)``, ``(1|g) + (0+t|g)``) give every cluster its own block of ``q`` spherical
random effects ``u_g ~ N(0, I)`` with ``b_g = Lambda(theta) u_g`` and linear predictor
``eta = X beta + offset + Z_i b_g(i)``. The random effects of different clusters are
independent, so the Laplace approximation factorises over clusters:

    D(theta, beta) = sum_i -2 log p(y_i | eta_i*) + sum_g |u_g*|^2 + sum_g log det H_g,
    H_g = I + Lambda' (sum_{i in g} w_i z_i z_i') Lambda,

with ``u*`` the conditional modes and ``w`` the second derivative of ``-log p`` in ``eta``
(the PIRLS working weight for the canonical links, the observed information for the NB2).
This is glmer's Laplace deviance (``nAGQ = 1``) and TMB's (glmmTMB). The modes are found by
Newton's method on all clusters at once: the per-cluster q x q systems are stacked into one
``(G, q, q)`` array and solved together, with step halving per cluster, so nothing of size
``n x n`` or ``Gq x Gq`` is ever formed. The modes and the exact gradient are taken at
many parameter points in one pass (a leading axis over the points): the finite-difference
Hessians of the optimiser and of the standard errors need ``n`` or ``2 n`` gradients.
Adaptive quadrature is not offered for these
structures (as in lme4, it needs a single scalar random effect).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from analysis.errors import ConvergenceError
from analysis.glmm.families import Array, Family
from analysis.shared.random_effects import RandomStructure

__all__ = ["BlockLaplace"]

_HALVINGS = 50


@dataclass
class BlockLaplace:
    """The Laplace deviance of one dataset as a function of ``(theta, beta)``.

    Parameters
    ----------
    family : Family
    X : ndarray (n, p)
    offset : ndarray (n,)
    structure : RandomStructure
        Per-cluster design ``Z`` (n x q, block coordinates), cluster codes, theta -> Lambda.
    """

    family: Family
    X: Array
    offset: Array
    structure: RandomStructure
    tol: float = 1e-10
    max_iter: int = 100
    _u: Array = field(init=False, repr=False)

    def __post_init__(self) -> None:
        s = self.structure
        self.ngroups, self.q = s.ngroups, s.q
        n = len(s.codes)
        self._codes = s.codes
        self._Z = np.asarray(s.Z, dtype=np.float64)
        self._group = np.asarray(s.codes, dtype=np.intp)
        # z_i z_i' flattened, summed with weights per cluster at every Newton step
        self._zz = np.einsum("ni,nj->nij", self._Z, self._Z).reshape(n, self.q * self.q)
        self._u = np.zeros((self.ngroups, self.q))
        self._sum_index: dict[tuple[int, int], NDArray[np.intp]] = {}

    def _gsum(self, m: Array) -> Array:
        """Cluster sums of ``m`` (k, n, ...) for each of the ``k`` parameter points:
        (k, G, ...), by one ``bincount`` (no BLAS; see :mod:`analysis.glmm.clusters`)."""
        k, n = m.shape[:2]
        rest = m.shape[2:]
        r = int(np.prod(rest, dtype=np.intp))
        idx = self._sum_index.get((k, r))
        if idx is None:
            idx = (
                (np.arange(k)[:, None, None] * self.ngroups + self._group[None, :, None]) * r
                + np.arange(r)[None, None, :]
            ).ravel()
            self._sum_index[(k, r)] = idx
        out = np.bincount(
            idx, weights=np.ascontiguousarray(m).ravel(), minlength=k * self.ngroups * r
        )
        return np.asarray(out.reshape((k, self.ngroups, *rest)), dtype=np.float64)

    def _lambdas(self, thetas: Array) -> Array:
        """``Lambda`` of each row of ``thetas`` (k, n_theta): (k, q, q)."""
        s = self.structure
        return np.stack([s.lambda_block(t) for t in np.asarray(thetas, dtype=np.float64)])

    def _predictor(self, eta0: Array, lam: Array, u: Array) -> Array:
        b = u @ np.swapaxes(lam, 1, 2)  # b_g = Lambda u_g, (k, G, q)
        return np.asarray(
            eta0 + np.einsum("nq,knq->kn", self._Z, b[:, self._codes]), dtype=np.float64
        )

    def modes(self, theta: Array, beta: Array, family: Family | None = None) -> tuple[Array, Array]:
        """Conditional modes ``u*`` (G x q, spherical scale) and ``eta`` at them."""
        theta = np.asarray(theta, dtype=np.float64)
        u, eta = self._modes(self._lambdas(theta[None, :]), np.asarray(beta)[None, :], family)
        self._u = u[0]
        return u[0], eta[0]

    def _modes(self, lam: Array, betas: Array, family: Family | None) -> tuple[Array, Array]:
        """Conditional modes at ``k`` parameter points at once (``lam`` (k, q, q), ``betas``
        (k, p)), each started from the last single-point modes: (k, G, q) and eta (k, n).
        The clusters of every point take their Newton steps together; a step is halved
        only for the (point, cluster) pairs where it did not decrease."""
        fam = self.family if family is None else family
        eta0 = betas @ self.X.T + self.offset
        k, G, q = len(lam), self.ngroups, self.q
        u = np.broadcast_to(self._u, (k, G, q)).copy()
        if not np.all(np.isfinite(u)):
            u = np.zeros_like(u)
        lam_t = np.swapaxes(lam, 1, 2)[:, None]

        def pen(uu: Array) -> tuple[Array, Array]:
            e = self._predictor(eta0, lam, uu)
            return e, self._gsum(fam.neg2_loglik(e)) + np.sum(uu * uu, axis=2)

        eta, obj = pen(u)
        eye = np.eye(q)
        for _ in range(self.max_iter):
            d1, d2 = fam.derivatives(eta)
            grad = self._gsum(self._Z * d1[..., None]) @ lam + u
            m = self._gsum(self._zz * d2[..., None]).reshape(k, G, q, q)
            hess = eye + lam_t @ m @ lam[:, None]
            du = -np.linalg.solve(hess, grad[..., None])[..., 0]
            decrement = -2.0 * np.sum(grad * du, axis=2)
            slack = 1e-10 * (1.0 + np.abs(obj))
            for _half in range(_HALVINGS):
                neta, nobj = pen(u + du)
                worse = nobj > obj + slack
                if not np.any(worse):
                    break
                du = du * np.where(worse, 0.5, 1.0)[..., None]
            else:
                if np.any(worse & (decrement > slack)):
                    raise ConvergenceError(
                        "conditional modes did not converge (PIRLS): no step decreases the "
                        "penalised deviance"
                    )
                du = np.where(worse[..., None], 0.0, du)
                neta, nobj = pen(u + du)
            u, eta, obj = u + du, neta, nobj
            if float(np.max(np.abs(du), initial=0.0)) < self.tol:
                break
        else:
            raise ConvergenceError("conditional modes did not converge (PIRLS)")
        return u, eta

    def logdet(self, theta: Array, eta: Array, family: Family | None = None) -> Array:
        """``log det H_g`` per cluster at ``eta``."""
        fam = self.family if family is None else family
        lam = self.structure.lambda_block(np.asarray(theta, dtype=np.float64))
        _, d2 = fam.derivatives(eta)
        m = self._gsum(self._zz[None] * d2[None, :, None])[0].reshape(self.ngroups, self.q, self.q)
        sign, ld = np.linalg.slogdet(np.eye(self.q) + lam.T @ m @ lam)
        if np.any(sign <= 0):
            raise ConvergenceError("the Laplace Hessian is not positive definite")
        return np.asarray(ld, dtype=np.float64)

    def __call__(self, theta: Array, beta: Array, family: Family | None = None) -> float:
        fam = self.family if family is None else family
        u, eta = self.modes(theta, beta, fam)
        return float(
            np.sum(fam.neg2_loglik(eta)) + np.sum(u * u) + self.logdet(theta, eta, fam).sum()
        )

    def random_effects(self, theta: Array, beta: Array, family: Family | None = None) -> Array:
        """Conditional modes on the linear-predictor scale, ``b_g = Lambda u_g`` (G x q)."""
        u, _ = self.modes(theta, beta, family)
        lam = self.structure.lambda_block(np.asarray(theta, dtype=np.float64))
        return np.asarray(u @ lam.T, dtype=np.float64)

    def value_and_gradient(
        self, theta: Array, beta: Array, family: Family | None = None
    ) -> tuple[float, Array]:
        """The Laplace deviance and its exact gradient in ``(theta, beta)``.

        As for the random intercept (:meth:`analysis.glmm.likelihood.MarginalDeviance.
        value_and_gradient`): the penalised deviance moves through its explicit dependence
        only (the modes are stationary); ``log det H_g`` moves with the weights, i.e. with
        ``eta`` at the modes, whose derivative includes ``du_g = -H_g^-1 (d grad_g)`` from
        the mode equation ``Lambda' sum z_i d1_i + u_g = 0``; and, for theta, with
        ``Lambda`` itself. ``tr(H^-1 Lambda' z z' Lambda)`` is the leverage ``h_i`` of row i.
        """
        theta = np.asarray(theta, dtype=np.float64)
        lam = self._lambdas(theta[None, :])
        u, eta = self._modes(lam, np.asarray(beta, dtype=np.float64)[None, :], family)
        self._u = u[0]
        values, grads = self._value_and_gradients(lam, u, eta, family)
        return float(values[0]), grads[0]

    def gradients(self, thetas: Array, betas: Array) -> Array:
        """The exact gradients of :meth:`value_and_gradient` at ``k`` points (rows of
        ``thetas`` and ``betas``) in one vectorised pass: (k, n_theta + p). What the
        finite-difference Hessians of the optimiser and of the standard errors need."""
        lam = self._lambdas(thetas)
        u, eta = self._modes(lam, np.asarray(betas, dtype=np.float64), None)
        return self._value_and_gradients(lam, u, eta, None)[1]

    def _value_and_gradients(
        self, lam: Array, u: Array, eta: Array, family: Family | None
    ) -> tuple[Array, Array]:
        """Deviances (k,) and gradients (k, n_theta + p) at ``k`` points given their
        ``Lambda`` (k, q, q), modes (k, G, q) and ``eta`` (k, n)."""
        fam = self.family if family is None else family
        basis = self.structure.lambda_basis()  # (n_theta, q, q)
        d1, d2 = fam.derivatives(eta)
        d3 = fam.third_derivative(eta)
        X, Z, g = self.X, self._Z, self._codes
        k, G, q, p = len(lam), self.ngroups, self.q, X.shape[1]
        n = Z.shape[0]
        lam_t = np.swapaxes(lam, 1, 2)
        m = self._gsum(self._zz * d2[..., None]).reshape(k, G, q, q)
        hess = np.eye(q) + lam_t[:, None] @ m @ lam[:, None]
        hinv = np.linalg.inv(hess)
        a = Z @ lam  # rows z_i' Lambda, (k, n, q)
        lev = np.einsum("kni,knij,knj->kn", a, hinv[:, g], a)  # tr(H^-1 Lambda' z z' Lambda)
        values = (
            np.sum(fam.neg2_loglik(eta), axis=1)
            + np.sum(u * u, axis=(1, 2))
            + np.sum(np.linalg.slogdet(hess)[1], axis=1)
        )
        # beta: du/dbeta = -H^-1 Lambda' sum w z x'  (k, G, q, p)
        zwx = self._gsum(
            (Z[:, :, None] * (d2[..., None] * X)[:, :, None, :]).reshape(k, n, q * p)
        ).reshape(k, G, q, p)
        du_db = -hinv @ (lam_t[:, None] @ zwx)
        deta_db = X + np.einsum("knq,knqp->knp", a, du_db[:, g])
        grad_b = 2.0 * (d1 @ X) + np.einsum("kn,knp->kp", d3 * lev, deta_db)
        # theta_j
        zd1 = self._gsum(Z * d1[..., None])  # sum z d1 per cluster, (k, G, q)
        lam_m = lam_t[:, None] @ m  # Lambda' M_g, (k, G, q, q)
        grad_t = np.empty((k, len(basis)))
        for j, dl in enumerate(basis):
            dlu = u @ dl.T  # dLambda_j u_g, (k, G, q)
            # derivative of the mode equation at fixed u
            dgrad = np.einsum("kgij,kgj->kgi", lam_m, dlu) + zd1 @ dl
            du = -np.einsum("kgij,kgj->kgi", hinv, dgrad)
            deta = np.einsum("nq,knq->kn", Z, (dlu + du @ lam_t)[:, g])
            explicit = 2.0 * np.sum(d1 * np.einsum("nq,knq->kn", Z, dlu[:, g]), axis=1)
            dh = dl.T @ m @ lam[:, None]
            trace = 2.0 * np.einsum("kgij,kgji->k", hinv, dh) + np.sum(d3 * lev * deta, axis=1)
            grad_t[:, j] = explicit + trace
        return np.asarray(values, dtype=np.float64), np.column_stack((grad_t, grad_b))
