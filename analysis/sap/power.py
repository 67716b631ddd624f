"""Simulation-based power of a prespecified analysis (the library behind ``rct design power``).

A view of the one simulation engine (:mod:`analysis.sap.operating`, also behind ``rct
design check``): one analysis, one inference method, one scenario. Each simulated trial
draws one admissible allocation scheme (uniformly, from the scheme space given, or every
split with the protocol's arm sizes), simulates the analysis' outcome for the protocol's
units with :func:`analysis.sap.simulate.simulate_values` (only the base rate, rate ratio,
between-cluster SD and trend SD of that outcome set here; the rest at their documented
defaults or as ``settings`` give them) and runs the analysis under the method exactly as
the SAP runner does (:func:`analysis.sap.runner.run_analysis`). Each simulated trial's
randomness comes from its own seed derived from ``seed`` and its index, so the result
is the same for any number of workers. Power is the
share of fitted trials with two-sided p < alpha; its Monte Carlo standard error is
``sqrt(p (1 - p) / n)``. Failed fits are counted and reported, never counted as
rejections, and left out of the denominator.

Between-cluster variation is given as one of: the SD of the log rate (``sd_between``); the
between-cluster coefficient of variation of the true rates (``cv``, Hayes & Moulton's k:
``sd = sqrt(log(1 + k^2))``); or the latent-scale ICC of the Poisson model
(``icc = s2 / (s2 + log(1 + 1/lambda))``, Nakagawa et al. 2017, with ``lambda`` the mean
expected count per cluster-quarter; as :func:`analysis.icc.icc_latent` reports it).

Borough-specific trends (``sd_trend``, the between-borough SD of linear trends on the log
scale per quarter; default 0, no trends) make the power of analyses that use each
borough's baseline as its control honest: without them the simulation model lets a
borough's baseline predict its follow-up perfectly up to noise, and mixed models look
more powerful than they will be.

The numpy generators drive the simulation only; it never makes a trial's allocation.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from analysis.errors import ModelSpecificationError
from analysis.sap.operating import OperatingPlan, run_simulations
from analysis.sap.scenarios import Scenario
from analysis.sap.simulate import RATE_PER, SimulationSettings, sd_from_cv
from protocols import Analysis, Protocol

__all__ = ["PowerResult", "power_simulation", "design_protocol", "sd_from_icc", "verdict"]

_WORDS = {
    2: "two",
    3: "three",
    4: "four",
    5: "five",
    6: "six",
    7: "seven",
    8: "eight",
    9: "nine",
    10: "ten",
    11: "eleven",
    12: "twelve",
}


@dataclass(frozen=True)
class PowerResult:
    """The estimated power with its Monte Carlo error and the design it refers to."""

    power: float
    mc_se: float
    simulations: int
    fitted: int
    failed: int
    rejections: int
    alpha: float
    analysis: str
    method: str
    outcome: str
    rate_ratio: float
    base_rate: float
    sd_between: float
    icc: float
    clusters: int
    baseline_quarters: int
    follow_up_quarters: int
    schemes: int
    seed: int
    mean_log_effect: float
    first_error: str = ""
    sd_trend: float = 0.0

    @property
    def message(self) -> str:
        return verdict(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "power": self.power,
            "mc_se": self.mc_se,
            "simulations": self.simulations,
            "fitted": self.fitted,
            "failed": self.failed,
            "rejections": self.rejections,
            "alpha": self.alpha,
            "analysis": self.analysis,
            "method": self.method,
            "outcome": self.outcome,
            "rate_ratio": self.rate_ratio,
            "base_rate_per_10000": self.base_rate,
            "sd_between": self.sd_between,
            "sd_trend": self.sd_trend,
            "icc_latent": self.icc,
            "clusters": self.clusters,
            "baseline_quarters": self.baseline_quarters,
            "follow_up_quarters": self.follow_up_quarters,
            "schemes": self.schemes,
            "seed": self.seed,
            "mean_estimated_effect": math.exp(self.mean_log_effect)
            if math.isfinite(self.mean_log_effect)
            else None,
            "first_error": self.first_error,
            "message": self.message,
        }


def verdict(r: PowerResult) -> str:
    """The result in plain words, sobering where it has to be."""
    n = _WORDS.get(r.clusters, str(r.clusters))
    if r.fitted == 0:
        return f"No simulated trial could be analysed by {r.method}: {r.first_error}"
    head = (
        f"Power {r.power:.0%} (MC SE {r.mc_se:.1%}) to detect a rate ratio of "
        f"{r.rate_ratio:g} at two-sided alpha {r.alpha:g} with {r.analysis} ({r.method}), "
        f"{r.clusters} clusters, {r.baseline_quarters} baseline and "
        f"{r.follow_up_quarters} follow-up quarters"
    )
    if r.method == "randomisation" and r.schemes and 1.0 / r.schemes >= r.alpha:
        tail = (
            f"with {r.schemes} admissible schemes the randomisation test can never reach "
            f"p < {r.alpha:g}: its smallest p-value is 1/{r.schemes}"
        )
    elif r.power < 0.5:
        tail = (
            f"with {n} clusters this design is unlikely to detect an effect of this size; "
            "a null result would be weak evidence of no effect"
        )
    elif r.power < 0.8:
        tail = "below the conventional 80%: the trial may well miss an effect of this size"
    else:
        tail = "at or above the conventional 80%"
    failed = f" ({r.failed} of {r.simulations} fits failed)" if r.failed else ""
    return f"{head} - {tail}.{failed}"


def design_protocol(
    protocol: Protocol, baseline_quarters: int, follow_up_quarters: int
) -> Protocol:
    """``protocol`` with its schedule resized: the same first quarter and transition gap."""
    if baseline_quarters < 1 or follow_up_quarters < 1:
        raise ModelSpecificationError(
            "a design needs at least one baseline and one follow-up quarter"
        )
    s = protocol.schedule
    gap = s.follow_up_start.index - s.baseline_end.index
    b_end = s.baseline_start + (baseline_quarters - 1)
    f_start = b_end + gap
    schedule = replace(
        s,
        baseline_end=b_end,
        follow_up_start=f_start,
        follow_up_end=f_start + (follow_up_quarters - 1),
    )
    return replace(protocol, schedule=schedule)


def _expected_count(protocol: Protocol, outcome: str, base_rate: float) -> float:
    ind = protocol.indicator(outcome)
    denoms = []
    for u in protocol.units:
        v = u.covariates.get(ind.denominator) if ind.denominator else RATE_PER
        denoms.append(float(v) if isinstance(v, int | float) else RATE_PER)
    return float(np.mean(denoms)) * base_rate / RATE_PER


def sd_from_icc(icc: float, mean_count: float) -> float:
    """Between-cluster log-scale SD giving latent Poisson ICC ``icc`` at ``mean_count``."""
    if not 0.0 <= icc < 1.0:
        raise ModelSpecificationError("the ICC must be in [0, 1)")
    other = math.log1p(1.0 / mean_count)
    return math.sqrt(icc / (1.0 - icc) * other)


def _all_splits(units: Sequence[str], n_treated: int) -> NDArray[np.int_]:
    rows = [
        [int(i in c) for i in range(len(units))]
        for c in itertools.combinations(range(len(units)), n_treated)
    ]
    return np.array(rows, dtype=np.int_)


def power_simulation(
    protocol: Protocol,
    *,
    analysis: str | None = None,
    method: str | None = None,
    base_rate: float | None = None,
    rate_ratio: float | None = None,
    sd_between: float | None = None,
    cv: float | None = None,
    icc: float | None = None,
    sd_trend: float | None = None,
    baseline_quarters: int | None = None,
    follow_up_quarters: int | None = None,
    simulations: int = 200,
    seed: int = 1,
    alpha: float = 0.05,
    schemes: NDArray[np.int_] | None = None,
    scheme_units: Sequence[str] | None = None,
    settings: SimulationSettings | None = None,
    progress: Callable[[int], None] | None = None,
    workers: int | None = 1,
    scheduler: str | None = None,
) -> PowerResult:
    """Estimate the power of one analysis of ``protocol`` by simulation.

    Parameters
    ----------
    protocol : Protocol
    analysis : str, optional
        Analysis name (default: the primary analysis).
    method : str, optional
        Inference method (default: the analysis' primary inference).
    base_rate : float, optional
        Control rate of the outcome per 10,000 of the denominator per quarter (default:
        the simulator's default for the outcome).
    rate_ratio : float, optional
        True intervention effect (default: the simulator's default for the outcome).
    sd_between, cv, icc : float, optional
        Between-cluster variation, at most one of them (default: ``sd_between`` 0.25).
    sd_trend : float, optional
        Between-cluster SD of the clusters' own linear trends on the log scale per quarter
        (default: ``settings.sd_trend``, 0.0 unless set: no cluster-specific trends, which
        makes analyses that compare each cluster with its own baseline optimistic).
    baseline_quarters, follow_up_quarters : int, optional
        Numbers of quarters (default: the protocol's schedule).
    simulations : int
    seed : int
        Seed of the simulation's numpy Generator.
    alpha : float
        Two-sided significance level.
    schemes, scheme_units : optional
        The admissible scheme space (default: every split with the protocol's arm sizes);
        each simulated trial draws its allocation from it, and the randomisation test
        uses it.
    settings : SimulationSettings, optional
        Other simulation parameters.
    progress : callable, optional
        Called with the number of newly finished simulated trials (for a progress bar).
    workers, scheduler : optional
        Local worker processes (default 1; None: all cores) or the address of a Dask
        scheduler (see :func:`analysis.sap.operating.run_simulations`).
    """
    if sum(x is not None for x in (sd_between, cv, icc)) > 1:
        raise ModelSpecificationError("give at most one of sd_between, cv and icc")
    if simulations < 1:
        raise ModelSpecificationError("simulations must be at least 1")
    if sd_trend is not None and sd_trend < 0:
        raise ModelSpecificationError("sd_trend must not be negative")
    a = _pick_analysis(protocol, analysis)
    meth = method or a.deciding_inference or "between-within"
    s = protocol.schedule
    nb = baseline_quarters or len(s.baseline)
    nf = follow_up_quarters or len(s.follow_up)
    design = design_protocol(protocol, nb, nf)
    base = settings or SimulationSettings()
    rate = float(base_rate if base_rate is not None else base.base_rate(a.outcome))
    rr = float(rate_ratio if rate_ratio is not None else base.rate_ratio(a.outcome))
    if rate <= 0 or rr <= 0:
        raise ModelSpecificationError("the base rate and the rate ratio must be positive")
    mean_count = _expected_count(design, a.outcome, rate)
    if icc is not None:
        sd = sd_from_icc(icc, mean_count)
    elif cv is not None:
        sd = sd_from_cv(cv)
    else:
        sd = float(sd_between if sd_between is not None else base.sd_between)
    implied_icc = sd * sd / (sd * sd + math.log1p(1.0 / mean_count))
    st = replace(
        base,
        base_rates={**base.base_rates, a.outcome: rate},
        rate_ratios={**base.rate_ratios, a.outcome: rr},
        sd_between=sd,
        sd_trend=float(sd_trend if sd_trend is not None else base.sd_trend),
    )
    units = (
        tuple(scheme_units)
        if scheme_units is not None
        else tuple(sorted(u.id for u in protocol.units))
    )
    space = (
        np.asarray(schemes)
        if schemes is not None
        else _all_splits(units, protocol.allocation.arm_sizes[protocol.allocation.intervention_arm])
    )
    scenario = Scenario("power", st)
    plan = OperatingPlan.build(
        design,
        [scenario],
        space,
        units,
        selection=((a.name, (meth,)),),
        seed=seed,
    )
    records = run_simulations(
        plan, simulations, workers=workers, scheduler=scheduler, progress=progress
    )
    rejections = fitted = failed = 0
    first_error = ""
    log_effects: list[float] = []
    for rec in records:
        (_, _, ok, p, coef, _, _, _, error) = rec.outcomes[0]
        if not ok or not math.isfinite(p):
            failed += 1
            first_error = first_error or error
            continue
        fitted += 1
        rejections += int(p < alpha)
        if math.isfinite(coef):
            log_effects.append(coef)
    power = rejections / fitted if fitted else float("nan")
    mc_se = math.sqrt(power * (1 - power) / fitted) if fitted else float("nan")
    return PowerResult(
        power=power,
        mc_se=mc_se,
        simulations=simulations,
        fitted=fitted,
        failed=failed,
        rejections=rejections,
        alpha=alpha,
        analysis=a.name,
        method=meth,
        outcome=a.outcome,
        rate_ratio=rr,
        base_rate=rate,
        sd_between=sd,
        icc=implied_icc,
        clusters=len(units),
        baseline_quarters=nb,
        follow_up_quarters=nf,
        schemes=len(space),
        seed=seed,
        mean_log_effect=float(np.mean(log_effects)) if log_effects else float("nan"),
        first_error=first_error,
        sd_trend=st.sd_trend,
    )


def _pick_analysis(protocol: Protocol, name: str | None) -> Analysis:
    if name is not None:
        try:
            return protocol.analysis(name)
        except KeyError:
            raise ModelSpecificationError(f"the protocol has no analysis {name!r}") from None
    for a in protocol.analyses:
        if a.role == "primary":
            return a
    raise ModelSpecificationError("the protocol has no primary analysis")
