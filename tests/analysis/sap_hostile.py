"""Hostile trial data for the SAP runner: the mutations, and the judge of a run's results.

Shared by tests/analysis/test_sap_hostile.py (named cases and a small hypothesis property)
and bench/fuzz_sap.py (the same property for many more examples).

What a run may do with hostile data: give finite numbers, report a method (or an analysis,
or an ICC) failed with the library's reason, or refuse the whole run with a
:class:`~analysis.errors.DataError`. What it may not: raise any other exception, store a
NaN or infinite number in an "ok" method (except a randomisation interval's unbounded
limit), report a p-value outside [0, 1] or an interval that does not contain its estimate,
or print "nan"/"inf" in the Markdown summary.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis.errors import DataError
from analysis.sap.results import SapResults
from analysis.sap.runner import run_sap
from protocols import Protocol

OUTCOME = "da_re_referrals"
FOLLOW_UP = ("2026-Q2", "2026-Q3", "2026-Q4")

Mutation = Callable[[pd.DataFrame, Mapping[str, str]], pd.DataFrame]


def where(
    values: pd.DataFrame,
    arms: Mapping[str, str],
    *,
    unit: str | None = None,
    arm: str | None = None,
    phase: str | None = None,
    period: str | None = None,
) -> pd.Series:
    """Rows of the outcome in the given unit, arm, phase ("baseline"/"follow_up") and
    quarter (each optional)."""
    rows = values["indicator"] == OUTCOME
    if unit is not None:
        rows &= values["unit"] == unit
    if arm is not None:
        rows &= values["unit"].map(arms) == arm
    if phase == "follow_up":
        rows &= values["period"].isin(FOLLOW_UP)
    elif phase == "baseline":
        rows &= values["period"] < "2026-Q1"
    if period is not None:
        rows &= values["period"] == period
    return rows


def set_value(values: pd.DataFrame, rows: pd.Series, value: Any) -> pd.DataFrame:
    out = values.copy()
    if isinstance(value, str):
        out["value"] = out["value"].astype(object)
    out.loc[rows, "value"] = value
    return out


def scale(values: pd.DataFrame, rows: pd.Series, factor: float) -> pd.DataFrame:
    """Counts multiplied by ``factor``, still whole numbers."""
    out = values.copy()
    out.loc[rows, "value"] = np.round(out.loc[rows, "value"].astype(float) * factor)
    return out


def single_non_zero(values: pd.DataFrame, rows: pd.Series, count: float) -> pd.DataFrame:
    """Every outcome 0 but one (the first of ``rows``), which is ``count``."""
    out = set_value(values, values["indicator"] == OUTCOME, 0.0)
    first = rows[rows].index[:1]
    out.loc[first, "value"] = count
    return out


def duplicate(values: pd.DataFrame, rows: pd.Series) -> pd.DataFrame:
    return pd.concat([values, values[rows]]).reset_index(drop=True)


def drop(values: pd.DataFrame, rows: pd.Series) -> pd.DataFrame:
    return values[~rows].reset_index(drop=True)


@dataclass
class Verdict:
    """What one run did: ``refused`` (a DataError for the whole run), else its results,
    the methods and ICCs that failed (``analysis/method`` -> reason) and any breach of
    the invariants (``problems``; empty when the run is sound)."""

    refused: str = ""
    results: SapResults | None = None
    failed: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def ok(self, name: str) -> bool:
        """Whether ``analysis/method`` ran and reported an effect."""
        return self.results is not None and name not in self.failed and self._exists(name)

    def _exists(self, name: str) -> bool:
        assert self.results is not None
        a, _, m = name.partition("/")
        analysis = self.results.analysis(a)
        return not m or any(x.method == m for x in analysis.methods)


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def problems(res: SapResults) -> list[str]:
    """Every breach of the invariants in ``res`` (see the module docstring)."""
    out = []
    for a in res.analyses:
        for m in a.methods:
            if not m.ok:
                if not m.error:
                    out.append(f"{a.name}/{m.method}: failed without a reason")
                continue
            tag = f"{a.name}/{m.method}"
            inverted = m.method != "randomisation" or m.inference != "randomisation"
            numbers: dict[str, float | None] = {"p-value": m.pvalue}
            if inverted:
                numbers |= {"estimate": m.coefficient, "effect": m.effect}
            if m.std_error is not None:
                numbers["standard error"] = m.std_error
            if m.statistic is not None:
                numbers["statistic"] = m.statistic
            if m.df is not None:
                numbers["df"] = m.df
            out += [f"{tag}: {k} = {v}" for k, v in numbers.items() if not _finite(v)]
            if not 0.0 <= m.pvalue <= 1.0:
                out.append(f"{tag}: p-value {m.pvalue} outside [0, 1]")
            if m.std_error is not None and not m.std_error > 0:
                out.append(f"{tag}: standard error {m.std_error}")
            if m.df is not None and not m.df > 0:
                out.append(f"{tag}: df {m.df}")
            if inverted:
                lo, hi = m.coefficient_ci
                if m.method != "randomisation" and not (_finite(lo) and _finite(hi)):
                    out.append(f"{tag}: interval ({lo}, {hi}) not finite")
                if not lo <= m.coefficient <= hi:
                    out.append(f"{tag}: interval ({lo}, {hi}) misses {m.coefficient}")
                elo, ehi = m.effect_ci
                if not elo <= m.effect <= ehi:
                    out.append(f"{tag}: effect interval ({elo}, {ehi}) misses {m.effect}")
            for k, v in m.details.get("variance_components", {}).items():
                if not _finite(v):
                    out.append(f"{tag}: variance component {k} = {v}")
        icc = a.icc
        if icc is not None and not icc.error:
            if not (_finite(icc.icc) and 0 <= icc.ci[0] <= icc.icc <= icc.ci[1] <= 1):
                out.append(f"{a.name}/icc: {icc.icc} ({icc.ci})")
    md = res.summary_markdown()
    for line in md.splitlines():
        if re.search(r"\b(nan|inf|infinity)\b", line, re.IGNORECASE):
            out.append(f"summary prints a non-number: {line}")
    return out


def judge(
    protocol: Protocol,
    values: pd.DataFrame,
    arms: Mapping[str, str],
    schemes: np.ndarray,
    units: tuple[str, ...],
    *,
    icc: bool = False,
    randomisation_ci: bool = False,
) -> Verdict:
    """Run the SAP on ``values`` and judge the run. Exceptions other than a DataError
    refusal propagate: they are the bugs."""
    try:
        res = run_sap(
            protocol,
            values,
            arms,
            schemes,
            units,
            icc=icc,
            randomisation_ci=randomisation_ci,
        )
    except DataError as exc:
        return Verdict(refused=str(exc))
    failed: dict[str, str] = {}
    for a in res.analyses:
        if a.error:
            failed[a.name] = a.error
        failed |= {f"{a.name}/{m.method}": m.error for m in a.methods if not m.ok}
        if a.icc is not None and a.icc.error:
            failed[f"{a.name}/icc"] = a.icc.error
    found = problems(res)
    res.to_json()  # serialisable
    return Verdict(results=res, failed=failed, problems=found)
