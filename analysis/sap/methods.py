"""How each inference method of the SAP is fitted, looked up in :data:`INFERENCE_METHODS`.

* ``between-within`` / ``wald-normal``: the mixed model with t (between-within df) or
  normal reference. Gaussian -> :func:`analysis.lmm.fit_lmm` (REML); poisson, binomial ->
  :func:`analysis.glmm.fit_glmm` with the analysis' ``nagq``; negative_binomial ->
  ``fit_glmm(family="negative_binomial")`` (Laplace).
* ``satterthwaite`` / ``kenward-roger``: :func:`analysis.lmm.fit_lmm` (Gaussian only).
* ``gee-mancl-derouen``: :func:`analysis.gee.fit_gee`, exchangeable working correlation,
  bias-reduced sandwich, t on clusters minus parameters df.
* ``cluster-level``: :func:`analysis.cluster_level.cluster_level_analysis`, stage one
  without the intervention on the follow-up rows (the analysis' other fixed terms, and
  for analyses of all quarters each cluster's own baseline summary); ratio residuals for
  counts, difference residuals for Gaussian outcomes.
* ``randomisation``: :func:`analysis.randomisation.randomisation_test` over the trial's
  actual admissible scheme space; the null model has the analysis' fixed terms without
  the intervention, fitted to the follow-up rows. For analyses of all quarters each
  cluster is its own control with a fixed coefficient: its baseline log rate joins the
  offset (counts), or its baseline mean is subtracted from the outcome (Gaussian), so
  the cluster residual measures change from baseline, as the mixed model's
  within-cluster comparison does (a free baseline slope, as in ``cluster-level``, can
  absorb the arm contrast with seven clusters and leave the inverted interval
  unbounded). p-value ``k / |space|``, CI by test inversion.

The effect is reported on the natural scale: a rate ratio ``exp(b)`` for log-link
families, an odds ratio for binomial models (a risk ratio for the cluster-level ratio
residual), a mean difference for Gaussian models. A method that fails is reported as
failed with its message; every warning (the library's and Python's) is kept.
"""

from __future__ import annotations

import inspect
import math
import warnings as pywarnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from analysis.coded_warnings import CodedWarning
from analysis.errors import (
    AnalysisError,
    ConvergenceError,
    DataError,
    ModelSpecificationError,
)
from analysis.families import FamilyInfo, family_info
from analysis.sap.dataset import AnalysisFrame
from analysis.sap.results import MethodResult
from analysis.shared.results import FitResults
from protocols.vocabulary import RANDOM_LME4

__all__ = [
    "INFERENCE_METHODS",
    "INTERVENTION_TERMS",
    "GROUP",
    "MethodContext",
    "fit_method",
    "fit_errors",
    "fit_mixed_model",
    "model_formula",
    "error_message",
    "random_terms",
]

#: Terms that carry the intervention; left out of the null models of the cluster-level
#: analysis and the randomisation test.
INTERVENTION_TERMS = ("treatment", "arm", "post")
GROUP = "unit"
EXPOSURE = "_exposure"


