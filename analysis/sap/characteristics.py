"""Operating characteristics from simulation records: size, power, coverage, bias, flags.

Per analysis x inference method x scenario, over the scenario's simulated trials:

* ``rejection_rate``: share of *fitted* trials with two-sided p < alpha; under a null
  scenario it is the type I error, otherwise the power. Its Monte Carlo SE is
  ``sqrt(r (1 - r) / fitted)``.
* ``coverage``: share of fitted trials whose interval (on the model scale) holds the true
  value; the true value is 0 under the null whatever the scale, and the true log rate
  ratio otherwise for log-link count analyses (Poisson, negative binomial); elsewhere it
  is not known on the analysis' scale and coverage and bias are not reported. Methods
  without an interval in the simulations (the randomisation test, whose inversion the
  engine skips for speed) report none either.
* ``bias``: mean estimate minus the true value, with its Monte Carlo SE.
* ``failed`` and ``warned``: fits that failed (never counted as rejections, and outside
  every denominator) and fits that gave at least one warning: counted, never dropped.

A method is *flagged* (``anti_conservative``) in a null scenario when its type I error
exceeds nominal by more than two Monte Carlo SEs *of a method that has exactly the
nominal size*: ``rate > alpha + 2 sqrt(alpha (1 - alpha) / fitted)``. The SE under
nominal size is used because the estimated rate's own SE is zero when no trial rejects
and grows with the excess it is meant to judge.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from analysis.families import family_info
from analysis.sap.operating import OperatingPlan, SimulationRecord

__all__ = ["Characteristic", "OperatingResult", "characteristics", "flag_threshold"]


def flag_threshold(alpha: float, fitted: int) -> float:
    """The type I error above which a method is flagged (see the module docstring)."""
    return alpha + 2.0 * math.sqrt(alpha * (1.0 - alpha) / fitted) if fitted else math.inf


@dataclass(frozen=True)
class Characteristic:
    """One analysis x method x scenario."""

    analysis: str
    method: str
    role: str
    primary: bool
    scenario: str
    null: bool
    simulations: int
    fitted: int
    failed: int
    warned: int
    rejections: int
    rejection_rate: float
    mc_se: float
    coverage: float | None
    bias: float | None
    bias_se: float | None
    mean_estimate: float | None
    true_effect: float | None
    threshold: float | None
    anti_conservative: bool
    first_error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "analysis": self.analysis,
            "method": self.method,
            "role": self.role,
            "primary_inference": self.primary,
            "scenario": self.scenario,
            "null": self.null,
            "simulations": self.simulations,
            "fitted": self.fitted,
            "failed": self.failed,
            "warned": self.warned,
            "rejections": self.rejections,
            "type_i_error" if self.null else "power": _num(self.rejection_rate),
            "mc_se": _num(self.mc_se),
            "coverage": self.coverage,
            "bias": self.bias,
            "bias_mc_se": self.bias_se,
            "mean_estimate": self.mean_estimate,
            "true_effect": self.true_effect,
            "flag_threshold": self.threshold,
            "anti_conservative": self.anti_conservative,
            "first_error": self.first_error,
        }


def _num(x: float) -> float | None:
    return x if math.isfinite(x) else None


@dataclass(frozen=True)
class OperatingResult:
    """Every characteristic of one run, with what defines the run."""

    rows: tuple[Characteristic, ...]
    scenarios: tuple[dict[str, Any], ...]
    simulations: int
    seed: int
    alpha: float
    schemes: int
    run_key: str

    @property
    def flagged(self) -> tuple[Characteristic, ...]:
        return tuple(r for r in self.rows if r.anti_conservative)

    def row(self, analysis: str, method: str, scenario: str) -> Characteristic:
        for r in self.rows:
            if (r.analysis, r.method, r.scenario) == (analysis, method, scenario):
                return r
        raise KeyError((analysis, method, scenario))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "rct-design-check/1",
            "simulations_per_scenario": self.simulations,
            "seed": self.seed,
            "alpha": self.alpha,
            "admissible_schemes": self.schemes,
            "run_key": self.run_key,
            "flag_rule": "type I error > alpha + 2 * sqrt(alpha * (1 - alpha) / fitted)",
            "scenarios": list(self.scenarios),
            "flagged": [
                {"analysis": r.analysis, "method": r.method, "scenario": r.scenario}
                for r in self.flagged
            ],
            "characteristics": [r.to_dict() for r in self.rows],
        }


def characteristics(
    plan: OperatingPlan,
    records: Sequence[SimulationRecord],
    *,
    alpha: float = 0.05,
    run_key: str = "",
) -> OperatingResult:
    """Summarise ``records`` (as :func:`~analysis.sap.operating.run_simulations` returns them)."""
    protocol = plan.protocol()
    by_scenario: dict[str, list[SimulationRecord]] = {}
    for r in records:
        by_scenario.setdefault(r.scenario, []).append(r)
    rows = []
    sims = 0
    for name, methods in plan.selection:
        a = protocol.analysis(name)
        for m in methods:
            for scen in plan.scenarios:
                recs = sorted(by_scenario.get(scen.key, []), key=lambda r: r.index)
                sims = max(sims, len(recs))
                outs = [o for r in recs for o in r.outcomes if o[0] == name and o[1] == m]
                null = scen.is_null(a.outcome)
                truth: float | None = 0.0 if null else None
                if not null and family_info(a.family).link == "log":
                    truth = scen.true_log_effect(a.outcome)
                rows.append(
                    _row(a.name, a.role, m, _primary(a, m), scen.name, null, truth, outs, alpha)
                )
    return OperatingResult(
        rows=tuple(rows),
        scenarios=tuple(s.to_dict() for s in plan.scenarios),
        simulations=sims,
        seed=plan.seed,
        alpha=alpha,
        schemes=len(plan.schemes),
        run_key=run_key,
    )


def _primary(analysis: Any, method: str) -> bool:
    chosen = getattr(analysis, "primary_inference", "") or (
        analysis.inference[0] if analysis.inference else ""
    )
    return bool(method == chosen)


def _row(
    analysis: str,
    role: str,
    method: str,
    primary: bool,
    scenario: str,
    null: bool,
    truth: float | None,
    outs: Sequence[Any],
    alpha: float,
) -> Characteristic:
    ok = [o for o in outs if o[2] and math.isfinite(o[3])]
    fitted = len(ok)
    failed = len(outs) - fitted
    rejections = sum(1 for o in ok if o[3] < alpha)
    rate = rejections / fitted if fitted else math.nan
    mc_se = math.sqrt(rate * (1 - rate) / fitted) if fitted else math.nan
    est = [o[4] for o in ok if math.isfinite(o[4])]
    coverage = bias = bias_se = mean = None
    if est:
        mean = math.fsum(est) / len(est)
    if truth is not None and est:
        assert mean is not None
        bias = mean - truth
        if len(est) > 1:
            var = math.fsum((x - mean) ** 2 for x in est) / (len(est) - 1)
            bias_se = math.sqrt(var / len(est))
        with_ci = [o for o in ok if math.isfinite(o[5]) or math.isfinite(o[6])]
        if with_ci and any(not math.isnan(o[5]) for o in with_ci):
            coverage = sum(1 for o in with_ci if o[5] <= truth <= o[6]) / len(with_ci)
    threshold = flag_threshold(alpha, fitted) if null and fitted else None
    flagged = bool(null and threshold is not None and rate > threshold)
    return Characteristic(
        analysis=analysis,
        method=method,
        role=role,
        primary=primary,
        scenario=scenario,
        null=null,
        simulations=len(outs),
        fitted=fitted,
        failed=failed,
        warned=sum(1 for o in outs if o[7] > 0),
        rejections=rejections,
        rejection_rate=rate,
        mc_se=mc_se,
        coverage=coverage,
        bias=bias,
        bias_se=bias_se,
        mean_estimate=mean,
        true_effect=truth,
        threshold=threshold,
        anti_conservative=flagged,
        first_error=next((o[8] for o in outs if not o[2] and o[8]), ""),
    )
