"""Text rendering of ``rct design check``: one table per analysis x inference method."""

from __future__ import annotations

from analysis.sap.characteristics import Characteristic, OperatingResult
from rct.cli.common import table

__all__ = ["render_check", "percent"]


def percent(x: float | None) -> str:
    if x is None or x != x:
        return "-"
    return f"{100 * x:.1f}%"


def _drift(scenario: str) -> str:
    return scenario.split("/", 1)[0]


def _pair(rows: list[Characteristic]) -> dict[str, dict[str, Characteristic]]:
    out: dict[str, dict[str, Characteristic]] = {}
    for r in rows:
        out.setdefault(_drift(r.scenario), {})["null" if r.null else "target"] = r
    return out


def _size(r: Characteristic | None) -> str:
    if r is None or r.fitted == 0:
        return "-"
    mark = "  FLAG" if r.anti_conservative else ""
    return f"{percent(r.rejection_rate)} ({percent(r.mc_se)}){mark}"


def _bias(r: Characteristic | None) -> str:
    if r is None or r.bias is None:
        return "-"
    return f"{r.bias:+.3f}"


def render_check(result: OperatingResult) -> str:
    """The whole report: a head line, a table per method, the flagged methods."""
    lines = [
        f"Operating characteristics: {result.simulations} simulated trials per scenario, "
        f"seed {result.seed}, allocations from {result.schemes} admissible schemes, "
        f"two-sided alpha {result.alpha:g}.",
        "Type I error with its Monte Carlo SE under the null; power under the target effect; "
        "coverage and bias (log scale) under the null. FLAG: type I error above alpha + 2 MC SE.",
        "",
    ]
    seen: list[tuple[str, str]] = []
    for r in result.rows:
        if (r.analysis, r.method) not in seen:
            seen.append((r.analysis, r.method))
    for analysis, method in seen:
        rows = [r for r in result.rows if (r.analysis, r.method) == (analysis, method)]
        first = rows[0]
        label = "PRIMARY inference" if first.primary else "supportive"
        if first.role != "primary":
            label = first.role if first.primary else f"{first.role}, supportive"
        lines.append(f"{analysis} / {method} ({label})")
        body = []
        for drift, pair in _pair(rows).items():
            null, target = pair.get("null"), pair.get("target")
            failed = sum(x.failed for x in pair.values())
            warned = sum(x.warned for x in pair.values())
            sims = sum(x.simulations for x in pair.values())
            body.append(
                [
                    drift,
                    _size(null),
                    percent(target.rejection_rate) if target and target.fitted else "-",
                    percent(null.coverage) if null else "-",
                    _bias(null),
                    f"{failed}/{sims}",
                    f"{warned}/{sims}",
                ]
            )
        lines.append(
            table(
                body,
                [
                    "scenario",
                    "type I error (MC SE)",
                    "power",
                    "coverage",
                    "bias",
                    "failed",
                    "warned",
                ],
            )
        )
        errors = {r.first_error for r in rows if r.first_error}
        for e in sorted(errors)[:2]:
            lines.append(f"  first failure: {e}")
        lines.append("")
    if result.flagged:
        lines.append("Flagged (type I error exceeds nominal by more than 2 Monte Carlo SEs):")
        for r in result.flagged:
            lines.append(
                f"- {r.analysis} / {r.method} under {_drift(r.scenario)}: "
                f"{percent(r.rejection_rate)} > {percent(r.threshold)} "
                f"({r.rejections} of {r.fitted} null trials rejected)"
            )
    else:
        lines.append("No method's type I error exceeds nominal by more than 2 Monte Carlo SEs.")
    return "\n".join(lines)
