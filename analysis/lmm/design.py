"""Design of a linear mixed model: response, fixed and random design, clusters.

Normalises arrays or a formula plus a data frame into one :class:`MixedDesign`, with rows
sorted by cluster so that every later computation works on contiguous per-cluster blocks,
and precomputes the per-cluster cross-products (``Z_g'Z_g``, ``Z_g'X_g``, ``Z_g'y_g``) from
which the profiled likelihood is evaluated without ever forming an n x n matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from analysis.errors import AnalysisError
from analysis.lmm.errors import DesignError
from analysis.lmm.structure import CovarianceStructure, Unstructured
from analysis.shared.design import ModelMatrices, model_matrices
from analysis.shared.random_effects import DesignError as RandomEffectsError
from analysis.shared.random_effects import RandomStructure, build_random_structure
from analysis.shared.random_terms import parse_random, split_formula

__all__ = ["MixedDesign", "design_from_arrays", "design_from_formula"]

FloatArray = NDArray[np.float64]


def _r_name(name: str) -> str:
    """Term names as R prints them, so results read the same as lme4 / lmerTest output."""
    return "(Intercept)" if name == "Intercept" else name


@dataclass(frozen=True, eq=False)
class MixedDesign:
    """Response, designs and clusters of a model with one grouping factor.

    Rows are sorted by cluster (stably); ``starts`` holds the first row of each cluster.

    Parameters
    ----------
    y : ndarray, shape (n,)
    X : ndarray, shape (n, p)
        Fixed-effects design.
    Z : ndarray, shape (n, q)
        Random-effects design of one cluster's block (intercept first, then slopes).
    codes : ndarray of int, shape (n,)
        Cluster index of each row, 0..G-1, non-decreasing.
    starts : ndarray of int, shape (G,)
    fixed_names, random_names : tuple of str
    group_name : str
    group_labels : tuple
        Original cluster labels, in code order.
    covariance : CovarianceStructure
        The map from theta to the relative covariance factor of one cluster block, with
        theta's bounds and lme4's names (:mod:`analysis.lmm.structure`).
    """

    y: FloatArray
    X: FloatArray
    Z: FloatArray
    codes: NDArray[np.intp]
    starts: NDArray[np.intp]
    fixed_names: tuple[str, ...]
    random_names: tuple[str, ...]
    group_name: str
    group_labels: tuple[object, ...]
    covariance: CovarianceStructure

    @property
    def nobs(self) -> int:
        return int(self.y.shape[0])

    @property
    def ngroups(self) -> int:
        return int(self.starts.shape[0])

    @property
    def p(self) -> int:
        return int(self.X.shape[1])

    @property
    def q(self) -> int:
        return int(self.Z.shape[1])

    def _segment_sum(self, values: FloatArray) -> FloatArray:
        return np.add.reduceat(values, self.starts, axis=0)

    @cached_property
    def ztz(self) -> FloatArray:
        """Per-cluster ``Z_g'Z_g``, shape (G, q, q)."""
        prod = self.Z[:, :, None] * self.Z[:, None, :]
        return self._segment_sum(prod)

    @cached_property
    def ztx(self) -> FloatArray:
        """Per-cluster ``Z_g'X_g``, shape (G, q, p)."""
        prod = self.Z[:, :, None] * self.X[:, None, :]
        return self._segment_sum(prod)

    @cached_property
    def zty(self) -> FloatArray:
        """Per-cluster ``Z_g'y_g``, shape (G, q)."""
        return self._segment_sum(self.Z * self.y[:, None])

    @cached_property
    def ztxy(self) -> FloatArray:
        """Per-cluster ``Z_g'[X_g y_g]``, shape (G, q, p + 1)."""
        return np.ascontiguousarray(np.concatenate([self.ztx, self.zty[:, :, None]], axis=2))

    @cached_property
    def xyxy(self) -> FloatArray:
        """``[X y]'[X y]``, shape (p + 1, p + 1)."""
        xy = np.column_stack([self.X, self.y])
        return np.asarray(xy.T @ xy, dtype=np.float64)

    @cached_property
    def lambda_basis(self) -> FloatArray:
        """``dLambda/dtheta_k`` of the cluster block, shape (n_theta, q, q)."""
        return self.covariance.lambda_basis()

    @cached_property
    def xtx(self) -> FloatArray:
        return self.X.T @ self.X

    @cached_property
    def xty(self) -> FloatArray:
        return self.X.T @ self.y

    @cached_property
    def yty(self) -> float:
        return float(self.y @ self.y)


