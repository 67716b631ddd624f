"""The Markdown summary of a SAP run, rendered from typed results read back from their JSON.

Rendering what the stored JSON holds (``SapResults.from_json``, not the live objects)
means a summary can be rebuilt from any stored or published results file and always says
exactly what the file says: :meth:`SapResults.summary_markdown` renders the results read
back from their own JSON, so its numbers are the rounded ones the file stores. Post hoc
analyses carry their label in the heading and again in a line of their own.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from analysis.coded_warnings import warning_text

if TYPE_CHECKING:  # annotations only: analysis.sap.results renders its summary with this
    from analysis.sap.results import AnalysisResult, IccSummary, MethodResult, SapResults

__all__ = [
    "summary_markdown",
    "format_effect",
    "format_p",
    "method_line",
    "icc_line",
    "primary_first",
    "deciding_method",
]

ROLE_TITLE = {"primary": "Primary", "secondary": "Secondary", "sensitivity": "Sensitivity"}


def _num(x: float | None, digits: int = 3) -> str:
    if x is None or not math.isfinite(x):
        return "unbounded"
    v = float(x)
    if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
        return f"{v:.{digits}g}"
    return f"{v:.{digits}g}" if abs(v) >= 100 else f"{v:.{digits}f}".rstrip("0").rstrip(".")


def format_p(p: float | None) -> str:
    """A p-value as people report it: 4 decimals, ``<0.0001`` below; ``-`` if there is
    none (stored as ``null``, read back as NaN)."""
    if p is None or math.isnan(p):
        return "-"
    v = float(p)
    return "<0.0001" if v < 1e-4 else f"{v:.4f}"


def format_effect(m: MethodResult) -> str:
    """``0.667 (CI 0.512 to 0.869)``: a method's effect on the natural scale.

    A method without an estimate (a randomisation test run without test inversion stores
    its estimate and interval as ``null``) reads ``not estimated``: it was rendered
    "unbounded (CI unbounded to unbounded)", as if the data could not bound the effect
    (found by tests/analysis/test_sap_hostile.py). Every estimate a method reports is
    finite, so a missing one is never an unbounded one.
    """
    if m.effect is None or not math.isfinite(m.effect):
        return "not estimated (p-value only)"
    return f"{_num(m.effect)} (CI {_num(m.effect_ci[0])} to {_num(m.effect_ci[1])})"


def _df(m: MethodResult) -> str:
    if m.df is None:
        return "randomisation" if m.method == "randomisation" else "normal"
    d = float(m.df)
    return f"{d:.0f}" if abs(d - round(d)) < 1e-6 else f"{d:.1f}"


def method_line(m: MethodResult) -> str:
    """One line for one inference method: effect with CI, p-value, df (or the failure)."""
    if not m.ok:
        return f"{m.method}: FAILED - {m.error}"
    p = format_p(m.pvalue)
    p_text = f"p < {p[1:]}" if p.startswith("<") else f"p = {p}"
    line = f"{m.method}: {m.measure} {format_effect(m)}, {p_text}"
    if m.method == "randomisation":
        d = m.details
        return f"{line} ({d['count']} of {d['n_schemes']} admissible schemes as extreme)"
    return f"{line}, df = {_df(m)}"


def deciding_method(a: AnalysisResult) -> str:
    """The analysis' primary inference (older results files: its first listed method)."""
    chosen = a.primary_inference
    if not chosen and a.methods:
        chosen = a.methods[0].method
    return chosen


def primary_first(a: AnalysisResult) -> list[tuple[bool, MethodResult]]:
    """The analysis' methods, its primary inference first: (is it the primary, method)."""
    chosen = deciding_method(a)
    lead = [m for m in a.methods if m.method == chosen]
    rest = [m for m in a.methods if m.method != chosen]
    return [(True, m) for m in lead] + [(False, m) for m in rest]


def headline(results: SapResults) -> str | None:
    """The trial's answer in one line: the primary analysis under its primary inference."""
    for a in results.analyses:
        if a.role != "primary" or a.post_hoc:
            continue
        chosen = deciding_method(a)
        if a.error:
            return f"**Primary result ({a.name}, {chosen}):** FAILED - {a.error}"
        for m in a.methods:
            if m.method == chosen:
                return f"**Primary result ({a.name}):** {method_line(m)}"
    return None


def icc_line(icc: IccSummary | None) -> str:
    if icc is None:
        return "ICC: not estimated"
    if icc.error:
        return f"ICC: could not be estimated - {icc.error}"
    lvl = round(100 * icc.level)
    return (
        f"ICC {_num(icc.icc)} ({lvl}% CI {_num(icc.ci[0])} to {_num(icc.ci[1])}), "
        f"{icc.scale} scale, {icc.method}"
    )


def summary_markdown(results: SapResults) -> str:
    """Render results (as read back from their JSON, in its order) as Markdown."""
    trial = results.trial
    prov = results.provenance
    lvl = round(100 * results.level)
    out = [
        f"# Results: {trial.get('title', trial.get('id', ''))}",
        "",
        f"- Protocol version {prov.get('protocol_version', '?')}, fingerprint "
        f"`{prov.get('protocol_fingerprint', '')}`",
        f"- Data snapshot `{prov.get('data_snapshot_hash', '')}`",
        f"- Allocation commitment `{prov.get('allocation_commitment', '')}`",
        "- Packages: " + ", ".join(f"{k} {v}" for k, v in sorted(prov.get("packages", {}).items())),
        f"- Confidence intervals are {lvl}%; effects are rate ratios (log-link counts), odds "
        "ratios (binomial) or mean differences (Gaussian), intervention vs control.",
        "",
    ]
    head = headline(results)
    if head:
        out += [head, ""]
    for a in results.analyses:
        label = " (POST HOC)" if a.post_hoc else ""
        role = ROLE_TITLE.get(a.role, a.role)
        out.append(f"## {role}: {a.name}{label}")
        out.append("")
        if a.post_hoc:
            out.append(f"**Post hoc:** {a.post_hoc_reason}")
            out.append("")
        offset = f", offset log({a.offset})" if a.offset else ""
        out.append(
            f"Outcome {a.outcome_label} (`{a.outcome}`); {a.family} model "
            f"`{a.formula}`{offset}; {a.periods.replace('_', '-')} quarters."
        )
        if a.error:
            out += ["", f"FAILED: {a.error}", ""]
            continue
        out.append(
            f"{a.clusters} clusters, {a.observations} observations "
            f"({a.missing_values} missing values left out)."
        )
        out.append("")
        several = len(a.methods) > 1
        for lead, m in primary_first(a):
            label = ("**Primary inference** - " if lead else "Supportive - ") if several else ""
            out.append(f"- {label}{method_line(m)}")
        out.append(f"- {icc_line(a.icc)}")
        warns = [(m.method, w) for m in a.methods for w in m.warnings]
        if warns:
            out.append("")
            out.append("Warnings:")
            out += [f"- {meth}: {warning_text(w)}" for meth, w in warns]
        out.append("")
    return "\n".join(out).rstrip() + "\n"
