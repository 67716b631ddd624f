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
    "ARM_STYLE",
]

OKABE_ITO = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]
ARM_STYLE = {
    "intervention": {"color": "#D55E00", "linestyle": "-", "marker": "o"},
    "control": {"color": "#0072B2", "linestyle": "--", "marker": "s"},
    None: {"color": "#555555", "linestyle": "-", "marker": "."},
}
STATUS_STYLE = {  # fill colour, text label (greyscale-readable)
    "received": ("#9fd89f", "R"),
    "amended": ("#8fb8e8", "A"),
    "queried": ("#f3d36b", "Q"),
    "overdue": ("#e8837c", "O"),
    "missing": ("#e6e6e6", "·"),
}


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
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
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", metadata={"Software": None})
    _plt().close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def score_histogram(histogram: Mapping[str, Sequence[float]], cutoff: float | None) -> str:
    """Balance scores of the scheme space, with the cutoff marked."""
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
        ax.annotate(
            "cutoff: schemes to the left are admissible",
            (cutoff, max(counts or [1])),
            xytext=(4, -10),
            textcoords="offset points",
            fontsize=8,
        )
    ax.set_xlabel("balance score (lower is better balanced)")
    ax.set_ylabel("schemes")
    return _data_uri(fig)


def completeness_heatmap(
    units: Sequence[str], periods: Sequence[str], status: Mapping[tuple[str, str], str]
) -> str:
    """Borough x quarter grid, each cell the worst status across indicators, with a label."""
    plt = _plt()
    from matplotlib.patches import Rectangle

    fig, ax = plt.subplots(figsize=(max(4.0, 0.55 * len(periods) + 2), 0.42 * len(units) + 1.2))
    for i, u in enumerate(units):
        for j, p in enumerate(periods):
            s = status.get((u, p), "missing")
            colour, label = STATUS_STYLE[s]
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
    ax.set_title(
        "R received · A amended · Q queried · O overdue · · not yet due", fontsize=8, loc="left"
    )
    return _data_uri(fig)


def rates_by_borough(
    indicators: Sequence[tuple[str, str]],
    periods: Sequence[str],
    rates: Mapping[tuple[str, str, str], float | None],
    units: Sequence[str],
    arms: Mapping[str, str] | None,
    go_live_period: str | None,
) -> str:
    """Small multiples: each indicator's quarterly rate per borough; arms once revealed."""
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
    for ax in axes[-1]:
        ax.set_xticks(x, periods, rotation=60, ha="right", fontsize=7)
    if arms is not None:
        from matplotlib.lines import Line2D

        handles = [
            Line2D([], [], **{k: v for k, v in ARM_STYLE[a].items()}, label=a)
            for a in ("intervention", "control")
        ]
        fig.legend(handles=handles, loc="upper right", ncols=2, frameon=False)
    else:
        axes[0][0].legend(fontsize=7, ncols=2, frameon=False)
    fig.tight_layout()
    return _data_uri(fig)


def forest_plot(rows: Sequence[Mapping[str, Any]]) -> str:
    """Effects with confidence intervals, one row per analysis x inference method.

    ``rows`` carry ``label``, ``method``, ``estimate``, ``lower``, ``upper`` and ``scale``
    (``ratio`` on a log axis, ``difference`` on a linear one).
    """
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
            ax.set_xscale("log")
        ax.set_xlabel(xlabel)
    fig.tight_layout()
    return _data_uri(fig)
