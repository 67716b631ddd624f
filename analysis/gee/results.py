"""The typed results of a GEE fit.

:class:`GeeResults` is a :class:`~analysis.shared.results.FitResults` (estimates, the chosen
covariance, df, p-values, intervals) with what only a GEE has as fields: the working
correlation, the scale and both sandwich covariances, so a caller compares the
bias-reduced and the Liang-Zeger standard errors without a second fit. Nothing is kept in
the ``extra`` mapping.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.errors import ModelSpecificationError
from analysis.shared.results import FitResults

__all__ = ["GeeResults"]


@dataclass(frozen=True, eq=False)
class GeeResults(FitResults):
    """A GEE fit (:class:`analysis.gee.GeneralizedEstimatingEquations`).

    Attributes
    ----------
    family : str
        Outcome family (registry name, :mod:`analysis.families`), canonical link.
    working_correlation : str
        ``"exchangeable"``.
    alpha : float
        Estimated working correlation (geepack's moment estimator).
    scale : float
        Estimated scale (dispersion) parameter, ``sum r^2 / N``.
    cov_type : str
        Which sandwich ``cov_params`` (and so the standard errors) is: ``"mancl-derouen"``
        or ``"robust"``.
    cov_mancl_derouen : pandas.DataFrame
        Bias-reduced sandwich of Mancl & DeRouen (2001).
    cov_robust : pandas.DataFrame
        Liang-Zeger sandwich (geepack's ``vbeta``).
    """

    family: str = ""
    working_correlation: str = "exchangeable"
    alpha: float = float("nan")
    scale: float = float("nan")
    cov_type: str = ""
    cov_mancl_derouen: pd.DataFrame = field(default_factory=pd.DataFrame)
    cov_robust: pd.DataFrame = field(default_factory=pd.DataFrame)

    def std_errors_under(self, cov_type: str) -> pd.Series:
        """Standard errors under the other sandwich (``"mancl-derouen"`` or ``"robust"``)."""
        cov = {"mancl-derouen": self.cov_mancl_derouen, "robust": self.cov_robust}.get(cov_type)
        if cov is None:
            raise ModelSpecificationError(
                f"unknown cov_type {cov_type!r}; choose 'mancl-derouen' or 'robust'"
            )
        return pd.Series(np.sqrt(np.diag(cov.to_numpy())), index=self.params.index)
