"""Linear mixed models with small-sample inference for the fixed effects.

``LinearMixedModel`` fits ``y = X beta + Z u + e`` (random intercept and optional correlated
random slopes per cluster) by REML or ML; ``fit_lmm`` is the one-call form used by the SAP
runner. Degrees of freedom: Satterthwaite (as lmerTest), Kenward-Roger (as pbkrtest),
between-within (SAS DDFM=BW), residual or normal.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from analysis.lmm.errors import DesignError, FitOptionError, LMMError
from analysis.lmm.model import DF_METHODS, LinearMixedModel
from analysis.shared.results import FitResults

__all__ = [
    "DF_METHODS",
    "DesignError",
    "FitOptionError",
    "LMMError",
    "LinearMixedModel",
    "fit_lmm",
]


def fit_lmm(
    data: pd.DataFrame,
    formula: str,
    group: str,
    *,
    random_slopes: Sequence[str] | None = None,
    method: str = "reml",
    df_method: str = "satterthwaite",
) -> FitResults:
    """Fit a linear mixed model in one call.

    Parameters
    ----------
    data : pandas.DataFrame
    formula : str
        Fixed part, e.g. ``"rate ~ arm * post + C(period) + baseline"``.
    group : str
        Cluster column; each cluster gets a random intercept.
    random_slopes : sequence of str, optional
        Columns with correlated random slopes per cluster (lme4's ``(1 + x | group)``).
    method : {"reml", "ml"}
    df_method : {"satterthwaite", "kenward-roger", "between-within", "residual", "normal"}

    Examples
    --------
    >>> res = fit_lmm(sleep, "Reaction ~ Days", "Subject", random_slopes=["Days"],
    ...               df_method="kenward-roger")  # doctest: +SKIP
    >>> res.test("Days").pvalue  # doctest: +SKIP
    """
    re_formula = None if not random_slopes else "~ " + " + ".join(random_slopes)
    model = LinearMixedModel.from_formula(formula, data, groups=group, re_formula=re_formula)
    return model.fit(method=method, df_method=df_method)
