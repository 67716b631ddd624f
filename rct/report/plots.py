"""Figures of the trial report, as inline PNG data URIs (matplotlib, Agg backend).

Every figure must read in greyscale as well as colour: arms differ by line style and
marker as well as hue, statuses carry text labels, and the palette is Okabe–Ito
(colour-blind safe).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "score_histogram",
    "completeness_heatmap",
    "rates_by_borough",
    "forest_plot",
    "histogram_figure",
    "completeness_figure",
    "rates_figure",
    "forest_figure",
    "text_overlaps",
    "ARM_STYLE",
]

OKABE_ITO = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]
ARM_STYLE = {
    "intervention": {"color": "#D55E00", "linestyle": "-", "marker": "o"},
    "control": {"color": "#0072B2", "linestyle": "--", "marker": "s"},
    None: {"color": "#555555", "linestyle": "-", "marker": "."},
}
#: ratio-axis ticks in plain numbers (a halving and a doubling are equally far from 1)
RATIO_TICKS = (0.1, 0.2, 0.25, 0.33, 0.5, 0.67, 0.8, 1, 1.25, 1.5, 2, 3, 4, 5, 10)


def _plt() -> Any:
    # lazy: loads numpy, matplotlib (start-up time)
    import matplotlib

    matplotlib.use("Agg")
    # lazy: loads numpy, matplotlib (start-up time)
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "font.size": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "svg.hashsalt": "rct",
            "figure.dpi": 100,
        }
    )
    return plt


def _data_uri(fig: Any) -> str:
    """The figure as an inline PNG (figures are built by the ``*_figure`` functions)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", metadata={"Software": None})
    _plt().close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def score_histogram(histogram: Mapping[str, Sequence[float]], cutoff: float | None) -> str:
    """Balance scores of the scheme space, with the cutoff marked (PNG data URI)."""
    return _data_uri(histogram_figure(histogram, cutoff))


def histogram_figure(histogram: Mapping[str, Sequence[float]], cutoff: float | None) -> Any:
    """The balance-score histogram as a matplotlib figure."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 2.6))
    edges = list(histogram["edges"])
    counts = list(histogram["counts"])
    widths = [b - a for a, b in zip(edges[:-1], edges[1:])]
    ax.bar(
        edges[:-1],
        counts,
        width=widths,
        align="edge",
        color="#bbbbbb",
        edgecolor="#333333",
        hatch="//",
    )
    if cutoff is not None:
        ax.axvline(cutoff, color="#D55E00", linestyle="--", linewidth=1.5)
        ax.annotate(  # above the plotting area, so it never sits on a bar
            "cutoff: schemes to the left are admissible",
            (cutoff, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set_xlabel("balance score (lower is better balanced)")
    ax.set_ylabel("schemes")
    return fig


def completeness_heatmap(
    units: Sequence[str], periods: Sequence[str], status: Mapping[tuple[str, str], str]
) -> str:
    """Borough x quarter grid, each cell the worst status across indicators (PNG data URI)."""
    return _data_uri(completeness_figure(units, periods, status))


def completeness_figure(
    units: Sequence[str], periods: Sequence[str], status: Mapping[tuple[str, str], str]
) -> Any:
    """The completeness heatmap; symbols and colours from the one completeness vocabulary."""
    # lazy: loads rct.capture.completeness_status (start-up time)
    from rct.capture.completeness_status import STYLE, legend

    plt = _plt()
    # lazy: loads numpy, matplotlib (start-up time)
    from matplotlib.patches import Rectangle

    fig, ax = plt.subplots(figsize=(max(4.0, 0.55 * len(periods) + 2), 0.42 * len(units) + 1.2))
    for i, u in enumerate(units):
        for j, p in enumerate(periods):
            s = status.get((u, p), "not_yet_due")
            colour, label = STYLE[s].colour, STYLE[s].symbol
            ax.add_patch(Rectangle((j, i), 1, 1, facecolor=colour, edgecolor="white"))
            ax.text(
                j + 0.5, i + 0.5, label, ha="center", va="center", fontsize=8, fontweight="bold"
            )
    ax.set_xlim(0, len(periods))
    ax.set_ylim(len(units), 0)
    ax.set_xticks([j + 0.5 for j in range(len(periods))], periods, rotation=60, ha="right")
    ax.set_yticks([i + 0.5 for i in range(len(units))], units)
    ax.tick_params(length=0)
    for side in ("left", "bottom"):
        ax.spines[side].set_visible(False)
    ax.set_title(legend("   "), fontsize=8, loc="left")
    return fig


def rates_by_borough(
    indicators: Sequence[tuple[str, str]],
    periods: Sequence[str],
    rates: Mapping[tuple[str, str, str], float | None],
    units: Sequence[str],
    arms: Mapping[str, str] | None,
    go_live_period: str | None,
) -> str:
    """Small multiples: each indicator's quarterly rate per borough (PNG data URI)."""
    return _data_uri(rates_figure(indicators, periods, rates, units, arms, go_live_period))


