"""Read-only results objects shared by every model family (linearmodels style).

A model's ``fit`` returns a :class:`FitResults`: estimates, standard errors and the degrees
of freedom of each coefficient's reference distribution (``inf`` means a normal reference,
a finite value a t reference). Everything derived (t statistics, p-values, intervals) is
computed from those three, so every family reports inference the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from analysis.coded_warnings import CodedWarning

__all__ = ["FitResults", "TestResult"]


@dataclass(frozen=True)
class TestResult:
    """A single hypothesis test: statistic, reference distribution and p-value."""

    statistic: float
    pvalue: float
    distribution: str
    df: tuple[float, ...] = ()
    null: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "statistic": float(self.statistic),
            "pvalue": float(self.pvalue),
            "distribution": self.distribution,
            "df": [float(d) for d in self.df],
            "null": self.null,
        }


@dataclass(frozen=True, eq=False)
class FitResults:
    """Estimates of one fitted model with the inference chosen for it.

    Parameters
    ----------
    params : pandas.Series
        Fixed-effect estimates, indexed by term name.
    cov_params : pandas.DataFrame
        Their covariance matrix (the one the standard errors come from).
    df : pandas.Series
        Degrees of freedom of each coefficient's reference distribution; ``inf`` = normal.
    model : str
        Family and method, e.g. ``"lmm-reml"``, ``"glmm-poisson-agq7"``, ``"gee-exchangeable"``.
    inference : str
        How ``df`` and the covariance were obtained, e.g. ``"satterthwaite"``.
    nobs, ngroups : int
        Numbers of observations and clusters.
    variance_components : mapping
        Named variance components (e.g. ``{"cluster": 0.12, "residual": 1.3}``).
    converged : bool
    warnings : tuple of CodedWarning
        Messages a statistician must see (non-convergence, boundary fits, separation).
    extra : mapping
        Family-specific values (log-likelihood, ICC, dispersion, ...).
    """

    params: pd.Series
    cov_params: pd.DataFrame
    df: pd.Series
    model: str
    inference: str
    nobs: int
    ngroups: int
    variance_components: Mapping[str, float] = field(default_factory=dict)
    converged: bool = True
    warnings: tuple[CodedWarning, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    @cached_property
    def std_errors(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self.cov_params.to_numpy())), index=self.params.index)

    @cached_property
    def tstats(self) -> pd.Series:
        return self.params / self.std_errors

    @cached_property
    def pvalues(self) -> pd.Series:
        t = np.abs(self.tstats.to_numpy())
        df = self.df.reindex(self.params.index).to_numpy(dtype=float)
        # scipy.special, not scipy.stats (which costs ~0.5 s to import): the functions
        # scipy.stats' norm.sf and t.sf evaluate, so the values are the same to the bit.
        p = np.where(
            np.isinf(df),
            2 * special.ndtr(-t),
            2 * special.stdtr(np.where(np.isinf(df), 1.0, df), -t),
        )
        return pd.Series(p, index=self.params.index)

    def conf_int(self, level: float = 0.95) -> pd.DataFrame:
        """Confidence intervals from each coefficient's own reference distribution."""
        q = 1 - (1 - level) / 2
        df = self.df.reindex(self.params.index).to_numpy(dtype=float)
        crit = np.where(
            np.isinf(df), special.ndtri(q), special.stdtrit(np.where(np.isinf(df), 1.0, df), q)
        )
        half = crit * self.std_errors.to_numpy()
        return pd.DataFrame(
            {"lower": self.params.to_numpy() - half, "upper": self.params.to_numpy() + half},
            index=self.params.index,
        )

    def test(self, term: str) -> TestResult:
        """The test that coefficient ``term`` is zero."""
        df = float(self.df[term])
        return TestResult(
            statistic=float(self.tstats[term]),
            pvalue=float(self.pvalues[term]),
            distribution="normal" if np.isinf(df) else "t",
            df=() if np.isinf(df) else (df,),
            null=f"{term} = 0",
        )

    @property
    def summary(self) -> str:
        ci = self.conf_int()
        lines = [
            f"Model: {self.model}    Inference: {self.inference}",
            f"Observations: {self.nobs}    Clusters: {self.ngroups}    Converged: {self.converged}",
            "",
            f"{'term':<28}{'estimate':>12}{'std.err':>12}{'df':>9}{'stat':>9}{'p':>9}{'95% CI':>24}",
        ]
        for term in self.params.index:
            df = float(self.df[term])
            lines.append(
                f"{term:<28}{self.params[term]:>12.5g}{self.std_errors[term]:>12.5g}"
                f"{('inf' if np.isinf(df) else f'{df:.2f}'):>9}{self.tstats[term]:>9.3f}"
                f"{self.pvalues[term]:>9.4f}   [{ci.loc[term, 'lower']:.4g}, {ci.loc[term, 'upper']:.4g}]"
            )
        if self.variance_components:
            lines.append("")
            lines.append(
                "Variance components: "
                + ", ".join(f"{k} = {v:.5g}" for k, v in self.variance_components.items())
            )
        for w in self.warnings:
            lines.append(f"WARNING: {w}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form for the results JSON (the canonical form rounds nothing)."""
        ci = self.conf_int()
        return {
            "model": self.model,
            "inference": self.inference,
            "nobs": int(self.nobs),
            "ngroups": int(self.ngroups),
            "converged": bool(self.converged),
            "warnings": [w.to_json() for w in self.warnings],
            "variance_components": {k: float(v) for k, v in self.variance_components.items()},
            "coefficients": {
                term: {
                    "estimate": float(self.params[term]),
                    "std_error": float(self.std_errors[term]),
                    "df": None if np.isinf(float(self.df[term])) else float(self.df[term]),
                    "statistic": float(self.tstats[term]),
                    "pvalue": float(self.pvalues[term]),
                    "ci_lower": float(ci.loc[term, "lower"]),
                    "ci_upper": float(ci.loc[term, "upper"]),
                }
                for term in self.params.index
            },
        }
