"""Generalised linear models without random effects, by iteratively reweighted least squares.

Four analyses need a plain GLM, some of them many times over: stage one of the
cluster-level analysis (expected counts without the intervention), every refit of the
randomisation test's confidence interval, and the start of every GLMM and GEE fit. Building a statsmodels
model for each costs milliseconds and importing statsmodels (with scipy.stats) about a
second of every ``rct analyse run``; this module is the same algorithm in a few lines of
numpy, checked against R's ``glm`` (``tools/r_reference``) and statsmodels in the tests.

Families, each with its canonical link: ``"poisson"`` (log), ``"binomial"`` (logit, with
``trials`` per row, 1 for 0/1 outcomes) and ``"gaussian"`` (identity: one least-squares
solve). The iteration starts as R's ``glm`` and statsmodels do (``mu = (y + mean y) / 2``
for counts, ``(y + 1/2) / (m + 1)`` per trial for proportions) and stops when the deviance
changes by less than 1e-10 relative (R stops at 1e-8, statsmodels at 1e-8 absolute), or
after 100 iterations (``converged=False``). Separated data are not an error here: the
coefficients grow large while the deviance goes to 0, as in ``glm`` (which warns that
fitted probabilities are numerically 0 or 1).
Rank-deficient designs get the minimum-norm solution, as statsmodels' ``pinv`` gives
(in unit-length columns where :func:`_solve` equilibrates them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import special

from analysis.errors import DataError

__all__ = ["GLM_FAMILIES", "GlmFit", "fit_glm"]

FloatArray = NDArray[np.float64]

#: The families :func:`fit_glm` fits, each with its canonical link.
GLM_FAMILIES = ("poisson", "binomial", "gaussian")

#: Relative change of the deviance at which the iteration stops.
TOLERANCE = 1e-10
MAX_ITERATIONS = 100

#: Ratio of the longest to the shortest weighted design column above which the least
#: squares are solved in columns scaled to unit length (see :func:`_solve`).
EQUILIBRATE_ABOVE = 1e6


@dataclass(frozen=True)
class GlmFit:
    """The fitted GLM: coefficients, fitted means, deviance and whether it converged."""

    beta: FloatArray
    fitted: FloatArray
    deviance: float
    converged: bool
    iterations: int


def deviance(y: FloatArray, mu: FloatArray, family: str, trials: FloatArray) -> float:
    """The GLM deviance of means ``mu`` (counts: Poisson; proportions: per trial)."""
    if family == "binomial":
        return float(
            2.0
            * np.sum(
                special.xlogy(y, y / mu) + special.xlogy(trials - y, (trials - y) / (trials - mu))
            )
        )
    if family == "poisson":
        return float(2.0 * np.sum(special.xlogy(y, y / mu) - (y - mu)))
    return float(np.sum((y - mu) ** 2))


def fit_glm(
    y: FloatArray,
    X: FloatArray,
    family: str,
    *,
    offset: FloatArray | None = None,
    trials: FloatArray | None = None,
) -> GlmFit:
    """Maximum-likelihood fit of ``family`` (canonical link) by IRLS.

    Parameters
    ----------
    y : array (n,)
        Outcome: counts (poisson), events out of ``trials`` (binomial) or values (gaussian).
    X : array (n, p)
        Design matrix.
    family : {"poisson", "binomial", "gaussian"}
    offset : array (n,), optional
        Added to the linear predictor.
    trials : array (n,), optional
        Binomial trials per row (default 1: a 0/1 outcome).

    Raises
    ------
    ValueError
        For a family other than :data:`GLM_FAMILIES`.
    DataError
        When every count is 0 (or every binomial outcome 0, or equal to its trials): the
        maximum likelihood estimate does not exist.
    """
    if family not in GLM_FAMILIES:
        raise ValueError(f"unknown family {family!r}; choose from {GLM_FAMILIES}")
    y = np.asarray(y, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    off = np.zeros_like(y) if offset is None else np.asarray(offset, dtype=np.float64)
    m = np.ones_like(y) if trials is None else np.asarray(trials, dtype=np.float64)
    if family != "gaussian" and (np.all(y == 0) or (family == "binomial" and np.all(y == m))):
        # the likelihood rises without bound as the intercept runs off to -inf (+inf)
        which = "0" if np.all(y == 0) else "equal to its number of trials"
        raise DataError(f"every outcome is {which}: a {family} GLM has no finite fit to such data")
    if family == "gaussian":
        beta = _solve(X, y - off, np.ones_like(y))
        mu = X @ beta + off
        return GlmFit(beta, mu, deviance(y, mu, family, m), True, 1)
    binomial = family == "binomial"
    beta = np.zeros(X.shape[1])
    old, dev, converged, it = np.inf, np.inf, False, 0
    with np.errstate(all="ignore"):
        if binomial:
            mu = m * (y + 0.5) / (m + 1.0)
            eta = np.log(mu / (m - mu))
        else:
            mu = 0.5 * (y + y.mean())
            eta = np.log(mu)
        while it < MAX_ITERATIONS:
            it += 1
            w = mu * (1.0 - mu / m) if binomial else mu
            z = eta - off + (y - mu) / w
            beta = _solve(X, z, w)
            eta = X @ beta + off
            mu = m * special.expit(eta) if binomial else np.exp(eta)
            dev = deviance(y, mu, family, m)
            if not np.isfinite(dev):
                break
            if abs(dev - old) <= TOLERANCE * (abs(dev) + 0.1):
                converged = True
                break
            old = dev
    return GlmFit(np.asarray(beta, dtype=np.float64), mu, dev, converged, it)


def _solve(X: FloatArray, z: FloatArray, w: FloatArray) -> FloatArray:
    """Weighted least squares ``argmin sum w (z - X b)^2`` (minimum norm if rank-deficient).

    Columns whose lengths differ by more than :data:`EQUILIBRATE_ABOVE` are scaled to unit
    length first: a covariate of large scale (the cluster-level analysis' baseline mean of
    rates of 1e13) beside 0/1 period dummies made the design so ill-conditioned that the
    Gaussian fit lost digits and the cluster-level effect came out 3% off, silently (found
    by tests/analysis/test_sap_hostile.py). Ordinary designs are solved unscaled, so their
    fits stay bit for bit what earlier versions computed: a GLMM started from a start that
    differs in the last bits can stop elsewhere within its optimiser's tolerance (1e-6 in
    a negative binomial p-value), which would fail a cross-version reproduction.
    """
    sw = np.sqrt(w)
    a = X * sw[:, None]
    norms = np.sqrt(np.sum(a * a, axis=0))
    norms[~(norms > 0)] = 1.0
    if norms.max() <= EQUILIBRATE_ABOVE * norms.min():
        return np.asarray(np.linalg.lstsq(a, z * sw, rcond=None)[0], dtype=np.float64)
    coef = np.linalg.lstsq(a / norms, z * sw, rcond=None)[0] / norms
    return np.asarray(coef, dtype=np.float64)
