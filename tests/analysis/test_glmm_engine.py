"""The fast GLMM engine's pieces: warm starts, the batched glmer devfun, the optimiser.

The R agreement tests check the answers; these check that the shortcuts taken for speed
(a previous fit as the start, all of deriv12's points in one vectorised PIRLS, BLAS-free
cluster sums, the projected quasi-Newton minimiser) give what the plain route gives.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

import numpy as np
import pandas as pd
import pytest

from analysis.errors import ModelSpecificationError
from analysis.glmm import GeneralizedLinearMixedModel, fit_glmm
from analysis.glmm.clusters import cluster_sums, row_cluster_sums
from analysis.glmm.model import _glmer_devfun, best_fit, build_problem
from analysis.glmm.optimise import (
    fd_hessian,
    gradient_hessian,
    gradient_hessian_batched,
    minimise,
)
from analysis.shared.numderiv import central_hessian_batched

DATA = Path(__file__).resolve().parents[2] / "tools" / "r_reference" / "data"
COUNTS = pd.read_csv(DATA / "sim_trial_counts.csv")
BINARY = pd.read_csv(DATA / "sim_trial_binary.csv")
FORMULA = "count ~ arm + post + treat"


class _GlmmOptions(TypedDict):
    family: str
    exposure: str
    nagq: int


@pytest.mark.parametrize(
    ("family", "nagq"), [("poisson", 1), ("poisson", 7), ("negative_binomial", 1)]
)
def test_a_fit_started_from_a_previous_fit_has_the_same_estimates(family: str, nagq: int) -> None:
    kw: _GlmmOptions = {"family": family, "exposure": "population", "nagq": nagq}
    cold = fit_glmm(COUNTS, FORMULA, "borough", **kw)
    warm = fit_glmm(COUNTS, FORMULA, "borough", start=cold, **kw)
    np.testing.assert_allclose(warm.params, cold.params, rtol=1e-6)
    np.testing.assert_allclose(warm.std_errors, cold.std_errors, rtol=1e-5)
    np.testing.assert_allclose(warm.theta, cold.theta, rtol=1e-5)
    # a start from a different (perturbed) dataset's fit reaches the same optimum too
    other = COUNTS.assign(count=COUNTS["count"] + (COUNTS.index % 3))
    shifted = fit_glmm(other, FORMULA, "borough", **kw)
    moved = fit_glmm(COUNTS, FORMULA, "borough", start=shifted, **kw)
    np.testing.assert_allclose(moved.params, cold.params, rtol=1e-6)


def test_a_start_from_another_model_is_refused() -> None:
    pois = fit_glmm(COUNTS, FORMULA, "borough", family="poisson", exposure="population")
    with pytest.raises(ModelSpecificationError, match="start"):
        fit_glmm(
            COUNTS,
            FORMULA,
            "borough",
            family="negative_binomial",
            exposure="population",
            start=pois,
        )
    with pytest.raises(ModelSpecificationError, match="parameters"):
        fit_glmm(
            COUNTS, "count ~ arm", "borough", family="poisson", exposure="population", start=pois
        )


@pytest.mark.parametrize("family", ["poisson", "binomial"])
def test_batched_glmer_devfun_gives_deriv12_of_the_pointwise_devfun(family: str) -> None:
    if family == "binomial":
        prob = build_problem(
            BINARY,
            "y ~ arm + post + treat + age",
            "borough",
            family=family,
            offset=None,
            exposure=None,
            trials=None,
            nagq=1,
        )
    else:
        prob = build_problem(
            COUNTS,
            FORMULA,
            "borough",
            family=family,
            offset=None,
            exposure="population",
            trials=None,
            nagq=1,
        )
    x, _, _ = best_fit(prob)
    devfun = _glmer_devfun(prob, x)
    assert devfun is not None
    batched = central_hessian_batched(devfun.batch, x, np.full(len(x), 1e-4))
    # The two sum the penalty in a different order; at a point where PIRLS's relative
    # stopping test (1e-7) is borderline, that can stop it one iteration apart, which
    # moves a second difference by up to ~1e-4 of the Hessian's scale (measured 3.5e-5
    # on the Poisson data; both give glmer's standard errors to 1.1e-6).
    scale = np.abs(fd_hessian(devfun, x)).max()
    np.testing.assert_allclose(batched, fd_hessian(devfun, x), rtol=0, atol=1e-5 * scale)


@pytest.mark.parametrize(("family", "nagq"), [("poisson", 1), ("poisson", 10), ("binomial", 12)])
def test_batched_gradients_are_the_pointwise_gradients(family: str, nagq: int) -> None:
    data, formula = (
        (BINARY, "y ~ arm + post + treat + age") if family == "binomial" else (COUNTS, FORMULA)
    )
    prob = build_problem(
        data,
        formula,
        "borough",
        family=family,
        offset=None,
        exposure=None if family == "binomial" else "population",
        trials=None,
        nagq=nagq,
    )
    x, _, _ = best_fit(prob)
    assert prob.gradients is not None and prob.value_and_grad is not None
    # the covariance's central-difference points, and points far from the optimum
    shifts = np.vstack((np.eye(len(x)) * 1e-5, -np.eye(len(x)) * 1e-5, [0.1] * len(x)))
    points = x + shifts
    batched = prob.gradients(points)
    pointwise = np.array([prob.value_and_grad(pt)[1] for pt in points])
    scale = np.abs(pointwise).max() + 1.0
    np.testing.assert_allclose(batched, pointwise, rtol=0, atol=1e-9 * scale)
    # and the covariance from them is the pointwise one
    exact = gradient_hessian(prob.value_and_grad, x)
    np.testing.assert_allclose(
        gradient_hessian_batched(prob.gradients, x), exact, rtol=1e-6, atol=1e-8
    )


def test_cluster_sums_match_a_dense_indicator_product() -> None:
    rng = np.random.default_rng(5)
    group = rng.integers(0, 6, 40).astype(np.intp)
    ind = np.zeros((6, 40))
    ind[group, np.arange(40)] = 1.0
    v, m, rows = rng.normal(size=40), rng.normal(size=(40, 3)), rng.normal(size=(4, 40))
    np.testing.assert_allclose(cluster_sums(group, 6, v), ind @ v)
    np.testing.assert_allclose(cluster_sums(group, 6, m), ind @ m)
    np.testing.assert_allclose(row_cluster_sums(group, 6, rows), rows @ ind.T)


def test_minimiser_holds_a_coordinate_on_its_bound_and_finds_the_free_optimum() -> None:
    # f = (x0 + 1)^2 + (x1 - 2)^2 + x0 x1 / 2 with x0 >= 0: optimum x0 = 0, x1 = 2
    def f(x: np.ndarray) -> float:
        return float((x[0] + 1) ** 2 + (x[1] - 2) ** 2 + 0.5 * x[0] * x[1])

    def vg(x: np.ndarray) -> tuple[float, np.ndarray]:
        return f(x), np.array([2 * (x[0] + 1) + 0.5 * x[1], 2 * (x[1] - 2) + 0.5 * x[0]])

    x, converged, _ = minimise(
        f, np.array([3.0, -4.0]), np.array([0.0, -np.inf]), value_and_grad=vg
    )
    assert converged
    assert x[0] == 0.0
    assert x[1] == pytest.approx(2.0, abs=1e-9)


@pytest.mark.parametrize(
    ("family", "nagq"), [("poisson", 1), ("poisson", 7), ("negative_binomial", 1)]
)
def test_model_object_fits_as_fit_glmm_and_its_deviance_is_the_fitted_one(
    family: str, nagq: int
) -> None:
    model = GeneralizedLinearMixedModel.from_formula(
        FORMULA, COUNTS, group="borough", family=family, exposure="population"
    )
    res = model.fit(nagq=nagq)
    ref = fit_glmm(COUNTS, FORMULA, "borough", family=family, exposure="population", nagq=nagq)
    np.testing.assert_allclose(res.params, ref.params, rtol=1e-10)
    np.testing.assert_allclose(res.std_errors, ref.std_errors, rtol=1e-10)
    log_size = None if res.size is None else float(np.log(res.size))
    value = model.deviance(res.theta, res.params, nagq=nagq, log_size=log_size)
    assert value == pytest.approx(res.deviance, rel=1e-10)
    # away from the optimum the deviance is larger
    assert (
        model.deviance(np.asarray(res.theta) * 2, res.params, nagq=nagq, log_size=log_size)
        > res.deviance
    )
