"""Writing the audit trail out as JSON Lines or CSV.

JSON Lines carry each event exactly as hashed, so an exported trail verifies on its own
(``verify_events``). CSV is for people with spreadsheets: cells a spreadsheet would run
as formulas are neutralised with a leading apostrophe.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable
from contextlib import nullcontext
from typing import IO, Any

from sqlalchemy.orm import Session

from rct.audit import event_record, iter_events

__all__ = ["write_events", "safe_cell"]

FIELDS = [
    "seq",
    "occurred_at",
    "actor",
    "role",
    "action",
    "entity",
    "reason",
    "payload",
    "prev_hash",
    "hash",
    "signature",
]


def safe_cell(value: Any) -> Any:
    """Neutralise text a spreadsheet would execute (=, +, -, @, tab, CR at the start)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def write_events(
    session: Session,
    fmt: str,
    output: str,
    visible: Callable[[str, str, Any], bool] | None = None,
) -> int:
    ctx: Any = (
        nullcontext(sys.stdout)
        if output == "-"
        else open(output, "w", encoding="utf-8", newline="")
    )
    n = 0
    with ctx as fh:
        out: IO[str] = fh
        writer = csv.DictWriter(out, FIELDS) if fmt == "csv" else None
        if writer:
            writer.writeheader()
        for e in iter_events(session):
            if visible is not None and not visible(e.action, e.entity, e.payload):
                continue
            rec = event_record(e)
            if writer:
                rec["payload"] = e.payload
                writer.writerow({k: safe_cell(v) for k, v in rec.items()})
            else:
                rec["payload"] = e.payload
                out.write(json.dumps(rec, ensure_ascii=False, sort_keys=True) + "\n")
            n += 1
    return n
