"""A process killed in the middle of a large import leaves the database as it was (a real
subprocess, SIGKILL while its transaction holds inserted rows), on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from rct.capture.children_store import submit_children
from rct.capture.settings import set_child_records
from rct.workspace import Workspace
from tests.rct.capture_helpers import count, snapshot

Make = Callable[[str], Workspace]
ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import sys, time
from rct.capture.children_store import submit_children
from rct.workspace import Workspace

def progress(done, total):
    print(f"inserted {done} of {total}", flush=True)
    time.sleep(120)  # killed here, with rows inserted and the transaction open

submit_children(Workspace(sys.argv[1], "sam"), sys.argv[2], progress=progress)
"""


def big_file(path: Path, n: int) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("borough,source_id,referral_date,da_at_intake\n")
        for i in range(n):
            fh.write(f"camden,SRC{i},2025-{1 + i % 12:02d}-{1 + i % 28:02d},yes\n")
    return path


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_sigkill_during_a_large_import_leaves_the_database_unchanged(
    workspace_as: Make, tmp_path: Path
) -> None:
    sam = workspace_as("sam")
    set_child_records(sam, True, "test")
    data = big_file(tmp_path / "big.csv", 120_000)
    before = snapshot(sam.url)
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, sam.url, str(data)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("inserted 50000"), (line, proc.stderr.read() if proc.stderr else "")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    assert proc.returncode == -signal.SIGKILL
    assert snapshot(sam.url) == before
    # and the database is usable: the same file now imports whole
    result = submit_children(workspace_as("sam"), str(data))
    assert result.stored and count(sam.url, "child_records") == 120_000
