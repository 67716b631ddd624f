"""Covariate-by-covariate constraints in the language of R's cvcrand ``cvrcov``.

Each constraint bounds one covariate's imbalance between the arms, on the covariate's own
(raw, unstandardised) scale, exactly as ``cvrcov`` reads its ``constraints`` argument:

=========  ==========================================================================
``any``    no constraint
``mX``     ``|mean_I - mean_C| <= X``
``mfX``    ``|mean_I - mean_C| <= X * overall mean``
``sX``     ``|sum_I - sum_C| <= X``
``sfX``    ``|sum_I - sum_C| <= X * (overall sum / 2)`` (the mean arm total)
=========  ==========================================================================

``X`` is a decimal number (``mf.5`` is allowed, as in cvcrand's example). The covariate
must be numeric (cvcrand's example codes a two-level category as 0/1 first).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from allocation.errors import DesignError, UnitsError
from protocols.vocabulary import CONSTRAINT_PATTERN

__all__ = ["Constraint", "parse_constraint", "ConstraintColumns", "constraint_columns"]

_PATTERN = re.compile(CONSTRAINT_PATTERN)
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Constraint:
    """One parsed ``cvrcov`` constraint: on means or sums, absolute or a fraction."""

    on: str  # "mean" or "sum"
    fraction: bool
    value: float
    text: str


def parse_constraint(text: str) -> Constraint | None:
    """Parse ``any``, ``mX``, ``mfX``, ``sX`` or ``sfX``; None for ``any``."""
    t = str(text).strip()
    if t == "any":
        return None
    m = _PATTERN.match(t)
    if not m:
        raise DesignError(
            f"constraint {text!r} is not cvrcov's form: 'any', 'mX', 'mfX', 'sX' or 'sfX' "
            "(m = mean difference, s = sum difference, f = fraction of the overall mean or "
            "mean arm total; X a number, e.g. 'mf0.2')"
        )
    return Constraint(
        "mean" if m.group(1) == "m" else "sum", m.group(2) == "f", float(m.group(3)), t
    )


@dataclass(frozen=True)
class ConstraintColumns:
    """The raw values of the constrained covariates and their bounds."""

    names: tuple[str, ...]
    raw: FloatArray  # (n, m)
    bounds: tuple[Constraint, ...]
    n: int
    n_treated: int

    def feasible(self, treated_sums: FloatArray) -> npt.NDArray[np.bool_]:
        """True where every constraint holds, from the treated arm's sums (last axis m)."""
        n, nt = self.n, self.n_treated
        ok = np.ones(treated_sums.shape[:-1], dtype=bool)
        for j, c in enumerate(self.bounds):
            total = math.fsum(self.raw[:, j].tolist())
            s_t = treated_sums[..., j]
            s_c = total - s_t
            if c.on == "mean":
                diff = np.abs(s_t / nt - s_c / (n - nt))
                limit = c.value * (total / n) if c.fraction else c.value
            else:
                diff = np.abs(s_t - s_c)
                limit = c.value * (total / 2) if c.fraction else c.value
            ok &= diff <= limit + 1e-12 * max(1.0, abs(limit))
        return ok


def constraint_columns(
    units: pd.DataFrame, constraints: Mapping[str, str], n_treated: int
) -> ConstraintColumns | None:
    """The constrained covariates of the (sorted) unit table; None when nothing is constrained."""
    names, cols, bounds = [], [], []
    for name, text in constraints.items():
        c = parse_constraint(text)
        if c is None:
            continue
        try:
            values = pd.to_numeric(units[name], errors="raise").astype(float)
        except (ValueError, TypeError):
            raise UnitsError(
                f"covariate {name!r} must be numeric for a cvrcov constraint (code categories as 0/1)"
            ) from None
        if values.isna().any():
            raise UnitsError(f"covariate {name!r} has missing values")
        names.append(name)
        cols.append(values.to_numpy())
        bounds.append(c)
    if not names:
        return None
    return ConstraintColumns(
        tuple(names), np.column_stack(cols), tuple(bounds), len(units), n_treated
    )
