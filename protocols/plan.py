"""Read the allocation specification and the statistical analysis plan of a protocol.

Part of the loader (:mod:`protocols.loader`): each reader records every problem in the
:class:`~protocols.checker.Checker` with its location and returns what it could build.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, cast

from protocols import vocabulary as V
from protocols.checker import MAX_MAGNITUDE, Checker, unique
from protocols.model import AllocationSpec, Analysis, Arm, Indicator, Unit

#: Covariate weights of the balance metric: their squares times squared covariates
#: (at most 1e12) stay far from overflow.
MAX_WEIGHT = 1e6

__all__ = ["read_allocation", "read_analyses"]


def read_allocation(
    c: Checker, t: Mapping[str, Any], arms: tuple[Arm, ...], units: tuple[Unit, ...]
) -> AllocationSpec | None:
    w = "allocation"
    c.unknown_keys(
        t,
        {
            "method",
            "arm_sizes",
            "intervention_arm",
            "stratify",
            "covariates",
            "categorical",
            "metric",
            "weights",
            "cutoff_quantile",
            "cutoff_schemes",
            "max_covariate_difference",
            "covariate_constraints",
        },
        w,
    )
    method = c.text(t, "method", w, choices=V.ALLOCATION_METHODS)
    codes = [a.code for a in arms]
    sizes_raw = c.get(t, "arm_sizes", w, dict) or {}
    sizes: dict[str, int] = {}
    for k, v in sizes_raw.items():
        if k not in codes:
            c.add(f"{w}.arm_sizes.{k}", f"is not an arm (arms: {', '.join(codes)})")
        elif isinstance(v, bool) or not isinstance(v, int) or v < 1:
            c.add(f"{w}.arm_sizes.{k}", f"must be a whole number of units, at least 1; found {v!r}")
        else:
            sizes[k] = v
    if sizes_raw and codes and set(sizes_raw) != set(codes):
        missing = [a for a in codes if a not in sizes_raw]
        if missing:
            c.add(f"{w}.arm_sizes", f"gives no size for arm(s) {', '.join(missing)}")
    if sizes and units and len(sizes) == len(codes) and sum(sizes.values()) != len(units):
        c.add(
            f"{w}.arm_sizes",
            f"sizes add up to {sum(sizes.values())} but there are {len(units)} units",
        )
    intervention = c.text(t, "intervention_arm", w, "intervention")
    if codes and intervention not in codes:
        c.add(f"{w}.intervention_arm", f"{intervention!r} is not an arm (arms: {', '.join(codes)})")
    stratify = bool(c.get(t, "stratify", w, bool, method == "stratified"))
    if stratify:
        for i, u in enumerate(units):
            if not u.stratum:
                c.add(f"units[{i}].stratum", "is required because allocation.stratify is true")
    covariates = c.texts(t, "covariates", w)
    categorical = c.texts(t, "categorical", w)
    for j, name in enumerate(covariates):
        for i, u in enumerate(units):
            if name not in u.covariates:
                c.add(
                    f"units[{i}].covariates", f"lacks {name!r}, named in allocation.covariates[{j}]"
                )
            elif name not in categorical and isinstance(u.covariates[name], str):
                c.add(
                    f"units[{i}].covariates.{name}",
                    f"is text ({u.covariates[name]!r}) but {name!r} is not listed in allocation.categorical",
                )
    for j, name in enumerate(categorical):
        if name not in covariates:
            c.add(f"{w}.categorical[{j}]", f"{name!r} is not in allocation.covariates")
    metric = c.text(t, "metric", w, "l2", choices=V.METRICS)
    weights_raw = c.get(t, "weights", w, dict, {}) or {}
    weights: dict[str, float] = {}
    for k, v in weights_raw.items():
        if k not in covariates:
            c.add(f"{w}.weights.{k}", "is not in allocation.covariates")
        elif (
            isinstance(v, bool)
            or not isinstance(v, (int, float))
            or not v > 0
            or not math.isfinite(v)
            or v > MAX_WEIGHT
        ):
            c.add(
                f"{w}.weights.{k}", f"must be a positive number at most {MAX_WEIGHT:g}, found {v!r}"
            )
        else:
            weights[k] = float(v)
    q = c.get(t, "cutoff_quantile", w, float, None)
    n = c.get(t, "cutoff_schemes", w, int, None)
    if q is not None and not 0 < q <= 1:
        c.add(f"{w}.cutoff_quantile", f"must be above 0 and at most 1, found {q}")
    if n is not None and n < 1:
        c.add(f"{w}.cutoff_schemes", f"must be at least 1, found {n}")
    if method == "constrained":
        if not covariates:
            c.add(f"{w}.covariates", "constrained randomisation needs at least one covariate")
        if (q is None) == (n is None):
            c.add(
                w,
                "constrained randomisation needs exactly one of cutoff_quantile and cutoff_schemes",
            )
    elif q is not None or n is not None:
        c.add(w, f"a cutoff applies only to method 'constrained', not {method!r}")
    maxdiff_raw = c.get(t, "max_covariate_difference", w, dict, {}) or {}
    maxdiff: dict[str, float] = {}
    for k, v in maxdiff_raw.items():
        if k not in covariates:
            c.add(f"{w}.max_covariate_difference.{k}", "is not in allocation.covariates")
        elif (
            isinstance(v, bool)
            or not isinstance(v, (int, float))
            or not 0 <= v <= MAX_MAGNITUDE  # also refuses nan
        ):
            c.add(f"{w}.max_covariate_difference.{k}", f"must be a number at least 0, found {v!r}")
        else:
            maxdiff[k] = float(v)
    constraints = _constraints(c, t, w, covariates, categorical)
    if not method:
        return None
    return AllocationSpec(
        method=cast(Any, method),
        arm_sizes=sizes,
        stratify=stratify,
        covariates=covariates,
        categorical=tuple(sorted(categorical)),
        metric=cast(Any, metric),
        weights=weights,
        cutoff_quantile=q,
        cutoff_schemes=n,
        max_covariate_difference=maxdiff,
        covariate_constraints=constraints,
        intervention_arm=intervention,
    )


def _constraints(
    c: Checker,
    t: Mapping[str, Any],
    w: str,
    covariates: tuple[str, ...],
    categorical: tuple[str, ...],
) -> dict[str, str]:
    """``covariate_constraints``: covariate -> cvrcov constraint text (``mf0.2``, ``s5``, ...)."""
    raw = c.get(t, "covariate_constraints", w, dict, {}) or {}
    out: dict[str, str] = {}
    for k, v in raw.items():
        loc = f"{w}.covariate_constraints.{k}"
        if k not in covariates:
            c.add(loc, "is not in allocation.covariates")
        elif k in categorical:
            c.add(loc, "constraints apply to numeric covariates; code a category as 0/1 first")
        elif not isinstance(v, str) or not (v == "any" or re.match(V.CONSTRAINT_PATTERN, v)):
            c.add(
                loc,
                "must be cvcrand's form 'any', 'mX', 'mfX', 'sX' or 'sfX' (e.g. 'mf0.2'), "
                f"found {v!r}",
            )
        else:
            out[k] = v
    return out


def read_analyses(
    c: Checker,
    items: list[Mapping[str, Any]],
    indicators: tuple[Indicator, ...],
    units: tuple[Unit, ...],
) -> tuple[Analysis, ...]:
    codes = {i.code for i in indicators}
    common_covs = set.intersection(*(set(u.covariates) for u in units)) if units else set()
    out = []
    for i, t in enumerate(items):
        w = f"analyses[{i}]"
        c.unknown_keys(
            t,
            {
                "name",
                "role",
                "outcome",
                "family",
                "fixed",
                "random",
                "offset",
                "periods",
                "inference",
                "nagq",
                "description",
                "primary_inference",
            },
            w,
        )
        outcome = c.text(t, "outcome", w)
        if outcome and codes and outcome not in codes:
            c.add(
                f"{w}.outcome", f"{outcome!r} is not an indicator code ({', '.join(sorted(codes))})"
            )
        family = c.text(t, "family", w, choices=V.FAMILIES)
        fixed = c.texts(t, "fixed", w)
        for j, term in enumerate(fixed):
            if term not in V.TERMS and term not in common_covs:
                c.add(
                    f"{w}.fixed[{j}]",
                    f"{term!r} is neither a model term ({', '.join(V.TERMS)}) "
                    "nor a covariate of every unit",
                )
        if fixed and "treatment" not in fixed:
            c.add(f"{w}.fixed", "must include 'treatment', the effect the analysis estimates")
        random = c.texts(t, "random", w, ("unit",))
        for j, term in enumerate(random):
            if term not in V.RANDOM_TERMS:
                c.add(
                    f"{w}.random[{j}]",
                    f"must be one of {', '.join(V.RANDOM_TERMS)}; found {term!r}",
                )
        offset = c.text(t, "offset", w, "")
        if offset and units and offset not in common_covs:
            c.add(
                f"{w}.offset",
                f"{offset!r} must be a covariate of every unit (its log is the offset)",
            )
        inference = c.texts(t, "inference", w)
        if not inference and "inference" in t:
            c.add(f"{w}.inference", "must name at least one inference method")
        for j, m in enumerate(inference):
            if m not in V.INFERENCE:
                c.add(
                    f"{w}.inference[{j}]", f"must be one of {', '.join(V.INFERENCE)}; found {m!r}"
                )
            elif family in V.FAMILIES and family not in V.INFERENCE[m]:
                c.add(f"{w}.inference[{j}]", f"{m!r} does not apply to family {family!r}")
        role = c.text(t, "role", w, choices=V.ROLES)
        primary_inference = c.text(t, "primary_inference", w, "")
        listed = inference or ("between-within",)
        if primary_inference and primary_inference not in listed:
            c.add(
                f"{w}.primary_inference",
                f"{primary_inference!r} must be one of this analysis' inference methods "
                f"({', '.join(listed)})",
            )
        elif not primary_inference and role == "primary":
            c.add(
                f"{w}.primary_inference",
                "is required for the primary analysis: name the one inference method that "
                f"decides the trial, one of {', '.join(listed)} (the others are supportive)",
            )
        nagq = c.get(t, "nagq", w, int, 1)
        if nagq is not None and not 1 <= nagq <= 50:
            c.add(f"{w}.nagq", f"must be between 1 (Laplace) and 50, found {nagq}")
        out.append(
            Analysis(
                name=c.text(t, "name", w, slug=True),
                role=cast(Any, role),
                outcome=outcome,
                family=cast(Any, family),
                fixed=fixed,
                random=random,
                offset=offset,
                periods=cast(Any, c.text(t, "periods", w, "all", choices=V.PERIOD_WINDOWS)),
                inference=inference or ("between-within",),
                nagq=nagq or 1,
                description=c.text(t, "description", w, ""),
                primary_inference=primary_inference,
            )
        )
    unique(c, [(f"analyses[{i}].name", x.name) for i, x in enumerate(out)], "analysis name")
    primaries = [x for x in out if x.role == "primary"]
    if len(primaries) > 1:
        c.add(
            "analyses",
            f"at most one primary analysis, found {len(primaries)}: "
            + ", ".join(x.name for x in primaries),
        )
    return tuple(out)
