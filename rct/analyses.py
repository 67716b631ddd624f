"""Running the locked SAP on the current data snapshot (the service behind ``rct analyse``).

``run`` refuses unless the protocol is locked and the live allocation revealed. It reads
the inputs in one short transaction (role checked and any refusal audited there), runs the
analyses outside any transaction (they take seconds), then stores the results JSON and
its audit event in one transaction, after checking that protocol, allocation and data are
still those the results were computed from.

Provenance: the data snapshot hash is the one ``rct data export`` and ``rct bundle export``
report for the same data (the dataset rows of :mod:`rct.capture.export`, with the revealed
arms); the allocation commitment is the sealed one; the protocol fingerprint and package versions
are added by the runner.

Post hoc: an analysis is prespecified when exactly its current definition was in a
stored protocol version (draft or locked) written to the audit trail before the first
data submission (``data.import``, ``data.amend`` or ``data.import.children`` event).
Any other analysis (added or changed by amendment after data were first visible) is
labelled post hoc in the results JSON, the Markdown summary and the CLI.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from analysis.errors import DataError
from analysis.sap.dataset import build_frame
from analysis.sap.results import SapResults
from analysis.sap.summary import summary_markdown
from protocols import Protocol
from rct import protocols as protocol_store
from rct.allocation.arms_guard import verified_arms
from rct.allocation.design import space_for_protocol
from rct.allocation.sealing import AllocationStateError, live
from rct.allocation.state import AllocationStatus
from rct.capture.dataset import open_query_counts
from rct.capture.export import dataset_rows, snapshot_hash
from rct.capture.values import current_cells
from rct.db.analysis_models import AnalysisRun
from rct.db.models import AuditEvent
from rct.errors import NotFound, ProtocolStateError
from rct.workspace import Workspace

__all__ = [
    "DATA_ACTIONS",
    "AnalysisInputs",
    "StoredResults",
    "gather_inputs",
    "post_hoc_analyses",
    "post_hoc_from_records",
    "refuse_if_nothing_analysable",
    "run",
    "latest",
    "latest_stored",
]

#: Audit actions that make trial data visible.
DATA_ACTIONS = ("data.import", "data.amend", "data.import.children")
_PROTOCOL_ACTIONS = ("protocol.load", "protocol.amend")


@dataclass(frozen=True)
class AnalysisInputs:
    """Everything one SAP run is computed from, read in one transaction."""

    protocol: Protocol
    protocol_version: int
    protocol_fingerprint: str
    allocation_id: int
    commitment: str
    arms: dict[str, str]
    schemes: np.ndarray
    scheme_units: tuple[str, ...]
    values: pd.DataFrame
    snapshot_hash: str
    post_hoc: dict[str, str]

    def provenance(self) -> dict[str, Any]:
        return {
            "protocol_version": self.protocol_version,
            "data_snapshot_hash": self.snapshot_hash,
            "data_snapshot_rule": "rct data export snapshot hash (dataset rows with the revealed arms)",
            "allocation_id": self.allocation_id,
            "allocation_commitment": self.commitment,
        }


@dataclass(frozen=True)
class StoredResults:
    """A stored SAP run: the results JSON text and where it came from."""

    id: int
    created_at: str
    created_by: str
    protocol_version: int
    protocol_fingerprint: str
    snapshot_hash: str
    allocation_id: int
    commitment: str
    results_sha256: str
    results_json: str
    post_hoc: tuple[str, ...]

    @property
    def data(self) -> dict[str, Any]:
        """The results JSON as plain data (what ``--json`` prints)."""
        data: dict[str, Any] = json.loads(self.results_json)
        return data

    @property
    def results(self) -> SapResults:
        """The results as the typed objects that wrote them."""
        return SapResults.from_json(self.results_json)

    @property
    def markdown(self) -> str:
        """The Markdown summary of the results, rendered from the stored JSON."""
        return summary_markdown(self.results)

    def meta(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "protocol_version": self.protocol_version,
            "protocol_fingerprint": self.protocol_fingerprint,
            "snapshot_hash": self.snapshot_hash,
            "allocation_id": self.allocation_id,
            "commitment": self.commitment,
            "results_sha256": self.results_sha256,
            "post_hoc": list(self.post_hoc),
        }


def _stored(row: AnalysisRun) -> StoredResults:
    if hashlib.sha256(row.results_json.encode("utf-8")).hexdigest() != row.results_sha256:
        raise ProtocolStateError(
            f"stored results #{row.id} do not match their SHA-256: the database was altered "
            "outside the toolkit; run 'rct audit verify'",
            code="record-altered",
        )
    return StoredResults(
        row.id,
        row.created_at,
        row.created_by,
        row.protocol_version,
        row.protocol_fingerprint,
        row.snapshot_hash,
        row.allocation_id,
        row.commitment,
        row.results_sha256,
        row.results_json,
        tuple(json.loads(row.post_hoc)),
    )


def post_hoc_analyses(session: Session, protocol: Protocol) -> dict[str, str]:
    """Analysis name -> why it is post hoc, for ``protocol``'s analyses (module docstring)."""
    events = [
        {"seq": seq, "action": action, "entity": entity, "occurred_at": at}
        for seq, action, entity, at in session.execute(
            select(AuditEvent.seq, AuditEvent.action, AuditEvent.entity, AuditEvent.occurred_at)
            .where(AuditEvent.action.in_(DATA_ACTIONS + _PROTOCOL_ACTIONS))
            .order_by(AuditEvent.seq)
        )
    ]
    history = [(sp.version, sp.protocol.canonical()) for sp in protocol_store.history(session)]
    return post_hoc_from_records(events, history, protocol)