def fit_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean "this fit failed on these data", reported per method, not raised.

    Only the library's own errors (which say what is wrong with the data or model in
    words), patsy's and numerical failures of the data count. Any other exception is a
    bug in the toolkit: it propagates, so it is a crash in the tests and is never stored as
    a "FAILED" method in official results.
    """
    # lazy: loads patsy (start-up time)
    from patsy import PatsyError

    from analysis.lmm import LMMError

    return (
        AnalysisError,
        LMMError,
        PatsyError,
        ArithmeticError,
        np.linalg.LinAlgError,
    )


@dataclass(frozen=True)
class MethodContext:
    """What a method needs besides the frame: the scheme space, the arms, the options."""

    arms: Mapping[str, str]
    intervention_arm: str
    schemes: NDArray[np.int_] | None = None
    scheme_units: tuple[str, ...] | None = None
    trials: str | None = None
    level: float = 0.95
    randomisation_ci: bool = True


def model_formula(frame: AnalysisFrame) -> str:
    """``outcome ~ terms`` for the frame (the period term as ``C(period)``)."""
    return f"{frame.outcome} ~ " + " + ".join(frame.formula_terms)


def _effect_term(frame: AnalysisFrame) -> str:
    for term in ("treatment", "arm"):
        if term in frame.formula_terms:
            return term
    raise ModelSpecificationError(
        f"analysis {frame.analysis.name} has no intervention term ('treatment' or 'arm')"
    )


def _null_terms(frame: AnalysisFrame) -> list[str]:
    return [t for t in frame.formula_terms if t not in INTERVENTION_TERMS]


def _to_natural(scale: str) -> Callable[[float], float]:
    return float if scale == "identity" else math.exp


def _measure(family: str) -> tuple[str, str, Callable[[float], float]]:
    info = family_info(family)
    return info.effect, info.link, _to_natural(info.link)


def _level_scale(info: FamilyInfo) -> str:
    """Scale of a cluster-level or randomisation effect: difference or log ratio."""
    return "identity" if info.residual == "mean" else "log"


def _from_fit(
    method: str, fit: FitResults, term: str, family: str, level: float, details: dict[str, Any]
) -> MethodResult:
    measure, scale, to_natural = _measure(family)
    ci = fit.conf_int(level)
    b = float(fit.params[term])
    lo, hi = float(ci.loc[term, "lower"]), float(ci.loc[term, "upper"])
    df = float(fit.df[term])
    _need_finite_fit(method, fit, term, b, lo, hi, df, log_scale=scale != "identity")
    return MethodResult(
        method=method,
        ok=True,
        model=fit.model,
        inference=fit.inference,
        term=term,
        measure=measure,
        scale=scale,
        coefficient=b,
        std_error=float(fit.std_errors[term]),
        coefficient_ci=(lo, hi),
        effect=to_natural(b),
        effect_ci=(to_natural(lo), to_natural(hi)),
        statistic=float(fit.tstats[term]),
        pvalue=float(fit.pvalues[term]),
        df=None if math.isinf(df) else df,
        clusters=int(fit.ngroups),
        observations=int(fit.nobs),
        warnings=tuple(fit.warnings),
        details={
            "converged": bool(fit.converged),
            "variance_components": {k: float(v) for k, v in fit.variance_components.items()},
            **details,
        },
    )


#: A coefficient beyond this (log scale: a ratio beyond e^300) is not an estimate but an
#: optimiser running off towards an infinite one.
_DEGENERATE_COEFFICIENT = 300.0


def _need_finite_fit(
    method: str,
    fit: FitResults,
    term: str,
    b: float,
    lo: float,
    hi: float,
    df: float,
    *,
    log_scale: bool,
) -> None:
    """Refuse to report a fit whose effect has no finite estimate, standard error,
    interval, statistic or p-value (:class:`~analysis.errors.ConvergenceError`).

    Degenerate data (no events in one arm's follow-up or in every baseline quarter, an
    outcome that does not vary within clusters) drive a model to an estimate at the edge
    of its space: the engines then returned an estimate with a NaN or zero standard error
    and NaN interval (the negative-binomial GLMM, the LMM on a within-cluster constant
    outcome, the GEE with one non-zero count), which the results stored as an ordinary
    "ok" method, or an interval too wide for ``exp`` (an ``OverflowError`` reported as
    "math range error"). Found by tests/analysis/test_sap_hostile.py.
    """
    se = float(fit.std_errors[term])
    numbers = {
        "estimate": b,
        "standard error": se,
        "confidence interval": lo + hi,
        "test statistic": float(fit.tstats[term]),
        "p-value": float(fit.pvalues[term]),
    }
    lacking = [name for name, v in numbers.items() if not math.isfinite(v)]
    if math.isfinite(se) and se <= 0:
        lacking.append("positive standard error")
    if math.isnan(df) or df <= 0:
        lacking.append("degrees of freedom")
    if lacking:
        raise ConvergenceError(
            f"the {method} fit of {term} has no finite {', '.join(lacking)}: the model is "
            "degenerate on these data (e.g. no events in an arm or in some quarters, or an "
            "outcome that does not vary within clusters)"
        )
    # on the log scale only: a mean difference (identity link) has the outcome's own units
    if log_scale and max(abs(b), abs(lo), abs(hi)) > _DEGENERATE_COEFFICIENT:
        raise ConvergenceError(
            f"the {method} fit of {term} ran off to an infinite estimate or interval "
            f"({b:.3g}, interval {lo:.3g} to {hi:.3g}): the data cannot bound the effect "
            "(e.g. no events in one arm's follow-up)"
        )
    if not 0.0 <= float(fit.pvalues[term]) <= 1.0:
        raise ConvergenceError(f"the {method} fit of {term} gave a p-value outside [0, 1]")


def random_terms(random: Sequence[str]) -> tuple[str, ...]:
    """The protocol's random-effect entries as lme4-style terms (SCOPES vocabulary).

    ``unit`` is ``(1|unit)``; ``unit_trend`` (or the older ``unit:time``) turns it into
    ``(1+time|unit)``; ``unit_trend_uncorrelated`` adds ``(0+time|unit)`` beside
    ``(1|unit)``; ``unit:post`` and ``unit:period`` add ``(1|unit:post)`` and
    ``(1|unit:period)``.
    """
    entries = set(random)
    correlated = bool(entries & {"unit_trend", "unit:time"})
    out = ["(1+time|unit)" if correlated else "(1|unit)"]
    out += [
        RANDOM_LME4[e]
        for e in ("unit_trend_uncorrelated", "unit:post", "unit:period")
        if e in entries
    ]
    return tuple(out)


#: Random-effect structures every model of this package fits with its own arguments.
_SIMPLE: dict[tuple[str, ...], list[str] | None] = {
    ("(1|unit)",): None,
    ("(1+time|unit)",): ["time"],
}


def _random_argument(fit: Callable[..., Any], terms: tuple[str, ...]) -> dict[str, Any]:
    """Keyword arguments that pass ``terms`` to the model function ``fit``."""
    if "random" in inspect.signature(fit).parameters:
        return {"random": " + ".join(terms)}
    raise ModelSpecificationError(
        f"random-effect terms {' + '.join(terms)} need a model engine with multi-term random "
        "effects, which this installation does not have"
    )


def fit_mixed_model(
    data: pd.DataFrame,
    formula: str,
    group: str,
    *,
    family: str,
    df_method: str,
    offset: str | None = None,
    exposure: str | None = None,
    trials: str | None = None,
    nagq: int = 1,
    **random: Any,
) -> FitResults:
    """Fit ``family``'s mixed model: Gaussian by REML (:func:`analysis.lmm.fit_lmm`), the
    other families by maximum likelihood (:func:`analysis.glmm.fit_glmm`, with ``nagq``
    adaptive quadrature points and the offset, exposure or trials given).

    ``random`` passes the random-effect structure on (``random_slopes`` or ``random``).
    The one place that decides which engine fits which family: the SAP's mixed-model
    methods and ``rct analyse fit`` both call it.
    """
    if family_info(family).mixed_model == "lmm":
        # lazy: loads analysis.lmm (start-up time)
        from analysis.lmm import fit_lmm

        if offset or exposure or trials:
            raise ModelSpecificationError(
                "an offset, exposure or number of trials applies to count and binomial "
                "models, not Gaussian ones"
            )
        return fit_lmm(data, formula, group, method="reml", df_method=df_method, **random)
    # lazy: loads analysis.glmm (start-up time)
    from analysis.glmm import fit_glmm

    return fit_glmm(
        data,
        formula,
        group,
        family=family,
        offset=offset,
        exposure=exposure,
        trials=trials,
        nagq=nagq,
        df_method=df_method,
        **random,
    )


def _mixed(frame: AnalysisFrame, method: str, ctx: MethodContext) -> MethodResult:
    a = frame.analysis
    formula, term = model_formula(frame), _effect_term(frame)
    terms = random_terms(a.random)
    simple = terms in _SIMPLE
    slopes = _SIMPLE.get(terms)
    if family_info(a.family).mixed_model == "lmm":
        # lazy: loads analysis.lmm (start-up time)
        from analysis.lmm import fit_lmm

        df_method = {"wald-normal": "normal"}.get(method, method)
        how = {"random_slopes": slopes} if simple else _random_argument(fit_lmm, terms)
        fit = fit_mixed_model(
            frame.data, formula, GROUP, family=a.family, df_method=df_method, **how
        )
        return _from_fit(method, fit, term, a.family, ctx.level, {})
    if method in ("satterthwaite", "kenward-roger"):
        raise ModelSpecificationError(f"{method} degrees of freedom apply to Gaussian models only")
    # lazy: loads analysis.glmm (start-up time)
    from analysis.glmm import fit_glmm

    # A random intercept alone is the engine's own case (AGQ allowed, between-within df);
    # any other structure goes by Laplace with the containment df rule, which is the
    # between-within rule generalised (analysis.glmm.containment; docs/glmm-engine.md).
    single = terms == ("(1|unit)",)
    how = {} if single else _random_argument(fit_glmm, terms)
    if method == "wald-normal":
        df_method = "normal"
    else:
        df_method = "between-within" if single else "containment"
    fit = fit_mixed_model(
        frame.data,
        formula,
        GROUP,
        family=a.family,
        offset=frame.offset,
        trials=ctx.trials if family_info(a.family).trials else None,
        nagq=a.nagq if single and family_info(a.family).agq else 1,
        df_method=df_method,
        **how,
    )
    extra = {"nagq": fit.extra.get("nagq")}
    if "size" in fit.extra:
        extra["size"] = float(fit.extra["size"])
    return _from_fit(method, fit, term, a.family, ctx.level, extra)


def _gee(frame: AnalysisFrame, method: str, ctx: MethodContext) -> MethodResult:
    # lazy: loads the GEE engine and patsy (start-up time)
    from analysis.gee import fit_gee

    a = frame.analysis
    if not family_info(a.family).gee:
        raise ModelSpecificationError(f"GEE is not available for the {a.family} family")
    fit = fit_gee(frame.data, model_formula(frame), GROUP, family=a.family, offset=frame.offset)
    details = {"working_correlation": fit.alpha}
    return _from_fit(method, fit, _effect_term(frame), a.family, ctx.level, details)


def _level_family(family: str) -> str:
    return family_info(family).level_family


def _with_exposure(frame: AnalysisFrame) -> tuple[pd.DataFrame, str | None]:
    data = frame.data.copy()
    if frame.offset is None:
        return data, None
    data[EXPOSURE] = np.exp(data[frame.offset].to_numpy(dtype=np.float64))
    return data, EXPOSURE


def _cluster_level(frame: AnalysisFrame, method: str, ctx: MethodContext) -> MethodResult:
    # lazy: loads statsmodels, patsy (start-up time)
    from analysis.cluster_level import cluster_level_analysis

    a = frame.analysis
    info = family_info(a.family)
    data, exposure = _with_exposure(frame)
    fit = cluster_level_analysis(
        data,
        frame.outcome,
        GROUP,
        "arm",
        " + ".join(_null_terms(frame)) or "1",
        family=_level_family(a.family),
        exposure=exposure,
        post_indicator="post" if a.periods == "all" else None,
        adjust_baseline=True,
        residual="difference" if info.residual == "mean" else "ratio",
    )
    res = _from_fit(
        method,
        fit,
        "intervention",
        a.family,
        ctx.level,
        {
            "cluster_residuals": dict(fit.extra["cluster_residuals"]),
            "cluster_level_covariates": int(fit.extra["q_cluster_level_covariates"]),
            "residual": str(fit.extra["residual"]),
        },
    )
    # a ratio residual log(O/E) is back-transformed by exp whatever the model's link
    return replace(res, measure=info.cluster_level_effect, scale=_level_scale(info))


def _baseline_summary(frame: AnalysisFrame, data: pd.DataFrame, exposure: str | None) -> pd.Series:
    """Each cluster's baseline log rate (counts) or baseline mean (Gaussian)."""
    base = data[data["post"] == 0]
    if set(base[GROUP]) != set(data[GROUP]):
        raise DataError("every cluster needs baseline rows for the baseline-adjusted null model")
    y = frame.outcome
    out = {}
    for unit, rows in base.groupby(GROUP):
        if family_info(frame.analysis.family).residual == "mean":
            out[unit] = float(rows[y].mean())
        else:
            total = float(rows[y].sum())
            denom = float(rows[exposure].sum()) if exposure else float(len(rows))
            out[unit] = math.log(max(total, 0.5) / denom)
    return data[GROUP].map(out)


