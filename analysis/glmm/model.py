"""Random-intercept GLMMs by maximum likelihood, matching lme4's ``glmer`` and glmmTMB.

Families (``family=``):

* ``"poisson"`` - log link, offset/exposure for rates; Laplace (``nagq=1``) or adaptive
  Gauss-Hermite quadrature (``nagq>1``), as ``glmer(..., family = poisson, nAGQ = k)``.
* ``"binomial"`` - logit link, binary child-level outcomes (or successes out of
  ``trials``); Laplace or AGQ as ``glmer(..., family = binomial, nAGQ = k)``.
* ``"poisson_olre"`` - Poisson-lognormal: an observation-level random effect for
  overdispersion, ``glmer(y ~ ... + (1 | cluster) + (1 | obs))``. Two random effects, so
  Laplace only (as in lme4).
* ``"negative_binomial"`` - NB2 (variance mu + mu^2/k) with a random intercept, Laplace with
  the observed information, as ``glmmTMB(..., family = nbinom2)``. The size ``k`` is
  estimated on the log scale with an upper bound, :data:`SIZE_MAX`: data with no
  overdispersion beyond Poisson push ``k`` towards infinity, where the NB2 model is the
  Poisson model; the fit then stops at the bound and says so (a boundary warning, like a
  cluster SD estimated at zero), and it is the Poisson GLMM to within ``mu / SIZE_MAX``
  (log-likelihoods within about 1e-6 on the simulated trials). The NB fit also starts from
  the Poisson GLMM (``k = SIZE_MAX``), so its deviance is never worse than the Poisson's.

Standard errors follow lme4's default (``vcov.merMod(use.hessian = TRUE)``): twice the
inverse of the ``deriv12`` finite-difference Hessian of the deviance in (theta, beta),
fixed-effects block. For Laplace fits of the glmer families the differentiated function is
glmer's own devfun, PIRLS restarts and stale weights included
(:mod:`analysis.glmm.glmer_hessian`); estimates always come from the exact deviance. As in
lme4, when that matrix is not positive definite the RX-based covariance
(``use.hessian = FALSE``) is used instead, with a warning. Fixed effects are referred to t
distributions with between-within degrees of freedom (see :mod:`analysis.shared.dof`) or,
with ``df_method="normal"``, to the normal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analysis.coded_warnings import CodedWarning
from analysis.errors import ConvergenceError, DataError, ModelSpecificationError
from analysis.families import FAMILIES as REGISTRY
from analysis.glmm.covariance import fixed_effect_cov, rx_covariance, separation_warnings
from analysis.glmm.design import Design, build_design
from analysis.glmm.families import Array, Family, check_outcome, make_family
from analysis.glmm.glmer_hessian import GlmerLaplaceDevfun, stage_one_predictor
from analysis.glmm.likelihood import MarginalDeviance
from analysis.glmm.multi import fit_random_terms
from analysis.glmm.optimise import BatchGradient, ValueAndGradient, minimise
from analysis.glmm.results import GlmmResults, glmm_results
from analysis.glmm.starts import (
    LOG_SIZE_MAX,
    SIZE_MAX,
    grid_start,
    nb_value_and_grad,
    poisson_start,
    start_beta,
)
from analysis.shared.dof import between_within_df

__all__ = [
    "FAMILIES",
    "LOG_SIZE_MAX",
    "SIZE_MAX",
    "Problem",
    "best_fit",
    "build_problem",
    "fit_glmm",
]

#: The families a GLMM can be fitted for (see :mod:`analysis.families`).
FAMILIES = tuple(name for name, f in REGISTRY.items() if f.mixed_model == "glmm")
BOUNDARY_TOL = 1e-4
#: Starting sizes tried for the NB2 fit (besides SIZE_MAX, the Poisson GLMM).
_NB_START_SIZES = (5.0, 20.0, 200.0)
SIZE_AT_BOUND = CodedWarning(
    "nb-size-at-bound",
    "size at its upper bound: the data show no overdispersion beyond Poisson; the NB fit "
    "reduces to the Poisson model",
)


@dataclass
class Problem:
    """Everything a fit or a profile of one GLMM needs."""

    design: Design
    family: str
    fam: Family
    dev: MarginalDeviance
    objective: Callable[[Array], float]
    lower: Array
    x0: Array
    ntheta: int
    upper: Array
    #: Points the fit starts from (the lowest deviance reached wins); ``x0`` is the best.
    starts: tuple[Array, ...]
    #: The objective with its exact gradient (None for the Poisson-lognormal model).
    value_and_grad: ValueAndGradient | None = None
    #: That gradient at many points in one vectorised call (Poisson and binomial only).
    gradients: BatchGradient | None = None


def build_problem(
    data: pd.DataFrame,
    formula: str,
    group: str,
    *,
    family: str,
    offset: str | None,
    exposure: str | None,
    trials: str | None,
    nagq: int,
    start: Array | None = None,
) -> Problem:
    """Validate the inputs and set up the deviance of ``(theta[, log size], beta)``.

    ``start`` (a full parameter vector, e.g. a previous fit's optimum) replaces the GLM
    start and the theta grid; for the negative binomial the Poisson-GLMM start is kept
    too, so the NB fit is still never worse than the Poisson one."""
    if family not in FAMILIES:
        raise ModelSpecificationError(f"unknown family {family!r}; choose from {FAMILIES}")
    if not isinstance(nagq, int | np.integer) or nagq < 1:
        raise ModelSpecificationError("nagq must be a positive integer")
    if nagq > 1 and not REGISTRY[family].agq:
        raise ModelSpecificationError(
            f"adaptive quadrature needs a single scalar random effect; {family} is fitted by Laplace (nagq=1)"
        )
    design = build_design(data, formula, group, offset=offset, exposure=exposure)
    if design.ngroups < 2:
        raise DataError("a GLMM needs at least two clusters")
    m = None if trials is None else data[trials].to_numpy(dtype=np.float64)
    check_outcome(family, design.y, m)
    if np.linalg.matrix_rank(design.X) < design.X.shape[1]:
        raise DataError("the fixed-effects design is rank deficient")

    base = (
        "binomial"
        if family == "binomial"
        else ("negative_binomial" if family == "negative_binomial" else "poisson")
    )
    fam = make_family(base, design.y, m)
    olre = family == "poisson_olre"
    dev = MarginalDeviance(fam, design.X, design.offset, design.group, nagq=nagq, olre=olre)
    p = design.X.shape[1]
    ntheta = 2 if family in ("poisson_olre", "negative_binomial") else 1
    if start is not None and len(start) != ntheta + p:
        raise ModelSpecificationError(
            f"start has {len(start)} parameters; this model has {ntheta + p}"
        )
    beta0 = start_beta(design, family, m) if start is None else np.asarray(start[-p:])

    objective: Callable[[Array], float]
    value_and_grad: ValueAndGradient | None = None
    if family == "negative_binomial":

        def objective(x: Array) -> float:
            return dev(x[:1], x[2:], fam.with_size(float(np.exp(x[1]))))

        value_and_grad = nb_value_and_grad(dev, fam)

        lower = np.r_[0.0, -np.inf, np.full(p, -np.inf)]
        upper = np.r_[np.inf, LOG_SIZE_MAX, np.full(p, np.inf)]
        extras = [[float(np.log(k))] for k in _NB_START_SIZES]
    else:

        def objective(x: Array) -> float:
            return dev(x[:ntheta], x[ntheta:])

        if not olre:

            def value_and_grad(x: Array) -> tuple[float, Array]:
                return dev.value_and_gradient(x[:1], x[1:])

        lower = np.r_[np.zeros(ntheta), np.full(p, -np.inf)]
        upper = np.full(len(lower), np.inf)
        extras = [[0.1] if olre else []]
    grid = [0.05, 0.1, 0.2, 0.4, 0.8, 1.6]
    if start is not None:
        best = np.clip(np.asarray(start, dtype=np.float64), lower, upper)
    else:
        best = min(
            (grid_start(objective, grid, extra, beta0) for extra in extras), key=lambda r: r[1]
        )[0]
    starts: tuple[Array, ...] = (best,)
    if family == "negative_binomial":
        starts = (best, poisson_start(dev, grid, beta0))
    x0 = min(starts, key=objective) if len(starts) > 1 else best
    gradients = dev.gradients if family in ("poisson", "binomial") else None
    return Problem(
        design,
        family,
        fam,
        dev,
        objective,
        lower,
        x0,
        ntheta,
        upper,
        starts,
        value_and_grad,
        gradients,
    )


def fit_glmm(
    data: pd.DataFrame,
    formula: str,
    group: str,
    *,
    family: str = "poisson",
    offset: str | None = None,
    exposure: str | None = None,
    trials: str | None = None,
    nagq: int = 1,
    df_method: str | None = None,
    random: str | None = None,
    start: GlmmResults | None = None,
) -> GlmmResults:
    """Fit a GLMM with a random intercept per cluster (or, with ``random``, several random
    effects nested in the cluster) by maximum likelihood.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per observation (borough-quarter, or child).
    formula : str
        Fixed effects as a patsy formula, e.g. ``"count ~ arm + post + treat"``.
    group : str
        Column holding the cluster (borough) label.
    family : {"poisson", "binomial", "poisson_olre", "negative_binomial"}
    offset : str, optional
        Column added to the linear predictor as is.
    exposure : str, optional
        Column whose log is added to the linear predictor (e.g. child population).
    trials : str, optional
        Binomial numbers of trials (default: binary outcome).
    nagq : int
        Adaptive Gauss-Hermite points; 1 = Laplace. Above 1 only for ``"poisson"`` and
        ``"binomial"`` (a single scalar random effect), as in lme4.
    df_method : {"between-within", "containment", "normal"}, optional
        Default: between-within for a random intercept, containment (see
        :mod:`analysis.glmm.containment`) for several random effects per cluster.
    random : str, optional
        lme4-style random-effect terms nested in ``group``, e.g.
        ``"(1|borough) + (1|borough:post)"``, ``"(1 + t|borough)"``,
        ``"(1|borough) + (0 + t|borough)"`` (:mod:`analysis.shared.random_effects`).
        Anything beyond ``"(1|group)"`` is fitted by Laplace (:mod:`analysis.glmm.multi`);
        ``nagq > 1`` needs a single scalar random effect, as in lme4.
    start : GlmmResults, optional
        A previous fit of the same model (family, formula, random intercept) to start
        from instead of the GLM and the theta grid: the warm start of simulations,
        randomisation refits and profiles; same estimates, less work. A fit with several
        random-effect terms ignores it.

    Returns
    -------
    GlmmResults
        Typed fields ``loglik``, ``deviance``, ``aic``, ``theta``, ``theta_names``, ``nagq``
        and ``size`` (NB2).
        ``variance_components`` holds the random-effect variances (``"cluster"`` and, for
        ``"poisson_olre"``, ``"observation"``); ``extra`` holds ``deviance`` (lme4's
        objective), ``loglik`` (the full log-likelihood, saturated constants included),
        ``theta``, ``random_effects`` (conditional modes on the linear-predictor scale),
        ``size`` and ``size_at_bound`` (NB2), ``nagq`` and, for the glmer families,
        ``cov_rx`` (lme4's ``vcov(fit, use.hessian = FALSE)``, a data frame).
    """
    if df_method not in (None, "between-within", "containment", "normal"):
        raise ModelSpecificationError(f"unknown df_method {df_method!r}")
    if random is not None:
        multi = fit_random_terms(
            data, formula, group, random, family, offset, exposure, trials, nagq, df_method
        )
        if multi is not None:
            return multi
    df_method = df_method or "between-within"
    prob = build_problem(
        data,
        formula,
        group,
        family=family,
        offset=offset,
        exposure=exposure,
        trials=trials,
        nagq=nagq,
        start=_start_vector(start, family),
    )
    design, fam, dev, objective, ntheta = (
        prob.design,
        prob.fam,
        prob.dev,
        prob.objective,
        prob.ntheta,
    )
    olre = family == "poisson_olre"
    p = design.X.shape[1]
    x, converged, message = best_fit(prob)

    notes: list[CodedWarning] = []
    if not converged:
        notes.append(
            CodedWarning(
                "not-converged",
                f"the optimiser did not converge ({message}); estimates are unreliable",
            )
        )
    thetas = np.abs(x[:1]) if family == "negative_binomial" else np.abs(x[:ntheta])
    if np.any(thetas < BOUNDARY_TOL):
        notes.append(
            CodedWarning(
                "singular-fit",
                "boundary fit: a random-effect standard deviation is estimated at zero "
                "(singular fit); the clustering is not identified from these data",
            )
        )
    pinned = np.zeros(len(x), dtype=bool)
    pinned[: len(thetas)] = thetas < BOUNDARY_TOL
    if family == "negative_binomial" and x[1] >= LOG_SIZE_MAX - BOUNDARY_TOL:
        # k = inf is the Poisson model: as for a zero SD, the deviance is flat in log k
        # there, so the covariance is that of the other parameters given the bound
        notes.append(SIZE_AT_BOUND)
        pinned[1] = True
    glmer = None if family == "negative_binomial" else _glmer_devfun(prob, x)
    hess_objective: Callable[[Array], float] = objective
    # the deviance's own Hessian from its exact gradient (2 n gradients instead of 2 n^2
    # deviances); the NB2 gradient differences log(size) numerically, so it keeps deriv12
    exact = prob.value_and_grad if family != "negative_binomial" else None
    if glmer is not None and nagq == 1:
        hess_objective = glmer
    elif family != "negative_binomial" and nagq == 1:
        notes.append(
            CodedWarning(
                "glmer-stage1-fallback",
                "glmer's stage-1 (nAGQ = 0) fit could not be reproduced; the Hessian is the "
                "exact Laplace one",
            )
        )
    try:
        use_exact = hess_objective is not glmer
        cov, hess_ok, cov_ok = fixed_effect_cov(
            hess_objective,
            x,
            ntheta,
            p,
            pinned,
            exact if use_exact else None,
            # the 2 n gradients of the Hessian in one vectorised pass
            prob.gradients if use_exact and exact is not None else None,
        )
    except (ConvergenceError, np.linalg.LinAlgError):
        # glmer's PIRLS failed at a Hessian point: fall back to the exact Laplace deviance
        notes.append(
            CodedWarning(
                "pirls-fallback",
                "lme4's PIRLS failed near the optimum; the Hessian is the exact Laplace one",
            )
        )
        glmer = None
        cov, hess_ok, cov_ok = fixed_effect_cov(objective, x, ntheta, p, pinned, exact)
    cov_rx = rx_covariance(glmer, x)
    if not hess_ok:
        notes.append(
            CodedWarning(
                "hessian-not-positive-definite",
                "the Hessian of the deviance is not positive definite; standard errors are "
                "unreliable",
            )
        )
    if not cov_ok and cov_rx is not None:
        notes.append(
            CodedWarning(
                "covariance-rx-fallback",
                "the covariance from the finite-difference Hessian is not positive definite; "
                "falling back to the RX-based covariance (as lme4's vcov)",
            )
        )
        cov = cov_rx
    beta = x[ntheta:]
    final_fam = fam.with_size(float(np.exp(x[1]))) if family == "negative_binomial" else fam
    deviance = objective(x)
    u, v, eta = dev.modes(x[:1] if family == "negative_binomial" else x[:ntheta], beta, final_fam)
    if family == "binomial":
        notes.extend(
            separation_warnings(
                final_fam, eta, beta, np.sqrt(np.clip(np.diag(cov), 0.0, None)), design.names
            )
        )

    names = list(design.names)
    if df_method in ("between-within", "containment"):
        # for a random intercept the containment rule is the between-within rule
        df_values = between_within_df(design.X, design.group)
        inference = f"wald-t-{df_method}"
    else:
        df_values = np.full(p, np.inf)
        inference = "wald-normal"
    vc: dict[str, float] = {"cluster": float(thetas[0] ** 2)}
    if olre:
        vc["observation"] = float(thetas[1] ** 2)
    extra: dict[str, Any] = {
        "random_effects": {
            lab: float(thetas[0] * u[i]) for i, lab in enumerate(design.group_labels)
        },
        "optimiser_message": message,
    }
    if cov_rx is not None:
        extra["cov_rx"] = pd.DataFrame(cov_rx, index=names, columns=names)
    size: float | None = None
    if family == "negative_binomial":
        size = SIZE_MAX if pinned[1] else float(np.exp(x[1]))
        extra["size_at_bound"] = bool(pinned[1])
    # AGQ deviances are relative to the saturated model (as lme4's); the log-likelihood
    # puts the saturated constants back
    loglik = -0.5 * (float(deviance) + (dev.saturated() if nagq > 1 else 0.0))
    method = "laplace" if nagq == 1 else f"agq{nagq}"
    theta_out = [float(t) for t in thetas] if family != "negative_binomial" else [float(thetas[0])]
    return glmm_results(
        names=names,
        beta=beta,
        cov=cov,
        df=df_values,
        model=f"glmm-{family}-{method}",
        inference=inference,
        nobs=design.nobs,
        ngroups=design.ngroups,
        variance_components=vc,
        converged=converged and hess_ok,
        warnings=notes,
        deviance=float(deviance),
        loglik=loglik,
        n_params=len(thetas) + p + (1 if family == "negative_binomial" else 0),
        theta=theta_out,
        # in this model's theta order: the cluster's SD, then the observation-level one
        theta_names=(f"{group}.(Intercept)", "observation.(Intercept)")[: len(theta_out)],
        nagq=int(nagq),
        size=size,
        extra=extra,
    )


def _start_vector(start: GlmmResults | None, family: str) -> Array | None:
    """``(theta[, log size], beta)`` of a previous fit, or None (no usable start)."""
    if start is None:
        return None
    if not start.model.startswith(f"glmm-{family}-") or "random" in start.extra:
        raise ModelSpecificationError(
            f"start must be a previous random-intercept fit of the {family} GLMM, "
            f"not {start.model!r}"
        )
    extra = [] if start.size is None else [float(np.log(min(start.size, SIZE_MAX)))]
    return np.asarray(
        np.r_[list(start.theta), extra, start.params.to_numpy(dtype=np.float64)],
        dtype=np.float64,
    )


def best_fit(prob: Problem) -> tuple[Array, bool, str]:
    """Minimise from each start; keep the lowest deviance. A start whose fit fails (its
    conditional modes cannot be found far from the optimum) gives way to the others."""
    runs: list[tuple[float, tuple[Array, bool, str]]] = []
    failure: ConvergenceError | None = None
    for start in prob.starts:
        try:
            run = minimise(
                prob.objective,
                start,
                prob.lower,
                upper=prob.upper,
                value_and_grad=prob.value_and_grad,
                gradients=prob.gradients,
            )
            if len(prob.starts) == 1:
                return run
            runs.append((prob.objective(run[0]), run))
        except ConvergenceError as exc:
            failure = failure or exc
    if not runs:
        assert failure is not None
        raise failure
    return min(runs, key=lambda r: r[0])[1]


def _glmer_devfun(prob: Problem, x: Array) -> GlmerLaplaceDevfun | None:
    """glmer's stage-2 Laplace devfun restarting from its stage-1 predictor, or None if the
    stage-1 (nAGQ = 0) fit cannot be reproduced (e.g. separation)."""
    d = prob.design
    olre = prob.family == "poisson_olre"
    try:
        lp0 = stage_one_predictor(
            prob.fam, d.X, d.offset, d.group, olre, x[: prob.ntheta], x[prob.ntheta :]
        )
    except (ConvergenceError, np.linalg.LinAlgError):
        return None
    if not np.all(np.isfinite(lp0)):
        return None
    return GlmerLaplaceDevfun(prob.fam, d.X, d.offset, d.group, olre, lp0)
