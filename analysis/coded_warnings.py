"""The codes of the warnings the analysis library reports: a fit or a test that worked,
but with trouble (a singular fit, a Hessian that is not positive definite, ...).

A warning is a :class:`~protocols.errors.CodedWarning` (the record the libraries share): a
``code`` from :data:`CODES` that programs and tests match, and a ``message`` that people
read (``str(w)`` is the message). Results files store each as ``{"code": ..., "message":
...}``; files written before warnings had codes store plain strings, which read back as
code :data:`LEGACY` and are written back as the same plain strings, so an old results file
still round-trips byte for byte.
"""

from __future__ import annotations

from protocols.errors import LEGACY, CodedWarning, warning_text

__all__ = ["CODES", "LEGACY", "CodedWarning", "warning_text"]


#: code -> (what it means, what to do) for every warning the analysis library reports
#: (docs/error-codes.md is generated from this and the error registries).
CODES: dict[str, tuple[str, str]] = {
    "not-converged": (
        "The optimiser stopped before it met its convergence criterion.",
        "Treat the estimates as unreliable; check the data and simplify the model.",
    ),
    "convergence-gradient": (
        "At the optimum found, the scaled gradient of the deviance is not small (lme4's "
        "convergence check).",
        "Check the fit against another optimiser or start; simplify the model if it persists.",
    ),
    "singular-fit": (
        "A random-effect variance is estimated at (or near) zero: a boundary fit; the "
        "clustering is not identified from these data.",
        "Usually harmless for the fixed effects; report it, and see the supportive methods.",
    ),
    "satterthwaite-hessian-negative": (
        "The deviance Hessian used for Satterthwaite's degrees of freedom has negative "
        "eigenvalues: the fit did not reach a minimum.",
        "Treat the degrees of freedom as unreliable; check convergence.",
    ),
    "satterthwaite-hessian-singular": (
        "The deviance Hessian used for Satterthwaite's degrees of freedom has eigenvalues "
        "close to zero (often with a singular fit).",
        "Treat the degrees of freedom with caution.",
    ),
    "nb-size-at-bound": (
        "The negative binomial size is at its upper bound: no overdispersion beyond Poisson, "
        "so the fit is the Poisson model's.",
        "Nothing to do; the Poisson model describes these data.",
    ),
    "glmer-stage1-fallback": (
        "glmer's stage-1 (nAGQ = 0) fit could not be reproduced, so the Hessian is the "
        "exact Laplace one rather than lme4's.",
        "Standard errors may differ slightly from lme4's; nothing else to do.",
    ),
    "pirls-fallback": (
        "lme4's penalised IRLS failed near the optimum, so the Hessian is the exact Laplace one.",
        "Standard errors may differ slightly from lme4's; nothing else to do.",
    ),
    "hessian-not-positive-definite": (
        "The Hessian of the deviance is not positive definite: standard errors are unreliable.",
        "Do not rely on the Wald inference; see the supportive methods.",
    ),
    "covariance-rx-fallback": (
        "The covariance from the finite-difference Hessian is not positive definite, so the "
        "RX-based covariance (as lme4's vcov) is used.",
        "Standard errors follow lme4's vcov; report it.",
    ),
    "separation": (
        "(Quasi-)separation: some fitted probabilities are numerically 0 or 1.",
        "Treat the estimates as unreliable; consider the cluster-level or randomisation methods.",
    ),
    "separation-suspected": (
        "Huge coefficients or standard errors suggest (quasi-)separation.",
        "Check the terms named; consider the cluster-level or randomisation methods.",
    ),
    "gee-not-converged": (
        "The GEE solver reported that it did not converge (or hit its iteration limit).",
        "Treat the GEE estimates as unreliable.",
    ),
    "unbounded-interval": (
        "The scheme space is too small to reject any effect at the chosen level: the "
        "randomisation-test confidence interval is unbounded.",
        "Report the interval as unbounded; the p-value is still valid.",
    ),
    "python-warning": (
        "A Python warning (e.g. numpy's RuntimeWarning) was raised during the fit; the "
        "message starts with its category.",
        "Read the message; check the fit's other warnings and estimates.",
    ),
    LEGACY: (
        "A warning read from a results file written before warnings had codes.",
        "Re-run the analyses to get coded warnings, or read the message.",
    ),
}
