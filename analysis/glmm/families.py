"""Conditional distributions of the GLMMs: log-densities and their derivatives in eta.

Each family gives, for a linear predictor ``eta`` (log or logit scale), the conditional
``-2 log p(y | eta)`` ("absolute" deviance, lme4's ``aic`` terms), the deviance residuals
(relative to the saturated model, lme4's ``devResid``), and the first and second
derivatives of ``-log p`` in ``eta``. For the canonical Poisson/log and binomial/logit the
second derivative is the usual working weight (mu, m mu (1 - mu)); for the negative
binomial (NB2, log link, not canonical) it is the observed information, which is what TMB's
Laplace approximation (glmmTMB) uses.

The NB2 log-density is written as the Poisson log-density plus a correction that tends to
zero as the size ``k`` grows (:func:`nb_minus_poisson_logpmf`). The textbook form
``lgamma(y + k) - lgamma(k) + k log(k / (k + mu))`` cancels terms of order ``k log k``
and loses about ``1e-16 k log k`` in absolute precision: 1e-7 per observation at
``k = 1e8``, enough to defeat the step-halving of the conditional modes and the
optimiser when the data are close to Poisson (``k`` heading to infinity). The correction
is accurate to about ``1e-16 (y + mu)`` for every ``k``, and is exactly zero at
``k = inf``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from numpy.typing import NDArray
from scipy import special

from analysis.errors import DataError

Array = NDArray[np.float64]

__all__ = ["Family", "check_outcome", "make_family", "nb_minus_poisson_logpmf"]

#: Above this size the log-gamma difference uses Stirling's series (error < 1e-16).
_STIRLING_FROM = 30.0


@dataclass(frozen=True)
class Family:
    """One conditional distribution with its canonical or log link.

    Parameters
    ----------
    name : str
        ``"poisson"``, ``"binomial"`` or ``"negative_binomial"``.
    y : ndarray
        Outcome (counts, or successes for the binomial).
    trials : ndarray
        Binomial numbers of trials (ones for binary data; unused otherwise).
    size : float
        NB2 size parameter k (variance mu + mu^2 / k); unused otherwise.
    """

    name: str
    y: Array
    trials: Array
    size: float = np.inf
    #: ``log`` of the normalising constant of p(y | eta) (``-log y!``, or the binomial
    #: coefficient), computed once: it does not depend on ``eta`` or ``size``.
    log_constant: Array = field(default=None, compare=False, repr=False)  # type: ignore[arg-type]

    def __post_init__(self) -> None:
        if self.log_constant is None:
            y = self.y
            if self.name == "binomial":
                m = self.trials
                c = (
                    special.gammaln(m + 1.0)
                    - special.gammaln(y + 1.0)
                    - special.gammaln(m - y + 1.0)
                )
            else:
                c = -special.gammaln(y + 1.0)
            object.__setattr__(self, "log_constant", np.asarray(c, dtype=np.float64))

    def with_size(self, size: float) -> Family:
        return Family(self.name, self.y, self.trials, size, self.log_constant)

    def mean(self, eta: Array) -> Array:
        if self.name == "binomial":
            return np.asarray(self.trials * special.expit(eta), dtype=np.float64)
        return np.asarray(np.exp(eta), dtype=np.float64)

    def neg2_loglik(self, eta: Array) -> Array:
        """-2 log p(y | eta), observation by observation."""
        y, logc = self.y, self.log_constant
        if self.name == "poisson":
            # y eta - e^eta is xlogy(y, mu) - mu with mu = e^eta (eta finite)
            return np.asarray(-2.0 * (y * eta - np.exp(eta) + logc))
        if self.name == "binomial":
            m = self.trials
            # log p = y eta - m log(1 + e^eta) written stably
            return np.asarray(-2.0 * (logc + y * eta - m * np.logaddexp(0.0, eta)))
        mu = np.exp(eta)
        lp = y * eta - mu + logc
        return np.asarray(-2.0 * (lp + nb_minus_poisson_logpmf(y, mu, self.size)))

    def saturated_neg2_loglik(self) -> Array:
        """-2 log p(y | mu = y): the constant that turns absolute into relative deviance."""
        return self._saturated

    @cached_property
    def _saturated(self) -> Array:
        y, logc = self.y, self.log_constant
        if self.name == "poisson":
            return np.asarray(-2.0 * (special.xlogy(y, y) - y + logc))
        if self.name == "binomial":
            m = self.trials
            p = y / m
            return np.asarray(-2.0 * (logc + special.xlogy(y, p) + special.xlogy(m - y, 1.0 - p)))
        lp = special.xlogy(y, y) - y + logc
        return np.asarray(-2.0 * (lp + nb_minus_poisson_logpmf(y, y, self.size)))

    def deviance_residuals(self, eta: Array) -> Array:
        """Squared deviance residuals (lme4's devResid): -2 log p relative to saturated."""
        return self.neg2_loglik(eta) - self._saturated

    def derivatives(self, eta: Array) -> tuple[Array, Array]:
        """First and second derivatives of ``-log p(y | eta)`` in ``eta``."""
        y = self.y
        if self.name == "poisson":
            mu = np.exp(eta)
            return mu - y, mu
        if self.name == "binomial":
            p = special.expit(eta)
            m = self.trials
            return m * p - y, m * p * (1.0 - p)
        k = self.size
        mu = np.exp(eta)
        # k / (mu + k) and (y + k) / (mu + k), written to have the Poisson limit at k = inf
        shrink = 1.0 / (1.0 + mu / k)
        d1 = (mu - y) * shrink
        d2 = mu * shrink * (1.0 + (y - mu) / (mu + k))
        return np.asarray(d1), np.asarray(d2)

    def terms(self, eta: Array) -> tuple[Array, Array, Array]:
        """``-2 log p(y | eta)`` with the first and second derivatives of ``-log p`` in one
        pass (one exponential shared by the three): the inner loop of the conditional
        modes needs all of them at every iterate."""
        if self.name == "poisson":
            mu = np.exp(eta)
            return -2.0 * (self.y * eta - mu + self.log_constant), mu - self.y, mu
        d1, d2 = self.derivatives(eta)
        return self.neg2_loglik(eta), d1, d2

    def third_derivative(self, eta: Array) -> Array:
        """Derivative in ``eta`` of the second derivative of ``-log p(y | eta)``: what the
        log-determinant of the Laplace approximation changes by as ``eta`` moves."""
        if self.name == "poisson":
            return np.asarray(np.exp(eta), dtype=np.float64)
        if self.name == "binomial":
            p = special.expit(eta)
            return np.asarray(self.trials * p * (1.0 - p) * (1.0 - 2.0 * p), dtype=np.float64)
        # d/d eta of mu k (k + y) / (mu + k)^2 = mu k (k + y) (k - mu) / (mu + k)^3, in the
        # ratios that have the Poisson limit (mu) at k = inf
        k = self.size
        mu = np.exp(eta)
        shrink = 1.0 / (1.0 + mu / k)
        return np.asarray(
            mu * shrink * (shrink * (1.0 + self.y / k)) * (shrink * (1.0 - mu / k)),
            dtype=np.float64,
        )


def _stirling_error(z: Array) -> Array:
    """``lgamma(z) - ((z - 1/2) log z - z + log(2 pi) / 2)`` for ``z >= 30`` (four terms of
    Stirling's series; the first omitted term is below ``1 / (1188 z^9)`` < 1e-16)."""
    r = 1.0 / z
    r2 = r * r
    return np.asarray(r * (1.0 / 12 - r2 * (1.0 / 360 - r2 * (1.0 / 1260 - r2 / 1680))))


def nb_minus_poisson_logpmf(y: Array, mu: Array, size: float) -> Array:
    """``log NB2(y; mu, size) - log Poisson(y; mu)``, accurate for every size.

    The difference is ``A + B`` with ``A = lgamma(y + k) - lgamma(k) - y log k`` and
    ``B = mu - (k + y) log1p(mu / k)``. For ``k >= 30``, ``A`` is taken from Stirling's
    series as ``(k + y - 1/2) log1p(y / k) - y`` plus the difference of the series'
    remainders, so no term of order ``k log k`` is ever formed; both parts then have
    absolute errors of order ``1e-16 (y + mu)`` and tend to zero as ``k -> inf``.
    """
    y = np.asarray(y, dtype=np.float64)
    mu = np.asarray(mu, dtype=np.float64)
    k = float(size)
    if np.isinf(k):
        return np.zeros(np.broadcast(y, mu).shape)
    if k >= _STIRLING_FROM:
        remainder = _stirling_error(k + y) - _stirling_error(np.array([k]))
        a = (k + y - 0.5) * np.log1p(y / k) - y + remainder
    else:
        a = special.gammaln(y + k) - special.gammaln(k) - y * np.log(k)
    b = mu - (k + y) * np.log1p(mu / k)
    return np.asarray(a + b, dtype=np.float64)


def make_family(name: str, y: Array, trials: Array | None = None) -> Family:
    """Build a :class:`Family` (validation of the outcome is done by the caller)."""
    t = np.ones_like(y) if trials is None else np.asarray(trials, dtype=np.float64)
    return Family(name=name, y=np.asarray(y, dtype=np.float64), trials=t)


def check_outcome(family: str, y: Array, trials: Array | None) -> None:
    """Refuse an outcome outside the count family's support (negative or non-integer
    counts, binomial successes beyond their number of trials) and one with no events at
    all, whose fixed intercept has no finite estimate (glmer returns an arbitrary large
    negative intercept with standard errors in the millions)."""
    if np.any(y < 0) or np.any(np.abs(y - np.round(y)) > 1e-9):
        raise DataError(f"{family} outcome must be non-negative integers")
    if y.size and np.all(y == 0):
        raise DataError(f"every {family} outcome is 0: there are no events to model")
    if family == "binomial":
        m = np.ones_like(y) if trials is None else trials
        if np.any(y > m):
            raise DataError("binomial outcome exceeds its number of trials")
