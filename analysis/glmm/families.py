"""Conditional distributions of the GLMMs: log-densities and their derivatives in eta.

Each family gives, for a linear predictor ``eta`` (log or logit scale), the conditional
``-2 log p(y | eta)`` ("absolute" deviance, lme4's ``aic`` terms), the deviance residuals
(relative to the saturated model, lme4's ``devResid``), and the first and second
derivatives of ``-log p`` in ``eta``. For the canonical Poisson/log and binomial/logit the
second derivative is the usual working weight (mu, m mu (1 - mu)); for the negative
binomial (NB2, log link, not canonical) it is the observed information, which is what TMB's
Laplace approximation (glmmTMB) uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import special

Array = NDArray[np.float64]

__all__ = ["Family", "make_family"]


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

    def with_size(self, size: float) -> Family:
        return Family(self.name, self.y, self.trials, size)

    def mean(self, eta: Array) -> Array:
        if self.name == "binomial":
            return np.asarray(self.trials * special.expit(eta), dtype=np.float64)
        return np.asarray(np.exp(eta), dtype=np.float64)

    def neg2_loglik(self, eta: Array) -> Array:
        """-2 log p(y | eta), observation by observation."""
        y = self.y
        if self.name == "poisson":
            mu = np.exp(eta)
            return np.asarray(-2.0 * (special.xlogy(y, mu) - mu - special.gammaln(y + 1.0)))
        if self.name == "binomial":
            m = self.trials
            logc = (
                special.gammaln(m + 1.0) - special.gammaln(y + 1.0) - special.gammaln(m - y + 1.0)
            )
            # log p = y eta - m log(1 + e^eta) written stably
            return np.asarray(-2.0 * (logc + y * eta - m * np.logaddexp(0.0, eta)))
        k = self.size
        mu = np.exp(eta)
        lp = (
            special.gammaln(y + k)
            - special.gammaln(k)
            - special.gammaln(y + 1.0)
            + k * np.log(k / (k + mu))
            + special.xlogy(y, mu / (k + mu))
        )
        return np.asarray(-2.0 * lp)

    def saturated_neg2_loglik(self) -> Array:
        """-2 log p(y | mu = y): the constant that turns absolute into relative deviance."""
        y = self.y
        if self.name == "poisson":
            return np.asarray(-2.0 * (special.xlogy(y, y) - y - special.gammaln(y + 1.0)))
        if self.name == "binomial":
            m = self.trials
            logc = (
                special.gammaln(m + 1.0) - special.gammaln(y + 1.0) - special.gammaln(m - y + 1.0)
            )
            p = y / m
            return np.asarray(-2.0 * (logc + special.xlogy(y, p) + special.xlogy(m - y, 1.0 - p)))
        k = self.size
        lp = (
            special.gammaln(y + k)
            - special.gammaln(k)
            - special.gammaln(y + 1.0)
            + k * np.log(k / (k + y))
            + special.xlogy(y, y / (k + y))
        )
        return np.asarray(-2.0 * lp)

    def deviance_residuals(self, eta: Array) -> Array:
        """Squared deviance residuals (lme4's devResid): -2 log p relative to saturated."""
        return self.neg2_loglik(eta) - self.saturated_neg2_loglik()

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
        d1 = (y + k) * mu / (mu + k) - y
        d2 = (y + k) * mu * k / (mu + k) ** 2
        return np.asarray(d1), np.asarray(d2)


def make_family(name: str, y: Array, trials: Array | None = None) -> Family:
    """Build a :class:`Family` (validation of the outcome is done by the caller)."""
    t = np.ones_like(y) if trials is None else np.asarray(trials, dtype=np.float64)
    return Family(name=name, y=np.asarray(y, dtype=np.float64), trials=t)
