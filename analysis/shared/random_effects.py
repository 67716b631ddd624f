"""Random-effect structures nested within one grouping factor, shared by the LMM and GLMMs.

Every supported structure (see :mod:`analysis.shared.random_terms`) has random effects that
are independent between clusters, so the random-effects design is block diagonal: cluster
``g`` contributes ``Z_g b_g`` with one block ``b_g`` of ``q`` coefficients, the same columns
for every cluster. :func:`build_random_structure` returns that per-cluster design (``Z``, one
row per observation, in block coordinates) with the cluster codes, and the map from lme4's
``theta`` to the block's relative covariance factor ``Lambda`` (lower triangular, ``q x q``):

* a scalar term (``(1 | g)``, ``(0 + t | g)``) contributes ``theta_k``;
* ``(1 + t | g)`` contributes a 2 x 2 lower-triangular Cholesky factor, filled column by
  column from three thetas as lme4 does;
* ``(1 | g:f)`` contributes ``theta_k I`` over one indicator column per level of ``f``.

The block covariance of the random effects is ``sigma^2 Lambda Lambda'`` (``sigma = 1`` for
families without a scale). Terms are ordered as lme4 orders them (stably, by decreasing
number of levels of their grouping factor, so ``g:f`` terms come first), which fixes the
order and names of theta and of the variance components (``as.data.frame(VarCorr(fit))``).

Columns of a nested term for levels of ``f`` that a cluster does not have are all zero in
that cluster: they add nothing to the likelihood (their factor of ``I + Lambda' Z'Z Lambda``
is the identity), and :attr:`RandomStructure.present` marks which columns are real random
effects of each cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from analysis.shared.random_terms import DesignError, RandomTerm, parse_random

__all__ = [
    "DesignError",
    "RandomStructure",
    "RandomTerm",
    "VarianceComponent",
    "build_random_structure",
    "parse_random",
]

FloatArray = NDArray[np.float64]
SINGULAR_TOL = 1e-4  # lme4::isSingular's default tolerance


@dataclass(frozen=True)
class VarianceComponent:
    """One row of lme4's ``as.data.frame(VarCorr(fit))``.

    ``var2`` is ``None`` for a variance (``sdcor`` is then the SD) and names the second
    coefficient for a covariance (``sdcor`` is then the correlation). The residual row has
    ``group == "Residual"`` and ``var1 is None``. ``name`` is the key results use, in
    lme4's theta naming: ``"g.(Intercept)"``, ``"g.t.(Intercept)"`` (a covariance),
    ``"g:f.(Intercept)"``, ``"residual"``.
    """

    group: str
    var1: str | None
    var2: str | None
    vcov: float
    sdcor: float
    name: str


@dataclass(frozen=True, eq=False)
class RandomStructure:
    """Per-cluster random-effects design and the theta -> Lambda map of one structure.

    Attributes
    ----------
    terms : tuple of RandomTerm
        In lme4's order (decreasing number of grouping levels, stable).
    Z : ndarray, shape (n, q)
        Each row's random-effects design in its cluster's block coordinates, rows in the
        order of the data frame given.
    codes : ndarray of int, shape (n,)
        Cluster index of each row, ``0 .. G-1`` in sorted label order.
    group_labels : tuple
        Cluster labels, in code order.
    columns : tuple of str
        Names of the block's columns: ``"(Intercept)"``, ``"t"``, ``"f[level]"``.
    term_columns : tuple of slice
        The block columns of each term.
    levels : tuple of tuple
        Levels of ``f`` for each nested term (empty for the other terms).
    n_levels : tuple of int
        Number of levels of each term's grouping factor (clusters, or observed ``g:f`` cells).
    present : ndarray of bool, shape (G, q)
        Whether block column j is a random effect of cluster g (a nested level it has).
    """

    terms: tuple[RandomTerm, ...]
    Z: FloatArray
    codes: NDArray[np.intp]
    group_labels: tuple[object, ...]
    columns: tuple[str, ...]
    term_columns: tuple[slice, ...]
    levels: tuple[tuple[object, ...], ...]
    n_levels: tuple[int, ...]
    present: NDArray[np.bool_]
    _rows: NDArray[np.intp] = field(repr=False)
    _cols: NDArray[np.intp] = field(repr=False)
    _index: NDArray[np.intp] = field(repr=False)
    _diag: NDArray[np.bool_] = field(repr=False)

    @property
    def group(self) -> str:
        return self.terms[0].group

    @property
    def q(self) -> int:
        """Columns per cluster block."""
        return int(self.Z.shape[1])

    @property
    def n_theta(self) -> int:
        return int(self._diag.shape[0])

    @property
    def ngroups(self) -> int:
        return len(self.group_labels)

    @property
    def variables(self) -> tuple[str, ...]:
        """Data columns the structure uses (grouping factor, nested factors, slopes)."""
        return _variables(self.terms)

    @property
    def theta_names(self) -> tuple[str, ...]:
        """lme4's ``names(getME(fit, "theta"))``: ``"g.(Intercept)"``, ``"g.t.(Intercept)"``, ..."""
        names: list[str] = []
        for term in self.terms:
            coefs = term.coefficients
            for j in range(len(coefs)):
                for i in range(j, len(coefs)):
                    label = coefs[i] if i == j else f"{coefs[i]}.{coefs[j]}"
                    names.append(f"{term.grouping}.{label}")
        return tuple(names)

    @property
    def lower_bounds(self) -> FloatArray:
        """0 for diagonal entries of Lambda, ``-inf`` for off-diagonal ones (lme4's bounds)."""
        return np.where(self._diag, 0.0, -np.inf)

    @property
    def theta_start(self) -> FloatArray:
        """lme4's starting theta: 1 on the diagonal, 0 off it."""
        return np.where(self._diag, 1.0, 0.0)

    @property
    def diagonal(self) -> NDArray[np.bool_]:
        """Which thetas are diagonal entries of Lambda (variances, bounded below by 0)."""
        return self._diag.copy()

    def lambda_block(self, theta: FloatArray) -> FloatArray:
        """The relative covariance factor of one cluster block, ``q x q`` lower triangular."""
        theta = np.asarray(theta, dtype=np.float64)
        if theta.shape != (self.n_theta,):
            raise ValueError(f"theta must have {self.n_theta} entries, got shape {theta.shape}")
        lam = np.zeros((self.q, self.q))
        lam[self._rows, self._cols] = theta[self._index]
        return lam

    def lambda_basis(self) -> FloatArray:
        """``dLambda / dtheta_k`` (Lambda is linear in theta), shape ``(n_theta, q, q)``."""
        basis = np.zeros((self.n_theta, self.q, self.q))
        basis[self._index, self._rows, self._cols] = 1.0
        return basis

    def covariance_basis(self) -> FloatArray:
        """``dD / dgamma_k`` for the block covariance ``D``, shape ``(n_theta, q, q)``.

        ``gamma`` are the variances and covariances of the terms in theta's order (for a
        2 x 2 term: variance of the intercept, covariance, variance of the slope), the
        parameterisation pbkrtest's Kenward-Roger adjustment uses; a nested term's variance
        multiplies the identity over its level columns.
        """
        basis = np.zeros((self.n_theta, self.q, self.q))
        k = 0
        for term, cols in zip(self.terms, self.term_columns):
            width = cols.stop - cols.start
            if term.nested is not None:
                basis[k, cols, cols] = np.eye(width)
                k += 1
                continue
            for j in range(width):
                for i in range(j, width):
                    basis[k, cols.start + i, cols.start + j] = 1.0
                    basis[k, cols.start + j, cols.start + i] = 1.0
                    k += 1
        return basis

    def covariance_block(self, theta: FloatArray, sigma: float = 1.0) -> FloatArray:
        """Covariance of one cluster's random effects, ``sigma^2 Lambda Lambda'``."""
        lam = self.lambda_block(theta)
        return np.asarray(sigma**2 * lam @ lam.T, dtype=np.float64)

    def is_singular(self, theta: FloatArray, tol: float = SINGULAR_TOL) -> bool:
        """lme4's ``isSingular``: a diagonal entry of Lambda below ``tol``."""
        return bool(np.any(np.asarray(theta)[self._diag] < tol))

    def variance_components(
        self, theta: FloatArray, sigma: float | None = None
    ) -> list[VarianceComponent]:
        """Variances, SDs, covariances and correlations as ``as.data.frame(VarCorr(fit))``.

        ``sigma`` is the residual SD of a Gaussian model (a ``"Residual"`` row is added);
        leave it ``None`` for families without a scale (``sigma = 1``, no residual row).
        Within a term variances come first, then covariances; duplicate grouping names
        get lme4's ``make.unique`` suffix (``"g"``, ``"g.1"``).
        """
        cov = self.covariance_block(theta, 1.0 if sigma is None else sigma)
        out: list[VarianceComponent] = []
        seen: dict[str, int] = {}
        for term, cols in zip(self.terms, self.term_columns):
            name = term.grouping
            count = seen.get(name, 0)
            seen[name] = count + 1
            label = name if count == 0 else f"{name}.{count}"
            coefs = term.coefficients
            block = cov[cols.start : cols.start + len(coefs), cols.start : cols.start + len(coefs)]
            sds = np.sqrt(np.diag(block))
            for i, c in enumerate(coefs):
                out.append(
                    VarianceComponent(
                        label, c, None, float(block[i, i]), float(sds[i]), f"{name}.{c}"
                    )
                )
            for j in range(len(coefs)):
                for i in range(j + 1, len(coefs)):
                    denom = sds[i] * sds[j]
                    corr = float(block[i, j] / denom) if denom > 0 else float("nan")
                    key = f"{name}.{coefs[i]}.{coefs[j]}"
                    out.append(
                        VarianceComponent(label, coefs[j], coefs[i], float(block[i, j]), corr, key)
                    )
        if sigma is not None:
            out.append(
                VarianceComponent("Residual", None, None, float(sigma**2), float(sigma), "residual")
            )
        return out

    def check_not_confounded_with_residual(self) -> None:
        """Refuse a term with as many levels as observations in a model with a residual.

        In a Gaussian model such a term (e.g. borough x quarter with one row per cell) is
        the residual under another name: lme4 stops with "number of levels of each grouping
        factor must be < number of observations". GLMMs without a scale may use it (an
        observation-level random effect).
        """
        n = self.Z.shape[0]
        for term, nlev in zip(self.terms, self.n_levels):
            if nlev >= n:
                raise DesignError(
                    f"random-effect term {term.text} cannot be identified: its {nlev} levels "
                    f"leave one observation each ({n} rows), so its variance is confounded "
                    "with the residual variance; drop the term or use a model without a "
                    "residual (e.g. a count GLMM)"
                )