def design_from_arrays(
    y: ArrayLike,
    X: ArrayLike,
    groups: ArrayLike,
    Z: ArrayLike | None = None,
    *,
    fixed_names: Sequence[str] | None = None,
    random_names: Sequence[str] | None = None,
    group_name: str = "group",
    covariance: CovarianceStructure | None = None,
    group_labels: Sequence[object] | None = None,
) -> MixedDesign:
    """Build a :class:`MixedDesign` from arrays (``Z`` defaults to a random intercept).

    ``covariance`` defaults to one unstructured covariance over the columns of ``Z``
    (:class:`~analysis.lmm.structure.Unstructured`).

    Raises
    ------
    DesignError
        On mismatched lengths, missing values, fewer than two clusters or a rank-deficient ``X``.
    """
    y_arr = np.asarray(y, dtype=float).reshape(-1)
    x_arr = np.asarray(X, dtype=float)
    if x_arr.ndim == 1:
        x_arr = x_arr[:, None]
    n = y_arr.shape[0]
    z_arr = np.ones((n, 1)) if Z is None else np.asarray(Z, dtype=float)
    if z_arr.ndim == 1:
        z_arr = z_arr[:, None]
    g_arr = np.asarray(groups)
    if g_arr.ndim != 1 or x_arr.ndim != 2 or z_arr.ndim != 2:
        raise DesignError("y and groups must be one-dimensional, X and Z two-dimensional")
    if not (x_arr.shape[0] == z_arr.shape[0] == g_arr.shape[0] == n):
        raise DesignError(
            f"row counts differ: y {n}, X {x_arr.shape[0]}, Z {z_arr.shape[0]}, groups {g_arr.shape[0]}"
        )
    if not (
        np.all(np.isfinite(y_arr)) and np.all(np.isfinite(x_arr)) and np.all(np.isfinite(z_arr))
    ):
        raise DesignError("y, X and Z must be finite (drop rows with missing values first)")
    if pd.isna(g_arr).any():
        raise DesignError("groups contain missing values")
    p, q = x_arr.shape[1], z_arr.shape[1]
    fnames = tuple(fixed_names) if fixed_names is not None else tuple(f"x{i}" for i in range(p))
    rnames = (
        tuple(random_names)
        if random_names is not None
        else (("(Intercept)",) if Z is None else tuple(f"z{i}" for i in range(q)))
    )
    if len(fnames) != p or len(rnames) != q:
        raise DesignError("number of names does not match the number of columns")
    if np.linalg.matrix_rank(x_arr) < p:
        raise DesignError("the fixed-effects design X is rank deficient")
    codes, labels = pd.factorize(pd.Series(g_arr), sort=True)
    order = np.argsort(codes, kind="stable")
    codes_sorted = np.asarray(codes[order], dtype=np.intp)
    n_groups = len(labels)
    if n_groups < 2:
        raise DesignError("a mixed model needs at least two clusters")
    starts = np.searchsorted(codes_sorted, np.arange(n_groups)).astype(np.intp)
    if n <= p:
        raise DesignError("fewer observations than fixed effects")
    return MixedDesign(
        y=np.ascontiguousarray(y_arr[order]),
        X=np.ascontiguousarray(x_arr[order]),
        Z=np.ascontiguousarray(z_arr[order]),
        codes=codes_sorted,
        starts=starts,
        fixed_names=fnames,
        random_names=rnames,
        group_name=group_name,
        group_labels=tuple(labels.tolist()) if group_labels is None else tuple(group_labels),
        covariance=covariance if covariance is not None else Unstructured(group_name, rnames),
    )