def _randomisation(frame: AnalysisFrame, method: str, ctx: MethodContext) -> MethodResult:
    # lazy: loads statsmodels, patsy (start-up time)
    from analysis.randomisation import randomisation_test

    if ctx.schemes is None:
        raise ModelSpecificationError(
            "no admissible scheme space was given for the randomisation test"
        )
    a = frame.analysis
    info = family_info(a.family)
    data, exposure = _with_exposure(frame)
    units = list(ctx.scheme_units or sorted(ctx.arms))
    actual = np.array([1 if ctx.arms[u] == ctx.intervention_arm else 0 for u in units])
    terms = _null_terms(frame)
    outcome, post = frame.outcome, None
    if a.periods == "all":
        # each cluster is its own control: its baseline enters with a fixed coefficient
        # (log baseline rate in the offset; baseline mean subtracted for Gaussian outcomes)
        post = "post"
        baseline = _baseline_summary(frame, data, exposure)
        if info.residual == "mean":
            outcome = "_change"
            data[outcome] = data[frame.outcome] - baseline
        elif info.link != "log":  # logit: the baseline log rate is a covariate
            data["_baseline"] = baseline
            terms.append("_baseline")
        else:
            base_exposure = data[exposure] if exposure else 1.0
            data["_baseline_exposure"] = base_exposure * np.exp(baseline)
            exposure = "_baseline_exposure"
    null_model = f"{outcome} ~ " + (" + ".join(terms) or "1")
    res = randomisation_test(
        data,
        null_model,
        GROUP,
        np.asarray(ctx.schemes),
        actual,
        units=units,
        family=_level_family(a.family),
        exposure=exposure,
        post_indicator=post,
        residual=family_info(a.family).residual,
        level=ctx.level,
        ci=ctx.randomisation_ci,
    )
    measure, scale = info.cluster_level_effect, _level_scale(info)
    to_natural = _to_natural(scale)
    used = data if post is None else data[data[post] == 1]
    lo, hi = res.ci if ctx.randomisation_ci else (math.nan, math.nan)
    return MethodResult(
        method=method,
        ok=True,
        model=f"randomisation-{_level_family(a.family)}-{family_info(a.family).residual}",
        inference="randomisation-test-inversion" if ctx.randomisation_ci else "randomisation",
        term="intervention",
        measure=measure,
        scale=scale,
        coefficient=res.estimate,
        std_error=None,
        coefficient_ci=(lo, hi),
        effect=_natural(to_natural, res.estimate),
        effect_ci=(_natural(to_natural, lo), _natural(to_natural, hi)),
        statistic=res.statistic,
        pvalue=res.pvalue,
        df=None,
        clusters=len(units),
        observations=len(used),
        warnings=tuple(res.warnings),
        details={
            "count": res.count,
            "n_schemes": res.n_schemes,
            "cluster_residuals": dict(res.cluster_residuals),
            "null_model": null_model,
            "exposure": exposure or "",
        },
    )


