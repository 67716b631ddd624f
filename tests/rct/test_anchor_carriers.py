"""What carries the audit trail's anchors (issue #12 item 2): the seal's publication text
names the head at seal time; the allocation certificate, the bundle and the trial report
carry the latest signed checkpoint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from rct.allocation import sealing
from rct.allocation.certificate import render_certificate
from rct.checkpoints import load_checkpoint, stored_checkpoints
from rct.db.models import AuditEvent
from rct.evaluation.bundle import export_bundle
from rct.workspace import Workspace
from tests.rct.helpers import run_cli, triggers_bypassed
from tests.rct.trial_helpers import PASSPHRASE, populated_trial


def seal_event(url: str) -> AuditEvent:
    ws = Workspace(url, "sam")
    try:
        with ws.session() as s:
            event = s.scalars(
                select(AuditEvent).where(AuditEvent.action == "allocation.seal")
            ).one()
            s.expunge(event)
            return event
    finally:
        ws.close()


def latest_stored(url: str) -> dict[str, Any]:
    ws = Workspace(url, "sam")
    try:
        with ws.session() as s:
            return stored_checkpoints(s)[-1]
    finally:
        ws.close()


def test_seal_publication_names_the_head_at_seal(
    trial_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RCT_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("RCT_CHECKPOINT_DIR", str(tmp_path / "published"))
    envelope = str(tmp_path / "env.json")
    r = run_cli(
        capsys, "--db", trial_url, "--as", "sam", "allocate", "seal", "--envelope", envelope
    )
    assert r.code == 0, r.err
    event = seal_event(trial_url)
    assert f"audit head at seal:  event {event.seq}, hash {event.hash}" in r.out
    row = next(line for line in r.out.splitlines() if "signed checkpoint:" in line)
    published = load_checkpoint(Path(row.split("signed checkpoint:", 1)[1].strip()))
    # the checkpoint written with the seal anchors the same head
    assert (published["seq"], published["head"]) == (event.seq, event.hash)
    assert r.out.index("commitment:") < r.out.index("audit head at seal:")


def test_seal_json_carries_the_head_at_seal(
    trial_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RCT_PASSPHRASE", PASSPHRASE)
    r = run_cli(
        capsys,
        "--db",
        trial_url,
        "--as",
        "sam",
        "allocate",
        "seal",
        "--envelope",
        str(tmp_path / "env.json"),
        "--json",
    )
    assert r.code == 0, r.err
    out = json.loads(r.out)
    event = seal_event(trial_url)
    assert (out["head_seq"], out["head"]) == (event.seq, event.hash)
    assert load_checkpoint(Path(out["checkpoint"]))["head"] == event.hash


def test_seal_result_carries_the_seal_events_head(trial_url: str, tmp_path: Path) -> None:
    ws = Workspace(trial_url, "sam")
    result = sealing.seal(ws, PASSPHRASE, tmp_path / "env.json")
    ws.close()
    event = seal_event(trial_url)
    assert (result.head_seq, result.head) == (event.seq, event.hash)


def test_the_certificate_carries_the_latest_checkpoint(trial_url: str, tmp_path: Path) -> None:
    populated_trial(trial_url, tmp_dir=tmp_path)  # seal and reveal write checkpoints
    latest = latest_stored(trial_url)
    ws = Workspace(trial_url, "sam")
    cert = sealing.certificate(ws).to_dict()
    ws.close()
    assert cert["checkpoint"] == latest
    text = render_certificate(cert, [])
    assert "## Audit checkpoint" in text
    assert f"event {latest['seq']}, head {latest['head']}" in text
    # the JSON block is the checkpoint file itself: save it and verify against it
    block = text.split("## Audit checkpoint", 1)[1].split("```json\n", 1)[1].split("\n```")[0]
    saved = tmp_path / "from-certificate.json"
    saved.write_text(block)
    assert load_checkpoint(saved) == latest


def test_the_cli_certificate_shows_the_checkpoint_to_every_role(
    trial_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rct.users import add_user

    populated_trial(trial_url, reveal=False, tmp_dir=tmp_path)
    add_user(Workspace(trial_url, "ann"), "eve", "evaluator")
    latest = latest_stored(trial_url)
    out = tmp_path / "cert.json"
    r = run_cli(capsys, "--db", trial_url, "--as", "eve", "allocate", "certificate", "-o", str(out))
    assert r.code == 0, r.err
    cert = json.loads(out.read_text())
    assert cert["checkpoint"] == latest and "envelope" not in cert
    r = run_cli(capsys, "--db", trial_url, "--as", "eve", "allocate", "certificate")
    assert r.code == 0 and f"head {latest['head']}" in r.out


def test_a_certificate_before_any_checkpoint_says_so() -> None:
    cert = {
        "allocation": 1,
        "status": "sealed",
        "commitment": "c" * 64,
        "protocol_version": 1,
        "protocol_fingerprint": "p" * 64,
        "units_fingerprint": "u" * 64,
        "space_fingerprint": "s" * 64,
        "sealed_at": "2026-01-01T00:00:00.000000Z",
        "sealed_by": "sam",
        "revealed_at": None,
        "algorithm": {},
        "design": {},
        "checkpoint": None,
    }
    assert "No signed checkpoint of the audit trail yet." in render_certificate(cert, [])


def test_the_bundle_carries_the_latest_checkpoint(trial_url: str, tmp_path: Path) -> None:
    from rct.users import add_user

    populated_trial(trial_url, tmp_dir=tmp_path)
    add_user(Workspace(trial_url, "ann"), "eve", "evaluator")
    latest = latest_stored(trial_url)
    export_bundle(Workspace(trial_url, "eve"), tmp_path / "b")
    carried = json.loads((tmp_path / "b" / "audit" / "checkpoints.json").read_text())
    assert carried[-1] == latest and len(carried) == 2  # at seal and at reveal
    readme = (tmp_path / "b" / "README.md").read_text()
    assert f"Latest checkpoint: event {latest['seq']}, head {latest['head']}" in readme
    assert "--checkpoint PUBLISHED.json" in readme


def test_the_report_carries_the_latest_checkpoint_and_whether_it_holds(
    trial_url: str, tmp_path: Path
) -> None:
    from sqlalchemy import text

    from rct.report.gather import gather_report

    populated_trial(trial_url, tmp_dir=tmp_path)
    latest = latest_stored(trial_url)
    ws = Workspace(trial_url, "sam")
    line = gather_report(ws).provenance["latest signed checkpoint"]
    ws.close()
    assert line.startswith(f"event {latest['seq']}, head {latest['head']}")
    assert line.endswith("the trail holds it")
    with triggers_bypassed(trial_url) as conn:  # cut the trail below the checkpoint
        conn.execute(text("DELETE FROM audit_events WHERE seq >= :s"), {"s": latest["seq"]})
    ws = Workspace(trial_url, "sam")
    line = gather_report(ws).provenance["latest signed checkpoint"]
    ws.close()
    assert "FAILS" in line and "removed from its end" in line


def test_the_report_html_shows_the_checkpoint(
    trial_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    populated_trial(trial_url, reveal=False, tmp_dir=tmp_path)
    latest = latest_stored(trial_url)
    out = tmp_path / "report.html"
    r = run_cli(capsys, "--db", trial_url, "--as", "sam", "report", "--out", str(out))
    assert r.code == 0, r.err
    page = out.read_text()
    assert "latest signed checkpoint" in page and latest["head"] in page
    assert "ciphertext" not in page
