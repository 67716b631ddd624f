"""Between-within denominator degrees of freedom for cluster-level inference.

Rule (Schluchter & Elashoff 1990; SAS PROC MIXED/GLIMMIX ``DDFM=BW``; recommended for
GLMMs in small cluster randomised trials by Li & Redden 2015, Stat Med 34:281-296):

* a fixed-effect column that is constant within every cluster (the intercept, the arm,
  any cluster-level covariate) is a *between-cluster* term and gets
  ``df = G - p_between``, where ``G`` is the number of clusters and ``p_between`` the
  number of between-cluster columns (intercept included);
* a column that varies within at least one cluster is a *within-cluster* term and gets
  ``df = N - G - p_within``, with ``N`` observations and ``p_within`` within-cluster
  columns (the residual degrees of freedom of a model with cluster fixed effects).

With seven boroughs and an intercept plus arm, the arm effect is referred to t with 5 df.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["between_within_df", "varies_within_cluster"]


def varies_within_cluster(X: NDArray[np.float64], group: NDArray[np.intp]) -> NDArray[np.bool_]:
    """For each column of ``X``, whether it takes two different values in some cluster."""
    ngroups = int(group.max()) + 1
    out = np.zeros(X.shape[1], dtype=bool)
    for j in range(X.shape[1]):
        col = X[:, j]
        lo = np.full(ngroups, np.inf)
        hi = np.full(ngroups, -np.inf)
        np.minimum.at(lo, group, col)
        np.maximum.at(hi, group, col)
        out[j] = bool(np.any(hi - lo > 1e-12 * (1.0 + np.abs(hi))))
    return out


def between_within_df(X: NDArray[np.float64], group: NDArray[np.intp]) -> NDArray[np.float64]:
    """Degrees of freedom of each column of ``X`` by the between-within rule.

    Returns an array of length ``X.shape[1]``; values below 1 are clipped to 1 so that a
    saturated cluster-level model still yields a (very wide) t reference.
    """
    n = X.shape[0]
    ngroups = int(group.max()) + 1
    within = varies_within_cluster(X, group)
    p_between = int(np.linalg.matrix_rank(X[:, ~within])) if np.any(~within) else 0
    p_within = int(np.sum(within))
    df = np.where(within, n - ngroups - p_within, ngroups - p_between).astype(np.float64)
    return np.maximum(df, 1.0)
