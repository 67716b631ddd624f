"""Benchmark: ``rct demo`` and ``rct analyse run`` on the demo's data, end to end.

Runs ``rct demo`` into a temporary directory, then ``rct analyse run`` (as the demo's
statistician) on the trial it created, each as a fresh process, and prints the wall-clock
time and the CPU time of each (user + system of the child process). On a shared machine
the CPU time is the steadier figure; the issue's targets (#15) are wall-clock on an idle
2-core machine: ``analyse run`` under 5 s, ``demo`` under 30 s. Nothing is asserted.

Run: ``python bench/bench_sap_run.py``
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one child process (which must succeed)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(
        args, cwd=cwd, check=True, capture_output=True, env={**os.environ, **(env or {})}
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    rct = [sys.executable, "-m", "rct"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        demo_wall, demo_cpu = timed([*rct, "demo", str(root / "demo")], root)
        # The run is a signed change: the demo's statistician opens their own key, which
        # the demo keeps in its directory under the demo passphrase (rct/demo.py).
        from rct.demo import DEMO_PASSPHRASE

        keys = {"RCT_KEY_DIR": str(root / "demo" / "keys"), "RCT_KEY_PASSPHRASE": DEMO_PASSPHRASE}
        run_wall, run_cpu = timed(
            [*rct, "--as", "demo-statistician", "analyse", "run", "-o", str(root / "results")],
            root / "demo",
            keys,
        )
    print(f"{'command':<22}{'wall s':>9}{'CPU s':>9}  target (wall, idle 2-core machine)")
    print(f"{'rct demo':<22}{demo_wall:9.1f}{demo_cpu:9.1f}  < 30 s")
    print(f"{'rct analyse run':<22}{run_wall:9.1f}{run_cpu:9.1f}  < 5 s")


if __name__ == "__main__":
    main()
