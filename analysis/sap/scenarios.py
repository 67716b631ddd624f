"""Scenarios under which ``rct design check`` simulates the trial, and the default grid.

A scenario is a :class:`~analysis.sap.simulate.SimulationSettings` (between-borough SD,
borough trends, borough x quarter and borough x phase variation, overdispersion, the true
rate ratios) plus a pattern of missing returns. Its *key* is a hash of its content, not of
its name: the per-simulation seeds and the checkpoint records are keyed by it, so adding a
scenario to a grid, or renaming one, never changes the simulations of another.

Missing returns "as in the partnership data": in the published 2023-2025 indicator tables
(``rct data load-example``) 24 of 168 cells were never returned, and every one of them is
a borough's *last* quarters: of the six boroughs three returned everything, one missed its
last quarter, one its last two and one its last three, for all indicators at once (late
returns, not scattered blanks). The ``partnership`` pattern reproduces that: each
simulated borough draws how many of its last follow-up quarters are missing from
:data:`PARTNERSHIP_TRAILING_MISSING` (0, 0, 0, 1, 2 or 3, equally likely), and those
returns are missing for every indicator.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from analysis.errors import ModelSpecificationError
from analysis.sap.simulate import SimulationSettings

__all__ = [
    "Scenario",
    "PARTNERSHIP_TRAILING_MISSING",
    "MISSING_PATTERNS",
    "default_grid",
    "apply_missing",
]

#: Trailing quarters never returned by each of the six partnership boroughs (2023-2025).
PARTNERSHIP_TRAILING_MISSING = (0, 0, 0, 1, 2, 3)
MISSING_PATTERNS = ("none", "partnership")
Missing = Literal["none", "partnership"]


@dataclass(frozen=True)
class Scenario:
    """One simulation setting: its name, the data-generating settings and missingness."""

    name: str
    settings: SimulationSettings = field(default_factory=SimulationSettings)
    missing: Missing = "none"
    description: str = ""

    def __post_init__(self) -> None:
        if self.missing not in MISSING_PATTERNS:
            raise ModelSpecificationError(
                f"unknown missing-returns pattern {self.missing!r} ({', '.join(MISSING_PATTERNS)})"
            )

    def content(self) -> dict[str, Any]:
        """The plain data that defines the simulations (everything but name and text)."""
        st = self.settings
        return {
            "base_rates": dict(sorted(st.base_rates.items())),
            "rate_ratios": dict(sorted(st.rate_ratios.items())),
            "other_rate_ratio": st.other_rate_ratio,
            "sd_between": st.sd_between,
            "quarter_sd": st.quarter_sd,
            "noise": st.noise,
            "sd_observation": st.sd_observation,
            "nb_size": st.nb_size,
            "missing_probability": st.missing,
            "sd_trend": st.sd_trend,
            "sd_post": st.sd_post,
            "use_unit_referral_rate": st.use_unit_referral_rate,
            "missing": self.missing,
        }

    @property
    def key(self) -> str:
        """16 hex digits of SHA-256 over :meth:`content` (see the module docstring)."""
        text = json.dumps(self.content(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def true_log_effect(self, outcome: str) -> float:
        """The true log rate ratio of ``outcome`` (0 under the null)."""
        return math.log(self.settings.rate_ratio(outcome))

    def is_null(self, outcome: str) -> bool:
        return self.settings.rate_ratio(outcome) == 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "key": self.key,
            "description": self.description,
            **self.content(),
        }


def _null(st: SimulationSettings) -> SimulationSettings:
    ratios = {k: 1.0 for k in st.rate_ratios}
    return replace(st, rate_ratios=ratios, other_rate_ratio=1.0)


#: The default grid's drift settings: name -> (changes to the reference settings,
#: missing pattern, description).
_GRID: tuple[tuple[str, Mapping[str, Any], Missing, str], ...] = (
    ("reference", {}, "none", "between-borough SD 0.25, borough x quarter SD 0.1, no drift"),
    ("high-icc", {"sd_between": 0.5}, "none", "between-borough SD 0.5"),
    ("trend", {"sd_trend": 0.02}, "none", "borough trends, SD 0.02 per quarter (log scale)"),
    ("strong-trend", {"sd_trend": 0.05}, "none", "borough trends, SD 0.05 per quarter"),
    ("borough-period", {"sd_observation": 0.25}, "none", "borough x quarter SD 0.25"),
    ("borough-post", {"sd_post": 0.15}, "none", "borough x phase (baseline/follow-up) SD 0.15"),
    (
        "overdispersion",
        {"noise": "negative-binomial", "nb_size": 5.0},
        "none",
        "negative binomial counts, size 5 (no lognormal noise)",
    ),
    ("missing-returns", {}, "partnership", "late returns missing as in the partnership data"),
)


def default_grid(
    base: SimulationSettings | None = None, *, names: Sequence[str] | None = None
) -> tuple[Scenario, ...]:
    """The default grid: each drift setting under the null and under the target effect.

    ``base`` gives the reference settings (its rate ratios are the target effects);
    ``names`` keeps only the drift settings named (e.g. ``["reference", "trend"]``).
    """
    st = base or SimulationSettings()
    known = [g[0] for g in _GRID]
    unknown = sorted(set(names or ()) - set(known))
    if unknown:
        raise ModelSpecificationError(
            f"unknown scenario {', '.join(unknown)} (known: {', '.join(known)})"
        )
    out = []
    for name, changes, missing, text in _GRID:
        if names is not None and name not in names:
            continue
        target = replace(st, **changes)
        out.append(Scenario(f"{name}/null", _null(target), missing, f"{text}; no effect"))
        out.append(Scenario(f"{name}/target", target, missing, f"{text}; target effect"))
    return tuple(out)


def apply_missing(
    values: pd.DataFrame,
    scenario: Scenario,
    follow_up: Sequence[str],
    rng: np.random.Generator,
) -> pd.DataFrame:
    """``values`` with the scenario's missing returns set to NaN (see the module docstring).

    Draws one number per unit (sorted by id) from ``rng`` whatever the pattern, so that the
    draws after it do not depend on the pattern.
    """
    units = sorted(values["unit"].unique())
    pool = np.array(PARTNERSHIP_TRAILING_MISSING)
    trailing = pool[rng.integers(len(pool), size=len(units))]
    if scenario.missing == "none":
        return values
    quarters = list(follow_up)
    gone: set[tuple[str, str]] = set()
    for unit, k in zip(units, trailing):
        for q in quarters[len(quarters) - int(k) :] if k else []:
            gone.add((unit, q))
    out = values.copy()
    mask = [(u, p) in gone for u, p in zip(out["unit"], out["period"])]
    out.loc[mask, "value"] = np.nan
    return out
