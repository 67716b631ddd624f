"""Gather what the trial report shows from the database, as plain data.

Concealment is decided here, once: the arms (and everything split by them) are read only
when the live allocation is revealed; otherwise ``arms`` is None and nothing downstream
can show them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from protocols import Quarter
from rct import protocols as protocol_store
from rct.allocation import sealing
from rct.allocation.design import design_from_protocol, units_frame
from rct.analyses import StoredResults, latest_stored
from rct.audit import event_record, iter_events, utc_now
from rct.audit_checks import verify_records
from rct.checkpoints import describe, latest_checkpoint
from rct.report.html import ReportData
from rct.report.wording import headline_sentences, primary_result
from rct.workspace import Workspace

__all__ = ["gather_report"]

#: a heatmap cell shows the worst status of its indicators, in this order
_WORST = ("overdue", "not_yet_due", "queried", "amended", "received")


def gather_report(ws: Workspace, *, as_of: dt.date | None = None) -> ReportData:
    """Collect the report's data and draw its figures."""
    # lazy: loads pandas, numpy (start-up time)
    from allocation import build_scheme_space, diagnose
    from rct.capture.completeness import completeness
    from rct.capture.dataset import open_query_counts
    from rct.capture.export import dataset_rows, snapshot_hash
    from rct.capture.values import current_cells
    from rct.evaluation.bundle import software_versions
    from rct.report import plots

    with ws.session() as s:
        reader = ws.read_public(s)
        stored = protocol_store.current(s)
        row = sealing.live(s) or sealing.latest(s)
        record = sealing.allocation_record(row) if row is not None else None
        # Someone without an account gets the arms-free parts only, as before reveal.
        arms = sealing.revealed_arms(s) if reader.role != "unregistered" else None
        rows = dataset_rows(stored.protocol, current_cells(s), open_query_counts(s), arms)
        checkpoint = latest_checkpoint(s)
        chain, held = verify_records(
            (event_record(e) for e in iter_events(s)), [checkpoint] if checkpoint else []
        )
        results = latest_stored(s)
    protocol = stored.protocol
    cert = None
    if record is not None:  # the report never needs the sealed envelope
        hidden = {"envelope"} if arms else {"envelope", "seed", "arms", "scheme_index"}
        cert = {k: v for k, v in record.to_dict().items() if k not in hidden}
    units_df, design = units_frame(protocol), design_from_protocol(protocol)
    space = build_scheme_space(units_df, design)
    chosen = (
        space.allocation(record.scheme_index)
        if arms and record and record.scheme_index is not None
        else None
    )
    diag = diagnose(space, units_df, design, chosen=chosen).to_dict()
    matrix = completeness(ws, as_of=as_of)
    periods = [str(q) for q in protocol.schedule.quarters]
    units = sorted(u.id for u in protocol.units)
    worst: dict[tuple[str, str], str] = {}
    for c in matrix.cells:
        key = (c.unit_id, c.period)
        if key not in worst or _WORST.index(c.status) < _WORST.index(worst[key]):
            worst[key] = c.status
    rates = {(r["borough"], r["period"], r["indicator"]): r["rate_per_10000"] for r in rows}
    go_live = dt.date.fromisoformat(protocol.schedule.go_live)

    figures = {
        "completeness": plots.completeness_heatmap(units, periods, worst),
        "rates": plots.rates_by_borough(
            [(i.code, i.label) for i in protocol.indicators],
            periods,
            rates,
            units,
            arms,
            str(Quarter.containing(go_live)),
        ),
    }
    if diag.get("histogram"):
        figures["histogram"] = plots.score_histogram(diag["histogram"], diag.get("cutoff_score"))
    effects, iccs, analysed = _effects(results) if arms and results else ([], [], None)
    headline: list[str] = []
    if arms and results:
        primary = primary_result(results.results)
        if primary is not None:
            headline = headline_sentences(primary, results.results.level)
    if effects:
        figures["forest"] = plots.forest_plot(effects)
    provenance: dict[str, Any] = {
        "protocol version": f"{stored.version} ({stored.status})",
        "protocol fingerprint": stored.fingerprint,
        "unit table fingerprint": protocol.units_fingerprint(),
        "allocation commitment": record.commitment if record else "not sealed",
        "data snapshot hash": snapshot_hash(rows),
        "audit trail": f"{chain.events} events, head {chain.head}"
        + ("" if chain.ok else f" — BROKEN at {chain.broken_at}"),
        "latest signed checkpoint": _checkpoint_line(checkpoint, chain.ok, held),
    }
    if results:
        provenance["results SHA-256"] = results.results_sha256
    provenance.update({f"software: {k}": v for k, v in software_versions().items()})
    notes = []
    if any(u.illustrative for u in protocol.units):
        notes.append(
            "The clusters in this protocol are illustrative placeholders until the trial "
            "confirms them; covariates marked illustrative are not public facts."
        )
    return ReportData(
        title=protocol.trial.title,
        trial_id=protocol.trial.id,
        generated_at=utc_now(),
        units=[
            {"id": u.id, "name": u.name, "gss_code": u.gss_code, "covariates": dict(u.covariates)}
            for u in sorted(protocol.units, key=lambda u: u.id)
        ],
        arms=arms,
        allocation=cert,
        diagnostics=diag,
        baseline=diag.get("baseline") if arms else None,
        figures=figures,
        completeness_totals=matrix.totals,
        overdue=[
            {"borough": r.unit_id, "period": r.period, "days_overdue": r.days_overdue}
            for r in matrix.overdue()
        ],
        effects=effects,
        headline=headline,
        iccs=iccs,
        analysed_clusters=analysed,
        provenance=provenance,
        notes=notes,
    )


def _checkpoint_line(doc: dict[str, Any] | None, chain_ok: bool, problems: list[str]) -> str:
    """The latest checkpoint kept by the trial, and whether the trail still holds it; a
    reader compares it with the checkpoints the trial published."""
    if doc is None:
        return "none written yet"
    if not chain_ok:
        return f"{describe(doc)} — not checked: the audit trail is broken"
    return describe(doc) + (f" — FAILS: {problems[0]}" if problems else " — the trail holds it")


def _effects(
    results: StoredResults,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int | None]:
    """Forest-plot rows, ICC rows and the primary analysis' cluster count from stored results."""
    # lazy: loads pandas, numpy, scipy (start-up time)
    from rct.report.results_view import effect_rows

    return effect_rows(results.results)
