"""Simulated quarterly indicator returns for a protocol's units, for demos and power.

The model (documented defaults in :class:`SimulationSettings`), for unit ``i``, quarter
``t`` and indicator ``k``::

    log mu_ikt = log(denominator_i) + log(rate_k / 10,000) + u_ik + q_kt + b_ik * t
                 + p_ik * post_t + log(RR_k) * treatment_it
    u_ik ~ N(0, sd_between^2)            (cluster effect, one per unit and indicator)
    q_kt ~ N(0, quarter_sd^2)            (quarter effect, shared by the units)
    b_ik ~ N(0, sd_trend^2)              (the unit's own linear trend per quarter; default 0)
    p_ik,post ~ N(0, sd_post^2)          (unit x phase effect: a borough's level shifts
                                          between baseline and follow-up; default 0)
    y_ikt ~ Poisson(mu_ikt * exp(e_ikt)), e_ikt ~ N(0, sd_observation^2)  (Poisson-lognormal)
        or  NB2(mean mu_ikt, size nb_size)                                (negative binomial)

``treatment`` is 1 for an intervention unit in a follow-up quarter (transition quarters
carry no effect). ``t`` counts quarters from the first quarter of the schedule (0 there),
so a trend leaves the first quarter's level alone and drifts from it. ``rate_k`` is the
base rate per 10,000 children per quarter: the defaults are of the order of the published
partnership tables (CWASU Years 3/4 evaluation), and the referrals-at-intake rate is the
unit's own
``baseline_da_referral_rate`` covariate when the protocol has one. The default rate
ratios are the plausible effects of the domain primer: re-referrals 0.67 (about a third
fewer), children into care 0.5 (44-66% fewer removals), 0.85 for the other indicators.

Randomness comes from a seeded :class:`numpy.random.Generator` (PCG64): fine for
simulation, and never used for allocation (which has its own versioned stream). Every
quantity is drawn for every quarter of the schedule in a fixed order before any quarter
is selected, so simulating a subset of quarters with a seed gives exactly the values of
the full simulation with that seed restricted to those quarters: follow-up returns
simulated after real baseline returns stay consistent with a full simulated trial. The
order is: cluster effects, quarter effects, observation-level normals, the uniforms of the
counts, the missingness uniforms and, last, the trend normals; because the trends come
last, adding them (``sd_trend > 0``) leaves every other draw of a seed as it was, and
``sd_trend = 0`` reproduces the values of a simulation without trends exactly. The unit x
phase normals (``sd_post``) are drawn after the trends, for the same reason. The
observation-level term ``e_ikt`` of the Poisson-lognormal noise is, for one indicator, a
unit x quarter ("cluster-period") random effect: ``sd_observation`` is its SD.

Why trends matter: without them each borough's own baseline predicts its follow-up
perfectly up to noise, so analyses that compare a borough with its own baseline (the
mixed models) look more powerful than they will be if boroughs drift apart, as real
boroughs' caseloads do (changes of intake process, case management system or staffing).
``sd_trend`` is the between-borough SD of those drifts on the log scale per quarter:
0.02 lets two boroughs drift apart by one SD of 0.02 * sqrt(2) * 8 = 0.23 on the log
scale (about 25% on the rate scale) over two years.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from analysis.errors import DataError, ModelSpecificationError
from protocols import Protocol, Quarter

__all__ = [
    "DEFAULT_BASE_RATES",
    "DEFAULT_RATE_RATIOS",
    "DEFAULT_OTHER_RATE_RATIO",
    "SimulationSettings",
    "simulate_values",
    "sd_from_cv",
]

#: Base rates per 10,000 children (0-17) per quarter, of the order of the partnership data.
DEFAULT_BASE_RATES: Mapping[str, float] = MappingProxyType(
    {
        "da_referral_at_intake": 40.0,
        "da_flagged_after_assessment": 50.0,
        "cp_plans_with_da": 4.0,
        "children_into_care_with_da": 1.3,
        "da_re_referrals": 6.0,
    }
)
#: Rate ratios (intervention vs control in follow-up) from the domain primer.
DEFAULT_RATE_RATIOS: Mapping[str, float] = MappingProxyType(
    {"da_re_referrals": 0.67, "children_into_care_with_da": 0.5}
)
DEFAULT_OTHER_RATE_RATIO = 0.85
#: Unit covariate used as the referrals-at-intake base rate when present.
REFERRAL_RATE_COVARIATE = "baseline_da_referral_rate"
#: Base rate for an indicator the defaults do not know (per 10,000 per quarter).
FALLBACK_BASE_RATE = 10.0
RATE_PER = 10_000.0


def _frozen(m: Mapping[str, float]) -> Mapping[str, float]:
    return MappingProxyType(dict(m))


@dataclass(frozen=True)
class SimulationSettings:
    """Parameters of the simulation model (see the module docstring).

    Attributes
    ----------
    base_rates : mapping
        Indicator code -> rate per 10,000 of the denominator per quarter, overriding the
        defaults: indicators not named take the unit's own referral rate (referrals at
        intake, see ``use_unit_referral_rate``), :data:`DEFAULT_BASE_RATES` or, failing
        that, ``FALLBACK_BASE_RATE``.
    rate_ratios : mapping
        Indicator code -> true rate ratio; others take ``other_rate_ratio``.
    other_rate_ratio : float
    sd_between : float
        Between-cluster SD of the log rate (0.25: rates vary by about +-28% between
        boroughs, a between-cluster coefficient of variation of about 0.25).
    quarter_sd : float
        SD of the shared quarter effects on the log scale.
    noise : {"poisson-lognormal", "negative-binomial"}
    sd_observation : float
        Observation-level SD on the log scale (Poisson-lognormal noise).
    nb_size : float
        NB2 size ``k`` (variance ``mu + mu^2 / k``) for negative-binomial noise.
    sd_trend : float
        Between-cluster SD of the units' own linear trends on the log scale per quarter
        (one trend per unit and indicator; 0.0, the default, means no unit-specific trends
        and reproduces earlier simulations seed for seed).
    sd_post : float
        Between-cluster SD of the units' own shift from baseline to follow-up on the log
        scale (a unit x phase effect, one per unit and indicator; 0.0 by default, which
        reproduces earlier simulations seed for seed).
    missing : float
        Probability that a cell is missing (a return not made): value NaN.
    use_unit_referral_rate : bool
        Take the referrals-at-intake base rate from each unit's
        ``baseline_da_referral_rate`` covariate when the protocol has it.
    """

    base_rates: Mapping[str, float] = field(default_factory=dict)
    rate_ratios: Mapping[str, float] = field(default_factory=lambda: DEFAULT_RATE_RATIOS)
    other_rate_ratio: float = DEFAULT_OTHER_RATE_RATIO
    sd_between: float = 0.25
    quarter_sd: float = 0.05
    noise: Literal["poisson-lognormal", "negative-binomial"] = "poisson-lognormal"
    sd_observation: float = 0.1
    nb_size: float = 50.0
    missing: float = 0.0
    sd_trend: float = 0.0
    sd_post: float = 0.0
    use_unit_referral_rate: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_rates", _frozen(self.base_rates))
        object.__setattr__(self, "rate_ratios", _frozen(self.rate_ratios))
        if self.noise not in ("poisson-lognormal", "negative-binomial"):
            raise ModelSpecificationError(f"unknown noise {self.noise!r}")
        if not 0.0 <= self.missing < 1.0:
            raise ModelSpecificationError("missing must be a probability below 1")
        for name in ("sd_between", "quarter_sd", "sd_observation", "sd_trend", "sd_post"):
            if getattr(self, name) < 0:
                raise ModelSpecificationError(f"{name} must not be negative")
        if self.nb_size <= 0:
            raise ModelSpecificationError("nb_size must be positive")

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickle as plain values (read-only mappings do not pickle): for worker processes."""
        values = tuple(
            dict(v) if isinstance(v, Mapping) else v
            for v in (getattr(self, f.name) for f in fields(self))
        )
        return (SimulationSettings, values)

    def base_rate(self, indicator: str) -> float:
        if indicator in self.base_rates:
            return float(self.base_rates[indicator])
        return float(DEFAULT_BASE_RATES.get(indicator, FALLBACK_BASE_RATE))

    def rate_ratio(self, indicator: str) -> float:
        return float(self.rate_ratios.get(indicator, self.other_rate_ratio))


