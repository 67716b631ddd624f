"""The GLMM engine's exact gradients against central differences of its own deviance.

The gradient drives the optimiser (one deviance pass per L-BFGS-B step instead of 2 n + 1),
so an error in it would move the optimum; the R agreement tests check the optimum itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.glmm.model import Problem, build_problem
from analysis.glmm.optimise import fd_gradient, fd_hessian, gradient_hessian

DATA = Path(__file__).resolve().parents[2] / "tools" / "r_reference" / "data"
COUNTS = pd.read_csv(DATA / "sim_trial_counts.csv")
BINARY = pd.read_csv(DATA / "sim_trial_binary.csv")


def _problem(family: str, nagq: int) -> Problem:
    if family == "binomial":
        data, formula, exposure = BINARY, "y ~ arm + post + treat + age", None
    else:
        data, formula, exposure = COUNTS, "count ~ arm + post + treat", "population"
    return build_problem(
        data,
        formula,
        "borough",
        family=family,
        offset=None,
        exposure=exposure,
        trials=None,
        nagq=nagq,
    )


@pytest.mark.parametrize(
    ("family", "nagq"),
    [("poisson", 1), ("poisson", 10), ("binomial", 1), ("binomial", 12), ("negative_binomial", 1)],
)
def test_exact_gradient_matches_central_differences(family: str, nagq: int) -> None:
    prob = _problem(family, nagq)
    assert prob.value_and_grad is not None
    x = prob.x0 + 0.03  # away from the optimum, where the gradient is not zero
    value, grad = prob.value_and_grad(x)
    assert value == pytest.approx(prob.objective(x), rel=1e-12)
    numeric = fd_gradient(prob.objective, x, step=1e-5)
    scale = np.maximum(1.0, np.abs(numeric))
    assert np.max(np.abs(grad - numeric) / scale) < 1e-5
    assert np.max(np.abs(numeric)) > 1.0  # the check is not at a stationary point


def test_hessian_from_exact_gradient_matches_deviance_hessian() -> None:
    prob = _problem("poisson", 10)
    assert prob.value_and_grad is not None
    H = gradient_hessian(prob.value_and_grad, prob.x0)
    ref = fd_hessian(prob.objective, prob.x0)
    np.testing.assert_allclose(H, ref, rtol=1e-4, atol=1e-3)


def test_poisson_lognormal_keeps_numerical_gradient() -> None:
    assert _problem("poisson_olre", 1).value_and_grad is None


def test_glmm_results_are_typed() -> None:
    from analysis.glmm import fit_glmm
    from analysis.glmm.results import GlmmResults

    fit = fit_glmm(
        COUNTS,
        "count ~ arm + post + treat",
        "borough",
        family="negative_binomial",
        exposure="population",
    )
    assert isinstance(fit, GlmmResults)
    assert fit.loglik == fit.extra["loglik"] and fit.size == fit.extra["size"]
    assert fit.aic == pytest.approx(-2 * fit.loglik + 2 * (2 + 4))
    assert fit.theta == tuple(fit.extra["theta"]) and fit.theta_names == ("borough.(Intercept)",)


@pytest.mark.parametrize(
    ("csv", "random", "family"),
    [
        ("sim_cp_counts.csv", "(1|borough) + (1|borough:post)", "poisson"),
        ("sim_cp_counts.csv", "(1 + t|borough)", "poisson"),
        ("sim_cp_binary.csv", "(1|borough) + (1|borough:post)", "binomial"),
        ("sim_cp_counts_nb.csv", "(1|borough) + (0 + t|borough)", "negative_binomial"),
    ],
)
def test_block_laplace_gradient_matches_central_differences(
    csv: str, random: str, family: str
) -> None:
    from analysis.glmm.blocks import BlockLaplace
    from analysis.glmm.design import build_design
    from analysis.glmm.families import make_family
    from analysis.shared.random_effects import build_random_structure

    data = pd.read_csv(DATA / csv)
    structure = build_random_structure(random, data)
    outcome, exposure = ("y", None) if family == "binomial" else ("count", "population")
    design = build_design(data, f"{outcome} ~ arm + post + treat", "borough", exposure=exposure)
    fam = make_family(family, design.y)
    if family == "negative_binomial":
        fam = fam.with_size(20.0)
    dev = BlockLaplace(fam, design.X, design.offset, structure)
    nt = structure.n_theta
    start = -0.5 if family == "binomial" else -6.0
    x = np.r_[np.where(structure.diagonal, 0.2, 0.05), start, 0.1, 0.05, -0.2]
    value, grad = dev.value_and_gradient(x[:nt], x[nt:])
    assert value == pytest.approx(dev(x[:nt], x[nt:]), rel=1e-12)
    numeric = fd_gradient(lambda z: dev(z[:nt], z[nt:]), x, step=1e-5)
    assert np.max(np.abs(grad - numeric) / np.maximum(1.0, np.abs(numeric))) < 1e-5
    assert np.max(np.abs(numeric)) > 1.0


@pytest.mark.parametrize(
    ("csv", "random", "family"),
    [
        ("sim_cp_counts.csv", "(1|borough) + (1|borough:post)", "poisson"),
        ("sim_cp_counts.csv", "(1 + t|borough)", "poisson"),
        ("sim_cp_binary.csv", "(1|borough) + (1|borough:post)", "binomial"),
    ],
)
def test_block_laplace_gradients_at_many_points_match_one_at_a_time(
    csv: str, random: str, family: str
) -> None:
    from analysis.glmm.blocks import BlockLaplace
    from analysis.glmm.design import build_design
    from analysis.glmm.families import make_family
    from analysis.shared.random_effects import build_random_structure

    data = pd.read_csv(DATA / csv)
    structure = build_random_structure(random, data)
    outcome, exposure = ("y", None) if family == "binomial" else ("count", "population")
    design = build_design(data, f"{outcome} ~ arm + post + treat", "borough", exposure=exposure)
    dev = BlockLaplace(make_family(family, design.y), design.X, design.offset, structure)
    nt = structure.n_theta
    start = -0.5 if family == "binomial" else -6.0
    x = np.r_[np.where(structure.diagonal, 0.2, 0.05), start, 0.1, 0.05, -0.2]
    # points far apart: every one's modes are searched from the same start
    points = np.vstack([x, x + 0.3, x - 0.1, np.r_[x[:nt] * 2.0, x[nt:]]])
    together = dev.gradients(points[:, :nt], points[:, nt:])
    for point, grad in zip(points, together):
        _, alone = BlockLaplace(
            make_family(family, design.y), design.X, design.offset, structure
        ).value_and_gradient(point[:nt], point[nt:])
        np.testing.assert_allclose(grad, alone, rtol=1e-7, atol=1e-7)
