"""The between-within df rule (analysis.shared.dof) and the numDeriv-style derivatives."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.shared.dof import DegreesOfFreedomError, between_cluster_columns, between_within_df
from analysis.shared.numderiv import richardson_hessian, richardson_jacobian


def _trial_design() -> tuple[np.ndarray, np.ndarray]:
    g = np.repeat(np.arange(7), 12)
    arm = np.isin(g, [1, 4, 5]).astype(float)
    period = np.tile(np.arange(1, 13), 7).astype(float)
    post = (period > 6).astype(float)
    X = np.column_stack([np.ones(g.size), arm, post, period, arm * post])
    return X, g


def test_cluster_level_columns_are_detected() -> None:
    X, g = _trial_design()
    assert between_cluster_columns(X, g).tolist() == [True, True, False, False, False]


def test_between_terms_get_clusters_minus_between_rank() -> None:
    X, g = _trial_design()
    df = between_within_df(X, g)
    assert df[:2].tolist() == [7 - 2, 7 - 2]


def test_within_terms_get_the_rest_of_the_residual_df() -> None:
    X, g = _trial_design()
    df = between_within_df(X, g)
    assert df[2:].tolist() == [84 - 7 - 3] * 3
    assert df[0] + df[2] == 84 - np.linalg.matrix_rank(X)


def test_no_between_df_left_raises() -> None:
    X, g = _trial_design()
    cluster_dummies = (g[:, None] == np.arange(7)).astype(float)
    with pytest.raises(DegreesOfFreedomError):
        between_within_df(np.column_stack([cluster_dummies, X[:, 2]]), g)


def test_richardson_hessian_of_a_quadratic_is_exact() -> None:
    a = np.array([[2.0, 0.5], [0.5, 1.0]])
    hess = richardson_hessian(lambda x: float(x @ a @ x + np.sin(x[0])), np.array([0.3, -1.2]))
    expected = 2 * a - np.diag([np.sin(0.3), 0.0])
    np.testing.assert_allclose(hess, expected, rtol=1e-9, atol=1e-9)


def test_richardson_jacobian_matches_analytic_derivative() -> None:
    jac = richardson_jacobian(lambda x: np.array([x[0] * x[1], np.exp(x[1])]), np.array([2.0, 0.5]))
    np.testing.assert_allclose(jac, [[0.5, 2.0], [0.0, np.exp(0.5)]], rtol=1e-9)
