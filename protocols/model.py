"""Typed, immutable objects for a trial protocol and its statistical analysis plan.

The loader (:mod:`protocols.loader`) builds these from a TOML file; every other part of
the toolkit reads the protocol only through them. ``Protocol.canonical()`` gives the
plain-data form that is fingerprinted (see :mod:`protocols.canonical`): collections whose
order carries no meaning (units, arms, indicators, analyses) are sorted by their key there,
so reordering them in the file never changes the fingerprint.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from protocols.canonical import fingerprint as _fingerprint
from protocols.quarters import Quarter
from protocols.serialise import protocol_to_data

__all__ = [
    "Trial",
    "Arm",
    "Unit",
    "AllocationSpec",
    "Schedule",
    "Indicator",
    "Analysis",
    "Protocol",
    "CovariateValue",
]

CovariateValue = float | str
Role = Literal["primary", "secondary", "sensitivity"]
Family = Literal["gaussian", "poisson", "negative_binomial", "binomial"]

EMPTY: Mapping[str, Any] = MappingProxyType({})


def _frozen(m: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(m or {}))


@dataclass(frozen=True)
class Trial:
    """Identity of the trial: stable id, title, protocol version and registration."""

    id: str
    title: str
    version: str
    registration: str = ""
    sponsor: str = ""
    description: str = ""


@dataclass(frozen=True)
class Arm:
    """One arm: a short code used everywhere (``intervention``) and a label for people."""

    code: str
    label: str
    description: str = ""


@dataclass(frozen=True)
class Unit:
    """A cluster (here a borough): id, name, GSS code, stratum and covariates.

    ``illustrative`` marks a unit that stands in until the trial confirms its clusters, and
    ``illustrative_covariates`` names covariate values that are not public facts.
    """

    id: str
    name: str
    gss_code: str = ""
    stratum: str = ""
    covariates: Mapping[str, CovariateValue] = field(default_factory=lambda: EMPTY)
    illustrative: bool = False
    illustrative_covariates: tuple[str, ...] = ()
    note: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "covariates", _frozen(self.covariates))


@dataclass(frozen=True)
class AllocationSpec:
    """How the clusters are to be allocated (see ``docs/protocol-format.md``).

    ``method`` is ``complete`` (every split with the required numbers), ``stratified``
    (exact balance within strata) or ``constrained`` (covariate-constrained, as cvcrand).
    Exactly one of ``cutoff_quantile`` and ``cutoff_schemes`` is set for ``constrained``.
    """

    method: Literal["complete", "stratified", "constrained"]
    arm_sizes: Mapping[str, int]
    stratify: bool = False
    covariates: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    metric: Literal["l1", "l2"] = "l2"
    weights: Mapping[str, float] = field(default_factory=lambda: EMPTY)
    cutoff_quantile: float | None = None
    cutoff_schemes: int | None = None
    max_covariate_difference: Mapping[str, float] = field(default_factory=lambda: EMPTY)
    covariate_constraints: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    intervention_arm: str = "intervention"

    def __post_init__(self) -> None:
        for name in ("arm_sizes", "weights", "max_covariate_difference", "covariate_constraints"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))


@dataclass(frozen=True)
class Schedule:
    """The quarters of the trial and when returns are due.

    ``baseline`` and ``follow_up`` are inclusive ranges of calendar quarters. A return for
    a quarter is due ``submission_deadline_days`` days after the quarter ends.
    """

    baseline_start: Quarter
    baseline_end: Quarter
    follow_up_start: Quarter
    follow_up_end: Quarter
    go_live: str
    submission_deadline_days: int

    @property
    def baseline(self) -> tuple[Quarter, ...]:
        return tuple(Quarter.range(self.baseline_start, self.baseline_end))

    @property
    def follow_up(self) -> tuple[Quarter, ...]:
        return tuple(Quarter.range(self.follow_up_start, self.follow_up_end))

    @property
    def quarters(self) -> tuple[Quarter, ...]:
        return tuple(Quarter.range(self.baseline_start, self.follow_up_end))

    def transition_quarters(self) -> tuple[Quarter, ...]:
        """Quarters between baseline and follow-up (randomisation, training, set-up)."""
        return tuple(Quarter.range(self.baseline_end + 1, self.follow_up_start + -1))

    def phase(self, q: Quarter) -> str | None:
        """``baseline``, ``follow_up``, ``transition`` (between the two) or None if outside."""
        if self.baseline_start <= q <= self.baseline_end:
            return "baseline"
        if self.follow_up_start <= q <= self.follow_up_end:
            return "follow_up"
        if self.baseline_end < q < self.follow_up_start:
            return "transition"
        return None


@dataclass(frozen=True)
class Indicator:
    """An outcome indicator reported per unit per quarter."""

    code: str
    label: str
    definition: str
    type: Literal["count", "rate", "proportion", "continuous"] = "count"
    minimum: float = 0.0
    maximum: float | None = None
    denominator: str = ""
    note: str = ""


@dataclass(frozen=True)
class Analysis:
    """One prespecified analysis of the SAP.

    ``primary_inference`` names the one inference method (of ``inference``) whose result
    decides the analysis; the others are supportive. Required for the primary analysis;
    empty elsewhere means "the first listed method" (see :attr:`deciding_inference`).
    """

    name: str
    role: Role
    outcome: str
    family: Family
    fixed: tuple[str, ...]
    random: tuple[str, ...] = ("unit",)
    offset: str = ""
    periods: Literal["all", "follow_up"] = "all"
    inference: tuple[str, ...] = ()
    nagq: int = 1
    description: str = ""
    primary_inference: str = ""

    @property
    def deciding_inference(self) -> str:
        """The inference method that decides this analysis (the others are supportive)."""
        if self.primary_inference:
            return self.primary_inference
        return self.inference[0] if self.inference else ""


@dataclass(frozen=True)
class Protocol:
    """A whole trial protocol with its statistical analysis plan."""

    format_version: int
    trial: Trial
    arms: tuple[Arm, ...]
    units: tuple[Unit, ...]
    allocation: AllocationSpec
    schedule: Schedule
    indicators: tuple[Indicator, ...]
    analyses: tuple[Analysis, ...]

    def unit(self, key: str) -> Unit:
        """The unit whose id, GSS code or exact name is ``key`` (KeyError if none)."""
        for u in self.units:
            if key in (u.id, u.gss_code, u.name):
                return u
        raise KeyError(key)

    def indicator(self, code: str) -> Indicator:
        for i in self.indicators:
            if i.code == code:
                return i
        raise KeyError(code)

    def analysis(self, name: str) -> Analysis:
        for a in self.analyses:
            if a.name == name:
                return a
        raise KeyError(name)

    @property
    def arm_codes(self) -> tuple[str, ...]:
        return tuple(a.code for a in self.arms)

    def canonical(self) -> dict[str, Any]:
        """Plain-data form used for the fingerprint and for storage (see module docstring)."""
        return protocol_to_data(self)

    def fingerprint(self) -> str:
        """SHA-256 of the canonical JSON form of the protocol."""
        return _fingerprint(self.canonical())

    def units_table(self) -> list[dict[str, Any]]:
        """The unit table as records sorted by id: what the allocation is computed from."""
        return [
            {
                "id": u.id,
                "name": u.name,
                "gss_code": u.gss_code,
                "stratum": u.stratum,
                **dict(u.covariates),
            }
            for u in sorted(self.units, key=lambda u: u.id)
        ]

    def units_fingerprint(self) -> str:
        """Fingerprint of the unit table (ids, strata and covariates; order-free)."""
        return _fingerprint(self.units_table())
