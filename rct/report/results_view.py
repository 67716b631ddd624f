"""Turn stored SAP results (the results JSON) into the report's effect and ICC rows.

Each analysis' primary inference comes first among its rows (``primary_inference``
True); the other methods are supportive.
"""

from __future__ import annotations

from typing import Any

from analysis.sap.summary import primary_first

__all__ = ["effect_rows"]

RATIO_MEASURES = ("ratio",)


def effect_rows(
    results: dict[str, Any],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int | None]:
    """(effects, iccs, clusters in the primary analysis) from ``{"data": results JSON, ...}``."""
    data = results["data"]
    effects: list[dict[str, Any]] = []
    iccs: list[dict[str, Any]] = []
    primary_clusters = None
    seen_outcomes: set[str] = set()
    for a in data["analyses"]:
        if a["role"] == "primary":
            primary_clusters = a.get("clusters")
        for lead, m in primary_first(a):
            if m.get("status") != "ok":
                continue
            eff = m["effect"]
            effects.append(
                {
                    "role": a["role"],
                    "label": a["name"],
                    "method": m["method"],
                    "estimate": eff["estimate"],
                    "lower": eff["ci_lower"],
                    "upper": eff["ci_upper"],
                    "pvalue": m.get("pvalue"),
                    "df": m.get("df"),
                    "post_hoc": a.get("post_hoc", False),
                    "primary_inference": lead,
                    "scale": "ratio"
                    if any(r in str(eff.get("measure", "")).lower() for r in RATIO_MEASURES)
                    else "difference",
                }
            )
        icc = a.get("icc")
        if icc and icc.get("status") == "ok" and a["outcome"] not in seen_outcomes:
            seen_outcomes.add(a["outcome"])
            iccs.append(
                {
                    "outcome": a["outcome"],
                    "method": icc.get("method", ""),
                    "icc": icc["icc"],
                    "lower": icc.get("ci_lower"),
                    "upper": icc.get("ci_upper"),
                }
            )
    return effects, iccs, primary_clusters
