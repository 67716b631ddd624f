"""A small numpy solver for GEE with exchangeable working correlation.

What: the generalized estimating equations ``sum_i D_i' V_i^-1 (y_i - mu_i) = 0`` of a
canonical-link model (identity, log or logit: variance ``1``, ``mu`` or ``mu (1 - mu)``),
with an offset and clusters of any sizes, solved by Fisher scoring (Gauss-Newton) while
the exchangeable working correlation is re-estimated by moments; then the Liang-Zeger
sandwich and the bias-reduced sandwich of Mancl & DeRouen (2001).

Why: this replaces statsmodels' ``GEE`` (``Exchangeable``, ``ddof_scale=0``,
``cov_type="bias_reduced"``), whose import alone took 0.3-1 s of ``rct analyse run``
(issue #15). It computes what statsmodels computed with those options, which are
geepack's estimators:

* Pearson residuals ``r = (y - mu) / sqrt(v(mu))``; scale ``phi = sum r^2 / N``;
  correlation ``alpha = [sum_i sum_{j<k} r_ij r_ik] / (phi * sum_i n_i (n_i - 1) / 2)``.
* Working covariance ``V_i = A_i^{1/2} R_i A_i^{1/2}`` with ``A_i = diag(v(mu_i))`` and
  ``R_i = (1 - alpha) I + alpha 11'``, so
  ``R_i^-1 = (I - alpha / (1 + (n_i - 1) alpha) 11') / (1 - alpha)`` in closed form.
  ``V_i`` leaves out ``phi``: it cancels from the estimating equations and from both
  sandwiches (``B`` and the residuals' middle term scale by ``1/phi`` and ``1/phi^2``), so it
  only enters ``alpha``.
* ``D_i = d mu_i / d beta = diag(v(mu_i)) X_i`` for a canonical link.
* The start is the GLM (independence) fit (:func:`analysis.shared.glm.fit_glm`), as in
  statsmodels; each iteration updates
  ``(alpha, phi)`` at the current ``beta`` and then takes one scoring step
  ``beta += B^-1 U`` with ``B = sum_i D_i' V_i^-1 D_i`` and ``U = sum_i D_i' V_i^-1 e_i``.
  Convergence: a relative step ``|step| <= tol * (1 + |beta|)`` (Euclidean norms) and a
  change of ``alpha`` of at most ``tol`` since the previous step. (statsmodels stops on
  the score norm instead, so the two differ by the tolerance: ~1e-8 relative.) The
  reported ``alpha`` and ``phi`` and both covariances are evaluated at the final ``beta``.
* ``robust = B^-1 M B^-1`` with ``M = sum_i D_i' V_i^-1 e_i e_i' V_i^-1 D_i``;
  ``bias_reduced`` replaces ``e_i`` by ``(I - H_ii)^-1 e_i`` with
  ``H_ii = D_i B^-1 D_i' V_i^-1`` (statsmodels' ``cov_type="bias_reduced"``).

Everything row-wise is vectorised over clusters (the closed-form inverse needs only
per-cluster sums); the bias correction solves one ``n_i x n_i`` system per cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from analysis.errors import ConvergenceError
from analysis.shared.glm import fit_glm

__all__ = ["ITERATION_LIMIT_NOTE", "LINKS", "ExchangeableGeeFit", "fit_exchangeable_gee"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

#: Canonical links the solver knows.
LINKS = ("identity", "log", "logit")

#: The note a fit that reached the iteration limit carries (statsmodels' wording).
ITERATION_LIMIT_NOTE = "Iteration limit reached prior to convergence"

#: The GLM family (of :mod:`analysis.shared.glm`) whose fit starts each link's GEE.
_GLM_FAMILY = {"identity": "gaussian", "log": "poisson", "logit": "binomial"}


@dataclass(frozen=True)
class ExchangeableGeeFit:
    """The solver's output.

    Attributes
    ----------
    params : ndarray, shape (p,)
    cov_robust : ndarray, shape (p, p)
        Liang-Zeger sandwich.
    cov_bias_reduced : ndarray, shape (p, p)
        Mancl-DeRouen bias-reduced sandwich.
    alpha : float
        Exchangeable working correlation (moment estimator).
    scale : float
        ``phi = sum r^2 / N`` (Pearson residuals, no degrees-of-freedom correction).
    iterations : int
        Scoring steps taken after the GLM start.
    converged : bool
        Whether the step fell below the tolerance within the iteration limit.
    """

    params: FloatArray
    cov_robust: FloatArray
    cov_bias_reduced: FloatArray
    alpha: float
    scale: float
    iterations: int
    converged: bool


def _mean_and_variance(eta: FloatArray, link: str) -> tuple[FloatArray, FloatArray]:
    """Mean and variance function at the linear predictor; for a canonical link the
    variance is also ``d mu / d eta``."""
    if link == "identity":
        return eta, np.ones_like(eta)
    if link == "log":
        mu = np.exp(eta)
        return mu, mu
    if link == "logit":
        mu = 1.0 / (1.0 + np.exp(-eta))
        return mu, mu * (1.0 - mu)
    raise ValueError(f"unknown link {link!r}; the solver knows {LINKS}")


class _Clusters:
    """Row-to-cluster bookkeeping for per-cluster sums."""

    def __init__(self, groups: IntArray) -> None:
        self.codes = np.asarray(groups, dtype=np.intp)
        self.count = int(self.codes.max()) + 1 if self.codes.size else 0
        self.sizes = np.bincount(self.codes, minlength=self.count).astype(np.float64)
        self.rows = [np.flatnonzero(self.codes == k) for k in range(self.count)]
        self.pairs = float(np.sum(self.sizes * (self.sizes - 1.0) / 2.0))

    def sum(self, values: FloatArray) -> FloatArray:
        """Per-cluster sums of a row vector (``(K,)``) or of each column (``(K, p)``)."""
        if values.ndim == 1:
            sums = np.bincount(self.codes, weights=values, minlength=self.count)
            return sums.astype(np.float64, copy=False)
        out = np.zeros((self.count, values.shape[1]))
        np.add.at(out, self.codes, values)
        return out


def _moments(resid: FloatArray, clusters: _Clusters) -> tuple[float, float]:
    """``(alpha, phi)`` from Pearson residuals: geepack's estimators (statsmodels'
    ``Exchangeable`` with ``ddof_scale=0``)."""
    phi = float(np.sum(resid**2) / resid.shape[0])
    sums = clusters.sum(resid)
    squares = clusters.sum(resid**2)
    cross = float(np.sum((sums**2 - squares) / 2.0))
    if clusters.pairs == 0:
        return 0.0, phi
    return cross / (phi * clusters.pairs), phi


def _vinv(values: FloatArray, sdev: FloatArray, alpha: float, clusters: _Clusters) -> FloatArray:
    """``V_i^-1 values_i`` for every cluster at once (rows of ``values`` are observations,
    a vector or a matrix of columns).

    ``V_i^-1 = A_i^-1/2 R_i^-1 A_i^-1/2`` and ``R_i^-1 x = (x - c_i 1 sum(x)) / (1 - alpha)``
    with ``c_i = alpha / (1 + (n_i - 1) alpha)``.
    """
    c = alpha / (1.0 + (clusters.sizes - 1.0) * alpha)
    column = sdev if values.ndim == 1 else sdev[:, None]
    scaled = values / column
    sums = clusters.sum(scaled)
    shift = (c * sums if values.ndim == 1 else c[:, None] * sums)[clusters.codes]
    out: FloatArray = (scaled - shift) / (1.0 - alpha) / column
    return out


def _vinv_one(values: FloatArray, sdev: FloatArray, alpha: float) -> FloatArray:
    """``V^-1 values`` for a single cluster's vector (the same closed form)."""
    c = alpha / (1.0 + (values.shape[0] - 1.0) * alpha)
    scaled = values / sdev
    out: FloatArray = (scaled - c * scaled.sum()) / (1.0 - alpha) / sdev
    return out


