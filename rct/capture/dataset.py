"""Exporting the trial's analysis dataset from the database (the service behind
``rct data export``); the rows and files are made by :mod:`rct.capture.export`.

An export is a read, open to every role, but it is recorded in the audit trail with its
snapshot hash so that any published number can be traced to the data it came from. Data
managers export only their own borough.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rct import protocols as protocol_store
from rct.capture.export import (
    FORMATS,
    ExportResult,
    available_formats,
    dataset_rows,
    export_dataset,
)
from rct.capture.values import current_cells
from rct.db.capture_models import DataQuery
from rct.errors import InputError
from rct.workspace import Workspace

__all__ = ["open_query_counts", "export_trial"]

Key = tuple[str, str, str]


def open_query_counts(session: Session) -> dict[Key, int]:
    """Number of open or answered queries per cell."""
    q = DataQuery.__table__.c
    return {
        (u, p, i): int(n)
        for u, p, i, n in session.execute(
            select(q.unit_id, q.period, q.indicator, func.count())
            .where(q.status != "closed")
            .group_by(q.unit_id, q.period, q.indicator)
        )
    }


def export_trial(
    ws: Workspace,
    out_dir: str | Path,
    formats: Sequence[str] | None = None,
) -> ExportResult:
    """Write the analysis dataset and its manifest into ``out_dir``.

    The ``arm`` column is filled only once the live allocation is revealed (read here, in
    the export's own transaction, so no caller can fill it before reveal).
    """
    # lazy: loads rct.allocation.sealing (start-up time)
    from rct.allocation.sealing import revealed_arms

    formats = list(formats) if formats is not None else list(available_formats())
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise InputError(f"export formats are {', '.join(FORMATS)}; not {', '.join(bad)}")
    with ws.change("read", "dataset/analysis") as record:
        s = record.session
        sp = protocol_store.current(s)
        actor = record.actor
        units = [actor.borough] if actor.role == "data-manager" and actor.borough else None
        arms = revealed_arms(s)
        rows = dataset_rows(sp.protocol, current_cells(s, units), open_query_counts(s), arms, units)
        provenance = {
            "protocol": {
                "trial_id": sp.protocol.trial.id,
                "version": sp.version,
                "status": sp.status,
                "fingerprint": sp.fingerprint,
            },
            "created_by": actor.name,
            "scope": "all boroughs" if units is None else f"borough {units[0]}",
        }
        result = export_dataset(rows, Path(out_dir), list(dict.fromkeys(formats)), provenance)
        record(
            "data.export",
            "dataset/analysis",
            {
                "snapshot_hash": result.snapshot_hash,
                "rows": result.rows,
                "files": result.files,
                "scope": provenance["scope"],
            },
        )
        return result
