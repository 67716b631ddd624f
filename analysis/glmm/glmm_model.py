"""The GLMM as a model object, the shape :class:`analysis.lmm.LinearMixedModel` has.

``GeneralizedLinearMixedModel.from_formula(...)`` holds one specification (data, fixed
effects, cluster, family, offset or exposure, random-effect terms); :meth:`fit` fits it by
maximum likelihood (:func:`analysis.glmm.fit_glmm`, Laplace or adaptive quadrature) and
returns the typed :class:`~analysis.glmm.results.GlmmResults`; :meth:`deviance` evaluates
the objective lme4 (glmmTMB for the NB2) minimises at given parameters, from a problem
built once per quadrature rule and reused by every later call (profiles, checks against
R's ``devfun``). ``fit_glmm`` stays the functional entry point the SAP methods call.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from analysis.errors import ModelSpecificationError
from analysis.glmm.model import FAMILIES, Problem, build_problem, fit_glmm
from analysis.glmm.results import GlmmResults

__all__ = ["GeneralizedLinearMixedModel"]


class GeneralizedLinearMixedModel:
    """A GLMM with random effects nested in one cluster factor.

    Parameters
    ----------
    formula : str
        Fixed effects, e.g. ``"count ~ arm + post + treat"``.
    data : pandas.DataFrame
    group : str
        Cluster column (borough).
    family : {"poisson", "binomial", "poisson_olre", "negative_binomial"}
    offset, exposure, trials : str, optional
        As for :func:`analysis.glmm.fit_glmm`.
    random : str, optional
        lme4-style terms nested in ``group`` (default: ``(1 | group)``).

    Examples
    --------
    >>> model = GeneralizedLinearMixedModel.from_formula(
    ...     "count ~ arm + post + treat", trial, group="borough", exposure="population"
    ... )  # doctest: +SKIP
    >>> res = model.fit(nagq=10)  # doctest: +SKIP
    >>> model.deviance(res.theta, res.params, nagq=10) == res.deviance  # doctest: +SKIP
    """

    def __init__(
        self,
        formula: str,
        data: pd.DataFrame,
        group: str,
        *,
        family: str = "poisson",
        offset: str | None = None,
        exposure: str | None = None,
        trials: str | None = None,
        random: str | None = None,
    ) -> None:
        if family not in FAMILIES:
            raise ModelSpecificationError(f"unknown family {family!r}; choose from {FAMILIES}")
        self.formula, self.data, self.group, self.family = formula, data, group, family
        self.offset, self.exposure, self.trials, self.random = offset, exposure, trials, random
        self._problems: dict[int, Problem] = {}

    @classmethod
    def from_formula(
        cls,
        formula: str,
        data: pd.DataFrame,
        *,
        group: str,
        family: str = "poisson",
        offset: str | None = None,
        exposure: str | None = None,
        trials: str | None = None,
        random: str | None = None,
    ) -> GeneralizedLinearMixedModel:
        """Build from a formula (patsy / R syntax) and the cluster column."""
        return cls(
            formula,
            data,
            group,
            family=family,
            offset=offset,
            exposure=exposure,
            trials=trials,
            random=random,
        )

    def fit(
        self,
        *,
        nagq: int = 1,
        df_method: str | None = None,
        start: GlmmResults | None = None,
    ) -> GlmmResults:
        """Maximum-likelihood fit (see :func:`analysis.glmm.fit_glmm` for the arguments);
        ``start`` is a previous fit of this model to warm-start from."""
        return fit_glmm(
            self.data,
            self.formula,
            self.group,
            nagq=nagq,
            df_method=df_method,
            start=start,
            **self._specification(),
        )

    def deviance(
        self,
        theta: ArrayLike,
        beta: ArrayLike,
        *,
        nagq: int = 1,
        log_size: float | None = None,
    ) -> float:
        """The deviance the fit minimises at ``(theta, beta)`` (and, for the NB2, the log
        of the size): lme4's Laplace or AGQ objective, glmmTMB's for the NB2. For a
        random intercept per cluster (the Poisson-lognormal's theta has two entries)."""
        if self.random is not None:
            raise ModelSpecificationError(
                "deviance() covers the random-intercept models; fit() serves several "
                "random-effect terms"
            )
        prob = self._problems.get(nagq)
        if prob is None:
            prob = build_problem(
                self.data,
                self.formula,
                self.group,
                nagq=nagq,
                **{k: v for k, v in self._specification().items() if k != "random"},
            )
            self._problems[nagq] = prob
        theta_v = np.atleast_1d(np.asarray(theta, dtype=np.float64))
        extra = [] if log_size is None else [float(log_size)]
        if (self.family == "negative_binomial") != (log_size is not None):
            raise ModelSpecificationError("log_size is given for, and only for, the NB2")
        x = np.r_[theta_v, extra, np.asarray(beta, dtype=np.float64)]
        if len(x) != len(prob.lower):
            raise ModelSpecificationError(
                f"expected {len(prob.lower)} parameters (theta, log size, beta), got {len(x)}"
            )
        return float(prob.objective(x))

    def _specification(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "offset": self.offset,
            "exposure": self.exposure,
            "trials": self.trials,
            "random": self.random,
        }
