"""`rct allocate verify --explain` and `rct reproduce --explain` print every intermediate
value in the worked example's order, and the values are the certificate's."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from rct.evaluation.bundle import export_bundle
from rct.workspace import Workspace
from tests.rct.helpers import run_cli
from tools import randomness_worked_example as example

PASS = "correct horse battery staple"
KEY = re.compile(r"^\[§[0-9.]+\] ([A-Za-z0-9_.]+):", re.M)


def worked_example_keys() -> list[str]:
    return re.findall(r"^\*\*([A-Za-z0-9_.]+)\*\* \(§", example.render(), re.M)


def sealed_and_revealed(
    trial_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> tuple[list[str], dict[str, Any]]:
    db = ["--db", trial_url, "--as", "sam"]
    assert (
        run_cli(capsys, *db, "allocate", "seal", "--envelope", str(tmp_path / "e.json")).code == 0
    )
    assert run_cli(capsys, *db, "allocate", "reveal").code == 0
    cert = json.loads(run_cli(capsys, *db, "allocate", "show", "--json").out)
    return db, cert


def test_verify_explain_prints_every_step_in_the_documented_order(
    trial_url: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RCT_PASSPHRASE", PASS)
    db, cert = sealed_and_revealed(trial_url, capsys, tmp_path)
    run = run_cli(capsys, *db, "allocate", "verify", "--explain")
    assert run.code == 0, run.err
    keys = KEY.findall(run.out)
    # the shipped protocol is unstratified and small: the example's keys minus the strata
    expected = [k for k in worked_example_keys() if not k.startswith("strata")]
    assert keys == expected
    lines = dict(re.findall(r"^\[§[0-9.]+\] ([A-Za-z0-9_.]+): (.*)$", run.out, re.M))
    assert lines["commitment"] == cert["commitment"]
    assert lines["units.fingerprint"] == cert["units_fingerprint"]
    assert lines["design.fingerprint"] == cert["design_fingerprint"]
    assert lines["space.fingerprint"] == cert["space_fingerprint"]
    assert int(lines["draw.index"]) == cert["scheme_index"]
    assert json.loads(lines["units.json"]) == cert["units"]
    assert "PASS: allocation" in run.out

    as_json = json.loads(run_cli(capsys, *db, "allocate", "verify", "--explain", "--json").out)
    assert [s["key"] for s in as_json["explain"]] == expected and as_json["ok"]


def test_reproduce_explain_works_from_the_bundle_alone(
    trial_url: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RCT_PASSPHRASE", PASS)
    _, cert = sealed_and_revealed(trial_url, capsys, tmp_path)
    ws = Workspace(trial_url, "sam")
    export_bundle(ws, tmp_path / "bundle")
    ws.close()
    saved = json.loads((tmp_path / "bundle" / "allocation" / "certificate.json").read_text())
    assert saved["units"] == cert["units"] and saved["design"] == cert["design"]
    run = run_cli(capsys, "reproduce", str(tmp_path / "bundle"), "--explain", "--json")
    steps = {s["key"]: s["value"] for s in json.loads(run.out)["explain"]}
    assert steps["commitment"] == cert["commitment"]
    assert steps["arms"] == ", ".join(f"{u}={a}" for u, a in sorted(cert["arms"].items()))


def test_explain_refuses_a_certificate_without_its_inputs_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "allocation").mkdir()
    (tmp_path / "allocation" / "certificate.json").write_text('{"seed": null}')
    from rct.allocation.verify import ExplainError, explain_bundle

    with pytest.raises(ExplainError, match="does not carry the units and design objects"):
        explain_bundle(tmp_path)
    with pytest.raises(ExplainError, match="missing"):
        explain_bundle(tmp_path / "nowhere")
