"""The trial report: self-contained, concealed before reveal, renders in headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from rct.report.gather import gather_report
from rct.report.html import SECTIONS, render_report
from rct.workspace import Workspace
from tests.rct.trial_helpers import populated_trial

ARTEFACTS = Path(__file__).resolve().parents[1] / "artefacts"


def report_html(url: str) -> str:
    ws = Workspace(url, "sam")
    try:
        return render_report(gather_report(ws))
    finally:
        ws.close()


def test_report_before_reveal_has_no_arm_information(trial_url: str, tmp_path: Path) -> None:
    populated_trial(trial_url, reveal=False, tmp_dir=tmp_path)
    page = report_html(trial_url)
    assert "intervention" not in page.lower()
    assert "concealed" in page


def test_report_after_reveal_shows_every_section_and_the_arms(
    trial_url: str, tmp_path: Path
) -> None:
    populated_trial(trial_url, tmp_dir=tmp_path)
    page = report_html(trial_url)
    for section in SECTIONS:
        assert f"<section id='{section}'>" in page
    assert "<b>intervention</b>: 3 clusters" in page and "<b>control</b>: 4 clusters" in page


def test_report_is_self_contained(trial_url: str, tmp_path: Path) -> None:
    populated_trial(trial_url, tmp_dir=tmp_path)
    page = report_html(trial_url)
    assert not re.search(r"(src|href)=['\"](https?:)?//", page), (
        "the report must not load anything from a network"
    )
    assert page.count("data:image/png;base64,") >= 3


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_report_renders_in_headless_chromium(trial_url: str, tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        if os.environ.get("RCT_REQUIRE_CHROMIUM") == "1":
            pytest.fail(
                "RCT_REQUIRE_CHROMIUM=1 but chromium is not installed (apt-get install chromium)"
            )
        pytest.skip("chromium is not installed")
    populated_trial(trial_url, tmp_dir=tmp_path)
    page = tmp_path / "report.html"
    page.write_text(report_html(trial_url), encoding="utf-8")
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tempfile.mkdtemp()}",
        "--hide-scrollbars",
    ]
    dom = subprocess.run(
        [browser, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'data-loaded="yes"' in dom.stdout, "the page's script did not run to the end"
    for section in SECTIONS:
        assert f'<section id="{section}">' in dom.stdout
    ARTEFACTS.mkdir(exist_ok=True)
    shot = ARTEFACTS / f"report-{'pg' if 'postgresql' in trial_url else 'sqlite'}.png"
    subprocess.run(
        [browser, *flags, "--window-size=1200,4200", f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.stat().st_size > 50_000


def test_report_marks_a_reseal_after_void(trial_url: str, tmp_path: Path) -> None:
    from rct import allocations
    from tests.rct.trial_helpers import PASSPHRASE

    ws = Workspace(trial_url, "sam")
    try:
        allocations.seal(ws, PASSPHRASE, tmp_path / "first.json")
        allocations.void(ws, "sealed against the wrong unit table")
        allocations.seal(ws, PASSPHRASE, tmp_path / "second.json")
    finally:
        ws.close()
    assert "re-seal after void of allocation #1" in report_html(trial_url)
