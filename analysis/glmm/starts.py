"""Starting values of a GLMM fit: the GLM without random effects, and a theta grid."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from analysis.errors import ConvergenceError, DataError
from analysis.glmm.design import Design
from analysis.glmm.families import Array, Family
from analysis.glmm.likelihood import MarginalDeviance
from analysis.glmm.optimise import ValueAndGradient, minimise
from analysis.shared.glm import fit_glm

__all__ = [
    "LOG_SIZE_MAX",
    "SIZE_MAX",
    "grid_start",
    "nb_value_and_grad",
    "poisson_start",
    "start_beta",
]

#: Upper bound of the NB2 size k. At k = 1e8 the variance mu + mu^2 / k exceeds the Poisson
#: variance by mu / 1e8 relative (1e-5 for a mean of 1,000), far below what any trial's data
#: can detect; the deviance there differs from the Poisson GLMM's by about n mu / k.
SIZE_MAX = 1e8
LOG_SIZE_MAX = float(np.log(SIZE_MAX))


def start_beta(design: Design, family: str, trials: Array | None) -> Array:
    """Maximum-likelihood fit of the GLM without random effects (Poisson/log or
    binomial/logit, with the offset): the fixed effects' starting values.

    :func:`analysis.shared.glm.fit_glm` (IRLS in numpy, started as R's ``glm``). Separated
    data give large coefficients after the iteration limit, as they do in ``glm``:
    separation shows up again, and is reported, in the GLMM fit itself; non-finite
    coefficients give a start of zeros.
    """
    glm_family = "binomial" if family == "binomial" else "poisson"  # NB, OLRE: the Poisson GLM
    try:
        beta = fit_glm(design.y, design.X, glm_family, offset=design.offset, trials=trials).beta
    except DataError:  # no events at all: the GLMM's own checks say what is wrong
        return np.zeros(design.X.shape[1])
    return beta if np.all(np.isfinite(beta)) else np.zeros(design.X.shape[1])


def grid_start(
    objective: Callable[[Array], float], grid: list[float], extra: list[float], beta0: Array
) -> tuple[Array, float]:
    """The best start ``(theta, extra, beta0)`` over the theta grid, walking up the grid
    until the deviance rises (it has been unimodal in the cluster SD along the grid on data
    seen so far; a non-unimodal profile only changes where the optimiser starts)."""
    best: Array | None = None
    best_value = np.inf
    for t in grid:
        x = np.asarray(np.r_[t, extra, beta0], dtype=np.float64)
        value = objective(x)
        if best is not None and value > best_value:
            break
        if value < best_value or best is None:
            best, best_value = x, value
    assert best is not None
    return best, best_value


def nb_value_and_grad(dev: MarginalDeviance, fam: Family) -> ValueAndGradient:
    """NB2 deviance of ``(theta, log size, beta)`` with its gradient: exact in ``theta`` and
    ``beta``, a central difference in ``log size`` (two deviance evaluations)."""

    def vg(x: Array) -> tuple[float, Array]:
        value, grad = dev.value_and_gradient(x[:1], x[2:], fam.with_size(float(np.exp(x[1]))))
        h = 1e-6 * max(1.0, abs(float(x[1])))
        up = dev(x[:1], x[2:], fam.with_size(float(np.exp(x[1] + h))))
        down = dev(x[:1], x[2:], fam.with_size(float(np.exp(x[1] - h))))
        return value, np.r_[grad[:1], (up - down) / (2.0 * h), grad[1:]]

    return vg


def poisson_start(dev: MarginalDeviance, grid: list[float], beta0: Array) -> Array:
    """The Poisson GLMM's optimum as an NB2 start at ``k = SIZE_MAX``.

    Near-Poisson data have their NB2 optimum at (or next to) the Poisson fit, far from the
    moderate-size starts, along a ridge on which the deviance changes by about ``1 / k``;
    a fit from a moderate size can stall on that ridge or leap off it. Fitting from this
    start as well, and keeping the lower deviance, guarantees that the NB fit is never
    worse than the Poisson one.
    """
    pois = dev.family.with_size(SIZE_MAX)

    def objective(x: Array) -> float:
        return dev(x[:1], x[1:], pois)

    def value_and_grad(x: Array) -> tuple[float, Array]:
        return dev.value_and_gradient(x[:1], x[1:], pois)

    z0 = min((np.r_[t, beta0] for t in grid), key=objective)
    lower = np.r_[0.0, np.full(len(beta0), -np.inf)]
    try:
        z, _, _ = minimise(objective, z0, lower, newton_steps=0, value_and_grad=value_and_grad)
    except ConvergenceError:
        z = z0
    return np.asarray(np.r_[z[:1], LOG_SIZE_MAX, z[1:]], dtype=np.float64)
