"""GLMMs with several random-effect terms per cluster, fitted by Laplace.

``fit_glmm(..., random="(1|borough) + (1|borough:post)")`` lands here when the structure is
more than a single random intercept: a borough x period random effect (the
block-exchangeable "cluster-period" model), a random slope on time correlated or not with
the intercept. The deviance is the Laplace approximation of :mod:`analysis.glmm.blocks`
(glmer's ``nAGQ = 1`` objective; TMB's for the negative binomial); adaptive quadrature
needs a single scalar random effect and is refused, as in lme4. The optimiser uses its exact gradient
(:meth:`analysis.glmm.blocks.BlockLaplace.value_and_gradient`). Standard errors are twice
the inverse of the Hessian (central differences of the exact gradient; deriv12 for the NB2) of that deviance in ``(theta[, log size], beta)``
(fixed-effects block), the exact-Laplace covariance glmmTMB reports; thetas estimated at
zero are held there (their rows dropped), as for the random-intercept model. Fixed effects
are referred to t distributions with containment df (:mod:`analysis.glmm.containment`),
or with ``df_method="normal"`` to the normal.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from analysis.coded_warnings import CodedWarning
from analysis.errors import DataError, ModelSpecificationError
from analysis.glmm.blocks import BlockLaplace
from analysis.glmm.containment import containment_df
from analysis.glmm.design import Design, build_design
from analysis.glmm.families import Array, Family, check_outcome, make_family
from analysis.glmm.optimise import fd_hessian, gradient_hessian_batched, minimise
from analysis.glmm.results import GlmmResults, glmm_results
from analysis.glmm.starts import SIZE_MAX, start_beta
from analysis.shared.random_effects import RandomStructure, build_random_structure

__all__ = ["fit_glmm_terms", "fit_random_terms"]

BOUNDARY_TOL = 1e-4
_GRID = (0.05, 0.2, 0.5)


def fit_glmm_terms(
    data: pd.DataFrame,
    formula: str,
    structure: RandomStructure,
    *,
    family: str,
    offset: str | None,
    exposure: str | None,
    trials: str | None,
    df_method: str,
    start_beta: Array,
    size_max: float,
    design: Design | None = None,
) -> GlmmResults:
    """Fit the GLMM with random-effect ``structure`` (see the module docstring); ``design``
    is the already built fixed-effects design, if the caller has it."""
    if design is None:
        design = build_design(data, formula, structure.group, offset=offset, exposure=exposure)
    m = None if trials is None else data[trials].to_numpy(dtype=np.float64)
    base = family if family in ("binomial", "negative_binomial") else "poisson"
    fam = make_family(base, design.y, m)
    dev = BlockLaplace(fam, design.X, design.offset, structure)
    nt, p = structure.n_theta, design.X.shape[1]
    nb = family == "negative_binomial"
    log_size_max = float(np.log(size_max))

    def split(x: Array) -> tuple[Array, Family, Array]:
        if nb:
            return x[:nt], fam.with_size(float(np.exp(x[nt]))), x[nt + 1 :]
        return x[:nt], fam, x[nt:]

    def objective(x: Array) -> float:
        theta, f, beta = split(x)
        return dev(theta, beta, f)

    def value_and_grad(x: Array) -> tuple[float, Array]:
        """Exact gradient in theta and beta; a central difference in log(size) (NB2)."""
        theta, f, beta = split(x)
        value, grad = dev.value_and_gradient(theta, beta, f)
        if not nb:
            return value, grad
        h = 1e-6 * max(1.0, abs(float(x[nt])))
        up = dev(theta, beta, fam.with_size(float(np.exp(x[nt] + h))))
        down = dev(theta, beta, fam.with_size(float(np.exp(x[nt] - h))))
        return value, np.r_[grad[:nt], (up - down) / (2.0 * h), grad[nt:]]

    def gradients(points: Array) -> Array:
        """Exact gradients at the rows of ``points`` (k, n_theta + p) in one vectorised
        pass (not for the NB2, whose log(size) is differenced)."""
        return dev.gradients(points[:, :nt], points[:, nt:])

    extra_lo = [-np.inf] if nb else []
    extra_hi = [log_size_max] if nb else []
    lower = np.r_[structure.lower_bounds, extra_lo, np.full(p, -np.inf)]
    upper = np.r_[np.full(nt, np.inf), extra_hi, np.full(p, np.inf)]
    diag = structure.diagonal
    starts = [
        np.r_[np.where(diag, t, 0.0), [np.log(k)] if nb else [], start_beta]
        for t in _GRID
        for k in ((5.0, 50.0) if nb else (1.0,))
    ]
    x0 = min(starts, key=objective)
    x, converged, message = minimise(
        objective,
        x0,
        lower,
        upper=upper,
        value_and_grad=value_and_grad,
        gradients=None if nb else gradients,
    )

    notes: list[CodedWarning] = []
    if not converged:
        notes.append(
            CodedWarning(
                "not-converged",
                f"the optimiser did not converge ({message}); estimates are unreliable",
            )
        )
    theta = x[:nt]
    pinned = np.zeros(len(x), dtype=bool)
    pinned[:nt] = diag & (np.abs(theta) < BOUNDARY_TOL)
    if pinned.any():
        notes.append(
            CodedWarning(
                "singular-fit",
                "boundary fit: a random-effect standard deviation is estimated at zero "
                "(singular fit); its term is not identified from these data",
            )
        )
    if nb and x[nt] >= log_size_max - BOUNDARY_TOL:
        notes.append(
            CodedWarning(
                "nb-size-at-bound",
                "size at its upper bound: the data show no overdispersion beyond Poisson",
            )
        )
        pinned[nt] = True
    # the NB2 gradient differences log(size) numerically, so its Hessian stays deriv12;
    # the others difference the exact gradient, the 2 n gradients in one vectorised pass
    H = fd_hessian(objective, x) if nb else gradient_hessian_batched(gradients, x)
    keep = ~pinned
    Hk = H[np.ix_(keep, keep)]
    nfree = int(np.sum(keep[: len(x) - p]))
    hess_ok = bool(np.all(np.isfinite(Hk))) and bool(np.all(np.linalg.eigvalsh(Hk) > 0))
    if hess_ok:
        inv = np.linalg.inv(Hk)
        cov = inv[nfree:, nfree:] + inv[nfree:, nfree:].T
    else:
        cov = np.full((p, p), np.nan)
        notes.append(
            CodedWarning(
                "hessian-not-positive-definite",
                "the Hessian of the deviance is not positive definite; standard errors are "
                "unreliable",
            )
        )
    deviance = objective(x)
    names = list(design.names)
    if df_method == "containment":
        df_values = containment_df(design.X, structure)
        inference = "wald-t-containment"
    elif df_method == "normal":
        df_values = np.full(p, np.inf)
        inference = "wald-normal"
    else:
        raise ModelSpecificationError(
            f"df_method {df_method!r} is for a single random intercept; with several random "
            "effects per cluster use 'containment' or 'normal'"
        )
    th, f, beta = split(x)
    vc = {c.name: c.vcov for c in structure.variance_components(th)}
    b = dev.random_effects(th, beta, f)
    extra: dict[str, Any] = {
        "theta_names": list(structure.theta_names),
        "random_effects": pd.DataFrame(
            b, index=[str(g) for g in structure.group_labels], columns=structure.columns
        ),
        "random": " + ".join(t.text for t in structure.terms),
        "optimiser_message": message,
    }
    size: float | None = None
    if nb:
        size = size_max if pinned[nt] else float(np.exp(x[nt]))
        extra["size_at_bound"] = bool(pinned[nt])
    return glmm_results(
        names=names,
        beta=beta,
        cov=cov,
        df=df_values,
        model=f"glmm-{family}-laplace",
        inference=inference,
        nobs=design.nobs,
        ngroups=design.ngroups,
        variance_components=vc,
        converged=converged and hess_ok,
        warnings=notes,
        deviance=float(deviance),
        loglik=-0.5 * float(deviance),
        n_params=len(x),
        theta=[float(t) for t in th],
        theta_names=structure.theta_names,
        nagq=1,
        size=size,
        extra=extra,
    )


def fit_random_terms(
    data: pd.DataFrame,
    formula: str,
    group: str,
    random: str,
    family: str,
    offset: str | None,
    exposure: str | None,
    trials: str | None,
    nagq: int,
    df_method: str | None,
) -> GlmmResults | None:
    """:func:`analysis.glmm.fit_glmm` with ``random``: the Laplace fit of several random
    effects per cluster, after the checks every GLMM gets; None for ``(1|group)`` alone
    (the random-intercept engine fits it, with AGQ if asked)."""
    structure = build_random_structure(random, data)
    if structure.group != group:
        raise ModelSpecificationError(
            f"random effects {random!r} are nested in {structure.group!r}, not in the "
            f"cluster column {group!r}"
        )
    terms = structure.terms
    if len(terms) == 1 and terms[0].intercept and not terms[0].slope and not terms[0].nested:
        return None
    if family not in ("poisson", "binomial", "negative_binomial"):
        raise ModelSpecificationError(
            f"family {family!r} cannot take several random-effect terms; use poisson, "
            "binomial or negative_binomial"
        )
    if nagq != 1:
        raise ModelSpecificationError(
            f"adaptive quadrature (nagq={nagq}) needs a single scalar random effect; "
            f"{random!r} has several per cluster and is fitted by Laplace (nagq=1)"
        )
    if df_method == "between-within":
        raise ModelSpecificationError(
            "the between-within df rule ignores random effects below the cluster; with "
            f"{random!r} use df_method='containment' (the default) or 'normal'"
        )
    # validation, outcome checks and GLM start values as for the random intercept
    prob_design = build_design(data, formula, group, offset=offset, exposure=exposure)
    m = None if trials is None else data[trials].to_numpy(dtype=np.float64)
    check_outcome(family, prob_design.y, m)
    if np.linalg.matrix_rank(prob_design.X) < prob_design.X.shape[1]:
        raise DataError("the fixed-effects design is rank deficient")
    return fit_glmm_terms(
        data,
        formula,
        structure,
        family=family,
        offset=offset,
        exposure=exposure,
        trials=trials,
        df_method=df_method or "containment",
        start_beta=start_beta(prob_design, family, m),
        size_max=SIZE_MAX,
        design=prob_design,
    )