def design_from_formula(
    formula: str,
    data: pd.DataFrame,
    groups: str | None = None,
    re_formula: str | None = None,
    *,
    random: str | Sequence[str] | None = None,
) -> MixedDesign:
    """Build a :class:`MixedDesign` from a patsy formula (R's model-formula syntax).

    Parameters
    ----------
    formula : str
        Fixed part, e.g. ``"Reaction ~ Days"``; it may also carry lme4-style random terms,
        ``"rate ~ arm * post + (1 | borough) + (1 | borough:post)"``.
    data : pandas.DataFrame
    groups : str, optional
        Column holding the cluster of each row (implied by random terms when given).
    re_formula : str, optional
        Random part per cluster with one unstructured covariance, e.g. ``"~ Days"`` for
        ``(1 + Days | g)``; default a random intercept ``(1 | g)``.
    random : str or sequence of str, optional
        lme4-style random terms nested in one grouping factor (see
        :mod:`analysis.shared.random_terms`): ``"(1 | g) + (1 | g:f)"``, ``"(1 + t | g)"``,
        ``"(1 | g) + (0 + t | g)"``. Exclusive with ``re_formula``.

    Rows with a missing value in any used column are dropped.

    Raises
    ------
    DesignError
        For unusable data or formulas, unsupported random terms, and random terms that the
        data cannot identify (e.g. a borough x quarter effect with one row per cell, which
        is the residual under another name); the message names the term.
    """
    fixed, inline = _split(formula)
    if inline is not None:
        if random is not None or re_formula is not None:
            raise DesignError("give random terms either in the formula or as random=, not both")
        random = inline
    if random is not None:
        if re_formula is not None:
            raise DesignError("give either re_formula or random terms, not both")
        return _design_with_terms(fixed, data, groups, random)
    if groups is None:
        raise DesignError("name the grouping column (groups=) or give random terms")
    if groups not in data.columns:
        raise DesignError(f"grouping column {groups!r} not in data")
    mm = _fixed(fixed, data, [groups])
    frame = data.iloc[mm.rows].reset_index(drop=True)
    if re_formula is None:
        z = np.ones((len(frame), 1))
        z_names = ["(Intercept)"]
        keep = np.arange(len(frame))
    else:
        # lazy: loads patsy (start-up time)
        import patsy  # a random part other than lme4-style terms: patsy builds it

        rhs = re_formula if "~" in re_formula else "~ " + re_formula
        try:
            z_df = patsy.dmatrix(rhs, frame, return_type="dataframe", NA_action="drop")
        except patsy.PatsyError as exc:
            raise DesignError(f"cannot build the design: {exc}") from exc
        z, z_names = z_df.to_numpy(), [_r_name(c) for c in z_df.columns]
        keep = np.asarray(z_df.index, dtype=np.intp)
    return design_from_arrays(
        mm.y[keep],
        mm.X[keep],
        frame[groups].to_numpy()[keep],
        z,
        fixed_names=[_r_name(c) for c in mm.names],
        random_names=z_names,
        group_name=groups,
    )


def _fixed(formula: str, data: pd.DataFrame, extra: Sequence[str]) -> ModelMatrices:
    """The fixed part through the shared builder, dropping rows with missing values."""
    try:
        return model_matrices(formula, data, missing="drop", extra_columns=extra)
    except AnalysisError as exc:
        raise DesignError(str(exc)) from exc


def _split(formula: str) -> tuple[str, str | None]:
    """Fixed part and random terms of an lme4-style formula."""
    try:
        return split_formula(formula)
    except RandomEffectsError as exc:
        raise DesignError(str(exc)) from exc


def _design_with_terms(
    fixed: str, data: pd.DataFrame, groups: str | None, random: str | Sequence[str]
) -> MixedDesign:
    try:
        terms = parse_random(random)
    except RandomEffectsError as exc:
        raise DesignError(str(exc)) from exc
    group = terms[0].group
    if groups is not None and groups != group:
        raise DesignError(
            f"random terms are nested in {group!r} but groups={groups!r}; they must agree"
        )
    named = {v for t in terms for v in (t.group, t.nested, t.slope) if v is not None}
    mm = _fixed(fixed, data, [v for v in data.columns if v in named])
    frame = data if len(mm.rows) == len(data) else data.iloc[mm.rows]
    try:
        rs = build_random_structure(random, frame)
        rs.check_not_confounded_with_residual()
    except RandomEffectsError as exc:
        raise DesignError(str(exc)) from exc
    return _from_structure(mm.y, mm.X, [_r_name(c) for c in mm.names], rs)


def _from_structure(
    y: FloatArray, X: FloatArray, fixed_names: Sequence[str], rs: RandomStructure
) -> MixedDesign:
    return design_from_arrays(
        y,
        X,
        rs.codes,
        rs.Z,
        fixed_names=fixed_names,
        random_names=rs.columns,
        group_name=rs.group,
        covariance=rs,
        group_labels=rs.group_labels,
    )