@dataclass(frozen=True)
class _State:
    """Everything at one ``beta`` and ``alpha`` the steps and sandwiches need."""

    resid: FloatArray  # e = y - mu
    dmat: FloatArray  # D = diag(v) X
    sdev: FloatArray  # sqrt(v)
    vinv_d: FloatArray  # V^-1 D (block-diagonal V)
    vinv_e: FloatArray  # V^-1 e
    bread: FloatArray  # B = D' V^-1 D
    score: FloatArray  # U = D' V^-1 e


def _state(
    beta: FloatArray,
    alpha: float,
    y: FloatArray,
    X: FloatArray,
    offset: FloatArray,
    link: str,
    clusters: _Clusters,
) -> _State:
    mu, var = _mean_and_variance(X @ beta + offset, link)
    resid = y - mu
    dmat = X * var[:, None]
    sdev = np.sqrt(var)
    vinv_d = _vinv(dmat, sdev, alpha, clusters)
    vinv_e = _vinv(resid, sdev, alpha, clusters)
    return _State(resid, dmat, sdev, vinv_d, vinv_e, dmat.T @ vinv_d, dmat.T @ vinv_e)


def _solve(a: FloatArray, b: FloatArray) -> FloatArray:
    """``a^-1 b``, falling back to the pseudo-inverse for a singular ``a`` (as statsmodels)."""
    try:
        return np.asarray(np.linalg.solve(a, b), dtype=np.float64)
    except np.linalg.LinAlgError:
        return np.asarray(np.linalg.pinv(a) @ b, dtype=np.float64)


