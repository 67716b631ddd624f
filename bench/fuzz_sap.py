"""Long fuzz of the SAP runner: hostile mutations of simulated trial data through ``run_sap``.

The property of tests/analysis/test_sap_hostile.py (mixed mutations: zeros, missing
cells, identical, huge, duplicated, negative, fractional and infinite values, dropped
rows), run for many more examples, with the ICCs and test inversion on in some of them.
Each run is tallied as

* ``ok``: every method reported an effect with finite numbers (apart from those that
  fail on the unmutated data too: the primary GEE's 8 parameters on 7 clusters);
* ``failed-with-reason``: some other method, analysis or ICC reported failed, with its
  reason;
* ``refused``: the whole run refused with a DataError;
* ``bug``: any other exception, a breach of the invariants (NaN/inf stored as a number, a
  p-value outside [0, 1], an interval missing its estimate, "nan" in the summary) or a run
  over ``--slow`` seconds. The first few are printed.

Run from the repository root: ``python bench/fuzz_sap.py [--examples 500] [--seconds S]``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd  # noqa: E402
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.analysis.sap_hostile import judge  # noqa: E402
from tests.analysis.test_sap_hostile import PROTOCOL, SIMULATED, hostile_values  # noqa: E402
from tests.analysis.test_sap_runner import ARMS, SPACE, UNITS  # noqa: E402


class Hung(Exception):
    """A run over three times ``--slow``."""


def _hung(signum: int, frame: object) -> None:
    raise Hung("the run did not finish")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=500)
    ap.add_argument("--seconds", type=float, default=0, help="stop after this long (0: no limit)")
    ap.add_argument("--slow", type=float, default=60.0, help="a run longer than this is a bug")
    ap.add_argument("--every", type=int, default=25, help="print the tally every N runs")
    ap.add_argument(
        "--huge",
        action="store_true",
        help="also scale counts to about 1e9 and 1e15 (slow: the negative-binomial fit)",
    )
    args = ap.parse_args()
    tally: Counter[str] = Counter()
    bugs: list[str] = []
    clean = judge(PROTOCOL, SIMULATED[1], ARMS, SPACE, UNITS, icc=True, randomisation_ci=True)
    baseline = set(clean.failed)
    started = time.perf_counter()
    longest = 0.0

    factors = (1e3, 1e4, 1e9 / 300, 1e15 / 300) if args.huge else (1e3, 1e4)

    @settings(
        max_examples=args.examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(hostile_values(factors), st.booleans(), st.booleans())
    def run(values: pd.DataFrame, icc: bool, randomisation_ci: bool) -> None:
        nonlocal longest
        if args.seconds and time.perf_counter() - started > args.seconds:
            return
        t0 = time.perf_counter()
        # a run that hangs is stopped at 3 x --slow and counted as a bug
        signal.signal(signal.SIGALRM, _hung)
        signal.alarm(int(3 * args.slow))
        try:
            verdict = judge(
                PROTOCOL, values, ARMS, SPACE, UNITS, icc=icc, randomisation_ci=randomisation_ci
            )
        except Exception:  # every exception that is not a refusal is a bug
            signal.alarm(0)
            kind, detail = "bug", traceback.format_exc(limit=-3)
        else:
            signal.alarm(0)
            took = time.perf_counter() - t0
            if verdict.problems:
                kind, detail = "bug", "; ".join(verdict.problems)
            elif took > args.slow:
                kind, detail = "bug", f"took {took:.0f} s"
            elif verdict.refused:
                kind, detail = "refused", verdict.refused
            elif set(verdict.failed) - baseline:
                kind, detail = "failed-with-reason", ""
            else:
                kind, detail = "ok", ""
        longest = max(longest, time.perf_counter() - t0)
        tally[kind] += 1
        if kind == "bug" and len(bugs) < 5:
            bugs.append(detail)
        n = sum(tally.values())
        if n % args.every == 0:
            took = time.perf_counter() - started
            print(f"{n} runs: {dict(sorted(tally.items()))} ({took:.0f} s)", flush=True)

    run()
    took = time.perf_counter() - started
    print(f"total {sum(tally.values())} runs in {took:.0f} s (longest {longest:.1f} s):")
    for kind in ("ok", "failed-with-reason", "refused", "bug"):
        print(f"  {kind}: {tally[kind]}")
    for detail in bugs:
        print("--- bug:\n" + detail)
    return 1 if tally["bug"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
