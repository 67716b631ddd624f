"""The shared finite-difference module: accuracy, and the GLMM's derivatives as special cases."""

from __future__ import annotations

import numpy as np

from analysis.glmm.optimise import fd_gradient, fd_hessian
from analysis.shared.numderiv import central_gradient, central_hessian, relative_steps


def _f(x: np.ndarray) -> float:
    return float(np.exp(0.3 * x[0]) * x[1] ** 2 + np.sin(x[1] * x[2]) + x[0] * x[2] ** 3)


def _grad(x: np.ndarray) -> np.ndarray:
    a, b, c = x
    return np.array(
        [
            0.3 * np.exp(0.3 * a) * b**2 + c**3,
            2 * np.exp(0.3 * a) * b + c * np.cos(b * c),
            b * np.cos(b * c) + 3 * a * c**2,
        ]
    )


def _hess(x: np.ndarray) -> np.ndarray:
    a, b, c = x
    e = np.exp(0.3 * a)
    return np.array(
        [
            [0.09 * e * b**2, 0.6 * e * b, 3 * c**2],
            [0.6 * e * b, 2 * e - c**2 * np.sin(b * c), np.cos(b * c) - b * c * np.sin(b * c)],
            [3 * c**2, np.cos(b * c) - b * c * np.sin(b * c), -(b**2) * np.sin(b * c) + 6 * a * c],
        ]
    )


X0 = np.array([0.4, -1.3, 0.7])


def test_central_differences_are_accurate() -> None:
    g = central_gradient(_f, X0, relative_steps(X0, 1e-6))
    np.testing.assert_allclose(g, _grad(X0), rtol=1e-7, atol=1e-8)
    h = central_hessian(_f, X0, relative_steps(X0, 1e-4))
    np.testing.assert_allclose(h, _hess(X0), rtol=1e-5, atol=1e-6)


def test_glmm_derivatives_are_the_shared_ones_with_their_steps() -> None:
    """``analysis.glmm.optimise`` can switch to the shared module without changing a bit."""
    x = np.array([2.5, -0.01, 40.0])
    np.testing.assert_array_equal(
        fd_gradient(_f, x), central_gradient(_f, x, relative_steps(x, 1e-6, floor=1.0))
    )
    np.testing.assert_array_equal(fd_hessian(_f, x), central_hessian(_f, x, np.full(3, 1e-4)))
    np.testing.assert_array_equal(
        fd_hessian(_f, x, delta=1e-5), central_hessian(_f, x, np.full(3, 1e-5))
    )
