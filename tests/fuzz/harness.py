"""Running one hostile input through the real ``rct`` entry point and judging the outcome.

Every case must end in exactly one of two ways (issue #11):

* exit 0 and every cell of the file stored exactly (checked against an independent
  reading: Python's csv module or openpyxl), or
* a non-zero exit with an ``Error:`` line and a byte-identical database.

Anything else is counted: a traceback (an exception escaping ``main``), a partial write
(the database changed although the command failed) or a silent loss (accepted, but a
cell of the file is missing or differs in the database).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import io
import shutil
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from tests.fuzz.oracle import etree_rows, openpyxl_rows
from tests.fuzz.strategies import PROTOCOL

OUTCOMES = ("accepted", "rejected", "traceback", "partial_write", "silent_loss")


def _cli(*args: str) -> tuple[int, str, str | None]:
    """(exit code, stderr, traceback text or None) of ``rct ARGS`` run in this process."""
    from rct.cli import main

    err, out = io.StringIO(), io.StringIO()
    code, tb = 0, None
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:  # noqa: BLE001 - exactly what the harness counts
            code, tb = 1, traceback.format_exc()
    return code, err.getvalue(), tb


def _files_digest(db: Path) -> str:
    h = hashlib.sha256()
    for suffix in ("", "-wal", "-journal"):
        p = Path(f"{db}{suffix}")
        if p.exists():
            h.update(suffix.encode() + p.read_bytes())
    return h.hexdigest()


def _expected_cells(name: str, data: bytes) -> tuple[dict[tuple[str, str, str], float], str]:
    """What an accepted file says, read independently of :mod:`rct.capture`, and which
    reader said it (``csv``, ``openpyxl``, or ``etree`` where openpyxl fails on a part
    that holds no cells: see :mod:`tests.fuzz.oracle`)."""
    units: dict[str, str] = {}
    for u in PROTOCOL.units:
        for k in (u.id, u.gss_code, u.name):
            units.setdefault(k, u.id)
    if name.endswith(".xlsx"):
        try:
            rows, reader = openpyxl_rows(data), "openpyxl"
        except Exception:  # noqa: BLE001 - openpyxl refuses a part the cells do not need
            rows, reader = etree_rows(data), "etree"
        sep = ","
    else:
        reader = "csv"
        if data.startswith(b"\xef\xbb\xbf"):
            textual = data[3:].decode("utf-8")
        elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
            textual = data.decode("utf-16")
        else:
            try:
                textual = data.decode("utf-8")
            except UnicodeDecodeError:
                textual = data.decode("cp1252")
        first = textual.split("\n", 1)[0]
        sep = max([",", ";", "\t"], key=first.count)
        rows = [list(r) for r in csv.reader(io.StringIO(textual, newline=""), delimiter=sep)]
    header = ["_".join(str(h or "").strip().lower().split()) for h in rows[0]]
    out: dict[tuple[str, str, str], float] = {}
    for r in rows[1:]:
        cells = {h: ("" if v is None else str(v).strip()) for h, v in zip(header, r)}
        if not any(cells.values()):
            continue
        value = cells["value"]
        if sep == ";" and value.count(",") == 1:
            value = value.replace(",", ".")
        out[(units[cells["borough"]], cells["period"], cells["indicator"])] = float(value)
    return out, reader


class ReturnsRig:
    """A pristine trial database (SQLite) copied afresh for every case."""

    def __init__(self, workdir: Path) -> None:
        from protocols import shipped_protocol_path
        from rct import protocols as store
        from rct.initialise import initialise
        from rct.users import add_user
        from rct.workspace import Workspace

        self.dir = workdir
        self.pristine = workdir / "pristine.db"
        url = f"sqlite:///{self.pristine}"
        initialise(url, "ann", PROTOCOL, str(shipped_protocol_path()))
        ws = Workspace(url, "ann")
        add_user(ws, "sam", "statistician")
        ws.close()
        ws = Workspace(url, "sam")
        store.lock(ws)
        ws.close()
        self.tally: Counter[str] = Counter()
        self.examples: dict[str, list[str]] = {}
        #: accepted files by the independent reader that confirmed them
        self.judged_by: Counter[str] = Counter()

    def run(self, name: str, data: bytes) -> str:
        db = self.dir / "case.db"
        for suffix in ("-wal", "-journal"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(self.pristine, db)
        before = _files_digest(db)
        path = self.dir / name
        path.write_bytes(data)
        code, err, tb = _cli("--db", f"sqlite:///{db}", "--as", "sam", "data", "import", str(path))
        outcome, detail = self._judge(name, data, db, before, code, err, tb)
        self.tally[outcome] += 1
        if outcome not in ("accepted", "rejected"):
            self.examples.setdefault(outcome, []).append(f"{detail} <- {data[:300]!r}")
        return outcome

    def _judge(
        self, name: str, data: bytes, db: Path, before: str, code: int, err: str, tb: str | None
    ) -> tuple[str, str]:
        if tb is not None:
            return "traceback", tb.strip().splitlines()[-1]
        if code != 0:
            if not any(line.startswith("Error:") for line in err.splitlines()):
                return "traceback", f"exit {code} without an Error: line: {err[:200]}"
            if _files_digest(db) != before:
                return "partial_write", err.strip().splitlines()[0]
            return "rejected", ""
        stored = _stored(db)
        try:
            expected, reader = _expected_cells(name, data)
        except Exception as exc:  # noqa: BLE001 - an accepted file the oracle cannot read
            return "silent_loss", f"accepted, but the independent readers fail: {exc!r}"
        if stored != expected:
            return "silent_loss", f"stored {stored} but the file says {expected} ({reader})"
        self.judged_by[reader] += 1
        return "accepted", ""


def _stored(db: Path) -> dict[tuple[str, str, str], float]:
    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT unit_id, period, indicator, value FROM indicator_values")
            )
            return {(u, p, i): float(v) for u, p, i, v in rows}
    finally:
        engine.dispose()


class ProtocolRig:
    """``rct protocol validate`` on a file, and for an accepted one the computations that
    completeness, ``allocate plan`` and the fingerprint make later."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.tally: Counter[str] = Counter()
        self.examples: dict[str, list[str]] = {}

    def run(self, toml: str) -> str:
        path = self.dir / "protocol.toml"
        path.write_text(toml, encoding="utf-8")
        code, err, tb = _cli("protocol", "validate", str(path))
        detail = ""
        if tb is not None:
            outcome, detail = "traceback", tb.strip().splitlines()[-1]
        elif code != 0:
            ok = any(line.startswith("Error:") for line in err.splitlines())
            outcome = "rejected" if ok else "traceback"
            detail = "" if ok else err[:200]
        else:
            outcome, detail = _downstream(toml)
        self.tally[outcome] += 1
        if outcome not in ("accepted", "rejected"):
            self.examples.setdefault(outcome, []).append(detail)
        return outcome


def _downstream(toml: str) -> tuple[str, str]:
    """Whether what later commands compute from an accepted protocol works."""
    from protocols import loads_protocol
    from rct.allocation.design import space_for_protocol
    from rct.capture.completeness import compute_completeness

    try:
        p = loads_protocol(toml)
        p.fingerprint()
        p.units_fingerprint()
        compute_completeness(p, {}, {}, dt.date(2030, 1, 1))
        if len(p.units) <= 12:
            space_for_protocol(p)
    except Exception as exc:  # noqa: BLE001 - a crash after validation said "fine"
        return "traceback", f"validated, then {type(exc).__name__}: {exc}"
    return "accepted", ""


def summary(tally: Counter[str]) -> dict[str, Any]:
    return {k: tally.get(k, 0) for k in OUTCOMES}
