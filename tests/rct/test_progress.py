"""The one progress bar (rct.cli.progress): counts, elapsed and time left at a terminal;
silent under --json and off a terminal."""

from __future__ import annotations

import sys

import pytest

import rct.cli.progress as progress


def test_step_bar_counts_and_shows_elapsed_and_time_left(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    with progress.progress_bar(4, "Simulating trials") as advance:
        for _ in range(4):
            advance(1)
    err = capsys.readouterr().err
    assert "Simulating trials: 100%" in err and "4/4" in err
    assert "elapsed" in err and "left" in err


def test_total_bar_follows_absolute_progress(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    with progress.progress_to_total("Storing records") as step:
        step(500, 2000)
        step(2000, 2000)
    err = capsys.readouterr().err
    assert "Storing records: 100%" in err and "2000/2000" in err


@pytest.mark.parametrize("tty", [True, False])
def test_no_bar_under_json_or_off_a_terminal(
    tty: bool, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: tty)
    with progress.progress_bar(3, "Quiet", as_json=tty) as advance:
        advance(3)
    with progress.progress_to_total("Quiet too", as_json=tty) as step:
        step(3, 3)
    assert capsys.readouterr().err == ""


PTY_PROBE = """
from rct.cli.progress import progress_bar
with progress_bar(3, "Simulating trials") as advance:
    for _ in range(3):
        advance(1)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_bar_is_drawn_at_a_terminal_that_reports_no_width() -> None:
    # A pseudo-terminal opened by a program reports 0 x 0; tqdm then drew an empty line.
    import os
    import pty
    import subprocess

    leader, follower = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-c", PTY_PROBE], stderr=follower, stdout=subprocess.DEVNULL
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                data = os.read(leader, 4096)
            except OSError:  # EIO: the child side is closed and everything was read
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(leader)
    assert proc.returncode == 0
    assert "Simulating trials: 100%" in b"".join(chunks).decode(errors="replace")
