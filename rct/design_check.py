"""The checkpoint file of ``rct design check``: finished simulations, so a rerun skips them.

A JSON Lines file. The first line names the run (``{"run_key": ...}``, see
:func:`analysis.sap.operating.run_key`); each further line is one finished simulation
record, appended and flushed as soon as it arrives, so an interrupted run loses at most
the simulations that were in flight. On reading, a last line cut short by the interruption
is ignored. A file that belongs to another run (another protocol, scheme space, seed or
choice of analyses) is refused rather than silently mixed in or overwritten.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any

from analysis.sap.operating import SimulationRecord
from rct.errors import InputError

__all__ = ["Checkpoint"]


def _plain(value: Any) -> Any:
    if isinstance(value, float) and value != value:  # NaN
        return None
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class Checkpoint:
    """Finished simulations of one run, read from and appended to ``path``."""

    def __init__(self, path: str | Path, run_key: str) -> None:
        self.path = Path(path)
        self.run_key = run_key
        self.records: dict[tuple[str, int], SimulationRecord] = {}
        self._file: IO[str] | None = None
        if self.path.exists():
            self._read()

    def _read(self) -> None:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"checkpoint {self.path} cannot be read ({exc})") from None
        if not lines:
            return
        try:
            head = json.loads(lines[0])
        except json.JSONDecodeError:
            head = {}
        if not isinstance(head, dict) or head.get("run_key") != self.run_key:
            raise InputError(
                f"checkpoint {self.path} belongs to another design check (another protocol, "
                "scheme space, seed or choice of analyses); remove it or give another "
                "--checkpoint file"
            )
        for line in lines[1:]:
            try:
                rec = SimulationRecord.from_dict(json.loads(line))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError, IndexError):
                continue  # the line an interruption cut short
            self.records[(rec.scenario, rec.index)] = rec

    def append(self, record: SimulationRecord) -> None:
        """Write one finished simulation (and flush it to disk)."""
        if self._file is None:
            fresh = not self.path.exists() or self.path.stat().st_size == 0
            self._file = self.path.open("a", encoding="utf-8")
            if fresh:
                self._file.write(json.dumps({"run_key": self.run_key}) + "\n")
            elif not self.path.read_text(encoding="utf-8").endswith("\n"):
                self._file.write("\n")  # end the line an interruption cut short
        self._file.write(json.dumps(_plain(record.to_dict()), separators=(",", ":")) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        self.records[(record.scenario, record.index)] = record

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
