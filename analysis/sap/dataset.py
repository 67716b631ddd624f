"""Build the model frame of one prespecified analysis from long-form indicator values.

Input is one row per unit x quarter x indicator (``unit``, ``period``, ``indicator``,
``value``; blank values are missing, never zero). The frame has one row per unit x quarter
of the analysis' outcome, with the model terms of :mod:`protocols.vocabulary`:

* ``treatment`` = 1 for an intervention unit in a follow-up quarter;
* ``arm`` = 1 for an intervention unit; ``post`` = 1 in follow-up quarters;
* ``period`` = the calendar quarter (categorical), ``time`` = quarters since the first
  baseline quarter;
* ``baseline`` = log of the unit's mean baseline rate of the outcome per 10,000 of the
  denominator (with 0.5 added to a zero total so the log exists);
* ``offset`` = log of the denominator covariate; ``rate`` = the outcome per 10,000 of the
  denominator (the Gaussian analyses' outcome);
* every unit covariate, by name.

Transition quarters (between baseline and follow-up) are never analysed; ``periods =
"follow_up"`` keeps the follow-up quarters only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.errors import DataError
from analysis.families import family_info
from protocols import Analysis, Protocol, Quarter
from protocols.model import Unit
from protocols.quarters import QuarterError

__all__ = ["AnalysisFrame", "build_frame", "RATE_PER"]

RATE_PER = 10_000.0


@dataclass(frozen=True)
class AnalysisFrame:
    """The model frame of one analysis, with what was left out and why."""

    analysis: Analysis
    data: pd.DataFrame
    outcome: str
    offset: str | None
    formula_terms: tuple[str, ...]
    missing: int
    units: tuple[str, ...]


def _terms(analysis: Analysis) -> tuple[str, ...]:
    out = []
    for t in analysis.fixed:
        out.append("C(period)" if t == "period" else t)
    return tuple(out)


def build_frame(
    protocol: Protocol, values: pd.DataFrame, arms: Mapping[str, str], analysis: Analysis
) -> AnalysisFrame:
    """Model frame for ``analysis`` (see the module docstring)."""
    need = {"unit", "period", "indicator", "value"}
    if not need <= set(values.columns):
        raise DataError(f"values need columns {sorted(need)}, found {sorted(values.columns)}")
    units = {u.id: u for u in protocol.units}
    unknown = sorted(set(arms) - set(units))
    if unknown or set(arms) != set(units):
        raise DataError(
            f"arms must cover exactly the protocol's units; unknown or missing: "
            f"{unknown or sorted(set(units) - set(arms))}"
        )
    codes = {a.code for a in protocol.arms}
    strange = sorted(f"{u}: {a!r}" for u, a in arms.items() if a not in codes)
    if strange:
        # a code that is no arm of the protocol was silently counted as control
        raise DataError(
            f"arms must be the protocol's arm codes ({', '.join(sorted(codes))}); found "
            f"{'; '.join(strange)}"
        )
    sched = protocol.schedule
    indicator = protocol.indicator(analysis.outcome)
    denominator = indicator.denominator or analysis.offset
    rows = values.loc[values["indicator"] == analysis.outcome, ["unit", "period", "value"]]
    _check_values(analysis, indicator.type, rows)
    # Quarters and their phases are looked up once per distinct period, not once per row:
    # power simulations build thousands of frames.
    foreign = sorted(set(rows["unit"].astype(str)) - set(units))
    if foreign:
        # they raised a KeyError deep in the frame building (a traceback)
        raise DataError(
            f"analysis {analysis.name}: values of {analysis.outcome} for units that are not "
            f"in the protocol: {', '.join(foreign[:5])}"
        )
    try:
        quarter = {p: Quarter.parse(p) for p in pd.unique(rows["period"])}
    except (QuarterError, TypeError, AttributeError) as exc:
        raise DataError(f"analysis {analysis.name}: {exc}") from exc
    phase = {p: sched.phase(q) for p, q in quarter.items()}
    row_phase = np.array([phase[p] for p in rows["period"]], dtype=object)
    rows = rows[(row_phase == "baseline") | (row_phase == "follow_up")]
    row_phase = row_phase[(row_phase == "baseline") | (row_phase == "follow_up")]
    baseline_rows = rows[row_phase == "baseline"]
    if analysis.periods == "follow_up":
        rows = rows[row_phase == "follow_up"]
        row_phase = row_phase[row_phase == "follow_up"]
    observed = rows["value"].notna().to_numpy()
    missing = int(len(observed) - observed.sum())
    rows, row_phase = rows[observed], row_phase[observed]
    if rows.empty:
        raise DataError(f"analysis {analysis.name}: no observed values of {analysis.outcome}")
    first = sched.baseline_start.index
    intervention = protocol.allocation.intervention_arm
    unit_ids = rows["unit"].astype(str).to_numpy()
    # rows in (unit, period) order, stable, as a merge sort of the finished frame would give
    periods = rows["period"].astype(str).to_numpy()
    order = np.array(sorted(range(len(unit_ids)), key=lambda i: (unit_ids[i], periods[i])))
    unit_ids, periods, row_phase = unit_ids[order], periods[order], row_phase[order]
    row_quarters = rows["period"].to_numpy()[order]
    distinct, which = np.unique(unit_ids, return_inverse=True)
    y = rows["value"].astype(float).to_numpy()[order]
    post = (row_phase == "follow_up").astype(float)
    arm = np.array([1.0 if arms[u] == intervention else 0.0 for u in distinct])[which]
    _need_follow_up_in_both_arms(analysis, post, arm, protocol)
    columns: dict[str, object] = {
        "unit": unit_ids,
        "period": periods,
        "y": y,
        "post": post,
        "arm": arm,
        "treatment": arm * post,
        "time": np.array([float(quarter[q].index - first) for q in row_quarters]),
    }
    covariates = sorted({k for u in units.values() for k in u.covariates})
    for name in covariates:
        per_unit = [units[u].covariates.get(name, np.nan) for u in distinct]
        columns[name] = [per_unit[j] for j in which]
    offset = None
    if denominator:
        denom = np.array([_size(units[u], denominator) for u in distinct])[which]
        columns["rate"] = y / denom * RATE_PER
        if analysis.offset:
            exposure = np.array([_size(units[u], analysis.offset) for u in distinct])
            columns["offset"] = np.log(exposure[which])
            offset = "offset"
    if "baseline" in analysis.fixed:
        columns["baseline"] = _baseline_log_rate(baseline_rows, units, denominator, unit_ids)
    frame = pd.DataFrame(columns)
    gaussian_rate = family_info(analysis.family).link == "identity" and "rate" in frame
    outcome = "rate" if gaussian_rate else "y"
    return AnalysisFrame(
        analysis,
        frame,
        outcome,
        offset,
        _terms(analysis),
        missing,
        tuple(str(u) for u in distinct),
    )


def _size(unit: Unit, name: str) -> float:
    """Unit ``unit``'s denominator or exposure covariate ``name``: a positive finite number.

    A missing one raised a ``KeyError``, a text one a ``ValueError``, a negative one a
    ``math domain error`` in the baseline log rate, and 0 gave infinite rates and offsets
    that the fits turned into ``ZeroDivisionError`` or an SVD failure (found by
    tests/analysis/test_sap_hostile.py): each is refused here, by name.
    """
    value = unit.covariates.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DataError(f"unit {unit.id} has no numeric {name} (found {value!r})")
    if not (math.isfinite(value) and value > 0):
        raise DataError(f"unit {unit.id}'s {name} is {value!r}: it must be a positive number")
    return float(value)


def _check_values(analysis: Analysis, kind: str, rows: pd.DataFrame) -> None:
    """Refuse outcome values no return could hold, naming them, before any model sees them.

    The capture layer refuses such returns, but ``run_sap`` is also called on frames built
    elsewhere: an infinite value made the randomisation test's root finder fail with a
    scipy ``ValueError`` (a traceback), a duplicated unit-quarter row was silently counted
    twice as if it were a second observation, and negative or fractional counts went
    through the cluster-level and randomisation analyses as if they were counts (found by
    tests/analysis/test_sap_hostile.py).
    """
    where = rows["unit"].astype(str) + " " + rows["period"].astype(str)
    dup = where.duplicated(keep=False).to_numpy()
    if dup.any():
        repeated = ", ".join(sorted(set(where[dup]))[:3])
        raise DataError(
            f"analysis {analysis.name}: {analysis.outcome} has more than one row for "
            f"{repeated}: each unit and quarter needs exactly one value"
        )
    try:
        y = pd.to_numeric(rows["value"], errors="raise").to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"analysis {analysis.name}: {analysis.outcome} has values that are not numbers"
        ) from exc
    observed = ~np.isnan(y)
    bad = observed & ~np.isfinite(y)
    if bad.any():
        first = ", ".join(where[bad][:3])
        raise DataError(
            f"analysis {analysis.name}: {analysis.outcome} has infinite values at {first}"
        )
    if kind == "count":
        bad = observed & ((y < 0) | (y != np.floor(y)))
        if bad.any():
            first = ", ".join(f"{w} ({v:g})" for w, v in zip(where[bad][:3], y[bad][:3]))
            raise DataError(
                f"analysis {analysis.name}: {analysis.outcome} is a count, but has negative "
                f"or fractional values at {first}"
            )


def _need_follow_up_in_both_arms(
    analysis: Analysis, post: np.ndarray, arm: np.ndarray, protocol: Protocol
) -> None:
    """The intervention effect compares the arms after go-live: without follow-up values in
    each arm there is nothing to estimate, and the fits would fail with numerical errors
    that say nothing of why."""
    seen = {float(a) for a in arm[post == 1.0]}
    intervention = protocol.allocation.intervention_arm
    control = next((a.code for a in protocol.arms if a.code != intervention), "control")
    lacking = [name for flag, name in ((1.0, intervention), (0.0, control)) if flag not in seen]
    if lacking:
        where = " or ".join(f"the {name} arm" for name in lacking)
        raise DataError(
            f"analysis {analysis.name}: no follow-up values of {analysis.outcome} in {where} "
            "yet, so the intervention effect cannot be estimated"
        )


def _baseline_log_rate(
    baseline_rows: pd.DataFrame,
    units: Mapping[str, Unit],
    denominator: str | None,
    unit_col: np.ndarray,
) -> np.ndarray:
    obs = baseline_rows.dropna(subset=["value"])
    out = {}
    for u in units:
        vals = obs.loc[obs["unit"] == u, "value"].astype(float)
        if vals.empty:
            raise DataError(f"unit {u} has no baseline values: the 'baseline' term needs them")
        denom = _size(units[u], denominator) if denominator else 1.0
        total = float(vals.sum())
        out[u] = math.log(max(total, 0.5) / (len(vals) * denom) * RATE_PER)
    return np.array([out[u] for u in unit_col])
