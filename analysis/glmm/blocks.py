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
``n x n`` or ``Gq x Gq`` is ever formed. Adaptive quadrature is not offered for these
structures (as in lme4, it needs a single scalar random effect).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from analysis.errors import ConvergenceError
from analysis.glmm.clusters import cluster_sums
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

    def _gsum(self, m: Array) -> Array:
        return cluster_sums(self._group, self.ngroups, m)

    def _predictor(self, eta0: Array, lam: Array, u: Array) -> Array:
        b = u @ lam.T  # b_g = Lambda u_g
        return np.asarray(eta0 + np.einsum("nq,nq->n", self._Z, b[self._codes]), dtype=np.float64)

    def modes(self, theta: Array, beta: Array, family: Family | None = None) -> tuple[Array, Array]:
        """Conditional modes ``u*`` (G x q, spherical scale) and ``eta`` at them."""
        fam = self.family if family is None else family
        lam = self.structure.lambda_block(np.asarray(theta, dtype=np.float64))
        eta0 = self.X @ beta + self.offset
        u = self._u.copy()
        if not np.all(np.isfinite(u)):
            u = np.zeros_like(u)

        def pen(uu: Array) -> tuple[Array, Array]:
            e = self._predictor(eta0, lam, uu)
            return e, self._gsum(fam.neg2_loglik(e)) + np.sum(uu * uu, axis=1)

        eta, obj = pen(u)
        eye = np.eye(self.q)
        for _ in range(self.max_iter):
            d1, d2 = fam.derivatives(eta)
            grad = self._gsum(self._Z * d1[:, None]) @ lam + u
            m = self._gsum(self._zz * d2[:, None]).reshape(self.ngroups, self.q, self.q)
            hess = eye + lam.T @ m @ lam
            du = -np.linalg.solve(hess, grad[:, :, None])[:, :, 0]
            decrement = -2.0 * np.sum(grad * du, axis=1)
            slack = 1e-10 * (1.0 + np.abs(obj))
            for _half in range(_HALVINGS):
                neta, nobj = pen(u + du)
                worse = nobj > obj + slack
                if not np.any(worse):
                    break
                du = du * np.where(worse, 0.5, 1.0)[:, None]
            else:
                if np.any(worse & (decrement > slack)):
                    raise ConvergenceError(
                        "conditional modes did not converge (PIRLS): no step decreases the "
                        "penalised deviance"
                    )
                du = np.where(worse[:, None], 0.0, du)
                neta, nobj = pen(u + du)
            u, eta, obj = u + du, neta, nobj
            if float(np.max(np.abs(du), initial=0.0)) < self.tol:
                break
        else:
            raise ConvergenceError("conditional modes did not converge (PIRLS)")
        self._u = u
        return u, eta

    def logdet(self, theta: Array, eta: Array, family: Family | None = None) -> Array:
        """``log det H_g`` per cluster at ``eta``."""
        fam = self.family if family is None else family
        lam = self.structure.lambda_block(np.asarray(theta, dtype=np.float64))
        _, d2 = fam.derivatives(eta)
        m = self._gsum(self._zz * d2[:, None]).reshape(self.ngroups, self.q, self.q)
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
        fam = self.family if family is None else family
        theta = np.asarray(theta, dtype=np.float64)
        s = self.structure
        lam = s.lambda_block(theta)
        basis = s.lambda_basis()  # (k, q, q)
        u, eta = self.modes(theta, beta, fam)
        d1, d2 = fam.derivatives(eta)
        d3 = fam.third_derivative(eta)
        X, Z, g = self.X, self._Z, self._codes
        G, q, p = self.ngroups, self.q, X.shape[1]
        m = self._gsum(self._zz * d2[:, None]).reshape(G, q, q)
        hess = np.eye(q) + lam.T @ m @ lam
        hinv = np.linalg.inv(hess)
        a = Z @ lam  # rows z_i' Lambda, (n, q)
        lev = np.einsum("ni,nij,nj->n", a, hinv[g], a)  # tr(H^-1 Lambda' z z' Lambda)
        value = float(
            np.sum(fam.neg2_loglik(eta)) + np.sum(u * u) + np.sum(np.linalg.slogdet(hess)[1])
        )
        # beta: du/dbeta = -H^-1 Lambda' sum w z x'  (G, q, p)
        zwx = self._gsum(
            (Z[:, :, None] * (d2[:, None] * X)[:, None, :]).reshape(len(eta), q * p)
        ).reshape(G, q, p)
        du_db = -hinv @ (lam.T @ zwx)
        deta_db = X + np.einsum("nq,nqp->np", a, du_db[g])
        grad_b = 2.0 * (X.T @ d1) + (d3 * lev) @ deta_db
        # theta_k
        zd1 = self._gsum(Z * d1[:, None])  # sum z d1 per cluster, (G, q)
        grad_t = np.empty(len(theta))
        for k in range(len(theta)):
            dl = basis[k]
            dlu = u @ dl.T  # dLambda_k u_g, (G, q)
            # derivative of the mode equation at fixed u
            dgrad = np.einsum("gij,gj->gi", lam.T @ m, dlu) + zd1 @ dl
            du = -np.einsum("gij,gj->gi", hinv, dgrad)
            deta = np.einsum("nq,nq->n", Z, (dlu + du @ lam.T)[g])
            explicit = 2.0 * float(np.sum(d1 * np.einsum("nq,nq->n", Z, dlu[g])))
            dh = dl.T @ m @ lam
            trace = 2.0 * np.einsum("gij,gji->", hinv, dh) + float(np.sum(d3 * lev * deta))
            grad_t[k] = explicit + trace
        return value, np.r_[grad_t, grad_b]
