"""Reading the allocation: the revealed allocation list as a CSV file."""

from __future__ import annotations

import csv
from pathlib import Path

from rct import protocols as store
from rct.allocation import sealing
from rct.audit_export import safe_cell
from rct.workspace import Workspace

__all__ = ["export_allocation_list"]


def export_allocation_list(ws: Workspace, output: str | Path) -> int:
    """Write the revealed allocation (unit, name, GSS code, arm) to ``output`` as CSV and
    return how many units it lists.

    Refused (:class:`rct.allocation.sealing.AllocationStateError`, nothing written) before reveal:
    until then nothing may tell the arms apart (docs/architecture.md, decision 5).
    """
    with ws.session() as s:
        ws.read_as(s)
        arms = sealing.revealed_arms(s)
        protocol = store.current(s).protocol
    if arms is None:
        raise sealing.AllocationStateError(
            "the allocation is not revealed: there is no list to export"
        )
    with open(output, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["unit", "name", "gss_code", "arm"])
        for u in sorted(protocol.units, key=lambda u: u.id):
            w.writerow([safe_cell(x) for x in (u.id, u.name, u.gss_code, arms[u.id])])
    return len(arms)
