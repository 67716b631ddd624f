"""The trial report: self-contained, concealed before reveal, renders in headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

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


def _browser() -> str:
    browser = _chromium()
    if browser is None:
        if os.environ.get("RCT_REQUIRE_CHROMIUM") == "1":
            pytest.fail(
                "RCT_REQUIRE_CHROMIUM=1 but chromium is not installed (apt-get install chromium)"
            )
        pytest.skip("chromium is not installed")
    return browser


def _flags() -> list[str]:
    return [
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


#: Run after the page (and its inline images) has loaded: the client rectangles of every
#: text node's line boxes and of every image; any two from different nodes that overlap by
#: more than a pixel each way are written, as JSON, into <pre id='rct-overlaps'>.
OVERLAP_SCRIPT = """<script>
window.addEventListener('load', function () {
  var boxes = [], k = 0, node;
  var walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while ((node = walker.nextNode())) {
    var text = node.textContent.trim();
    if (!text || node.parentElement.closest('script,style')) continue;
    var range = document.createRange();
    range.selectNodeContents(node);
    var rects = range.getClientRects();
    for (var i = 0; i < rects.length; i++) {
      var r = rects[i];
      if (r.width > 0 && r.height > 0)
        boxes.push({id: k, t: text.slice(0, 60), x: r.left, y: r.top + scrollY, w: r.width, h: r.height});
    }
    k++;
  }
  document.querySelectorAll('img').forEach(function (img) {
    var r = img.getBoundingClientRect();
    boxes.push({id: k++, t: '[image: ' + img.alt + ']', x: r.left, y: r.top + scrollY, w: r.width, h: r.height});
  });
  var out = [];
  for (var a = 0; a < boxes.length; a++) for (var b = a + 1; b < boxes.length; b++) {
    var p = boxes[a], q = boxes[b];
    if (p.id === q.id) continue;
    var ox = Math.min(p.x + p.w, q.x + q.w) - Math.max(p.x, q.x);
    var oy = Math.min(p.y + p.h, q.y + q.h) - Math.max(p.y, q.y);
    if (ox > 1 && oy > 1) out.push([p.t, q.t]);
  }
  var images = document.querySelectorAll('img');
  var pre = document.createElement('pre');
  pre.id = 'rct-overlaps';
  pre.textContent = JSON.stringify({boxes: boxes.length, images: images.length,
    loaded: Array.prototype.every.call(images, function (i) { return i.complete && i.naturalWidth > 0; }),
    overlaps: out});
  document.body.appendChild(pre);
});
</script>"""


def layout_overlaps(browser: str, html_text: str, path: Path, width: int) -> dict[str, Any]:
    """Render ``html_text`` in headless Chromium at ``width`` pixels; the overlap report."""
    import html as html_module
    import json

    path.write_text(html_text.replace("</body>", OVERLAP_SCRIPT + "</body>"), encoding="utf-8")
    dom = subprocess.run(
        [browser, *_flags(), f"--window-size={width},3000", "--dump-dom", path.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    found = re.search(r'<pre id="rct-overlaps">(.*?)</pre>', dom.stdout, re.S)
    assert found, "the measuring script did not run"
    overlaps: dict[str, Any] = json.loads(html_module.unescape(found.group(1)))
    return overlaps


@pytest.mark.parametrize("width", [1200, 760])
def test_no_two_text_boxes_overlap_in_the_rendered_report(
    trial_url: str, tmp_path: Path, width: int
) -> None:
    """The revealed report with a headline, effects table and forest plot added (running
    the whole SAP takes minutes, so the stored results are stood in for)."""
    from rct.report import plots
    from rct.report.wording import headline_sentences, primary_result
    from tests.rct.test_report_readable import FOREST_ROWS, _results

    browser = _browser()
    populated_trial(trial_url, tmp_dir=tmp_path)
    ws = Workspace(trial_url, "sam")
    try:
        data = gather_report(ws)
    finally:
        ws.close()
    primary = primary_result(_results(None))
    assert primary is not None
    data.headline = headline_sentences(primary)
    data.effects = [
        {**r, "role": "primary", "pvalue": 0.0012, "df": 5.0, "post_hoc": i == 2}
        for i, r in enumerate(FOREST_ROWS)
    ]
    data.figures["forest"] = plots.forest_plot(FOREST_ROWS)
    data.analysed_clusters = 7
    found = layout_overlaps(browser, render_report(data), tmp_path / "r.html", width)
    assert found["boxes"] > 200 and found["images"] >= 4 and found["loaded"], found
    assert found["overlaps"] == []


def test_no_two_text_boxes_overlap_in_the_completeness_page(tmp_path: Path) -> None:
    import datetime as dt

    from protocols import load_protocol, shipped_protocol_path
    from rct.capture.completeness import compute_completeness
    from rct.capture.completeness_render import render_html

    browser = _browser()
    m = compute_completeness(
        load_protocol(shipped_protocol_path()),
        {("camden", "2025-Q1", "da_re_referrals"): 2},
        {},
        dt.date(2025, 8, 1),
    )
    found = layout_overlaps(browser, render_html(m), tmp_path / "c.html", 1200)
    assert found["boxes"] > 100 and found["overlaps"] == [], found


def test_report_renders_in_headless_chromium(trial_url: str, tmp_path: Path) -> None:
    browser = _browser()
    populated_trial(trial_url, tmp_dir=tmp_path)
    page = tmp_path / "report.html"
    page.write_text(report_html(trial_url), encoding="utf-8")
    flags = _flags()
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
    from rct.allocation import sealing
    from tests.rct.trial_helpers import PASSPHRASE

    ws = Workspace(trial_url, "sam")
    try:
        sealing.seal(ws, PASSPHRASE, tmp_path / "first.json")
        sealing.void(ws, "sealed against the wrong unit table")
        sealing.seal(ws, PASSPHRASE, tmp_path / "second.json")
    finally:
        ws.close()
    assert "re-seal after void of allocation #1" in report_html(trial_url)


def test_the_overlap_measurement_finds_overlapping_text(tmp_path: Path) -> None:
    browser = _browser()
    page = (
        "<!DOCTYPE html><html><body><h2>Panel title</h2>"
        "<div style='position:relative;top:-1.6em;left:1em'>a legend over the title</div>"
        "<p>apart</p></body></html>"
    )
    found = layout_overlaps(browser, page, tmp_path / "o.html", 800)
    assert found["overlaps"] == [["Panel title", "a legend over the title"]]
