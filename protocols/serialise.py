"""Protocol objects to plain data: the canonical form that is fingerprinted and stored.

The plain form has the same shape as the TOML file, so ``protocol_from_data`` (in the
loader) reads it back through the same validation. Collections whose order has no meaning
are sorted by key here; empty optional fields are written out so that leaving a default
implicit or spelling it out gives the same fingerprint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # an annotation only: protocols.model imports this module
    from protocols.model import Protocol

__all__ = ["protocol_to_data"]


def protocol_to_data(p: Protocol) -> dict[str, Any]:
    a = p.allocation
    s = p.schedule
    return {
        "format_version": p.format_version,
        "trial": {
            "id": p.trial.id,
            "title": p.trial.title,
            "version": p.trial.version,
            "registration": p.trial.registration,
            "sponsor": p.trial.sponsor,
            "description": p.trial.description,
        },
        "arms": [
            {"code": x.code, "label": x.label, "description": x.description}
            for x in sorted(p.arms, key=lambda x: x.code)
        ],
        "units": [
            {
                "id": u.id,
                "name": u.name,
                "gss_code": u.gss_code,
                "stratum": u.stratum,
                "covariates": dict(u.covariates),
                "illustrative": u.illustrative,
                "illustrative_covariates": sorted(u.illustrative_covariates),
                "note": u.note,
            }
            for u in sorted(p.units, key=lambda u: u.id)
        ],
        "allocation": {
            "method": a.method,
            "arm_sizes": dict(a.arm_sizes),
            "intervention_arm": a.intervention_arm,
            "stratify": a.stratify,
            "covariates": list(a.covariates),
            "categorical": sorted(a.categorical),
            "metric": a.metric,
            "weights": dict(a.weights),
            "cutoff_quantile": a.cutoff_quantile,
            "cutoff_schemes": a.cutoff_schemes,
            "max_covariate_difference": dict(a.max_covariate_difference),
            "covariate_constraints": dict(a.covariate_constraints),
        },
        "schedule": {
            "baseline_start": str(s.baseline_start),
            "baseline_end": str(s.baseline_end),
            "follow_up_start": str(s.follow_up_start),
            "follow_up_end": str(s.follow_up_end),
            "go_live": s.go_live,
            "submission_deadline_days": s.submission_deadline_days,
        },
        "indicators": [
            {
                "code": i.code,
                "label": i.label,
                "definition": i.definition,
                "type": i.type,
                "minimum": i.minimum,
                "maximum": i.maximum,
                "denominator": i.denominator,
                "note": i.note,
            }
            for i in sorted(p.indicators, key=lambda i: i.code)
        ],
        "analyses": [
            {
                "name": x.name,
                "role": x.role,
                "outcome": x.outcome,
                "family": x.family,
                "fixed": list(x.fixed),
                "random": list(x.random),
                "offset": x.offset,
                "periods": x.periods,
                "inference": list(x.inference),
                "nagq": x.nagq,
                "description": x.description,
                # written only when set, so protocols without it keep their fingerprint
                **({"primary_inference": x.primary_inference} if x.primary_inference else {}),
            }
            for x in sorted(p.analyses, key=lambda x: x.name)
        ],
    }