def _natural(f: Callable[[float], float], x: float) -> float:
    if math.isnan(x):
        return x
    if math.isinf(x):
        return x if f is float else (math.inf if x > 0 else 0.0)
    return f(x)


#: Inference method -> how it is fitted (see the module docstring).
INFERENCE_METHODS: dict[str, Callable[[AnalysisFrame, str, MethodContext], MethodResult]] = {
    "between-within": _mixed,
    "wald-normal": _mixed,
    "satterthwaite": _mixed,
    "kenward-roger": _mixed,
    "gee-mancl-derouen": _gee,
    "cluster-level": _cluster_level,
    "randomisation": _randomisation,
}


def fit_method(frame: AnalysisFrame, method: str, ctx: MethodContext) -> MethodResult:
    """Fit ``frame`` under one inference ``method``; failures come back as failed results.

    Python warnings raised during the fit are added to the result's warnings.
    """
    fitter = INFERENCE_METHODS.get(method)
    if fitter is None:
        return MethodResult(method, ok=False, error=f"unknown inference method {method!r}")
    with pywarnings.catch_warnings(record=True) as caught:
        pywarnings.simplefilter("always")
        try:
            result = fitter(frame, method, ctx)
        except fit_errors() as exc:
            result = MethodResult(method, ok=False, error=error_message(exc))
    extra = [CodedWarning("python-warning", f"{w.category.__name__}: {w.message}") for w in caught]
    if extra:
        merged = tuple(dict.fromkeys([*result.warnings, *extra]))
        result = replace(result, warnings=merged)
    return result


def error_message(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if isinstance(exc, AnalysisError) else f"{type(exc).__name__}: {text}"
