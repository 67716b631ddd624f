"""The fixed words a protocol may use: methods, families, model terms, inference methods.

Kept in one place so the loader, the analysis runner and the documentation agree.
"""

from __future__ import annotations

ALLOCATION_METHODS = ("complete", "stratified", "constrained")
METRICS = ("l1", "l2")
INDICATOR_TYPES = ("count", "rate", "proportion", "continuous")
ROLES = ("primary", "secondary", "sensitivity")
FAMILIES = ("gaussian", "poisson", "negative_binomial", "binomial")
PERIOD_WINDOWS = ("all", "follow_up")

#: Model terms with a fixed meaning (unit covariate names are allowed as terms too).
TERMS = {
    "treatment": "1 for an intervention unit in a follow-up quarter, else 0: the effect estimated",
    "arm": "1 for an intervention unit in every quarter, else 0",
    "post": "1 for a follow-up quarter, else 0",
    "period": "one fixed effect per calendar quarter (categorical)",
    "time": "quarters since the first baseline quarter (linear)",
    "baseline": "the unit's log baseline rate of the same outcome (for follow-up-only analyses)",
}

#: Covariate-by-covariate constraints in R cvcrand ``cvrcov``'s language: ``any``, ``mX``,
#: ``mfX``, ``sX``, ``sfX`` (see :mod:`allocation.constraints`).
CONSTRAINT_PATTERN = r"^(m|s)(f?)(\d+\.?\d*|\.\d+)$"

RANDOM_TERMS = {
    "unit": "random intercept per unit (cluster)",
    "unit:time": "random slope of time per unit, correlated with the intercept",
    "unit:post": "unit x phase (baseline / follow-up) random effect",
    "unit:period": "unit x quarter random effect (cluster-period, block-exchangeable)",
    "unit_trend": "random slope on time per unit, correlated with the unit intercept",
    "unit_trend_uncorrelated": "random slope on time per unit, uncorrelated with the intercept",
}

#: The protocol's random-effect entries as lme4-style terms over the analysis frame's
#: columns (``unit``, ``post``, ``period``, ``time``), as the model libraries take them.
RANDOM_LME4 = {
    "unit": "(1|unit)",
    "unit:time": "(1+time|unit)",
    "unit:post": "(1|unit:post)",
    "unit:period": "(1|unit:period)",
    "unit_trend": "(1+time|unit)",
    "unit_trend_uncorrelated": "(0+time|unit)",
}

#: Inference methods and the families they apply to.
INFERENCE = {
    "between-within": FAMILIES,
    "satterthwaite": ("gaussian",),
    "kenward-roger": ("gaussian",),
    "wald-normal": FAMILIES,
    "gee-mancl-derouen": ("gaussian", "poisson", "binomial"),
    "cluster-level": FAMILIES,
    "randomisation": FAMILIES,
}
