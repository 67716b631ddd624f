"""Showing the completeness matrix: a terminal table, long CSV and a self-contained HTML
heatmap.

The HTML page needs no network and no script. Each status has a colour *and* a text label
in the cell *and* (for overdue and queried) a hatch pattern, so it reads in greyscale, in
print and for people who do not distinguish the colours.
"""

from __future__ import annotations

import csv
import html
import io

from rct.audit_export import safe_cell
from rct.capture.completeness import CompletenessMatrix, quarter_label
from rct.capture.completeness_status import STATUSES, STYLE, legend, plural, symbol, words

__all__ = ["render_terminal", "render_csv", "render_html", "SYMBOLS"]

#: one-character marks, the same in the terminal, the HTML heatmap and the report
SYMBOLS = {s: symbol(s) for s in STATUSES}
#: CSS of each status's cell: the shared colour, plus a hatch for the two that need action
_HATCH = {
    "queried": ";background-image:repeating-linear-gradient("
    "45deg,transparent 0 6px,rgba(0,0,0,.25) 6px 8px)",
    "overdue": ";background-image:repeating-linear-gradient("
    "-45deg,transparent 0 3px,rgba(255,255,255,.45) 3px 5px)",
    "not_yet_due": ";border:1px dashed #777",
}
_STYLE = {s: f"background:{STYLE[s].colour};color:#000{_HATCH.get(s, '')}" for s in STATUSES}


def render_terminal(m: CompletenessMatrix) -> str:
    """A table per borough and indicator across quarters, totals and the overdue list."""
    cols = [quarter_label(p) for p in m.periods]
    width = max([len(f"{u} / {i}") for u in m.units for i in m.indicators] + [4])
    head = " " * width + "  " + " ".join(f"{c:>4}" for c in cols)
    lines = [
        f"Completeness as of {m.as_of.isoformat()}   {legend()}",
        "",
        head,
    ]
    for u in m.units:
        for i in m.indicators:
            marks = " ".join(f"{SYMBOLS[m.cell(u, p, i).status]:>4}" for p in m.periods)
            lines.append(f"{u + ' / ' + i:<{width}}  {marks}")
    lines += [
        "",
        _totals("borough", m.totals_by("unit")),
        "",
        _totals("indicator", m.totals_by("indicator")),
    ]
    overdue = m.overdue()
    lines.append("")
    if overdue:
        lines.append(f"Overdue returns ({len(overdue)}):")
        for r in overdue:
            lines.append(
                f"  {r.unit_id} {r.period}: due {r.due.isoformat()}, "
                f"{plural(r.days_overdue, 'day')} overdue "
                f"({plural(len(r.indicators), 'indicator')}: {', '.join(r.indicators)})"
            )
    else:
        lines.append("No return is overdue.")
    return "\n".join(lines)


def _totals(what: str, totals: dict[str, dict[str, int]]) -> str:
    width = max([len(k) for k in totals] + [len(what)])
    cols = {s: max(8, len(words(s))) for s in STATUSES}
    rows = [f"{what:<{width}}  " + "  ".join(f"{words(s):>{cols[s]}}" for s in STATUSES)]
    for k, counts in totals.items():
        rows.append(f"{k:<{width}}  " + "  ".join(f"{counts[s]:>{cols[s]}}" for s in STATUSES))
    return "\n".join(rows)


def render_csv(m: CompletenessMatrix) -> str:
    """One row per cell: borough, period, indicator, status, due, days overdue, ..."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(
        [
            "borough",
            "period",
            "indicator",
            "status",
            "due",
            "days_overdue",
            "versions",
            "open_queries",
        ]
    )
    for c in m.cells:
        w.writerow(
            [
                safe_cell(c.unit_id),
                c.period,
                safe_cell(c.indicator),
                c.status,
                c.due.isoformat(),
                c.days_overdue,
                c.versions,
                c.open_queries,
            ]
        )
    return out.getvalue()


def render_html(m: CompletenessMatrix, title: str = "Completeness of returns") -> str:
    """A self-contained HTML page with the heatmap, the totals and the overdue list."""
    e = html.escape
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{e(title)}</title><style>",
        "body{font-family:system-ui,sans-serif;margin:1.5em;color:#111}",
        "table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #999;"
        "padding:3px 6px;font-size:13px}td.c{text-align:center;min-width:2.4em;"
        "font-weight:700;font-size:15px}th{background:#eee}th.b{text-align:left}",
        ".legend span{display:inline-block;padding:3px 8px;margin-right:6px;font-weight:600}",
        "</style></head><body>",
        f"<h1>{e(title)}</h1><p>As of {m.as_of.isoformat()}. Each cell shows its status "
        "as a symbol as well as a colour (the same symbols as the terminal table and the "
        "trial report); hover over a cell for its details.</p><p class='legend'>",
    ]
    parts += [f"<span style='{_STYLE[s]}'>{e(symbol(s))} {e(words(s))}</span>" for s in STATUSES]
    parts.append("</p><table><tr><th>borough</th><th>indicator</th>")
    parts += [f"<th>{e(p)}</th>" for p in m.periods]
    parts.append("</tr>")
    for u in m.units:
        for k, i in enumerate(m.indicators):
            parts.append("<tr>")
            if k == 0:
                parts.append(f"<th class='b' rowspan='{len(m.indicators)}'>{e(u)}</th>")
            parts.append(f"<th class='b'>{e(i)}</th>")
            for p in m.periods:
                c = m.cell(u, p, i)
                tip = f"{u} {p} {i}: {words(c.status)}, due {c.due.isoformat()}"
                if c.days_overdue:
                    tip += f", {plural(c.days_overdue, 'day')} overdue"
                parts.append(
                    f"<td class='c' style='{_STYLE[c.status]}' title='{e(tip)}'>"
                    f"{e(symbol(c.status))}</td>"
                )
            parts.append("</tr>")
    parts.append("</table>")
    for what, label in (("unit", "borough"), ("indicator", "indicator")):
        parts.append(
            f"<h2>Totals per {label}</h2><table><tr><th>{label}</th>"
            + "".join(f"<th>{e(words(s))}</th>" for s in STATUSES)
            + "</tr>"
        )
        for key, counts in m.totals_by(what).items():
            parts.append(
                f"<tr><th class='b'>{e(key)}</th>"
                + "".join(f"<td>{counts[s]}</td>" for s in STATUSES)
                + "</tr>"
            )
        parts.append("</table>")
    overdue = m.overdue()
    parts.append(f"<h2>Overdue returns ({len(overdue)})</h2>")
    if overdue:
        parts.append(
            "<table><tr><th>borough</th><th>quarter</th><th>due</th>"
            "<th>days overdue</th><th>indicators</th></tr>"
        )
        for r in overdue:
            parts.append(
                f"<tr><td>{e(r.unit_id)}</td><td>{e(r.period)}</td>"
                f"<td>{r.due.isoformat()}</td><td>{r.days_overdue}</td>"
                f"<td>{e(', '.join(r.indicators))}</td></tr>"
            )
        parts.append("</table>")
    else:
        parts.append("<p>No return is overdue.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)