def post_hoc_from_records(
    events: Sequence[Mapping[str, Any]],
    history: Sequence[tuple[int, Mapping[str, Any]]],
    protocol: Protocol,
) -> dict[str, str]:
    """The post hoc rule over plain records, so a bundle is judged exactly as the database.

    ``events`` are audit event records (``seq``, ``action``, ``entity``, ``occurred_at``) in
    sequence order; ``history`` is (version, canonical protocol) for every stored version.
    """
    data_events = [e for e in events if e["action"] in DATA_ACTIONS]
    if not data_events:
        return {}
    first_seq, first_at = data_events[0]["seq"], data_events[0]["occurred_at"]
    before = {
        e["entity"] for e in events if e["action"] in _PROTOCOL_ACTIONS and e["seq"] < first_seq
    }
    prespecified: dict[str, list[Any]] = {}
    first_seen: dict[str, int] = {}
    for version, canonical in history:
        for a in canonical["analyses"]:
            key = json.dumps(a, sort_keys=True)
            first_seen.setdefault(key, version)
            if f"protocol/v{version}" in before:
                prespecified.setdefault(a["name"], []).append(a)
    out = {}
    for a in protocol.canonical()["analyses"]:
        if a in prespecified.get(a["name"], []):
            continue
        version = first_seen.get(json.dumps(a, sort_keys=True), 0)
        how = "changed" if a["name"] in prespecified else "added"
        out[a["name"]] = (
            f"{how} in protocol version {version}, after trial data were first visible ({first_at})"
        )
    return out


def gather_inputs(session: Session) -> AnalysisInputs:
    """Read and check everything a run needs (refusing unlocked or unrevealed states)."""
    stored = protocol_store.current(session)
    if not stored.locked:
        raise ProtocolStateError(
            "the protocol is not locked: the prespecified analyses run only on a locked "
            "protocol; the statistician locks it with 'rct protocol lock'",
            code="protocol-not-locked",
        )
    row = live(session)
    if row is None:
        raise AllocationStateError(
            "no allocation has been sealed and revealed: the analyses need the arms; seal "
            "with 'rct allocate seal' and reveal at the agreed time with 'rct allocate reveal'",
            code="no-allocation",
        )
    if row.status != AllocationStatus.REVEALED or not row.arms:
        raise AllocationStateError(
            f"allocation #{row.id} is sealed, not revealed: the analyses need the arms; "
            "reveal it at the agreed time with 'rct allocate reveal'",
            code="not-revealed",
        )
    protocol = stored.protocol
    space = space_for_protocol(protocol)
    if space.fingerprint() != row.space_fingerprint:
        raise AllocationStateError(
            "the scheme space rebuilt from the protocol differs from the sealed one; "
            "run 'rct allocate verify'",
            code="scheme-space-changed",
        )
    arms = verified_arms(session, row)  # refuses arms that do not follow from the commitment
    rows = dataset_rows(protocol, current_cells(session), open_query_counts(session), arms)
    values = pd.DataFrame(
        {
            "unit": [r["borough"] for r in rows],
            "period": [r["period"] for r in rows],
            "indicator": [r["indicator"] for r in rows],
            "value": [np.nan if r["value"] is None else float(r["value"]) for r in rows],
        }
    )
    return AnalysisInputs(
        protocol=protocol,
        protocol_version=stored.version,
        protocol_fingerprint=stored.fingerprint,
        allocation_id=row.id,
        commitment=row.commitment,
        arms=arms,
        schemes=np.asarray(space.schemes, dtype=np.int_),
        scheme_units=tuple(space.unit_ids),
        values=values,
        snapshot_hash=snapshot_hash(rows),
        post_hoc=post_hoc_analyses(session, protocol),
    )


def _load_engines() -> None:
    """Import the SAP runner and every model engine (run in a thread by :func:`run`)."""
    # lazy: the runner and engines cost about a second; read-only commands never load them
    from analysis.sap.runner import load_engines

    load_engines()


