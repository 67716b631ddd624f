"""One builder of the fixed-effects design for every model family: formula + data -> y, X.

The formula language is patsy's (R's model formulae). Building a design through patsy costs
tens of milliseconds, more than fitting a linear mixed model to a trial of seven boroughs,
and a simulation study builds thousands. So the formulas a trial's analyses use are built
directly with numpy, giving patsy's result exactly (same columns, names, order and rows):

* numeric columns, ``a:b`` products and ``a * b`` (``a + b + a:b``) of numeric columns;
* categorical main effects with treatment coding against the first sorted level, for
  text or boolean columns and ``C(column)``: columns named ``"x[T.level]"``;
* the intercept, or none with ``0 +`` / ``- 1`` absent (any ``-`` goes to patsy).

Any other formula (functions, ``I(...)``, categorical interactions, ``**``, no intercept
with a categorical, pandas categoricals) is handed to patsy unchanged. Tests compare the
two paths on every supported form.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from analysis.errors import DataError, ModelSpecificationError

__all__ = ["ModelMatrices", "model_matrices"]

FloatArray = NDArray[np.float64]
MISSING = ("drop", "raise")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*\Z")
_CATEGORICAL = re.compile(r"C\(\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\)\Z")


@dataclass(frozen=True)
class ModelMatrices:
    """Response, fixed-effects design and the rows of the data they come from.

    ``names`` are patsy's column names (``"Intercept"``, ``"arm:post"``,
    ``"C(period)[T.2]"``); ``rows`` are the positions (0-based) in the data of the rows
    kept (all of them unless rows with missing values were dropped).
    """

    y: FloatArray
    X: FloatArray
    names: tuple[str, ...]
    rows: NDArray[np.intp]


class _Unsupported(Exception):
    """The formula is outside the fast path; patsy builds it."""


class _Columns:
    """The columns of a data frame, each fetched once: under pandas' copy-on-write
    ``data[c]`` builds a new Series at every access, which cost more than the rest of a
    small design."""

    def __init__(self, data: pd.DataFrame) -> None:
        self.frame = data
        self.columns = data.columns
        self._series: dict[str, pd.Series] = {}

    def __getitem__(self, name: str) -> pd.Series:
        col = self._series.get(name)
        if col is None:
            col = self._series[name] = self.frame[name]
        return col

    def __len__(self) -> int:
        return len(self.frame)

    def missing(self, name: str) -> NDArray[np.bool_] | None:
        """Rows where column ``name`` is missing; None when its dtype cannot hold a
        missing value (numpy integers and booleans)."""
        col = self[name]
        if isinstance(col.dtype, np.dtype) and col.dtype.kind in "iub":
            return None
        return np.asarray(col.isna().to_numpy(), dtype=np.bool_)


@dataclass(frozen=True)
class _Factor:
    label: str
    column: str
    categorical: bool


def _factor(token: str, data: _Columns) -> _Factor:
    token = token.strip()
    cat = _CATEGORICAL.match(token)
    column = cat.group(1) if cat else token
    if not _IDENT.match(column) or column not in data.columns:
        raise _Unsupported
    dtype = data[column].dtype
    if isinstance(dtype, pd.CategoricalDtype):
        raise _Unsupported
    numeric = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
    text_like = (
        pd.api.types.is_bool_dtype(dtype)
        or pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
    )
    if cat is None and not numeric and not text_like:
        raise _Unsupported
    return _Factor(token if cat else column, column, bool(cat) or not numeric)


def _parse(formula: str, data: _Columns) -> tuple[str, bool, list[tuple[_Factor, ...]]]:
    lhs, _, rhs = formula.partition("~")
    response = lhs.strip()
    if not _IDENT.match(response) or response not in data.columns:
        raise _Unsupported
    if not pd.api.types.is_numeric_dtype(data[response]) or pd.api.types.is_bool_dtype(
        data[response]
    ):
        raise _Unsupported
    if any(ch in rhs for ch in "-/^%|~") or "**" in rhs:
        raise _Unsupported
    intercept = True
    terms: list[tuple[_Factor, ...]] = []
    for token in (t.strip() for t in rhs.split("+")):
        if token == "1":
            continue
        if token == "0":
            intercept = False
            continue
        if "*" in token:
            parts = token.split("*")
            if len(parts) != 2:
                raise _Unsupported
            a, b = _factor(parts[0], data), _factor(parts[1], data)
            terms += [(a,), (b,), (a, b)]
        else:
            terms.append(tuple(_factor(p, data) for p in token.split(":")))
    unique: list[tuple[_Factor, ...]] = []
    seen: set[frozenset[str]] = set()
    for term in terms:
        key = frozenset(f.label for f in term)
        if len(key) != len(term):
            raise _Unsupported
        if key in seen:  # patsy drops repeated terms ("a + a", "a:b + b:a")
            continue
        seen.add(key)
        unique.append(term)
    if any(f.categorical for t in unique for f in t if len(t) > 1):
        raise _Unsupported
    if not intercept and any(t[0].categorical for t in unique):
        raise _Unsupported
    # patsy's order: terms without numeric factors (the intercept, categorical main
    # effects) first, then the numeric terms, each group in the order written.
    ordered = [t for t in unique if t[0].categorical] + [t for t in unique if not t[0].categorical]
    return response, intercept, ordered


def _readable(level: object) -> str:
    """patsy's rendering of a level in a column name."""
    return level if isinstance(level, str) else repr(level)