def _inverse(a: FloatArray) -> FloatArray:
    try:
        return np.asarray(np.linalg.inv(a), dtype=np.float64)
    except np.linalg.LinAlgError:
        return np.asarray(np.linalg.pinv(a), dtype=np.float64)


def _small_step(step: FloatArray, beta: FloatArray, tol: float) -> bool:
    return bool(np.linalg.norm(step) <= tol * (1.0 + np.linalg.norm(beta)))


def _sandwiches(state: _State, alpha: float, clusters: _Clusters) -> tuple[FloatArray, FloatArray]:
    """Liang-Zeger and Mancl-DeRouen covariances at a converged state."""
    bread_inv = _inverse(state.bread)
    # Rows of `scores` are the per-cluster D_i' V_i^-1 e_i.
    scores = clusters.sum(state.dmat * state.vinv_e[:, None])
    robust = bread_inv @ (scores.T @ scores) @ bread_inv
    corrected = np.empty_like(scores)
    for k, rows in enumerate(clusters.rows):
        d_i, vinv_d_i = state.dmat[rows], state.vinv_d[rows]
        # H_ii = D_i B^-1 D_i' V_i^-1; V_i symmetric, so D_i' V_i^-1 = (V_i^-1 D_i)'.
        hat = d_i @ bread_inv @ vinv_d_i.T
        adjusted = np.asarray(
            np.linalg.solve(np.eye(rows.size) - hat, state.resid[rows]), dtype=np.float64
        )
        corrected[k] = d_i.T @ _vinv_one(adjusted, state.sdev[rows], alpha)
    bias_reduced = bread_inv @ (corrected.T @ corrected) @ bread_inv
    return robust, bias_reduced


def fit_exchangeable_gee(
    y: FloatArray,
    X: FloatArray,
    groups: IntArray,
    *,
    link: str,
    offset: FloatArray | None = None,
    maxiter: int = 500,
    tol: float = 1e-10,
) -> ExchangeableGeeFit:
    """Solve the GEE with exchangeable working correlation.

    Parameters
    ----------
    y : ndarray, shape (n,)
    X : ndarray, shape (n, p)
    groups : ndarray of int, shape (n,)
        Cluster codes ``0 .. K-1`` (rows need not be sorted by cluster).
    link : {"identity", "log", "logit"}
        Canonical link of the Gaussian, Poisson or Bernoulli family.
    offset : ndarray, shape (n,), optional
    maxiter : int
        Scoring steps after the GLM start.
    tol : float
        Relative step size (and change of ``alpha``) at which the iteration stops.

    Raises
    ------
    ConvergenceError
        When the estimates or the working correlation are not finite.
    """
    if link not in LINKS:
        raise ValueError(f"unknown link {link!r}; the solver knows {LINKS}")
    y = np.asarray(y, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    off = np.zeros(y.shape[0]) if offset is None else np.asarray(offset, dtype=np.float64)
    clusters = _Clusters(groups)

    def state_at(beta: FloatArray, alpha: float) -> _State:
        return _state(beta, alpha, y, X, off, link, clusters)

    def moments_at(beta: FloatArray) -> tuple[float, float]:
        mu, var = _mean_and_variance(X @ beta + off, link)
        return _moments((y - mu) / np.sqrt(var), clusters)

    with np.errstate(all="ignore"):
        # the independence (GLM) fit is the start, by the same IRLS as every other GLM
        beta = fit_glm(y, X, _GLM_FAMILY[link], offset=off).beta

        converged = False
        iterations = 0
        alpha = alpha_before = 0.0
        while iterations < maxiter and not converged:
            iterations += 1
            alpha, _ = moments_at(beta)
            st = state_at(beta, alpha)
            step = _solve(st.bread, st.score)
            beta = beta + step
            if not np.all(np.isfinite(beta)):
                break
            converged = _small_step(step, beta, tol) and abs(alpha - alpha_before) <= tol
            alpha_before = alpha

        if not np.all(np.isfinite(beta)):
            last = alpha if np.isfinite(alpha) else alpha_before
            if last > 0.999:  # V_i near singular: residuals alike within clusters
                raise ConvergenceError(
                    f"the GEE's working correlation reached 1 (alpha = {last:.6g}): "
                    "the residuals hardly vary within clusters, so the exchangeable GEE "
                    "cannot be fitted to these data"
                )
            raise ConvergenceError("GEE did not produce finite estimates")
        alpha, phi = moments_at(beta)
        if not np.isfinite(alpha):
            raise ConvergenceError("GEE did not produce a finite working correlation")
        final = state_at(beta, alpha)
        robust, bias_reduced = _sandwiches(final, alpha, clusters)
    return ExchangeableGeeFit(
        params=beta,
        cov_robust=robust,
        cov_bias_reduced=bias_reduced,
        alpha=alpha,
        scale=phi,
        iterations=iterations,
        converged=converged,
    )
