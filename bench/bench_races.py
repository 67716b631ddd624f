"""Eight-way races on PostgreSQL (issue #11): ROUNDS rounds of eight concurrent
``rct data amend`` of one cell, then eight identical concurrent imports.

For each round it checks: no traceback, every process exits 0, every amendment reports
that it was stored and the cell's versions are consecutive; of the identical imports
exactly one is stored and the others say "already imported". Prints the tally and the time
per round. Needs ``RCT_TEST_POSTGRES_URL`` (a server where databases may be created).

Run from the repository root: ``python bench/bench_races.py [ROUNDS]`` (default 20).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import _create_pg_database, _drop_pg_database  # noqa: E402
from tests.rct.capture_helpers import return_csv  # noqa: E402
from tests.rct.test_races import CELL, PROCESSES, race, versions  # noqa: E402
from tests.signing import use_test_keys  # noqa: E402


def setup(url: str) -> None:
    from protocols import load_protocol, shipped_protocol_path
    from rct import protocols as store
    from rct.initialise import initialise
    from rct.users import add_user
    from rct.workspace import Workspace

    path = shipped_protocol_path()
    initialise(url, "ann", load_protocol(path), str(path))
    ws = Workspace(url, "ann")
    add_user(ws, "sam", "statistician")
    ws.close()
    ws = Workspace(url, "sam")
    store.lock(ws)
    ws.close()


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    keys_dir = Path(tempfile.mkdtemp(prefix="rct-bench-keys-"))
    use_test_keys(keys_dir)  # every change is signed: the racing users need their keys
    url, name = _create_pg_database()
    tally = {"rounds_clean": 0, "tracebacks": 0, "nonzero_exits": 0, "bad_versions": 0}
    try:
        setup(url)
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp)
            base = d / "base.csv"
            base.write_bytes(return_csv([(*CELL, 0)]))
            race(url, [base], "import")
            for r in range(rounds):
                start = time.perf_counter()
                files = []
                for k in range(PROCESSES):
                    f = d / f"r{r}_{k}.csv"
                    f.write_bytes(return_csv([(*CELL, 1000 + r * PROCESSES + k)]))
                    files.append(f)
                results = race(url, files, "amend", "--reason", f"round {r}")
                same = d / f"same{r}.csv"
                same.write_bytes(return_csv([("enfield", *PAIRS[r], r)]))
                results_imp = race(url, [same] * PROCESSES, "import")
                tb = sum("Traceback" in e for _c, _o, e in results + results_imp)
                nz = sum(c != 0 for c, _o, _e in results + results_imp)
                stored = sum("stored as submission" in o for _c, o, _e in results)
                once = sum("stored as submission" in o for _c, o, _e in results_imp)
                already = sum("already imported" in o for _c, o, _e in results_imp)
                vs = [v for v, _ in versions(url)]
                ok_versions = vs == list(range(1, len(vs) + 1)) and len(vs) == 1 + PROCESSES * (
                    r + 1
                )
                clean = (
                    not tb
                    and not nz
                    and stored == PROCESSES
                    and once == 1
                    and already == PROCESSES - 1
                    and ok_versions
                )
                tally["tracebacks"] += tb
                tally["nonzero_exits"] += nz
                tally["bad_versions"] += not ok_versions
                tally["rounds_clean"] += clean
                print(
                    f"round {r + 1}/{rounds}: {'clean' if clean else 'NOT CLEAN'} "
                    f"({time.perf_counter() - start:.1f} s)",
                    flush=True,
                )
    finally:
        _drop_pg_database(name)
    print(f"{tally['rounds_clean']} of {rounds} eight-way rounds clean; {tally}")
    return 0 if tally["rounds_clean"] == rounds else 1


#: a distinct (period, indicator) per round for the identical imports
PAIRS = [
    (f"{y}-Q{q}", i)
    for i in ("da_re_referrals", "cp_plans_with_da", "da_referral_at_intake")
    for y in (2025, 2026)
    for q in (1, 2, 3, 4)
]


if __name__ == "__main__":
    raise SystemExit(main())
