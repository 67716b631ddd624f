"""Recompute every prespecified analysis from a bundle and compare with its stored results.

The inputs come only from the bundle: the protocol, the dataset rows, the revealed arms of
the allocation certificate, the scheme space rebuilt from the protocol, and the post hoc
labels recomputed from the bundle's audit trail and protocol history. The recomputed
results JSON is first compared byte for byte; if it differs (another platform's floating
point, other package versions), every number is compared within a relative tolerance and
each difference beyond it is listed.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from protocols import Protocol
from rct.allocation.design import space_for_protocol
from rct.allocation.verify import Check

__all__ = ["recompute_results", "compare_results", "analyses_in"]

#: Parts of the results that legitimately differ between machines and are not compared.
IGNORED = ("provenance.packages",)


def _leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k in sorted(value):
            yield from _leaves(value[k], f"{path}.{k}" if path else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, f"{path}[{i}]")
    else:
        yield path, value


def compare_results(
    stored: dict[str, Any], recomputed: dict[str, Any], tolerance: float
) -> list[str]:
    """Differences beyond ``tolerance`` (relative) between two results documents."""
    a = {k: v for k, v in _leaves(stored) if not k.startswith(IGNORED)}
    b = {k: v for k, v in _leaves(recomputed) if not k.startswith(IGNORED)}
    out = [f"{k}: only in the stored results" for k in sorted(set(a) - set(b))]
    out += [f"{k}: only in the recomputed results" for k in sorted(set(b) - set(a))]
    for k in sorted(set(a) & set(b)):
        x, y = a[k], b[k]
        if isinstance(x, (int, float)) and isinstance(y, (int, float)) and not isinstance(x, bool):
            if not math.isclose(x, y, rel_tol=tolerance, abs_tol=tolerance * 1e-3):
                out.append(f"{k}: stored {x!r}, recomputed {y!r}")
        elif x != y:
            out.append(f"{k}: stored {x!r}, recomputed {y!r}")
    return out


def recompute_results(
    path: Path,
    protocol: Protocol,
    rows: list[dict[str, Any]],
    cert: dict[str, Any] | None,
    events: list[dict[str, Any]],
    tolerance: float,
    progress: Callable[[int], None] | None = None,
) -> list[Check]:
    """Checks: results hash in the audit trail, and the analyses recomputed from the bundle.

    ``progress`` (if given) is called with 1 as each analysis is finished.
    """
    # lazy: loads numpy, pandas, scipy, sqlalchemy (start-up time)
    import numpy as np
    import pandas as pd

    from analysis.sap.runner import run_sap
    from rct.analyses import post_hoc_from_records
    from rct.capture.export import snapshot_hash

    text = path.read_text(encoding="utf-8")
    stored = json.loads(text)
    checks: list[Check] = []
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    runs = [e for e in events if e["action"] == "analysis.run"]
    audited = _payload(runs[-1]).get("results_sha256") if runs else None
    checks.append(
        Check(
            "analyses: results in the audit trail",
            digest == audited,
            f"results SHA-256 {digest[:16]}... is the last analysis.run event's"
            if digest == audited
            else f"results SHA-256 {digest[:16]}... differs from the audit trail's {str(audited)[:16]}...",
        )
    )
    checks.extend(_summary_check(path, text))
    if not cert or not cert.get("arms"):
        checks.append(
            Check("analyses: recomputed", False, "the bundle has no revealed allocation to analyse")
        )
        return checks
    history_path = path.parent.parent / "protocol" / "history.json"
    history = [
        (v["version"], v["canonical"]) for v in json.loads(history_path.read_text(encoding="utf-8"))
    ]
    space = space_for_protocol(protocol)
    started: list[str] = []
    values = pd.DataFrame(
        {
            "unit": [r["borough"] for r in rows],
            "period": [r["period"] for r in rows],
            "indicator": [r["indicator"] for r in rows],
            "value": [np.nan if r["value"] is None else float(r["value"]) for r in rows],
        }
    )
    provenance = {
        "protocol_version": max(v for v, _ in history),
        "data_snapshot_hash": snapshot_hash(rows),
        "data_snapshot_rule": stored.get("provenance", {}).get("data_snapshot_rule"),
        "allocation_id": cert["allocation"],
        "allocation_commitment": cert["commitment"],
    }
    results = run_sap(
        protocol,
        values,
        cert["arms"],
        np.asarray(space.schemes, dtype=np.int_),
        tuple(space.unit_ids),
        post_hoc=post_hoc_from_records(events, history, protocol),
        provenance=provenance,
        progress=None if progress is None else _finished(progress, started),
        workers=os.cpu_count() or 1,  # all cores, as 'rct analyse run': the same bytes
    )
    if progress is not None and started:
        progress(1)  # the last analysis
    again = results.to_json()
    n = len(stored.get("analyses", []))
    if again == text:
        checks.append(
            Check(
                "analyses: recomputed",
                True,
                f"{n} analyses recomputed: byte-identical results JSON",
            )
        )
        return checks
    diffs = compare_results(stored, json.loads(again), tolerance)
    if diffs:
        shown = "; ".join(diffs[:8]) + (f"; and {len(diffs) - 8} more" if len(diffs) > 8 else "")
        checks.append(
            Check(
                "analyses: recomputed",
                False,
                f"{len(diffs)} differences beyond relative {tolerance:g}: {shown}",
            )
        )
    else:
        checks.append(
            Check(
                "analyses: recomputed",
                True,
                f"{n} analyses recomputed: not byte-identical, but every number agrees "
                f"within relative {tolerance:g} (package versions may differ)",
            )
        )
    return checks


def _summary_check(path: Path, text: str) -> list[Check]:
    """``results.md`` must say exactly what ``results.json`` (``text``) says: it is
    rendered from it (``analysis.sap.summary``), so an edited summary is caught even with
    a recomputed manifest. No check when the bundle has no summary."""
    # lazy: loads pandas, numpy, scipy (start-up time)
    from analysis.sap.results import SapResults
    from analysis.sap.summary import summary_markdown

    md = path.with_name("results.md")
    if not md.is_file():
        return []
    ok = md.read_text(encoding="utf-8") == summary_markdown(SapResults.from_json(text))
    return [
        Check(
            "analyses: results.md",
            ok,
            "the Markdown summary is the one rendered from results.json"
            if ok
            else "results/results.md is not the summary rendered from results/results.json "
            "(edited after export)",
        )
    ]


def _finished(progress: Callable[[int], None], started: list[str]) -> Callable[[str], None]:
    """Turn run_sap's "starting analysis X" calls into "one more analysis finished"."""

    def on_start(name: str) -> None:
        if started:
            progress(1)
        started.append(name)

    return on_start


def analyses_in(path: Path) -> int:
    """How many analyses a bundle's results file holds (0 if it is absent or unreadable)."""
    try:
        return len(json.loads(path.read_text(encoding="utf-8")).get("analyses", []))
    except (OSError, ValueError, AttributeError, TypeError):
        return 0


def _payload(event: dict[str, Any]) -> dict[str, Any]:
    p = event.get("payload")
    return json.loads(p) if isinstance(p, str) else dict(p or {})
