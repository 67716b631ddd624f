"""``rct analyse``: refusals before lock and reveal, a stored and audited run with its
provenance, post hoc labelling, and the exploratory commands; on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from analysis.sap.simulate import simulate_values
from protocols import Protocol
from rct import analyses
from rct import protocols as store
from rct.allocation import sealing
from rct.allocation.sealing import AllocationStateError
from rct.audit import event_record, iter_events
from rct.errors import NotFound, PermissionDenied, ProtocolStateError
from rct.workspace import Workspace
from tests.analysis.test_sap_runner import SHIPPED, small_protocol
from tests.rct.helpers import raw_connection, run_cli

PASS = "correct horse battery staple"
SMALL = small_protocol()


def _initialise(url: str, protocol: Protocol, lock: bool = True) -> None:
    from rct.initialise import initialise
    from rct.users import add_user

    initialise(url, "ann", protocol, "small.toml")
    ws = Workspace(url, "ann")
    add_user(ws, "sam", "statistician")
    add_user(ws, "eve", "evaluator")
    ws.close()
    if lock:
        ws = Workspace(url, "sam")
        store.lock(ws)
        ws.close()


@pytest.fixture
def small_trial(db_url: str) -> str:
    """A trial on the small protocol (short schedule, primary analysis only), locked."""
    _initialise(db_url, SMALL)
    return db_url


def _import(ws: Workspace, arms: dict[str, str], seed: int = 5) -> None:
    from rct.capture.submit import submit_return

    values = simulate_values(SMALL, arms, seed=seed)
    body = "borough,period,indicator,value\n" + "".join(
        f"{r.unit},{r.period},{r.indicator},{int(r.value)}\n" for r in values.itertuples()
    )
    result = submit_return(ws, "returns.csv", data=body.encode())
    assert result.stored, result.message


def _revealed(url: str, tmp_path: Path) -> tuple[Workspace, dict[str, str]]:
    ws = Workspace(url, "sam")
    sealing.seal(ws, PASS, tmp_path / "envelope.json")
    row = sealing.reveal(ws, PASS)
    return ws, json.loads(row.arms or "{}")


def test_run_refuses_an_unlocked_protocol(db_url: str) -> None:
    _initialise(db_url, SMALL, lock=False)
    ws = Workspace(db_url, "sam")
    try:
        with pytest.raises(ProtocolStateError) as refused:
            analyses.run(ws)
        assert refused.value.code == "protocol-not-locked"
    finally:
        ws.close()


def test_run_refuses_before_an_allocation_is_sealed(small_trial: str) -> None:
    ws = Workspace(small_trial, "sam")
    try:
        with pytest.raises(AllocationStateError) as refused:
            analyses.run(ws)
        assert refused.value.code == "no-allocation"
    finally:
        ws.close()


def test_run_refuses_a_sealed_allocation_that_is_not_revealed(
    small_trial: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = Workspace(small_trial, "sam")
    sealing.seal(ws, PASS, tmp_path / "envelope.json")
    ws.close()
    run = run_cli(capsys, "--db", small_trial, "--as", "sam", "analyse", "run")
    assert run.code == 6
    assert "sealed, not revealed" in run.err and "rct allocate reveal" in run.err
    assert "Traceback" not in run.err


def test_only_a_statistician_runs_the_analyses_and_a_refusal_is_audited(
    small_trial: str, tmp_path: Path
) -> None:
    ws, _ = _revealed(small_trial, tmp_path)
    ws.close()
    eve = Workspace(small_trial, "eve")
    try:
        with pytest.raises(PermissionDenied) as refused:
            analyses.run(eve)
        assert refused.value.code == "role-not-permitted"
        with eve.session() as s:
            last = event_record(list(iter_events(s))[-1])
        assert (last["action"], last["actor"]) == ("refused", "eve")
    finally:
        eve.close()


def test_a_run_is_stored_with_its_provenance_and_audited_in_the_same_transaction(
    small_trial: str, tmp_path: Path
) -> None:
    ws, arms = _revealed(small_trial, tmp_path)
    try:
        _import(ws, arms)
        stored = analyses.run(ws)
        data = stored.data
        assert hashlib.sha256(stored.results_json.encode()).hexdigest() == stored.results_sha256
        with ws.session() as s:
            commitment = sealing.live(s).commitment  # type: ignore[union-attr]
            events = [event_record(e) for e in iter_events(s)]
            snapshot = _export_snapshot(s)
        prov = data["provenance"]
        assert prov["protocol_fingerprint"] == SMALL.fingerprint()
        assert prov["allocation_commitment"] == commitment
        assert prov["data_snapshot_hash"] == snapshot == stored.snapshot_hash
        assert set(prov["packages"]) >= {"numpy", "scipy", "pandas", "patsy", "rct"}
        event = events[-1]
        assert event["action"] == "analysis.run" and event["entity"] == f"analysis/{stored.id}"
        assert event["payload"]["results_sha256"] == stored.results_sha256
        primary = data["analyses"][0]
        assert [m["method"] for m in primary["methods"]] == [
            "between-within",
            "cluster-level",
            "randomisation",
        ]
        assert all(m["status"] == "ok" for m in primary["methods"])
        assert primary["primary_inference"] == "cluster-level"
        assert analyses.latest(ws).results_json == stored.results_json
    finally:
        ws.close()


def _export_snapshot(session: Session) -> str:
    from rct.allocation.sealing import revealed_arms
    from rct.capture.dataset import open_query_counts
    from rct.capture.export import dataset_rows, snapshot_hash
    from rct.capture.values import current_cells

    protocol = store.current(session).protocol
    arms = revealed_arms(session)
    return snapshot_hash(
        dataset_rows(protocol, current_cells(session), open_query_counts(session), arms)
    )


def test_the_same_data_give_byte_identical_results(small_trial: str, tmp_path: Path) -> None:
    ws, arms = _revealed(small_trial, tmp_path)
    try:
        _import(ws, arms)
        first, second = analyses.run(ws), analyses.run(ws)
        assert second.id == first.id + 1
        assert second.results_json == first.results_json
    finally:
        ws.close()


def test_stored_results_cannot_be_changed(small_trial: str, tmp_path: Path) -> None:
    ws, arms = _revealed(small_trial, tmp_path)
    try:
        _import(ws, arms)
        analyses.run(ws)
    finally:
        ws.close()
    with pytest.raises(Exception, match="append-only"):
        with raw_connection(small_trial) as conn:
            conn.execute(text("UPDATE analysis_runs SET results_json = '{}'"))


def test_an_analysis_added_after_data_were_visible_is_labelled_post_hoc_everywhere(
    small_trial: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws, arms = _revealed(small_trial, tmp_path)
    try:
        _import(ws, arms)
        added = replace(SHIPPED.analysis("secondary_into_care"), inference=("between-within",))
        store.amend(
            ws,
            replace(SMALL, analyses=(*SMALL.analyses, added)),
            "v2.toml",
            "add into-care analysis",
        )
    finally:
        ws.close()
    run = run_cli(
        capsys,
        "--db",
        small_trial,
        "--as",
        "sam",
        "analyse",
        "run",
        "--json",
        "-o",
        str(tmp_path / "out"),
    )
    assert run.code == 0, run.err
    data = json.loads(run.out)["results"]
    labels = {a["name"]: a["post_hoc"] for a in data["analyses"]}
    assert labels == {"primary_re_referrals": False, "secondary_into_care": True}
    reason = next(a for a in data["analyses"] if a["post_hoc"])["post_hoc_reason"]
    assert (
        "added in protocol version 2" in reason and "after trial data were first visible" in reason
    )
    md = (tmp_path / "out" / "results.md").read_text()
    assert "## Secondary: secondary_into_care (POST HOC)" in md
    assert "## Primary: primary_re_referrals\n" in md
    show = run_cli(capsys, "--db", small_trial, "--as", "eve", "analyse", "show")
    assert show.code == 0
    assert "secondary_into_care (children_into_care_with_da)  [POST HOC]" in show.out
    assert "primary_re_referrals (da_re_referrals)\n" in show.out
    # the primary inference leads; the others are labelled supportive
    lead = show.out.index("  PRIMARY INFERENCE: cluster-level: rate ratio")
    assert lead < show.out.index("  supportive: between-within: rate ratio")
    assert "**Primary result (primary_re_referrals):** cluster-level: rate ratio" in md


def test_run_writes_the_stored_json_and_the_summary(
    small_trial: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws, arms = _revealed(small_trial, tmp_path)
    _import(ws, arms)
    ws.close()
    run = run_cli(
        capsys, "--db", small_trial, "--as", "sam", "analyse", "run", "-o", str(tmp_path / "o")
    )
    assert run.code == 0, run.err
    assert "between-within: rate ratio" in run.out and "randomisation: rate ratio" in run.out
    ws = Workspace(small_trial, "eve")
    try:
        stored = analyses.latest(ws)
    finally:
        ws.close()
    assert (tmp_path / "o" / "results.json").read_text() == stored.results_json
    assert (tmp_path / "o" / "results.md").read_text() == stored.markdown


def test_show_before_any_run_says_what_to_do(small_trial: str) -> None:
    ws = Workspace(small_trial, "eve")
    try:
        with pytest.raises(NotFound, match="rct analyse run"):
            analyses.latest(ws)
    finally:
        ws.close()
