"""Files on disk (issue #11): the database and the envelope are owner-only; a long command
killed half-way leaves nothing behind once the same command starts again."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from rct.allocation import sealing
from rct.evaluation.bundle import export_bundle
from rct.workspace import Workspace

Make = Callable[[str], Workspace]
ROOT = Path(__file__).resolve().parents[2]
PASS = "correct horse battery staple"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_sqlite_database_is_created_owner_only(tmp_path: Path) -> None:
    from protocols import load_protocol, shipped_protocol_path
    from rct.initialise import initialise

    old = os.umask(0o022)
    try:
        path = shipped_protocol_path()
        initialise(f"sqlite:///{tmp_path / 'rct.db'}", "ann", load_protocol(path), str(path))
    finally:
        os.umask(old)
    assert mode(tmp_path / "rct.db") == 0o600


def test_envelope_is_written_owner_only(workspace_as: Make, tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        sealing.seal(workspace_as("sam"), PASS, tmp_path / "env.json")
    finally:
        os.umask(old)
    assert mode(tmp_path / "env.json") == 0o600


def test_leftovers_of_dead_processes_are_swept_at_the_next_start(
    workspace_as: Make, tmp_path: Path
) -> None:
    out = tmp_path / "out"  # the SQLite database lives in tmp_path
    out.mkdir()
    gone = dead_pid()
    (out / f"env.json.tmp{gone}").write_text("half an envelope")
    (out / f".bundle-{gone}-abc123").mkdir()
    (out / f".bundle-{gone}-abc123" / "manifest.json").write_text("{}")
    running = out / f"env.json.tmp{os.getppid()}"  # a live process's file is kept
    running.write_text("in progress")
    ws = workspace_as("sam")
    sealing.seal(ws, PASS, out / "env.json")
    export_bundle(ws, out / "bundle")
    left = sorted(p.name for p in out.iterdir())
    assert left == sorted(["bundle", "env.json", running.name])


SLOW_SEAL = """
import sys, time
from pathlib import Path
import rct.allocation.sealing as a
from rct.workspace import Workspace

real = a.write_private
def slow(path, text):
    real(path, text)
    print("written", flush=True)
    time.sleep(120)  # killed here, the temporary envelope on disk
a.write_private = slow
a.seal(Workspace(sys.argv[1], "sam"), "correct horse battery staple", Path(sys.argv[2]))
"""

SLOW_BUNDLE = """
import sys, time
from pathlib import Path
import rct.evaluation.bundle as b
from rct.workspace import Workspace

real = b._dump
def slow(path, data):
    real(path, data)
    print("written", flush=True)
    time.sleep(120)  # killed here, the half-written bundle directory on disk
b._dump = slow
b.export_bundle(Workspace(sys.argv[1], "sam"), Path(sys.argv[2]))
"""


def kill_when_written(script: str, *args: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "written", proc.stderr.read() if proc.stderr else ""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.1)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_killed_seal_and_bundle_leave_nothing_once_run_again(
    workspace_as: Make, tmp_path: Path
) -> None:
    ws = workspace_as("sam")
    out = tmp_path / "out"  # the SQLite database lives in tmp_path
    out.mkdir()
    kill_when_written(SLOW_SEAL, ws.url, str(out / "env.json"))
    assert [p.name for p in out.iterdir() if ".tmp" in p.name]  # the kill left one
    sealing.seal(ws, PASS, out / "env.json")
    kill_when_written(SLOW_BUNDLE, ws.url, str(out / "bundle"))
    assert [p.name for p in out.iterdir() if p.name.startswith(".bundle-")]
    export_bundle(ws, out / "bundle")
    assert sorted(p.name for p in out.iterdir()) == ["bundle", "env.json"]
