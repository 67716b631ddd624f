"""``rct demo`` runs the whole flow in a fresh directory and says where each output went."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.rct.helpers import run_cli


@pytest.mark.slow
def test_demo_runs_the_whole_flow(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r = run_cli(capsys, "demo", str(tmp_path / "demo"))
    assert r.code == 0, r.err
    for step in (
        "seal allocation",
        "reveal allocation",
        "prespecified analyses",
        "independent reproduction: PASS",
        "each with a signing key (genesis key ",
        "signed checkpoint at event ",
        "against the checkpoint and commitment published at seal",
    ):
        assert step in r.out
    demo = tmp_path / "demo"
    for name in (
        "rct.db",
        "trial-report.html",
        "completeness.html",
        "results/results.json",
        "bundle/manifest.json",
        "allocation-certificate.md",
        "partnership-completeness.html",
        "keys",
    ):
        assert (demo / name).exists(), name
        assert str(demo / name.split("/")[0]) in r.out or name in ("rct.db",)
    results = json.loads((demo / "results" / "results.json").read_text())
    primary = next(a for a in results["analyses"] if a["role"] == "primary")
    assert all(m["status"] == "ok" for m in primary["methods"])
    assert primary["primary_inference"] == "cluster-level"


def test_demo_refuses_a_directory_that_is_not_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "x").write_text("keep me")
    r = run_cli(capsys, "demo", str(tmp_path))
    assert r.code == 2 and "not empty" in r.err
    assert (tmp_path / "x").read_text() == "keep me"