def sd_from_cv(cv: float) -> float:
    """Log-scale SD of a lognormal whose coefficient of variation is ``cv`` (Hayes & Moulton's k)."""
    if cv < 0:
        raise ModelSpecificationError("the coefficient of variation must not be negative")
    return math.sqrt(math.log1p(cv * cv))


def simulate_values(
    protocol: Protocol,
    arms: Mapping[str, str],
    *,
    seed: int,
    settings: SimulationSettings | None = None,
    quarters: Collection[str] | None = None,
    indicators: Collection[str] | None = None,
) -> pd.DataFrame:
    """Simulate quarterly counts for every unit, quarter and indicator of ``protocol``.

    Parameters
    ----------
    protocol : Protocol
        Units (with their denominator covariates), schedule and indicators.
    arms : mapping
        Unit id -> arm code; units in ``protocol.allocation.intervention_arm`` get the effect
        in follow-up quarters.
    seed : int
        Seed of the numpy Generator (simulation only).
    settings : SimulationSettings, optional
    quarters : collection of str, optional
        Keep only these quarters (``YYYY-Qn``); the draws are those of the full schedule.
    indicators : collection of str, optional
        Keep only these indicators (likewise).

    Returns
    -------
    pandas.DataFrame
        Long form: ``unit``, ``period``, ``indicator``, ``value`` (float; NaN = missing),
        sorted by unit, period and indicator.
    """
    st = settings or SimulationSettings()
    units = sorted(protocol.units, key=lambda u: u.id)
    missing_arms = sorted({u.id for u in units} - set(arms))
    if missing_arms:
        raise DataError(f"arms are missing for units {missing_arms}")
    schedule = protocol.schedule
    all_q = list(schedule.quarters)
    inds = sorted(protocol.indicators, key=lambda i: i.code)
    rng = np.random.default_rng(seed)
    n_u, n_q, n_k = len(units), len(all_q), len(inds)
    # fixed draw order (documented): cluster effects, quarter effects, noise, missingness,
    # trends (last, so that adding trends leaves every earlier draw of a seed unchanged)
    u_eff = rng.normal(0.0, st.sd_between, size=(n_k, n_u))
    q_eff = rng.normal(0.0, st.quarter_sd, size=(n_k, n_q))
    noise_normal = rng.normal(0.0, 1.0, size=(n_k, n_u, n_q))
    uniforms = rng.random(size=(n_k, n_u, n_q))
    missing_draw = rng.random(size=(n_k, n_u, n_q))
    trend = st.sd_trend * rng.normal(0.0, 1.0, size=(n_k, n_u))
    shift = st.sd_post * rng.normal(0.0, 1.0, size=(n_k, n_u)) if st.sd_post > 0 else None
    quarter_index = np.array([q.index - all_q[0].index for q in all_q], dtype=float)
    intervention = protocol.allocation.intervention_arm
    treated_unit = np.array([arms[u.id] == intervention for u in units], dtype=float)
    follow = np.array([schedule.phase(q) == "follow_up" for q in all_q], dtype=float)
    treatment = np.outer(treated_unit, follow)
    keep_q = None if quarters is None else {str(Quarter.parse(q)) for q in quarters}
    keep_k = None if indicators is None else set(indicators)
    q_names = np.array([str(q) for q in all_q], dtype=object)
    q_kept = np.array([keep_q is None or q in keep_q for q in q_names], dtype=bool)
    u_names = np.array([u.id for u in units], dtype=object)
    parts: list[tuple[str, np.ndarray]] = []
    for k, ind in enumerate(inds):
        denom = np.array([_denominator(u.covariates, ind.denominator) for u in units])
        rate = np.array([_unit_rate(st, ind.code, u.covariates) for u in units])
        log_mu = (
            np.log(denom)[:, None]
            + np.log(rate / RATE_PER)[:, None]
            + u_eff[k][:, None]
            + q_eff[k][None, :]
            + np.outer(trend[k], quarter_index)
            + (0.0 if shift is None else np.outer(shift[k], follow))
            + math.log(st.rate_ratio(ind.code)) * treatment
        )
        y = _draw_counts(st, log_mu, noise_normal[k], uniforms[k])
        y[missing_draw[k] < st.missing] = np.nan
        if keep_k is not None and ind.code not in keep_k:
            continue
        parts.append((ind.code, y[:, q_kept]))
    # unit x quarter cells of each kept indicator, unit-major (as the rows were once
    # appended one by one), then sorted by unit, period and indicator
    n_kept = int(q_kept.sum())
    frame = pd.DataFrame(
        {
            "unit": np.tile(np.repeat(u_names, n_kept), len(parts)),
            "period": np.tile(q_names[q_kept], n_u * len(parts)),
            "indicator": np.repeat(np.array([c for c, _ in parts], dtype=object), n_u * n_kept),
            "value": np.concatenate([v.ravel() for _, v in parts])
            if parts
            else np.empty(0, dtype=np.float64),
        }
    )
    return frame.sort_values(["unit", "period", "indicator"], kind="mergesort").reset_index(
        drop=True
    )