def run(
    ws: Workspace, *, progress: Callable[[str], None] | None = None, workers: int = 1
) -> StoredResults:
    """Run every analysis of the locked SAP on the current data and store the results
    (``workers`` processes fit analyses at once; the results do not depend on it)."""
    # The runner and its model engines (SciPy's optimisers, pandas: about a second), which
    # 'rct analyse show' does not need, load in a thread while this one opens the signing
    # key and reads the inputs: the key's scrypt derivation releases the GIL, so on two
    # cores the two overlap instead of adding up. (The inputs' reading imports only
    # allocation and protocols modules, none of which the runner's import touches.)
    with ThreadPoolExecutor(max_workers=1) as pool:
        engines = pool.submit(_load_engines)
        with ws.change("analysis.run", "analysis") as record:
            inputs = gather_inputs(record.session)
        engines.result()
    # lazy: the runner and engines (start-up time; imported above in a thread)
    from analysis.sap.runner import run_sap

    refuse_if_nothing_analysable(inputs)
    results = run_sap(
        inputs.protocol,
        inputs.values,
        inputs.arms,
        inputs.schemes,
        inputs.scheme_units,
        post_hoc=inputs.post_hoc,
        provenance=inputs.provenance(),
        progress=progress,
        workers=workers,
    )
    text = results.to_json()
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    with ws.change("analysis.run", "analysis") as record:
        s = record.session
        now_inputs = gather_inputs(s)
        _check_unchanged(inputs, now_inputs)
        run_id = (s.scalar(select(func.max(AnalysisRun.id))) or 0) + 1
        event = record(
            "analysis.run",
            f"analysis/{run_id}",
            {
                "analysis_run": run_id,
                "results_sha256": digest,
                "data_snapshot_hash": inputs.snapshot_hash,
                "protocol_version": inputs.protocol_version,
                "protocol_fingerprint": inputs.protocol_fingerprint,
                "allocation": inputs.allocation_id,
                "commitment": inputs.commitment,
                "analyses": [a.name for a in results.analyses],
                "post_hoc": sorted(inputs.post_hoc),
                "failed_methods": results.failed(),
            },
        )
        row = AnalysisRun(
            id=run_id,
            created_at=event.occurred_at,
            created_by=record.actor.name,
            protocol_version=inputs.protocol_version,
            protocol_fingerprint=inputs.protocol_fingerprint,
            snapshot_hash=inputs.snapshot_hash,
            allocation_id=inputs.allocation_id,
            commitment=inputs.commitment,
            results_sha256=digest,
            results_json=text,
            post_hoc=json.dumps(sorted(inputs.post_hoc)),
            audit_seq=event.seq,
        )
        s.add(row)
        try:
            s.flush()
        except IntegrityError:
            raise ProtocolStateError(
                "another analysis run was stored at the same moment; run 'rct analyse run' again",
                code="concurrent-change",
            ) from None
        return _stored(row)


def refuse_if_nothing_analysable(inputs: AnalysisInputs) -> None:
    """Refuse (state error, nothing stored) when no prespecified analysis has its data.

    Each analysis builds its model frame as the runner would; if every one fails for want
    of data, official results would be a page of failures, so the run is refused with what
    is missing instead.
    """
    missing: dict[str, None] = {}
    for analysis in inputs.protocol.analyses:
        try:
            build_frame(inputs.protocol, inputs.values, inputs.arms, analysis)
            return
        except DataError as exc:
            missing[str(exc).split(": ", 1)[-1]] = None
    raise ProtocolStateError(
        "nothing to analyse yet, so nothing was stored: "
        + "; ".join(missing)
        + ". Import the boroughs' returns ('rct data import') and see 'rct completeness'",
        code="nothing-to-analyse",
    )


def _check_unchanged(before: AnalysisInputs, now: AnalysisInputs) -> None:
    changed = [
        what
        for what, a, b in (
            ("protocol", before.protocol_fingerprint, now.protocol_fingerprint),
            ("allocation", before.commitment, now.commitment),
            ("data", before.snapshot_hash, now.snapshot_hash),
        )
        if a != b
    ]
    if changed:
        raise ProtocolStateError(
            f"the {' and '.join(changed)} changed while the analyses ran; nothing was stored: "
            "run 'rct analyse run' again",
            code="concurrent-change",
        )


def latest(ws: Workspace) -> StoredResults:
    """The most recent stored results (NotFound if the SAP has not been run)."""
    with ws.session() as s:
        ws.read_as(s)
        stored = latest_stored(s)
        if stored is None:
            raise NotFound("no results are stored yet; the statistician runs 'rct analyse run'")
        return stored


def latest_stored(session: Session) -> StoredResults | None:
    """The most recent stored results read in ``session``, or None if the SAP has not run."""
    row = session.scalars(select(AnalysisRun).order_by(AnalysisRun.id.desc()).limit(1)).first()
    return None if row is None else _stored(row)
