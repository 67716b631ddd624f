"""Linear mixed models with small-sample inference for the fixed effects.

``LinearMixedModel`` fits ``y = X beta + Z u + e`` with random effects nested in one
grouping factor, given as lme4-style terms: a random intercept ``(1 | g)``, a cluster x
period effect ``(1 | g:f)`` (borough x phase, borough x quarter: the block-exchangeable
model), a random slope correlated ``(1 + t | g)`` or uncorrelated ``(1 | g) + (0 + t | g)``
with the intercept, or an unstructured covariance over given columns. It fits by REML or ML; ``fit_lmm`` is the one-call form used by the SAP
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
    group: str | None = None,
    *,
    random: str | Sequence[str] | None = None,
    random_slopes: Sequence[str] | None = None,
    method: str = "reml",
    df_method: str = "satterthwaite",
) -> FitResults:
    """Fit a linear mixed model in one call.

    Parameters
    ----------
    data : pandas.DataFrame
    formula : str
        Fixed part, e.g. ``"rate ~ arm * post + C(period) + baseline"``; it may also carry
        lme4-style random terms, ``"rate ~ arm * post + (1 | borough) + (1 | borough:post)"``.
    group : str, optional
        Cluster column; without random terms each cluster gets a random intercept.
    random : str or sequence of str, optional
        lme4-style random terms nested in the cluster: ``"(1 | g) + (1 | g:post)"``,
        ``"(1 | g) + (1 | g:quarter)"``, ``"(1 + t | g)"``, ``"(1 | g) + (0 + t | g)"``.
    random_slopes : sequence of str, optional
        Columns with correlated random slopes per cluster (lme4's ``(1 + x | group)``);
        exclusive with ``random``.
    method : {"reml", "ml"}
    df_method : {"satterthwaite", "kenward-roger", "between-within", "residual", "normal"}

    Examples
    --------
    >>> res = fit_lmm(sleep, "Reaction ~ Days", "Subject", random_slopes=["Days"],
    ...               df_method="kenward-roger")  # doctest: +SKIP
    >>> res.test("Days").pvalue  # doctest: +SKIP
    >>> fit_lmm(trial, "rate ~ arm * post + t + (1 | borough) + (1 | borough:post)",
    ...         df_method="kenward-roger")  # doctest: +SKIP
    """
    if random is not None and random_slopes:
        raise DesignError("give random slopes either as random terms or random_slopes, not both")
    re_formula = None if not random_slopes else "~ " + " + ".join(random_slopes)
    model = LinearMixedModel.from_formula(
        formula, data, groups=group, re_formula=re_formula, random=random
    )
    return model.fit(method=method, df_method=df_method)