def _denominator(covariates: Mapping[str, float | str], name: str) -> float:
    if not name:
        return RATE_PER
    value = covariates.get(name)
    if not isinstance(value, int | float) or value <= 0:
        raise DataError(f"denominator covariate {name!r} must be a positive number")
    return float(value)


def _unit_rate(st: SimulationSettings, code: str, covariates: Mapping[str, float | str]) -> float:
    own = covariates.get(REFERRAL_RATE_COVARIATE)
    if (
        code == "da_referral_at_intake"
        and st.use_unit_referral_rate
        and code not in st.base_rates
        and isinstance(own, int | float)
        and own > 0
    ):
        return float(own)
    return st.base_rate(code)


def _draw_counts(
    st: SimulationSettings,
    log_mu: np.ndarray,
    normal: np.ndarray,
    uniform: np.ndarray,
) -> np.ndarray:
    """Counts by inversion of the Poisson (or NB2) distribution function.

    Inversion with pre-drawn uniforms keeps the number of draws fixed whatever the means,
    which is what makes subsets of quarters reproduce the full simulation.
    """
    if st.noise == "poisson-lognormal":
        mu = np.exp(log_mu + st.sd_observation * normal)
        return np.maximum(np.asarray(stats.poisson.ppf(uniform, mu), dtype=np.float64), 0.0)
    mu = np.exp(log_mu)
    p = st.nb_size / (st.nb_size + mu)
    return np.maximum(np.asarray(stats.nbinom.ppf(uniform, st.nb_size, p), dtype=np.float64), 0.0)
