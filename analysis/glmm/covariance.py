"""Covariance of the fixed effects of a random-intercept GLMM fit, and separation checks.

lme4's ``vcov`` for glmer fits is ``2 * solve(H)`` restricted to the fixed effects, ``H``
the deriv12 Hessian of the deviance in ``(theta, beta)`` (:func:`fixed_effect_cov`), with
the RX-based matrix (``use.hessian = FALSE``, :func:`rx_covariance`) as its fallback.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from analysis.coded_warnings import CodedWarning
from analysis.errors import ConvergenceError
from analysis.glmm.families import Array, Family
from analysis.glmm.glmer_hessian import GlmerLaplaceDevfun
from analysis.glmm.optimise import (
    BatchGradient,
    ValueAndGradient,
    fd_hessian,
    gradient_hessian,
    gradient_hessian_batched,
)
from analysis.shared.numderiv import central_hessian_batched

__all__ = ["fixed_effect_cov", "rx_covariance", "separation_warnings"]


def rx_covariance(glmer: GlmerLaplaceDevfun | None, x: Array) -> Array | None:
    """lme4's ``vcov(use.hessian = FALSE)`` (``pp$unsc()``), None when unavailable."""
    if glmer is None:
        return None
    try:
        cov = glmer.rx_covariance(x)
    except (ConvergenceError, np.linalg.LinAlgError):
        return None
    return cov if bool(np.all(np.isfinite(cov))) else None


def fixed_effect_cov(
    objective: Callable[[Array], float],
    x: Array,
    ntheta: int,
    p: int,
    pinned: NDArray[np.bool_],
    exact: ValueAndGradient | None = None,
    batch: BatchGradient | None = None,
) -> tuple[Array, bool, bool]:
    """lme4's ``2 * solve(H)`` (fixed-effects block), H the deriv12 Hessian of ``objective``
    (or, given ``exact``, central differences of the exact gradient of the same deviance;
    given ``batch`` as well, the same gradients evaluated in one vectorised call).

    Returns the covariance, whether H is positive definite, and whether the covariance is
    (lme4's ``bad.V.hess`` test, which decides the fallback to the RX-based matrix). At a
    boundary fit (a standard deviation estimated at zero) the deviance is flat to second
    order in that standard deviation, so its row and column are dropped before inverting
    (the covariance of the remaining parameters given the boundary value).
    """
    H: Array | None = None
    if exact is not None and batch is not None:
        try:
            H = gradient_hessian_batched(batch, x)
        except ConvergenceError:
            H = None  # the modes searched together failed: one gradient at a time below
    if H is None:
        if exact is not None:
            H = gradient_hessian(exact, x)
        elif isinstance(objective, GlmerLaplaceDevfun):
            # glmer's devfun evaluates all of deriv12's points in one vectorised PIRLS
            H = central_hessian_batched(objective.batch, x, np.full(len(x), 1e-4))
        else:
            H = fd_hessian(objective, x)
    keep = ~pinned
    H = H[np.ix_(keep, keep)]
    nfree_theta = int(np.sum(keep[:ntheta]))
    idx = slice(nfree_theta, nfree_theta + p)
    if not np.all(np.isfinite(H)):
        return np.full((p, p), np.nan), False, False
    hess_ok = bool(np.all(np.linalg.eigvalsh(H) > 0))
    try:
        inv = np.linalg.inv(H)
    except np.linalg.LinAlgError:
        return np.full((p, p), np.nan), False, False
    cov = inv[idx, idx] + inv[idx, idx].T
    cov_ok = bool(np.all(np.isfinite(cov))) and bool(np.all(np.linalg.eigvalsh(cov) > 0))
    return cov, hess_ok, cov_ok


def separation_warnings(
    fam: Family, eta: Array, beta: Array, se: Array, names: list[str] | tuple[str, ...]
) -> list[CodedWarning]:
    out: list[CodedWarning] = []
    p = fam.mean(eta) / fam.trials
    if np.any(p < 1e-8) or np.any(p > 1 - 1e-8):
        out.append(
            CodedWarning(
                "separation", "(quasi-)separation: some fitted probabilities are numerically 0 or 1"
            )
        )
    big = [n for n, b, s in zip(names, beta, se) if abs(b) > 10 or not np.isfinite(s) or s > 20]
    if big:
        out.append(
            CodedWarning(
                "separation-suspected",
                "(quasi-)separation suspected: huge coefficients or standard errors for "
                + ", ".join(big),
            )
        )
    return out
