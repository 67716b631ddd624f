"""Between-within denominator degrees of freedom for models with one clustering factor.

The rule is SAS PROC MIXED's ``DDFM=BETWITHIN`` (SAS/STAT User's Guide, MODEL statement;
Schluchter & Elashoff 1990, J Stat Comput Simul 37:11-24), the rule compared for cluster
randomised trials by Li & Redden (2015, BMC Med Res Methodol 15:38). The residual degrees of
freedom ``N - rank(X)`` are split into a between-cluster part and a within-cluster part:

* a column of ``X`` that is constant within every cluster (the intercept, the arm, any
  cluster-level covariate) is a *between* term and gets ``G - rank(X_between)`` df, where
  ``G`` is the number of clusters and ``X_between`` holds all between columns (intercept
  included);
* a column that varies within at least one cluster (period, a time-varying covariate, an
  arm-by-period interaction) is a *within* term and gets
  ``N - G - (rank(X) - rank(X_between))`` df.

The two parts add up to ``N - rank(X)``. No model quantity enters, so the same numbers serve
a linear mixed model, a GLMM or a GEE with the same design.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from analysis.errors import AnalysisError

__all__ = ["DegreesOfFreedomError", "between_cluster_columns", "between_within_df"]


class DegreesOfFreedomError(AnalysisError, ValueError):
    """The design leaves no degrees of freedom for one of the two parts."""

    code = "degrees-of-freedom"


def between_cluster_columns(
    X: ArrayLike, groups: ArrayLike, *, tol: float = 1e-10
) -> NDArray[np.bool_]:
    """Which columns of ``X`` are constant within every cluster."""
    x = np.asarray(X, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    codes, _ = pd.factorize(np.asarray(groups))
    # rows sorted by cluster, then the range of every column within each run of rows
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    xs = x[order]
    spread = np.maximum.reduceat(xs, starts, axis=0) - np.minimum.reduceat(xs, starts, axis=0)
    scale = np.maximum(np.abs(x).max(axis=0), 1.0)
    return np.asarray((spread <= tol * scale).all(axis=0), dtype=bool)


def between_within_df(X: ArrayLike, groups: ArrayLike) -> NDArray[np.float64]:
    """Degrees of freedom of each column of ``X`` under the between-within rule.

    Parameters
    ----------
    X : array_like, shape (n, p)
        Fixed-effects design (with its intercept column, if any).
    groups : array_like, shape (n,)
        Cluster of each row.

    Returns
    -------
    ndarray, shape (p,)

    Raises
    ------
    DegreesOfFreedomError
        If either part of the split would have no degrees of freedom.
    """
    x = np.asarray(X, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    g = np.asarray(groups)
    n_obs = x.shape[0]
    n_groups = len(pd.unique(g))
    between = between_cluster_columns(x, g)
    rank_all = int(np.linalg.matrix_rank(x))
    rank_between = int(np.linalg.matrix_rank(x[:, between])) if between.any() else 0
    df_between = n_groups - rank_between
    df_within = n_obs - n_groups - (rank_all - rank_between)
    if (between.any() and df_between <= 0) or ((~between).any() and df_within <= 0):
        raise DegreesOfFreedomError(
            f"between-within split leaves no degrees of freedom (between {df_between}, within {df_within})"
        )
    return np.where(between, float(df_between), float(df_within))
