"""Balance scores of allocation schemes, as cvcrand's ``cvrall`` defines them, computed exactly.

cvcrand scores a scheme ``s`` (1 = intervention) by ``sum_k (w_k * sum_i s_i z_ik)^2``
(``"l2"``) or ``sum_k |w_k * sum_i s_i z_ik|`` (``"l1"``), where ``z_ik`` is covariate ``k``
of cluster ``i`` centred on its mean and divided by its sample standard deviation, and
categorical covariates enter as ``model.matrix`` dummies without the first level.

Scores decide which schemes are admissible, so they must be identical on every machine,
and a scheme and its complement (which cvcrand's formula scores equally) must tie
exactly. Floating-point sums in BLAS order guarantee neither. So each ``z_ik`` is rounded
once to a fixed-point integer ``v_ik = round(z_ik * 2**F)``, arm sums are exact integers,
``D_k = n * sum_{i in I} v_ik - n_I * sum_i v_ik`` is exact (and exactly negated by
complementing), and the score is evaluated from ``D_k / (n * 2**F)`` with elementwise IEEE
operations in a fixed covariate order. ``F`` (at most 32) is chosen so every ``|D_k| < 2**53``;
the rounding changes scores by about ``1e-9`` relative, far below anything that matters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from allocation.design import AllocationDesign
from allocation.errors import DesignError, UnitsError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["BalanceColumns", "balance_columns", "prepare_units"]

FloatArray = npt.NDArray[np.float64]


def prepare_units(units: pd.DataFrame, design: AllocationDesign) -> pd.DataFrame:
    """Check the unit table and return it sorted by unit id (as strings).

    The index holds the unit ids. Sorting makes results independent of row order.
    """
    # lazy: loads pandas, numpy (start-up time)
    import pandas as pd

    if not isinstance(units, pd.DataFrame):
        raise UnitsError("units must be a pandas DataFrame indexed by unit id")
    ids = [str(i) for i in units.index]
    if len(set(ids)) != len(ids):
        raise UnitsError("unit ids must be unique")
    if any(not i for i in ids):
        raise UnitsError("unit ids must be non-empty")
    needed = list(design.covariates) + ([design.strata] if design.strata else [])
    missing = [c for c in needed if c not in units.columns]
    if missing:
        raise UnitsError(f"unit table lacks columns: {missing}")
    out = units.copy()
    out.index = pd.Index(ids, name=units.index.name)
    out = out.sort_index(kind="stable")
    for col in needed:
        if out[col].isna().any():
            bad = sorted(out.index[out[col].isna()].tolist())
            raise UnitsError(f"column {col!r} has missing values for units {bad}")
    n = len(out)
    if n < 2:
        raise UnitsError("at least two units are needed")
    if design.n_treated >= n:
        raise DesignError(f"n_treated ({design.n_treated}) must be smaller than the {n} units")
    return out


def _levels(series: pd.Series[Any]) -> list[Any]:
    """Levels in R's factor order: categorical dtype order, else numeric or code-point sort."""
    # lazy: loads pandas, numpy (start-up time)
    import pandas as pd

    if isinstance(series.dtype, pd.CategoricalDtype):
        present = set(series.tolist())
        return [c for c in series.cat.categories.tolist() if c in present]
    values = list(dict.fromkeys(series.tolist()))
    if all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
        for v in values
    ):
        return sorted(values, key=float)
    return sorted(values, key=str)


