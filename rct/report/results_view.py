"""Turn stored SAP results (:class:`~analysis.sap.results.SapResults`) into the report's
effect and ICC rows.

Each analysis' primary inference comes first among its rows (``primary_inference``
True); the other methods are supportive. A number the results JSON stores as ``null``
(read back as NaN) is None in a row, as the JSON has it.
"""

from __future__ import annotations

import math
from typing import Any

from analysis.sap.results import SapResults
from analysis.sap.summary import primary_first

__all__ = ["effect_rows"]

RATIO_MEASURES = ("ratio",)


def _stored(x: float | None) -> float | None:
    """``x`` as the results JSON stores it: None for a non-finite value."""
    return None if x is None or not math.isfinite(x) else x


def effect_rows(
    results: SapResults,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int | None]:
    """(effects, iccs, clusters in the primary analysis) from stored results."""
    effects: list[dict[str, Any]] = []
    iccs: list[dict[str, Any]] = []
    primary_clusters = None
    seen_outcomes: set[str] = set()
    for a in results.analyses:
        if a.role == "primary":
            primary_clusters = a.clusters
        for lead, m in primary_first(a):
            if not m.ok:
                continue
            effects.append(
                {
                    "role": a.role,
                    "label": a.name,
                    "method": m.method,
                    "estimate": _stored(m.effect),
                    "lower": _stored(m.effect_ci[0]),
                    "upper": _stored(m.effect_ci[1]),
                    "pvalue": _stored(m.pvalue),
                    "df": _stored(m.df),
                    "post_hoc": a.post_hoc,
                    "primary_inference": lead,
                    "scale": "ratio"
                    if any(r in m.measure.lower() for r in RATIO_MEASURES)
                    else "difference",
                }
            )
        icc = a.icc
        if icc is not None and not icc.error and a.outcome not in seen_outcomes:
            seen_outcomes.add(a.outcome)
            iccs.append(
                {
                    "outcome": a.outcome,
                    "method": icc.method,
                    "icc": _stored(icc.icc),
                    "lower": _stored(icc.ci[0]),
                    "upper": _stored(icc.ci[1]),
                }
            )
    return effects, iccs, primary_clusters