def _fast(formula: str, frame: pd.DataFrame, missing: str, extra: Sequence[str]) -> ModelMatrices:
    data = _Columns(frame)
    response, intercept, terms = _parse(formula, data)
    columns = [response] + [f.column for t in terms for f in t]
    extra_present = [c for c in extra if c in data.columns]
    used = list(dict.fromkeys(columns + extra_present))
    # Column by column: selecting a list of columns copies the frame, which costs more
    # than building the design.
    na = {c: m for c in used if (m := data.missing(c)) is not None}
    bad = [c for c in used if c in na and na[c].any()]
    if missing == "raise" and bad:
        raise DataError(f"missing values in column(s) {', '.join(bad)}")
    keep_mask = ~np.logical_or.reduce([na[c] for c in bad]) if bad else None
    # Rows missing an extra column never reach patsy, so their levels do not count.
    bad_extra = [c for c in extra_present if c in bad]
    seen_rows = ~np.logical_or.reduce([na[c] for c in bad_extra]) if bad_extra else None
    rows = (
        np.arange(len(data), dtype=np.intp)
        if keep_mask is None
        else np.flatnonzero(keep_mask).astype(np.intp)
    )
    n = rows.shape[0]
    take = keep_mask is not None
    cols: list[FloatArray] = []
    names: list[str] = []
    if intercept:
        cols.append(np.ones(n))
        names.append("Intercept")
    for term in terms:
        if term[0].categorical:
            f = term[0]
            full = data[f.column]
            seen = full if seen_rows is None else full[seen_rows]
            try:
                levels = sorted(set(seen.dropna().tolist()))
            except TypeError:
                raise _Unsupported from None
            values = full.to_numpy()[rows] if take else full.to_numpy()
            for level in levels[1:]:
                cols.append((values == level).astype(np.float64))
                names.append(f"{f.label}[T.{_readable(level)}]")
            continue
        prod = data[term[0].column].to_numpy(dtype=np.float64)
        for f in term[1:]:
            prod = prod * data[f.column].to_numpy(dtype=np.float64)
        cols.append(prod[rows] if take else prod)
        names.append(":".join(f.label for f in term))
    X = np.column_stack(cols) if cols else np.empty((n, 0))
    y = data[response].to_numpy(dtype=np.float64)
    y = y[rows] if take else y.copy()
    return ModelMatrices(y, np.ascontiguousarray(X, dtype=np.float64), tuple(names), rows)


def _with_patsy(
    formula: str, data: pd.DataFrame, missing: str, extra: Sequence[str]
) -> ModelMatrices:
    # lazy: loads patsy (start-up time)
    import patsy  # imported lazily: most designs never need it

    frame = data.reset_index(drop=True)
    extra_present = [c for c in extra if c in frame.columns]
    if extra_present:
        na = frame[extra_present].isna().any(axis=1).to_numpy()
        if na.any():
            if missing == "raise":
                bad = [c for c in extra_present if frame[c].isna().any()]
                raise DataError(f"missing values in column(s) {', '.join(bad)}")
            frame = frame.loc[~na]
    try:
        y_df, x_df = patsy.dmatrices(
            formula,
            frame,
            return_type="dataframe",
            NA_action="raise" if missing == "raise" else "drop",
        )
    except patsy.PatsyError as exc:
        raise DataError(f"cannot build the design from {formula!r}: {exc}") from exc
    if y_df.shape[1] != 1:
        raise ModelSpecificationError("the outcome must be a single numeric column")
    index = y_df.index.intersection(x_df.index)
    return ModelMatrices(
        y=y_df.loc[index].to_numpy(dtype=np.float64)[:, 0],
        X=np.ascontiguousarray(x_df.loc[index].to_numpy(dtype=np.float64)),
        names=tuple(str(c) for c in x_df.columns),
        rows=np.asarray(index, dtype=np.intp),
    )


def model_matrices(
    formula: str,
    data: pd.DataFrame,
    *,
    missing: str = "drop",
    extra_columns: Sequence[str] = (),
) -> ModelMatrices:
    """Evaluate ``formula`` on ``data``: response, fixed-effects design, rows used.

    Parameters
    ----------
    formula : str
        ``"outcome ~ terms"`` in patsy's syntax.
    data : pandas.DataFrame
    missing : {"drop", "raise"}
        Drop rows with a missing value in a used column (LMM, as lme4's ``na.omit``), or
        refuse them (GLMM, GEE: a prespecified analysis says how it handles them first).
    extra_columns : sequence of str
        Further columns whose missing values count too (cluster, random-effect variables).

    Raises
    ------
    DataError
        When the design cannot be built, or (``missing="raise"``) on missing values.
    ModelSpecificationError
        For a formula without ``~`` or with more than one response column.
    """
    if missing not in MISSING:
        raise ModelSpecificationError(f"missing must be 'drop' or 'raise', not {missing!r}")
    if "~" not in formula:
        raise ModelSpecificationError(f"formula {formula!r} has no '~'")
    try:
        return _fast(formula, data, missing, extra_columns)
    except _Unsupported:
        return _with_patsy(formula, data, missing, extra_columns)
