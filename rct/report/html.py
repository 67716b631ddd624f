"""Render the trial report as one self-contained HTML page (images inline, no network).

Before reveal the page carries no arm information at all: the callers pass ``arms=None``
and every section that would split by arm says that the allocation is concealed.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from protocols.errors import warning_text
from rct.capture.completeness_status import STATUSES, STYLE, plural
from rct.report.wording import IMBALANCE_NOTE, IMBALANCE_THRESHOLD, fmt_number, fmt_p

__all__ = ["ReportData", "render_report", "SECTIONS"]

SECTIONS = (
    "headline",
    "flow",
    "randomisation",
    "baseline",
    "completeness",
    "rates",
    "effects",
    "icc",
    "operating",
    "provenance",
)


@dataclass
class ReportData:
    """Everything the page shows, as plain data gathered by :mod:`rct.report.gather`."""

    title: str
    trial_id: str
    generated_at: str
    units: list[dict[str, Any]]
    arms: dict[str, str] | None
    allocation: dict[str, Any] | None
    diagnostics: dict[str, Any] | None
    baseline: list[dict[str, Any]] | None
    figures: dict[str, str] = field(default_factory=dict)
    completeness_totals: dict[str, int] = field(default_factory=dict)
    overdue: list[dict[str, Any]] = field(default_factory=list)
    effects: list[dict[str, Any]] = field(default_factory=list)
    headline: list[str] = field(default_factory=list)
    iccs: list[dict[str, Any]] = field(default_factory=list)
    analysed_clusters: int | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    operating: dict[str, Any] | None = None  # 'rct design check' results (rct.report.operating)


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#111;background:#fafafa}
header{background:#1f3a5f;color:#fff;padding:1.2em 2em}header h1{margin:0;font-size:1.5em}
nav{padding:.5em 2em;background:#e9eef5;font-size:.9em}nav a{margin-right:1em;color:#1f3a5f}
main{padding:0 2em 2em;max-width:1100px}section{background:#fff;border:1px solid #ddd;
border-radius:6px;padding:1em 1.5em;margin:1.2em 0}h2{margin-top:0;color:#1f3a5f}
table{border-collapse:collapse;font-size:.88em;margin:.6em 0}th,td{border:1px solid #ccc;
padding:3px 8px;text-align:left}th{background:#f0f0f0}td.n{text-align:right;font-variant-numeric:tabular-nums}
.flow{display:grid;grid-template-columns:1fr 1fr;gap:.8em;max-width:760px}.box{border:2px solid #333;
border-radius:4px;padding:.6em;background:#fff}.wide{grid-column:1 / span 2;text-align:center}
.concealed{background:#fff3cd;border:1px solid #e0c36a;padding:.6em;border-radius:4px}
.warn{color:#8a1c00;font-weight:600}.headline{border:2px solid #1f3a5f;background:#eef3f9;
padding:.8em 1.2em;border-radius:6px;font-size:1.05em}.headline p{margin:.35em 0}
tr.imbalanced td{background:#fde8e4}.legend span{display:inline-block;margin-right:1.2em}code{font-size:.85em;word-break:break-all}img{max-width:100%}
"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def _num(x: Any, digits: int = 3) -> str:
    return _e(fmt_number(x, digits))


def _flow(d: ReportData) -> str:
    n = len(d.units)
    replaces = (d.allocation or {}).get("replaces")
    reseal = f" <b>(re-seal after void of allocation #{_e(replaces)})</b>" if replaces else ""
    if d.arms is None:
        status = (d.allocation or {}).get("status", "not sealed")
        return (
            f"<div class='flow'><div class='box wide'>Clusters in the protocol: <b>{n}</b></div>"
            f"<div class='box wide'>Randomised: allocation {_e(status)}; arms concealed until reveal{reseal}</div></div>"
        )
    groups: dict[str, list[str]] = {}
    for u in d.units:
        groups.setdefault(d.arms[u["id"]], []).append(u["name"])
    cells = "".join(
        f"<div class='box'><b>{_e(arm)}</b>: {plural(len(names), 'cluster')}<br><small>{_e(', '.join(sorted(names)))}</small></div>"
        for arm, names in sorted(groups.items(), key=lambda kv: kv[0] != "intervention")
    )
    analysed = (
        ""
        if d.analysed_clusters is None
        else (
            "<div class='box wide'>Analysed in the primary analysis: "
            f"<b>{plural(d.analysed_clusters, 'cluster')}</b></div>"
        )
    )
    return (
        f"<div class='flow'><div class='box wide'>Clusters in the protocol: <b>{n}</b></div>"
        f"<div class='box wide'>Randomised: <b>{n}</b> (allocation #{_e((d.allocation or {}).get('allocation'))}, "
        f"scheme {_e((d.allocation or {}).get('scheme_index'))}){reseal}</div>{cells}{analysed}</div>"
    )


def _randomisation(d: ReportData) -> str:
    if d.diagnostics is None:
        return "<p>No allocation design.</p>"
    g = d.diagnostics
    parts = [
        f"<p>{g['total']:,} schemes meet the arm sizes; <b>{g['admissible']:,}</b> are admissible"
        + (
            f" (cutoff score {_num(g['cutoff_score'])})"
            if g.get("cutoff_score") is not None
            else ""
        )
        + f". Smallest attainable randomisation-test p-value: <b>{_num(g['min_p_value'])}</b>.</p>"
    ]
    if g.get("always_together") or g.get("never_together"):
        pairs = [f"{a}–{b} always together" for a, b in g.get("always_together", [])]
        pairs += [f"{a}–{b} never together" for a, b in g.get("never_together", [])]
        parts.append(f"<p class='warn'>Over-constrained pairs: {_e('; '.join(pairs))}</p>")
    for w in g.get("warnings", []):
        parts.append(f"<p class='warn'>Warning: {_e(warning_text(w))}</p>")
    if "histogram" in d.figures:
        parts.append(
            f"<img alt='Balance scores of the scheme space' src='{d.figures['histogram']}'>"
        )
    return "".join(parts)


def _baseline(d: ReportData) -> str:
    if d.arms is None or not d.baseline:
        rows = "".join(
            f"<tr><td>{_e(u['name'])}</td><td>{_e(u.get('gss_code', ''))}</td>"
            + "".join(f"<td class='n'>{_num(v)}</td>" for k, v in sorted(u["covariates"].items()))
            + "</tr>"
            for u in d.units
        )
        keys = sorted(d.units[0]["covariates"]) if d.units else []
        note = (
            ""
            if d.arms is not None
            else "<p class='concealed'>Arms are concealed until reveal; clusters are listed without them.</p>"
        )
        return (
            note
            + "<table><tr><th>cluster</th><th>GSS code</th>"
            + "".join(f"<th>{_e(k)}</th>" for k in keys)
            + "</tr>"
            + rows
            + "</table>"
        )
    flagged = [r for r in d.baseline if _imbalanced(r)]
    rows = "".join(
        f"<tr{' class=imbalanced' if _imbalanced(r) else ''}><td>{_e(r['covariate'])}</td>"
        f"<td class='n'>{_num(r['mean_intervention'])}</td>"
        f"<td class='n'>{_num(r['mean_control'])}</td><td class='n'>{_num(r['std_diff'])}"
        f"{' <b class=warn>imbalanced</b>' if _imbalanced(r) else ''}</td></tr>"
        for r in d.baseline
    )
    summary = (
        f"<p class='warn'>{plural(len(flagged), 'covariate')} with |standardised difference| "
        f"above {IMBALANCE_THRESHOLD}: {_e(', '.join(r['covariate'] for r in flagged))}.</p>"
        if flagged
        else f"<p>No covariate has |standardised difference| above {IMBALANCE_THRESHOLD}.</p>"
    )
    return (
        summary + "<table><tr><th>covariate</th><th>intervention (mean)</th><th>control (mean)</th>"
        f"<th>standardised difference</th></tr>{rows}</table>"
        f"<p><small>{_e(IMBALANCE_NOTE)}</small></p>"
    )


def _imbalanced(row: dict[str, Any]) -> bool:
    d = row.get("std_diff")
    return isinstance(d, (int, float)) and abs(d) > IMBALANCE_THRESHOLD


def _completeness(d: ReportData) -> str:
    t = d.completeness_totals
    total = sum(t.values())
    parts = [
        f"<p>Of {plural(total, 'cell')} (borough × quarter × indicator): "
        + ", ".join(f"<b>{t.get(s, 0):,}</b> {_e(STYLE[s].words)}" for s in STATUSES)
        + ".</p>",
        "<p class='legend'>Heatmap symbols (the same as <code>rct completeness</code>): "
        + "".join(
            f"<span><b>{_e(STYLE[s].symbol)}</b> {_e(STYLE[s].words)}</span>" for s in STATUSES
        )
        + "</p>",
    ]
    if "completeness" in d.figures:
        parts.append(
            f"<img alt='Completeness of returns by borough and quarter' src='{d.figures['completeness']}'>"
        )
    if d.overdue:
        parts.append(
            "<h3>Overdue returns</h3><table><tr><th>borough</th><th>quarter</th><th>days overdue</th></tr>"
            + "".join(
                f"<tr><td>{_e(r['borough'])}</td><td>{_e(r['period'])}</td>"
                f"<td class='n'>{r['days_overdue']:,}</td></tr>"
                for r in d.overdue
            )
            + "</table>"
        )
    return "".join(parts)


def _effects(d: ReportData) -> str:
    if d.arms is None:
        return (
            "<p class='concealed'>Effects are estimated only after the allocation is revealed.</p>"
        )
    if not d.effects:
        return "<p>No analysis results are stored yet: run <code>rct analyse run</code>.</p>"
    rows = "".join(
        f"<tr><td>{_e(r['role'])}</td><td>{_e(r['label'])}{' <b>(post hoc)</b>' if r.get('post_hoc') else ''}</td>"
        f"<td>{_e(r['method'])}</td><td class='n'>{_num(r['estimate'])}</td>"
        f"<td class='n'>{_num(r['lower'])} to {_num(r['upper'])}</td><td class='n'>{_e(fmt_p(r.get('pvalue')))}</td>"
        f"<td class='n'>{_num(r.get('df'))}</td></tr>"
        for r in d.effects
    )
    img = (
        f"<img alt='Forest plot of effects' src='{d.figures['forest']}'>"
        if "forest" in d.figures
        else ""
    )
    return (
        img
        + "<table><tr><th>role</th><th>analysis</th><th>inference</th><th>effect</th><th>95% CI</th>"
        f"<th>p</th><th>df</th></tr>{rows}</table>"
    )


def _icc(d: ReportData) -> str:
    if not d.iccs:
        return "<p>No ICCs yet (they come with the analyses).</p>"
    rows = "".join(
        f"<tr><td>{_e(r['outcome'])}</td><td>{_e(r.get('method', ''))}</td><td class='n'>{_num(r['icc'])}</td>"
        f"<td class='n'>{_num(r.get('lower'))} to {_num(r.get('upper'))}</td></tr>"
        for r in d.iccs
    )
    return (
        f"<table><tr><th>outcome</th><th>method</th><th>ICC</th><th>95% CI</th></tr>{rows}</table>"
    )


def _provenance(d: ReportData) -> str:
    rows = "".join(
        f"<tr><th>{_e(k)}</th><td><code>{_e(v)}</code></td></tr>" for k, v in d.provenance.items()
    )
    return f"<table>{rows}</table>"


def _headline(d: ReportData) -> str:
    if d.arms is None:
        text = ["The primary result is concealed until the allocation is revealed."]
    elif not d.headline:
        text = ["No primary result yet: the prespecified analyses have not been run."]
    else:
        text = d.headline
    return "<div class='headline'>" + "".join(f"<p>{_e(t)}</p>" for t in text) + "</div>"


def render_report(d: ReportData) -> str:
    """The whole page."""
    # lazy: loads rct.report.operating (start-up time)
    from rct.report.operating import operating_section

    body = {
        "headline": ("Primary result", _headline(d)),
        "flow": ("Flow of clusters (CONSORT)", _flow(d)),
        "randomisation": ("Randomisation diagnostics", _randomisation(d)),
        "baseline": ("Baseline characteristics by arm", _baseline(d)),
        "completeness": ("Completeness of returns", _completeness(d)),
        "rates": (
            "Quarterly rates by borough",
            f"<img alt='Quarterly rates by borough' src='{d.figures['rates']}'>"
            if "rates" in d.figures
            else "<p>No returns yet.</p>",
        ),
        "effects": ("Prespecified effects", _effects(d)),
        "icc": ("Intracluster correlation (ICC)", _icc(d)),
        "operating": ("SAP operating characteristics", operating_section(d.operating)),
        "provenance": ("Provenance", _provenance(d)),
    }
    nav = "".join(f"<a href='#{k}'>{_e(body[k][0])}</a>" for k in SECTIONS)
    notes = "".join(f"<p><small>{_e(n)}</small></p>" for n in d.notes)
    sections = "".join(
        f"<section id='{k}'><h2>{_e(body[k][0])}</h2>{body[k][1]}</section>" for k in SECTIONS
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width'><title>{_e(d.title)}</title>"
        f"<style>{CSS}</style></head><body data-rct-report='{_e(d.trial_id)}'>"
        f"<header><h1>{_e(d.title)}</h1><div>Trial report generated {_e(d.generated_at)}</div></header>"
        f"<nav>{nav}</nav><main>{notes}{sections}</main>"
        "<script>document.body.dataset.loaded='yes';</script></body></html>"
    )
