"""``rct design check``: the table, the JSON, resumption from the checkpoint, exit code 8
for an anti-conservative method, and the report section drawn from its JSON."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

import analysis.sap.methods as methods
from analysis.sap.dataset import AnalysisFrame
from analysis.sap.methods import MethodContext
from analysis.sap.results import MethodResult
from protocols import shipped_protocol_path
from rct.errors import InputError
from rct.report.operating import load_design_check, operating_section
from tests.rct.helpers import run_cli

SHIPPED = str(shipped_protocol_path())
FAST = (
    "--protocol",
    SHIPPED,
    "--analysis",
    "primary_re_referrals",
    "--method",
    "cluster-level",
    "--scenario",
    "reference",
    "--workers",
    "1",
)


def test_design_check_prints_a_table_and_resumes_from_its_checkpoint(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    ckpt = tmp_path / "ckpt.jsonl"
    run = run_cli(capsys, "design", "check", *FAST, "--simulations", "2", "--checkpoint", str(ckpt))
    assert run.code == 0, run.err
    assert "primary_re_referrals / cluster-level (PRIMARY inference)" in run.out
    assert "type I error (MC SE)" in run.out and "reference" in run.out
    assert len(ckpt.read_text().splitlines()) == 1 + 4  # run key, 2 x (null, target)
    out = tmp_path / "check.json"
    again = run_cli(
        capsys,
        "design",
        "check",
        *FAST,
        "--simulations",
        "3",
        "--checkpoint",
        str(ckpt),
        "--json",
        "-o",
        str(out),
    )
    assert again.code == 0, again.err
    assert len(ckpt.read_text().splitlines()) == 1 + 6  # only the third trials were added
    data = json.loads(again.out)
    assert data == json.loads(out.read_text())
    assert data["format"] == "rct-design-check/1" and data["simulations_per_scenario"] == 3
    rows = data["characteristics"]
    assert [(r["scenario"], r["primary_inference"]) for r in rows] == [
        ("reference/null", True),
        ("reference/target", True),
    ]
    assert "type_i_error" in rows[0] and "power" in rows[1]
    section = operating_section(load_design_check(out))
    assert "data:image/png;base64," in section and "No method's type I error" in section


def test_a_checkpoint_of_another_run_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    ckpt = tmp_path / "ckpt.jsonl"
    ckpt.write_text('{"run_key": "something else"}\n')
    run = run_cli(capsys, "design", "check", *FAST, "--simulations", "1", "--checkpoint", str(ckpt))
    assert run.code == 2
    assert run.err.startswith("Error: checkpoint") and "another design check" in run.err
    assert ckpt.read_text() == '{"run_key": "something else"}\n'  # left alone


def _liberal(frame: AnalysisFrame, method: str, ctx: MethodContext) -> MethodResult:
    res: MethodResult = methods._cluster_level(frame, method, ctx)
    return replace(res, pvalue=res.pvalue / 10)


def test_an_anti_conservative_method_is_flagged_and_exits_8(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(methods.INFERENCE_METHODS, "cluster-level", _liberal)
    out = tmp_path / "check.json"
    run = run_cli(
        capsys,
        "design",
        "check",
        *FAST,
        "--simulations",
        "12",
        "--no-checkpoint",
        "-o",
        str(out),
    )
    assert run.code == 8
    assert "FLAG" in run.out and "Flagged (type I error exceeds nominal" in run.out
    assert "method(s) flagged: exit code 8" in run.err
    data = json.loads(out.read_text())
    assert data["flagged"] == [
        {
            "analysis": "primary_re_referrals",
            "method": "cluster-level",
            "scenario": "reference/null",
        }
    ]
    assert "Methods whose type I error exceeds nominal" in operating_section(data)
    assert not list(tmp_path.glob("*.jsonl"))


def test_unknown_analyses_and_scenarios_are_usage_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run = run_cli(capsys, "design", "check", "--protocol", SHIPPED, "--analysis", "nope")
    assert run.code == 2 and "no analysis nope" in run.err
    run = run_cli(
        capsys, "design", "check", "--protocol", SHIPPED, "--scenario", "weather", "--no-checkpoint"
    )
    assert run.code != 0 and "unknown scenario weather" in run.err


def test_the_report_refuses_a_file_that_is_not_a_design_check(tmp_path: Path) -> None:
    f = tmp_path / "x.json"
    f.write_text('{"format": "rct-sap-results/1"}')
    with pytest.raises(InputError, match="not written by 'rct design check"):
        load_design_check(f)
    with pytest.raises(InputError, match="no such design check file"):
        load_design_check(tmp_path / "missing.json")