def rates_figure(
    indicators: Sequence[tuple[str, str]],
    periods: Sequence[str],
    rates: Mapping[tuple[str, str, str], float | None],
    units: Sequence[str],
    arms: Mapping[str, str] | None,
    go_live_period: str | None,
) -> Any:
    """Each indicator's quarterly rate per borough; arms once revealed.

    The legend sits in its own band above the panels, so it never covers a panel title or
    a line; quarters are labelled under the lowest panel of each column.
    """
    plt = _plt()
    n = len(indicators)
    cols = 2
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(9, 2.6 * rows), squeeze=False, sharex=True)
    x = list(range(len(periods)))
    for k, (code, label) in enumerate(indicators):
        ax = axes[k // cols][k % cols]
        for ui, u in enumerate(units):
            ys = [rates.get((u, p, code)) for p in periods]
            arm = arms.get(u) if arms else None
            style = dict(ARM_STYLE.get(arm, ARM_STYLE[None]))
            if arms is None:
                style["color"] = OKABE_ITO[ui % len(OKABE_ITO)]
            ax.plot(
                x,
                [float("nan") if y is None else y for y in ys],
                linewidth=1.2,
                markersize=3.5,
                label=u,
                **style,
            )
        if go_live_period in periods:
            gx = periods.index(go_live_period) - 0.5
            ax.axvline(gx, color="black", linestyle=":", linewidth=1)
            ax.text(gx, ax.get_ylim()[1], " go-live", fontsize=7, va="top")
        ax.set_title(label, fontsize=9, loc="left")
        ax.set_ylabel("per 10,000 children")
    for k in range(n, rows * cols):
        axes[k // cols][k % cols].axis("off")
    for c in range(cols):
        lowest = max((k for k in range(n) if k % cols == c), default=None)
        if lowest is None:
            continue
        ax = axes[lowest // cols][c]
        ax.xaxis.set_tick_params(labelbottom=True)
        ax.set_xticks(x, periods, rotation=90, fontsize=7)
    if arms is not None:
        # lazy: loads numpy, matplotlib (start-up time)
        from matplotlib.lines import Line2D

        handles = []
        for a in ("intervention", "control"):
            handle = Line2D([], [], label=a)
            handle.set(**ARM_STYLE[a])  # colour, line style and marker as the panels draw them
            handles.append(handle)
        legend_rows = 1
    else:
        handles, _labels = axes[0][0].get_legend_handles_labels()
        legend_rows = (len(handles) + 3) // 4
    band = (0.3 + 0.18 * legend_rows) / fig.get_figheight()
    fig.tight_layout(rect=(0, 0, 1, 1 - band))
    fig.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 1.0),
        ncols=2 if arms is not None else 4,
        fontsize=8,
        frameon=False,
    )
    return fig


def forest_plot(rows: Sequence[Mapping[str, Any]]) -> str:
    """Effects with confidence intervals, one row per analysis x inference method.

    ``rows`` carry ``label``, ``method``, ``estimate``, ``lower``, ``upper`` and ``scale``
    (``ratio`` on a log axis labelled in plain numbers, ``difference`` on a linear one).
    """
    return _data_uri(forest_figure(rows))


def forest_figure(rows: Sequence[Mapping[str, Any]]) -> Any:
    """The forest plot as a matplotlib figure (see :func:`forest_plot`)."""
    plt = _plt()
    markers = ["o", "s", "D", "^", "v", "P", "X"]
    methods = sorted({r["method"] for r in rows})
    ratio_rows = [r for r in rows if r.get("scale") == "ratio"]
    diff_rows = [r for r in rows if r.get("scale") != "ratio"]
    panels = [
        (ratio_rows, "rate or odds ratio (log scale)", 1.0, True),
        (diff_rows, "difference", 0.0, False),
    ]
    panels = [p for p in panels if p[0]]
    heights = [max(1.2, 0.28 * len(p[0]) + 0.8) for p in panels]
    fig, axes = plt.subplots(
        len(panels),
        1,
        figsize=(8, sum(heights)),
        squeeze=False,
        gridspec_kw={"height_ratios": heights},
    )
    for ax, (prow, xlabel, null, log) in zip(axes[:, 0], panels):
        for i, r in enumerate(prow):
            m = markers[methods.index(r["method"]) % len(markers)]
            est, lo, hi = r["estimate"], r["lower"], r["upper"]
            finite_lo = lo if lo is not None else est
            finite_hi = hi if hi is not None else est
            ax.plot([finite_lo, finite_hi], [i, i], color="#333333", linewidth=1.3)
            ax.plot(
                [est],
                [i],
                marker=m,
                color=OKABE_ITO[methods.index(r["method"]) % 8],
                markeredgecolor="black",
                markersize=6,
                linestyle="none",
            )
        ax.axvline(null, color="#777777", linestyle="--", linewidth=1)
        ax.set_yticks(range(len(prow)), [f"{r['label']} · {r['method']}" for r in prow], fontsize=7)
        ax.invert_yaxis()
        if log:
            _plain_ratio_axis(ax, prow)
        ax.set_xlabel(xlabel)
    fig.tight_layout()
    return fig


def _plain_ratio_axis(ax: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    """Log scale with ticks 0.5, 0.67, 1, 1.5, 2 ... written as plain numbers."""
    # lazy: loads numpy, matplotlib (start-up time)
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator

    values = [
        float(v)
        for r in rows
        for v in (r["estimate"], r["lower"], r["upper"])
        if v is not None and float(v) > 0
    ] + [1.0]
    lo, hi = min(values), max(values)
    ax.set_xscale("log")
    ax.set_xlim(lo / 1.15, hi * 1.15)
    ticks = [t for t in RATIO_TICKS if lo / 1.15 <= t <= hi * 1.15]
    if len(ticks) < 3:  # a narrow range: add its ends, rounded
        ticks = sorted({*ticks, round(lo, 2), round(hi, 2)})
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())


def text_overlaps(fig: Any, tolerance: float = 1.0) -> list[tuple[str, str]]:
    """Pairs of visible, non-empty texts of ``fig`` whose boxes overlap (after drawing).

    Boxes are the texts' window extents (axis-aligned, so conservative for rotated text),
    shrunk by ``tolerance`` pixels on each side so that touching is not overlapping.
    Legend entries, titles, tick labels, axis labels and annotations are all texts.
    """
    # lazy: loads numpy, matplotlib (start-up time)
    from matplotlib.text import Text

    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)
    hidden: set[int] = set()  # texts matplotlib keeps but does not draw
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                inside = (
                    lo - 1e-9 * max(1.0, abs(hi)) <= tick.get_loc() <= hi + 1e-9 * max(1.0, abs(hi))
                )
                if not inside or not ax.axison:
                    hidden.update((id(tick.label1), id(tick.label2)))
        if not ax.axison:
            hidden.update((id(ax.xaxis.label), id(ax.yaxis.label)))
    boxes = []
    for t in fig.findobj(Text):
        if id(t) in hidden or not t.get_visible() or not t.get_text().strip():
            continue
        b = t.get_window_extent(renderer)
        if b.width <= 0 or b.height <= 0:
            continue
        boxes.append((t.get_text(), b.padded(-tolerance)))
    out = []
    for i, (a, ba) in enumerate(boxes):
        for b_text, bb in boxes[i + 1 :]:
            if ba.overlaps(bb):
                out.append((a, b_text))
    return out
