"""Benchmark: ``rct demo`` and ``rct analyse run`` on the demo's data, end to end.

Runs ``rct demo`` into a temporary directory, then ``rct analyse run`` (as the demo's
statistician) on the trial it created, each as a fresh process, and prints the wall-clock
time and the CPU time of each (user + system of the child process). On a shared machine
the CPU time is the steadier figure; the issue's targets (#15) are wall-clock on an idle
2-core machine: ``analyse run`` under 5 s, ``demo`` under 30 s. Nothing is asserted.

With ``--baseline DIR`` (another checkout of the project, e.g. the main branch's) the same
two commands also run on that code (``PYTHONPATH=DIR``) in the same run, alternating with
this checkout's, and the CPU ratio of the two is printed: on a shared machine the ratio
measured side by side is the figure to compare, not the absolute times.

Run: ``python bench/bench_sap_run.py [--baseline DIR] [--repeat N]``
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


def measure(env: dict[str, str] | None = None) -> dict[str, tuple[float, float]]:
    """Wall-clock and CPU seconds of ``rct demo`` and then ``rct analyse run`` on its data."""
    rct = [sys.executable, "-m", "rct"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        demo = timed([*rct, "demo", str(root / "demo")], root, env)
        # The run is a signed change: the demo's statistician opens their own key, which
        # the demo keeps in its directory under the demo passphrase (rct/demo.py).
        from rct.demo import DEMO_PASSPHRASE

        keys = {"RCT_KEY_DIR": str(root / "demo" / "keys"), "RCT_KEY_PASSPHRASE": DEMO_PASSPHRASE}
        run = timed(
            [*rct, "--as", "demo-statistician", "analyse", "run", "-o", str(root / "results")],
            root / "demo",
            {**(env or {}), **keys},
        )
    return {"rct demo": demo, "rct analyse run": run}


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baseline", help="another checkout to time side by side")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each (default 1)")
    args = parser.parse_args()
    targets = {"rct demo": "< 30 s", "rct analyse run": "< 5 s"}
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{os.cpu_count()} cores, load average {load} at the start")
    ours: dict[str, list[tuple[float, float]]] = {k: [] for k in targets}
    base: dict[str, list[tuple[float, float]]] = {k: [] for k in targets}
    for _ in range(args.repeat):
        for name, t in measure().items():
            ours[name].append(t)
        if args.baseline:
            for name, t in measure({"PYTHONPATH": args.baseline}).items():
                base[name].append(t)
    print(f"{'command':<18}{'wall s':>9}{'CPU s':>9}  target (wall, idle 2-core machine)", end="")
    print(f"{'baseline CPU s':>16}{'CPU ratio':>11}" if args.baseline else "")
    for name, target in targets.items():
        wall = min(w for w, _ in ours[name])
        cpu = min(c for _, c in ours[name])
        line = f"{name:<18}{wall:9.1f}{cpu:9.1f}  {target:<34}"
        if args.baseline:
            b_cpu = min(c for _, c in base[name])
            line += f"{b_cpu:16.1f}{cpu / b_cpu:11.2f}"
        print(line)
    print(f"(minimum of {args.repeat} run(s) each; load average at the end ", end="")
    print(", ".join(f"{x:.1f}" for x in os.getloadavg()) + ")")


if __name__ == "__main__":
    main()
