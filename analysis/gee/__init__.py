"""GEE for cluster randomised trials: exchangeable working correlation, sandwich inference.

:class:`GeneralizedEstimatingEquations` is the model (built from arrays or a formula,
fitted with keyword-only options), :class:`GeeResults` its typed results; ``fit_gee`` is the
one-call form the SAP runner uses. See :mod:`analysis.gee.model` for the estimators and
their references.
"""

from __future__ import annotations

import pandas as pd

from analysis.gee.model import (
    COVARIANCES,
    DF_METHODS,
    GEE_FAMILIES,
    GeneralizedEstimatingEquations,
)
from analysis.gee.results import GeeResults

__all__ = [
    "COVARIANCES",
    "DF_METHODS",
    "GEE_FAMILIES",
    "GeeResults",
    "GeneralizedEstimatingEquations",
    "fit_gee",
]


def fit_gee(
    data: pd.DataFrame,
    formula: str,
    group: str,
    *,
    family: str = "poisson",
    offset: str | None = None,
    exposure: str | None = None,
    cov_type: str = "mancl-derouen",
    df_method: str = "clusters-minus-parameters",
) -> GeeResults:
    """Fit a GEE with exchangeable working correlation in one call.

    Parameters
    ----------
    data : pandas.DataFrame
    formula : str
        Patsy formula, e.g. ``"count ~ arm + post + treat"``.
    group : str
        Cluster column.
    family : {"poisson", "binomial", "gaussian"}
        With the canonical link (log, logit, identity).
    offset, exposure : str, optional
        Offset column (linear-predictor scale) / exposure column (log taken).
    cov_type : {"mancl-derouen", "robust"}
    df_method : {"clusters-minus-parameters", "normal"}

    Returns
    -------
    GeeResults
        With the working correlation ``alpha``, the ``scale`` and both sandwich
        covariances as fields.
    """
    model = GeneralizedEstimatingEquations.from_formula(
        formula, data, groups=group, family=family, offset=offset, exposure=exposure
    )
    return model.fit(cov_type=cov_type, df_method=df_method)
