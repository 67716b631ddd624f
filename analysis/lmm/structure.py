"""The covariance of one cluster's random effects as the LMM sees it: theta -> Lambda.

Two kinds of structure give the model what it needs (the relative covariance factor of a
cluster block, theta's bounds and start, the KR derivative matrices and lme4's names):

* :class:`analysis.shared.random_effects.RandomStructure`, built from lme4-style terms
  (``(1 | g) + (1 | g:f)``, ``(1 + t | g)``, ``(1 | g) + (0 + t | g)``, ...);
* :class:`Unstructured`, one term with an unstructured covariance over all columns of an
  arbitrary per-cluster design ``Z`` (``(1 + x1 + x2 | g)``), for the array interface.

:class:`CovarianceStructure` is the protocol both satisfy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from analysis.shared.random_effects import SINGULAR_TOL, VarianceComponent

__all__ = ["CovarianceStructure", "Unstructured"]

FloatArray = NDArray[np.float64]


class CovarianceStructure(Protocol):
    """What the LMM needs from a random-effect structure (see the module docstring)."""

    @property
    def n_theta(self) -> int: ...

    @property
    def lower_bounds(self) -> FloatArray: ...

    @property
    def theta_start(self) -> FloatArray: ...

    @property
    def diagonal(self) -> NDArray[np.bool_]: ...

    @property
    def theta_names(self) -> tuple[str, ...]: ...

    def lambda_block(self, theta: FloatArray) -> FloatArray: ...

    def lambda_basis(self) -> FloatArray: ...

    def covariance_basis(self) -> FloatArray: ...

    def variance_components(
        self, theta: FloatArray, sigma: float | None = None
    ) -> list[VarianceComponent]: ...

    def is_singular(self, theta: FloatArray, tol: float = SINGULAR_TOL) -> bool: ...


class Unstructured:
    """One random-effect term with an unstructured ``q x q`` covariance, lme4's theta order.

    Parameters
    ----------
    group_name : str
        The grouping factor's name (``"g"`` in ``"g.(Intercept)"``).
    coefficients : sequence of str
        Names of the ``q`` random coefficients (columns of ``Z``), intercept first.
    """

    def __init__(self, group_name: str, coefficients: Sequence[str]) -> None:
        self.group_name = group_name
        self.coefficients = tuple(coefficients)
        q = len(self.coefficients)
        rows, cols = np.tril_indices(q)
        order = np.lexsort((rows, cols))  # column-major lower triangle, as lme4 stores theta
        self._rows = rows[order]
        self._cols = cols[order]
        self._diag = self._rows == self._cols
        self.q = q

    @property
    def n_theta(self) -> int:
        return int(self._rows.shape[0])

    @property
    def lower_bounds(self) -> FloatArray:
        return np.where(self._diag, 0.0, -np.inf)

    @property
    def theta_start(self) -> FloatArray:
        return np.where(self._diag, 1.0, 0.0)

    @property
    def diagonal(self) -> NDArray[np.bool_]:
        return np.array(self._diag, dtype=bool)

    @property
    def theta_names(self) -> tuple[str, ...]:
        c = self.coefficients
        return tuple(
            f"{self.group_name}.{c[i]}" if i == j else f"{self.group_name}.{c[i]}.{c[j]}"
            for i, j in zip(self._rows, self._cols)
        )

    def lambda_block(self, theta: FloatArray) -> FloatArray:
        lam = np.zeros((self.q, self.q))
        lam[self._rows, self._cols] = theta
        return lam

    def lambda_basis(self) -> FloatArray:
        basis = np.zeros((self.n_theta, self.q, self.q))
        basis[np.arange(self.n_theta), self._rows, self._cols] = 1.0
        return basis

    def covariance_basis(self) -> FloatArray:
        basis = np.zeros((self.n_theta, self.q, self.q))
        k = np.arange(self.n_theta)
        basis[k, self._rows, self._cols] = 1.0
        basis[k, self._cols, self._rows] = 1.0
        return basis

    def variance_components(
        self, theta: FloatArray, sigma: float | None = None
    ) -> list[VarianceComponent]:
        lam = self.lambda_block(np.asarray(theta, dtype=float))
        cov = (1.0 if sigma is None else sigma) ** 2 * lam @ lam.T
        sd = np.sqrt(np.diag(cov))
        c, g = self.coefficients, self.group_name
        out = [
            VarianceComponent(g, c[i], None, float(cov[i, i]), float(sd[i]), f"{g}.{c[i]}")
            for i in range(self.q)
        ]
        for i, j in zip(self._rows, self._cols):
            if i != j:
                denom = sd[i] * sd[j]
                corr = float(cov[i, j] / denom) if denom > 0 else float("nan")
                out.append(
                    VarianceComponent(g, c[j], c[i], float(cov[i, j]), corr, f"{g}.{c[i]}.{c[j]}")
                )
        if sigma is not None:
            out.append(
                VarianceComponent("Residual", None, None, float(sigma**2), float(sigma), "residual")
            )
        return out

    def is_singular(self, theta: FloatArray, tol: float = SINGULAR_TOL) -> bool:
        return bool(np.any(np.asarray(theta)[self._diag] < tol))