@dataclass(frozen=True)
class BalanceColumns:
    """The expanded, standardised covariate columns in exact fixed-point form.

    Attributes
    ----------
    names : tuple of str
        Column labels: a covariate name, or ``"name[level]"`` for a dummy.
    sources : tuple of str
        The design covariate each column comes from.
    weights : ndarray
        Weight of each column.
    fixed : ndarray
        ``(n, K)`` float64 holding integers ``round(z * 2**frac_bits)``.
    sd : ndarray
        Sample standard deviation of each raw column.
    mean : ndarray
        Mean of each raw column (correctly rounded sum divided by ``n``).
    mass : int
        ``M = max(1, ceil(max_k sum_i |z_ik|))``, which fixes ``frac_bits``.
    scale : ndarray
        Divisor used for each column (``sd`` when standardising, else 1).
    frac_bits : int
        Fixed-point fraction bits ``F``.
    """

    names: tuple[str, ...]
    sources: tuple[str, ...]
    weights: FloatArray
    fixed: FloatArray
    sd: FloatArray
    scale: FloatArray
    frac_bits: int
    metric: str
    n: int
    n_treated: int
    mean: FloatArray
    mass: int

    @property
    def k(self) -> int:
        """Number of expanded columns."""
        return len(self.names)

    def contrasts(self, sums: FloatArray) -> FloatArray:
        """Exact ``D = n * sums - n_I * total`` for treated-arm sums of ``fixed`` (last axis K)."""
        total = self.fixed.sum(axis=0)  # exact: integers below 2**53
        out: FloatArray = np.empty_like(sums)  # keeps the caller's memory layout
        np.multiply(sums, float(self.n), out=out)
        out -= self.n_treated * total
        return out

    def _unit(self) -> float:
        return float(self.n) * math.ldexp(1.0, self.frac_bits)

    def scores(self, contrasts: FloatArray) -> FloatArray:
        """Balance scores from contrasts (last axis K), summed in column order."""
        out = np.zeros(contrasts.shape[:-1], dtype=np.float64)
        unit = self._unit()
        for c in range(self.k):
            term = contrasts[..., c] / unit * self.weights[c]
            out = out + (term * term if self.metric == "l2" else np.abs(term))
        return out

    def std_diffs(self, contrasts: FloatArray) -> FloatArray:
        """``(mean_I - mean_C) / sd`` per column from contrasts (last axis K)."""
        n, nt = self.n, self.n_treated
        factor = n / (nt * (n - nt)) / self._unit()
        out: FloatArray = np.empty_like(contrasts)
        np.multiply(contrasts, factor * self.scale / self.sd, out=out)
        return out

    def feasible(self, contrasts: FloatArray, limits: FloatArray) -> npt.NDArray[np.bool_]:
        """True where every column meets its ``|std diff| <= limit`` (``inf`` = none)."""
        ok = np.ones(contrasts.shape[:-1], dtype=bool)
        if not np.isfinite(limits).any():
            return ok
        diffs = self.std_diffs(contrasts)
        for c in range(self.k):
            if math.isfinite(limits[c]):
                ok &= np.abs(diffs[..., c]) <= limits[c] * (1 + 1e-12)
        return ok


def balance_columns(units: pd.DataFrame, design: AllocationDesign) -> BalanceColumns:
    """Expand and standardise the design's covariates of the (sorted) unit table."""
    n = len(units)
    raw: list[list[float]] = []
    names: list[str] = []
    sources: list[str] = []
    for cov in design.covariates:
        series = units[cov]
        if cov in design.categorical:
            levels = _levels(series)
            for level in levels[1:]:
                raw.append([1.0 if v == level else 0.0 for v in series.tolist()])
                names.append(f"{cov}[{level}]")
                sources.append(cov)
        else:
            try:
                col = [float(v) for v in series.tolist()]
            except (TypeError, ValueError) as exc:
                raise UnitsError(
                    f"covariate {cov!r} is not numeric; declare it categorical"
                ) from exc
            if not all(math.isfinite(v) for v in col):
                raise UnitsError(f"covariate {cov!r} has non-finite values")
            raw.append(col)
            names.append(cov)
            sources.append(cov)
    k = len(raw)
    z = np.zeros((n, k))
    sds = np.ones(k)
    means = np.zeros(k)
    scales = np.ones(k)
    for c, col in enumerate(raw):
        mean = math.fsum(col) / n  # exactly rounded: the same on every platform
        sd = math.sqrt(math.fsum((v - mean) * (v - mean) for v in col) / (n - 1))
        if sd == 0.0:
            raise UnitsError(f"column {names[c]!r} has no variation across units")
        sds[c] = sd
        means[c] = mean
        scales[c] = sd if design.standardise else 1.0
        z[:, c] = [(v - mean) / scales[c] for v in col]
    # correctly rounded column sums (fsum), so M is the same in every implementation
    mass = max(
        (math.ceil(math.fsum(abs(v) for v in z[:, c].tolist())) for c in range(k)), default=1
    )
    frac_bits = min(32, 52 - (2 * n * max(mass, 1) + 1).bit_length())
    if frac_bits < 8:
        raise DesignError("covariate values too large to score exactly; use standardise=True")
    fixed: FloatArray = np.round(z * math.ldexp(1.0, frac_bits))
    weights = np.array([design.weight(s) for s in sources], dtype=np.float64)
    return BalanceColumns(
        names=tuple(names),
        sources=tuple(sources),
        weights=weights,
        fixed=fixed,
        sd=sds,
        scale=scales,
        frac_bits=frac_bits,
        metric=design.metric,
        n=n,
        n_treated=design.n_treated,
        mean=means,
        mass=max(mass, 1),
    )


def column_limits(columns: BalanceColumns, design: AllocationDesign) -> FloatArray:
    """Per-column ``max_abs_std_diff`` limits (``inf`` where none)."""
    return np.array(
        [float(design.max_abs_std_diff.get(s, math.inf)) for s in columns.sources],
        dtype=np.float64,
    )
