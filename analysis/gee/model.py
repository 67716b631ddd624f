"""The GEE model: exchangeable working correlation, small-sample sandwich inference.

Marginal (population-averaged) models for few clusters: :mod:`analysis.gee.solver` (numpy
Fisher scoring; it replaced statsmodels' GEE, whose import alone cost 0.3-1 s of
``rct analyse run``) solves the estimating equations; this module fixes the choices a
prespecified analysis needs and adds the inference, with the same shape as
:class:`analysis.lmm.LinearMixedModel` (build from arrays or :meth:`~GeneralizedEstimatingEquations.from_formula`, then ``fit`` with
keyword-only options looked up in registries).

* Working correlation: exchangeable, with geepack's moment estimators
  (``phi = sum r^2 / N`` and ``alpha = sum_{pairs} r_ij r_ik / (phi * pairs)``, no degrees
  of freedom correction, as statsmodels with ``ddof_scale=0``), so the estimates agree with
  ``geepack::geeglm(..., corstr = "exchangeable")``. ``scale`` on the results is this
  ``phi`` for every family (statsmodels reported 1 for Poisson and binomial); it cancels
  from the estimating equations and the sandwiches and only enters ``alpha``.
* Covariance (:data:`COVARIANCES`): ``"mancl-derouen"`` (default) is the bias-reduced
  sandwich of Mancl & DeRouen (2001, Biometrics 57:126-134),
  ``B^-1 [sum_i D_i' V_i^-1 (I - H_ii)^-1 e_i e_i' (I - H_ii)^-T V_i^-1 D_i] B^-1`` with
  ``H_ii = D_i B^-1 D_i' V_i^-1``, as statsmodels' ``cov_type="bias_reduced"``
  (checked against a direct computation in R in ``tools/r_reference/glmm_reference.R``).
  ``"robust"`` is the Liang-Zeger sandwich (geepack's ``vbeta``). Both are computed by
  one fit and kept on the results.
* Reference distribution (:data:`DF_METHODS`): t with ``clusters - parameters`` degrees
  of freedom (``"clusters-minus-parameters"``, as recommended with the Mancl-DeRouen
  sandwich by Li & Redden 2015, BMC Med Res Methodol 15:38), or the normal.
* Families: those the registry (:mod:`analysis.families`) marks as having a GEE, each with
  its canonical link.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from analysis.coded_warnings import CodedWarning
from analysis.errors import DataError, ModelSpecificationError
from analysis.families import FAMILIES, family_info
from analysis.gee.results import GeeResults
from analysis.gee.solver import ITERATION_LIMIT_NOTE, fit_exchangeable_gee
from analysis.glmm.design import build_design

__all__ = ["COVARIANCES", "DF_METHODS", "GEE_FAMILIES", "GeneralizedEstimatingEquations"]

FloatArray = NDArray[np.float64]

#: Families with a GEE (from the registry), each fitted with its canonical link.
GEE_FAMILIES = tuple(name for name, info in FAMILIES.items() if info.gee)

#: Covariance of the estimates -> the solver's field that holds it.
COVARIANCES = {"mancl-derouen": "cov_bias_reduced", "robust": "cov_robust"}


def _df_clusters_minus_parameters(ngroups: int, p: int) -> FloatArray:
    if ngroups <= p:
        raise DataError(f"{ngroups} clusters leave no degrees of freedom for {p} parameters")
    return np.full(p, float(ngroups - p))


def _df_normal(ngroups: int, p: int) -> FloatArray:
    return np.full(p, np.inf)


#: Reference distribution: df of every coefficient from (clusters, parameters).
DF_METHODS: dict[str, Callable[[int, int], FloatArray]] = {
    "clusters-minus-parameters": _df_clusters_minus_parameters,
    "normal": _df_normal,
}
_INFERENCE = {
    "clusters-minus-parameters": "wald-t-{cov}-clusters-minus-parameters",
    "normal": "wald-normal-{cov}",
}


def _check_family(family: str) -> None:
    if not family_info(family).gee:
        raise ModelSpecificationError(
            f"no GEE for the {family} family; choose from {', '.join(GEE_FAMILIES)}"
        )


class GeneralizedEstimatingEquations:
    """A GEE with exchangeable working correlation within each cluster.

    Parameters
    ----------
    y : array_like, shape (n,)
    X : array_like, shape (n, p)
        Fixed-effects design, including its intercept column.
    groups : array_like, shape (n,)
        Cluster of each row.
    family : str
        A registry family with a GEE (:data:`GEE_FAMILIES`); canonical link.
    offset : array_like, shape (n,), optional
        Added to the linear predictor (e.g. log exposure).
    fixed_names : sequence of str, optional

    Examples
    --------
    >>> model = GeneralizedEstimatingEquations.from_formula(
    ...     "count ~ arm + post + treat", trial, groups="borough", exposure="population"
    ... )  # doctest: +SKIP
    >>> res = model.fit(cov_type="mancl-derouen")  # doctest: +SKIP
    >>> res.alpha, res.test("treat").pvalue  # doctest: +SKIP
    """

    def __init__(
        self,
        y: ArrayLike,
        X: ArrayLike,
        groups: ArrayLike,
        *,
        family: str = "poisson",
        offset: ArrayLike | None = None,
        fixed_names: Sequence[str] | None = None,
    ) -> None:
        _check_family(family)
        self.family = family
        self.y = np.asarray(y, dtype=np.float64)
        x = np.asarray(X, dtype=np.float64)
        self.X = x[:, None] if x.ndim == 1 else x
        labels = pd.Series(np.asarray(groups)).astype(str)
        uniq = sorted(labels.unique())
        self.groups = pd.Categorical(labels, categories=uniq).codes.astype(np.intp)
        self.ngroups = len(uniq)
        n = self.y.shape[0]
        self.offset = (
            np.zeros(n) if offset is None else np.asarray(offset, dtype=np.float64).reshape(n)
        )
        if self.X.shape[0] != n or self.groups.shape[0] != n:
            raise DataError("y, X, groups and offset must have the same number of rows")
        names = fixed_names or [f"x{j}" for j in range(self.X.shape[1])]
        if len(names) != self.X.shape[1]:
            raise DataError(f"{len(names)} names for {self.X.shape[1]} columns of X")
        self.fixed_names = tuple(names)
        link = family_info(family).link
        if link == "logit" and np.any((self.y != 0) & (self.y != 1)):
            raise DataError(f"{family} GEE needs a 0/1 outcome")
        if link == "log" and np.any(self.y < 0):
            raise DataError(f"{family} GEE needs non-negative counts")
        if link in ("log", "logit") and np.all(self.y == 0):
            # the estimating equations have no solution: the intercept runs off to -inf
            raise DataError(f"{family} GEE needs at least one event: every outcome is 0")
        if link == "logit" and np.all(self.y == 1):
            raise DataError(f"{family} GEE needs at least one non-event: every outcome is 1")

    @classmethod
    def from_formula(
        cls,
        formula: str,
        data: pd.DataFrame,
        *,
        groups: str,
        family: str = "poisson",
        offset: str | None = None,
        exposure: str | None = None,
    ) -> GeneralizedEstimatingEquations:
        """Build from ``"outcome ~ terms"`` (patsy / R syntax) and a cluster column.

        ``offset`` names a column added to the linear predictor as is, ``exposure`` one
        whose log is added. Missing values are refused, not dropped.
        """
        _check_family(family)
        design = build_design(data, formula, groups, offset=offset, exposure=exposure)
        return cls(
            design.y,
            design.X,
            np.asarray(design.group_labels)[design.group],
            family=family,
            offset=design.offset,
            fixed_names=design.names,
        )

    @property
    def nobs(self) -> int:
        return int(self.y.shape[0])

    def fit(
        self, *, cov_type: str = "mancl-derouen", df_method: str = "clusters-minus-parameters"
    ) -> GeeResults:
        """Solve the estimating equations and attach the chosen inference.

        Parameters
        ----------
        cov_type : {"mancl-derouen", "robust"}
            The sandwich the standard errors come from; both are on the results.
        df_method : {"clusters-minus-parameters", "normal"}

        Raises
        ------
        ModelSpecificationError
            For an unknown ``cov_type`` or ``df_method``.
        DataError
            When the clusters leave no degrees of freedom for the parameters.
        ConvergenceError
            When the solver produces no finite estimates (or working correlation).
        """
        if cov_type not in COVARIANCES:
            raise ModelSpecificationError(
                f"unknown cov_type {cov_type!r}; choose from {tuple(COVARIANCES)}"
            )
        if df_method not in DF_METHODS:
            raise ModelSpecificationError(
                f"unknown df_method {df_method!r}; choose from {tuple(DF_METHODS)}"
            )
        p = self.X.shape[1]
        df = DF_METHODS[df_method](self.ngroups, p)
        res = fit_exchangeable_gee(
            self.y,
            self.X,
            self.groups,
            link=family_info(self.family).link,
            offset=self.offset,
            maxiter=500,
            tol=1e-10,
        )
        warns = () if res.converged else (CodedWarning("gee-not-converged", ITERATION_LIMIT_NOTE),)
        names = list(self.fixed_names)
        covs = {
            key: pd.DataFrame(
                np.asarray(getattr(res, attr), dtype=np.float64), index=names, columns=names
            )
            for key, attr in COVARIANCES.items()
        }
        return GeeResults(
            params=pd.Series(np.asarray(res.params, dtype=np.float64), index=names),
            cov_params=covs[cov_type],
            df=pd.Series(df, index=names),
            model=f"gee-{self.family}-exchangeable",
            inference=_INFERENCE[df_method].format(cov=cov_type),
            nobs=self.nobs,
            ngroups=self.ngroups,
            converged=not warns,
            warnings=warns,
            family=self.family,
            alpha=res.alpha,
            scale=res.scale,
            cov_type=cov_type,
            cov_mancl_derouen=covs["mancl-derouen"],
            cov_robust=covs["robust"],
        )
