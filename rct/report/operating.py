"""The report's "SAP operating characteristics" section, from ``rct design check``'s JSON.

A figure with two panels (type I error and power, one line per analysis x inference method
across the default grid's drift settings; the nominal alpha and the flag threshold drawn
in; flagged points ringed) and a table of the flagged methods. It reads the file that
``rct design check -o FILE`` writes, given to ``rct report --design-check FILE``; a report
without it says how to produce one.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from rct.errors import InputError

__all__ = ["load_design_check", "operating_figure", "operating_section"]

MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
LINESTYLES = ["-", "--", ":", "-."]


def load_design_check(path: str | Path) -> dict[str, Any]:
    """Read a ``design check`` results file, refusing anything else with one clear line."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such design check file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a readable design check file ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != "rct-design-check/1":
        raise InputError(f"{path}: not written by 'rct design check -o FILE'")
    return data


def _series(data: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for r in data["characteristics"]:
        key = (r["analysis"], r["method"])
        s = out.setdefault(key, {"primary": r["primary_inference"], "role": r["role"]})
        drift = r["scenario"].split("/", 1)[0]
        if r["null"]:
            s.setdefault("size", {})[drift] = (r.get("type_i_error"), r["anti_conservative"])
        else:
            s.setdefault("power", {})[drift] = r.get("power")
    return out


def _drifts(data: dict[str, Any]) -> list[str]:
    seen: list[str] = []
    for s in data["scenarios"]:
        d = s["name"].split("/", 1)[0]
        if d not in seen:
            seen.append(d)
    return seen


def operating_figure(data: dict[str, Any]) -> str:
    """Type I error and power per method across scenarios, as a PNG data URI."""
    # lazy: loads rct.report.plots (start-up time)
    from rct.report.plots import OKABE_ITO, _data_uri, _plt

    plt = _plt()
    drifts = _drifts(data)
    series = _series(data)
    alpha = float(data["alpha"])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.2), sharex=True)
    x = list(range(len(drifts)))
    for i, ((analysis, method), s) in enumerate(sorted(series.items())):
        style = {
            "color": OKABE_ITO[i % 8],
            "marker": MARKERS[i % len(MARKERS)],
            "linestyle": LINESTYLES[i % len(LINESTYLES)],
            "linewidth": 2.2 if s["primary"] and s["role"] == "primary" else 1.2,
        }
        label = f"{analysis} / {method}" + (" (primary)" if s["primary"] else "")
        size = [s.get("size", {}).get(d, (None, False)) for d in drifts]
        ys = [float("nan") if v is None else v for v, _ in size]
        ax1.plot(x, ys, label=label, **style)
        for xi, (v, flag) in zip(x, size):
            if flag and v is not None:
                ax1.scatter([xi], [v], s=160, facecolors="none", edgecolors="#000000")
        pw = [s.get("power", {}).get(d) for d in drifts]
        ax2.plot(x, [float("nan") if v is None else v for v in pw], **style)
    ax1.axhline(alpha, color="#000000", linewidth=0.8)
    ax1.set_title(f"Type I error (nominal {alpha:g}; ringed: flagged)")
    ax2.set_title("Power at the target effect")
    for ax in (ax1, ax2):
        ax.set_xticks(x)
        ax.set_xticklabels(drifts, rotation=35, ha="right")
        ax.set_ylim(0, 1)
        ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.0%}"))
        ax.grid(axis="y", color="#dddddd", linewidth=0.6)
    ax1.set_ylabel("share of simulated trials with p < alpha")
    fig.legend(loc="lower center", ncol=2, fontsize=8, bbox_to_anchor=(0.5, -0.2), frameon=False)
    fig.tight_layout()
    return str(_data_uri(fig))


def operating_section(data: dict[str, Any] | None) -> str:
    """The HTML of the section (figure, flagged methods, how it was made)."""
    if data is None:
        return (
            "<p>No design check given: run <code>rct design check -o design-check.json</code> "
            "and <code>rct report --design-check design-check.json</code>.</p>"
        )
    e = html.escape
    head = (
        f"<p>{e(str(data['simulations_per_scenario']))} simulated trials per scenario, seed "
        f"{e(str(data['seed']))}, allocations from {e(str(data['admissible_schemes']))} "
        f"admissible schemes; flag rule: {e(data['flag_rule'])}.</p>"
    )
    img = f"<img alt='Type I error and power per method across scenarios' src='{operating_figure(data)}'>"
    if data["flagged"]:
        rows = "".join(
            f"<tr><td>{e(f['analysis'])}</td><td>{e(f['method'])}</td><td>{e(f['scenario'])}</td></tr>"
            for f in data["flagged"]
        )
        flags = (
            "<p class='warn'>Methods whose type I error exceeds nominal by more than 2 Monte "
            "Carlo SEs:</p><table><tr><th>analysis</th><th>inference</th><th>scenario</th></tr>"
            f"{rows}</table>"
        )
    else:
        flags = "<p>No method's type I error exceeds nominal by more than 2 Monte Carlo SEs.</p>"
    return head + img + flags
