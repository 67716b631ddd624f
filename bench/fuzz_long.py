"""Long fuzz profile (issue #11): >= 10,000 mutated returns and >= 2,000 mutated protocols
through the real ``rct`` entry point, with the judge of ``tests/fuzz/harness.py``.

Prints, per kind, how many cases were accepted (every cell stored exactly), rejected
cleanly (``Error:`` line, byte-identical database), and how many ended in a traceback, a
partial write or a silent loss (all three should be 0), with the first few examples.

Run from the repository root: ``python bench/fuzz_long.py [--returns N] [--protocols N]``
(defaults 10,000 and 2,000; 0 skips a kind; a tally is printed every 250 cases).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402

from tests.fuzz.harness import ProtocolRig, ReturnsRig, summary  # noqa: E402
from tests.fuzz.strategies import hostile_protocols, hostile_returns  # noqa: E402
from tests.signing import use_test_keys  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--returns", type=int, default=10_000)
    ap.add_argument("--protocols", type=int, default=2_000)
    ap.add_argument("--every", type=int, default=250, help="print the tally every N cases")
    args = ap.parse_args()
    # every change is signed (issue #12): the users the rigs act as need their keys
    use_test_keys(Path(tempfile.mkdtemp(prefix="rct-fuzz-keys-")))

    def profile(n: int) -> settings:
        return settings(
            max_examples=max(n, 1),  # a kind given 0 is skipped below
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )

    report = {}
    started = time.perf_counter()

    def progress(kind: str, tally: Counter[str]) -> None:
        n = sum(tally.values())
        if n % args.every == 0:
            took = time.perf_counter() - started
            print(f"{kind}: {n} cases, {json.dumps(summary(tally))} ({took:.0f} s)", flush=True)

    with tempfile.TemporaryDirectory(prefix="rct-fuzz-") as tmp:
        returns, protocols = ReturnsRig(Path(tmp)), ProtocolRig(Path(tmp))

        @profile(args.returns)
        @given(case=hostile_returns())
        def run_returns(case: tuple[str, bytes]) -> None:
            returns.run(*case)
            progress("returns", returns.tally)

        @profile(args.protocols)
        @given(toml=hostile_protocols())
        def run_protocols(toml: str) -> None:
            protocols.run(toml)
            progress("protocols", protocols.tally)

        kinds: list[tuple[str, Callable[[], None], ReturnsRig | ProtocolRig]] = [
            ("returns", run_returns, returns),
            ("protocols", run_protocols, protocols),
        ]
        for name, fn, rig in [k for k in kinds if getattr(args, k[0])]:
            start = time.perf_counter()
            fn()
            report[name] = {
                "cases": sum(rig.tally.values()),
                **summary(rig.tally),
                "seconds": round(time.perf_counter() - start, 1),
                **(
                    {"accepted_judged_by": dict(rig.judged_by)}
                    if isinstance(rig, ReturnsRig)
                    else {}
                ),
                "examples": {k: v[:3] for k, v in rig.examples.items()},
            }
            print(name, json.dumps(report[name], indent=1), flush=True)
    bad = sum(r[k] for r in report.values() for k in ("traceback", "partial_write", "silent_loss"))
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