def _variables(terms: Sequence[RandomTerm]) -> tuple[str, ...]:
    names: list[str] = []
    for t in terms:
        for v in (t.group, t.nested, t.slope):
            if v is not None and v not in names:
                names.append(v)
    return tuple(names)


def _column(data: pd.DataFrame, name: str, term: RandomTerm) -> pd.Series:
    if name not in data.columns:
        raise DesignError(f"random-effect term {term.text}: column {name!r} is not in the data")
    col = data[name]
    if col.isna().any():
        raise DesignError(
            f"random-effect term {term.text}: column {name!r} has missing values "
            "(drop those rows first)"
        )
    return col


def _slope_values(data: pd.DataFrame, term: RandomTerm) -> FloatArray:
    assert term.slope is not None
    col = _column(data, term.slope, term)
    if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
        raise DesignError(
            f"random-effect term {term.text}: slope column {term.slope!r} must be numeric"
        )
    values: FloatArray = np.asarray(col.to_numpy(dtype=np.float64), dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise DesignError(f"random-effect term {term.text}: {term.slope!r} has non-finite values")
    return values


def build_random_structure(spec: str | Sequence[str], data: pd.DataFrame) -> RandomStructure:
    """Parse ``spec`` and build the per-cluster random-effects design from ``data``.

    Raises
    ------
    DesignError
        For an unsupported or repeated term, a missing column or missing values, fewer than
        two clusters, a slope that does not vary within any cluster, or a nested factor
        with one level per cluster alongside the cluster's intercept (the two effects
        cannot be told apart); the message names the term.
    """
    terms = parse_random(spec)
    group_col = _column(data, terms[0].group, terms[0])
    codes_raw, labels = pd.factorize(group_col, sort=True)
    codes = np.asarray(codes_raw, dtype=np.intp)
    n_groups = len(labels)
    if n_groups < 2:
        raise DesignError(
            f"random-effect term {terms[0].text}: {terms[0].group!r} has {n_groups} level(s); "
            "a mixed model needs at least two clusters"
        )
    has_intercept = any(t.intercept and t.nested is None for t in terms)
    pieces: list[tuple[RandomTerm, FloatArray, tuple[str, ...], tuple[object, ...], int]] = []
    for term in terms:
        if term.nested is not None:
            f_codes, f_levels = pd.factorize(_column(data, term.nested, term), sort=True)
            ind = np.zeros((len(codes), len(f_levels)))
            ind[np.arange(len(codes)), f_codes] = 1.0
            nlev = len(np.unique(codes * len(f_levels) + f_codes))
            if has_intercept and nlev == n_groups:
                raise DesignError(
                    f"random-effect term {term.text} cannot be identified: each {term.group!r} "
                    f"has a single level of {term.nested!r}, so it duplicates the random "
                    f"intercept of {term.group!r}; drop one of the two terms"
                )
            names = tuple(f"{term.nested}[{lv}]" for lv in f_levels)
            pieces.append((term, ind, names, tuple(f_levels.tolist()), nlev))
            continue
        cols: list[FloatArray] = []
        if term.intercept:
            cols.append(np.ones(len(codes)))
        if term.slope is not None:
            t = _slope_values(data, term)
            if not np.any(_within_range(t, codes, n_groups) > 0):
                raise DesignError(
                    f"random-effect term {term.text} cannot be identified: {term.slope!r} "
                    f"does not vary within any {term.group!r}"
                )
            cols.append(t)
        pieces.append((term, np.column_stack(cols), term.coefficients, (), n_groups))
    # lme4 orders terms by decreasing number of levels of the grouping factor (stable).
    order = sorted(range(len(pieces)), key=lambda k: -pieces[k][4])
    pieces = [pieces[k] for k in order]
    z = np.ascontiguousarray(np.column_stack([p[1] for p in pieces]), dtype=np.float64)
    slices: list[slice] = []
    rows: list[int] = []
    colidx: list[int] = []
    index: list[int] = []
    diag: list[bool] = []
    start = k = 0
    for term, block, _, _, _ in pieces:
        width = block.shape[1]
        slices.append(slice(start, start + width))
        if term.nested is not None:
            rows += range(start, start + width)
            colidx += range(start, start + width)
            index += [k] * width
            diag.append(True)
            k += 1
        else:
            for j in range(width):
                for i in range(j, width):
                    rows.append(start + i)
                    colidx.append(start + j)
                    index.append(k)
                    diag.append(i == j)
                    k += 1
        start += width
    present = np.ones((n_groups, z.shape[1]), dtype=bool)
    for (term, block, _, _, _), sl in zip(pieces, slices):
        if term.nested is not None:
            counts = np.zeros((n_groups, block.shape[1]))
            np.add.at(counts, codes, block)
            present[:, sl] = counts > 0
    return RandomStructure(
        terms=tuple(p[0] for p in pieces),
        Z=z,
        codes=codes,
        group_labels=tuple(labels.tolist()),
        columns=tuple(name for p in pieces for name in p[2]),
        term_columns=tuple(slices),
        levels=tuple(p[3] for p in pieces),
        n_levels=tuple(p[4] for p in pieces),
        present=present,
        _rows=np.asarray(rows, dtype=np.intp),
        _cols=np.asarray(colidx, dtype=np.intp),
        _index=np.asarray(index, dtype=np.intp),
        _diag=np.asarray(diag, dtype=bool),
    )


def _within_range(values: FloatArray, codes: NDArray[np.intp], n_groups: int) -> FloatArray:
    """Range (max - min) of ``values`` within each cluster."""
    hi = np.full(n_groups, -np.inf)
    lo = np.full(n_groups, np.inf)
    np.maximum.at(hi, codes, values)
    np.minimum.at(lo, codes, values)
    return np.asarray(hi - lo, dtype=np.float64)
