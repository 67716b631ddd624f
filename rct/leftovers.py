"""Files on disk that must not outlive or outshare their purpose (issue #11).

* The trial database and key material (the sealed envelope) are created readable by
  their owner only (0600): the database holds the pseudonymisation key.
* A long command writes to a temporary name that carries its process id
  (``allocation-envelope.json.tmp1234``, ``.bundle-1234-x7q``) and moves it into place at
  the end. If the process is killed first, the next start of the same command sweeps
  every such leftover whose process no longer runs.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

__all__ = ["create_private", "write_private", "sweep", "pid_alive", "PRIVATE_MODE"]

PRIVATE_MODE = 0o600


def create_private(path: str | Path) -> bool:
    """Create an empty ``path`` with mode 0600 unless it exists; True if created."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_MODE)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def write_private(path: str | Path, text: str) -> None:
    """Write ``text`` to a new file ``path`` readable by its owner only."""
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs (one of another user counts as running)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def sweep(directory: str | Path, pattern: str) -> list[Path]:
    """Remove the leftovers in ``directory`` whose names match ``pattern`` (a regular
    expression with a group ``pid``) and whose process is gone; returns what was removed."""
    rx = re.compile(pattern)
    removed: list[Path] = []
    try:
        entries = list(Path(directory).iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = rx.fullmatch(entry.name)
        if m is None or pid_alive(int(m.group("pid"))):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except OSError:
            continue
        removed.append(entry)
    return removed
