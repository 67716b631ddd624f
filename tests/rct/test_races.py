"""Concurrent writers (issue #11): eight processes amending one cell or importing one file
at once get the same outcome on PostgreSQL as on SQLite: no traceback, each process told
whether its change counted, the versions of the cell consecutive."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.rct.capture_helpers import return_csv

CELL = ("camden", "2025-Q1", "da_re_referrals")
PROCESSES = 8


def race(url: str, files: list[Path], verb: str, *extra: str) -> list[tuple[int, str, str]]:
    """Start one ``rct data VERB FILE`` per file at once; (exit code, out, err) of each."""
    env = {**os.environ, "RCT_DATABASE_URL": url, "RCT_USER": "sam"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "rct", "data", verb, str(f), *extra],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for f in files
    ]
    return [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in procs]  # type: ignore[union-attr]


def versions(url: str) -> list[tuple[int, float]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT version, value FROM indicator_values WHERE unit_id = :u AND "
                    "period = :p AND indicator = :i ORDER BY version"
                ),
                dict(zip("upi", CELL)),
            )
            return [(int(v), float(x)) for v, x in rows]
    finally:
        engine.dispose()


def assert_clean(results: list[tuple[int, str, str]]) -> None:
    for code, _out, err in results:
        assert "Traceback" not in err and "UniqueViolation" not in err, err
        assert code == 0, err


def test_eight_concurrent_amendments_serialise_and_identical_imports_store_once(
    trial_url: str, tmp_path: Path
) -> None:
    # one test (17 process starts) to keep the suite fast; bench/bench_races.py runs 20 rounds
    base = tmp_path / "base.csv"
    base.write_bytes(return_csv([(*CELL, 4)]))
    assert_clean(race(trial_url, [base], "import"))
    files = []
    for k in range(PROCESSES):
        f = tmp_path / f"amend{k}.csv"
        f.write_bytes(return_csv([(*CELL, 10 + k)]))
        files.append(f)
    results = race(trial_url, files, "amend", "--reason", "recount")
    assert_clean(results)
    assert all("stored as submission" in out for _c, out, _e in results)
    got = versions(trial_url)
    assert [v for v, _ in got] == list(range(1, PROCESSES + 2))
    assert sorted(x for _, x in got[1:]) == [10.0 + k for k in range(PROCESSES)]

    same = tmp_path / "same.csv"
    same.write_bytes(return_csv([("enfield", "2025-Q1", "da_re_referrals", 3)]))
    results = race(trial_url, [same] * PROCESSES, "import")
    assert_clean(results)
    outs = [out for _c, out, _e in results]
    assert sum("stored as submission" in o for o in outs) == 1
    assert sum("already imported" in o for o in outs) == PROCESSES - 1
