"""Turn a data frame and a formula into the arrays a model fit needs.

Shared by the GLMM, GEE, cluster-level and randomisation modules: the fixed-effects design
comes from a patsy formula (built by :mod:`analysis.shared.design`, as for the LMM) (``"count ~ arm + post + treat"``), the cluster codes from one
column, and the offset from an ``offset`` column (linear-predictor scale) and/or an
``exposure`` column (whose log is added). Missing values are refused, not dropped: a
prespecified analysis must say how it handles them before it is run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from analysis.errors import DataError, ModelSpecificationError
from analysis.shared.design import model_matrices

__all__ = ["Design", "build_design"]


@dataclass(frozen=True)
class Design:
    """Outcome, fixed-effects design, offset and cluster codes of one analysis."""

    y: NDArray[np.float64]
    X: NDArray[np.float64]
    names: tuple[str, ...]
    offset: NDArray[np.float64]
    group: NDArray[np.intp]
    group_labels: tuple[str, ...]

    @property
    def nobs(self) -> int:
        return int(self.X.shape[0])

    @property
    def ngroups(self) -> int:
        return len(self.group_labels)


def _column(data: pd.DataFrame, name: str) -> pd.Series:
    if name not in data.columns:
        raise DataError(f"column {name!r} is not in the data")
    col = data[name]
    if col.isna().any():
        raise DataError(f"column {name!r} has missing values")
    return col


def build_design(
    data: pd.DataFrame,
    formula: str,
    group: str,
    *,
    offset: str | None = None,
    exposure: str | None = None,
) -> Design:
    """Evaluate ``formula`` on ``data`` and collect cluster codes and offset.

    Cluster codes follow the sorted cluster labels, so the result does not depend on the
    row order of ``data``.
    """
    if "~" not in formula:
        raise ModelSpecificationError(f"formula {formula!r} has no '~'")
    mm = model_matrices(formula, data, missing="raise", extra_columns=[group])
    codes, uniq = _cluster_codes(_column(data, group))
    off = np.zeros(len(data))
    if offset is not None:
        off = off + _column(data, offset).to_numpy(dtype=np.float64)
    if exposure is not None:
        expo = _column(data, exposure).to_numpy(dtype=np.float64)
        if np.any(expo <= 0):
            raise DataError(f"exposure {exposure!r} must be positive")
        off = off + np.log(expo)
    return Design(
        y=mm.y,
        X=mm.X,
        names=mm.names,
        offset=off,
        group=codes,
        group_labels=uniq,
    )


def _cluster_codes(col: pd.Series) -> tuple[NDArray[np.intp], tuple[str, ...]]:
    """Codes ``0 .. G-1`` following the sorted (as text) cluster labels, and the labels.

    ``pd.factorize`` codes the distinct values in one pass; only the few distinct labels
    are then converted to text and sorted (converting every row of a column of strings
    cost more than the rest of a small fit's design).
    """
    raw, uniques = pd.factorize(col)
    labels = [str(u) for u in uniques]
    if len(set(labels)) != len(labels):  # distinct values with the same text: merge them
        text = col.astype(str)
        merged = sorted(text.unique())
        return pd.Categorical(text, categories=merged).codes.astype(np.intp), tuple(merged)
    order = sorted(range(len(labels)), key=labels.__getitem__)
    rank = np.empty(len(order), dtype=np.intp)
    rank[order] = np.arange(len(order), dtype=np.intp)
    return rank[raw], tuple(labels[i] for i in order)
