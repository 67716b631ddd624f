"""The README's timings, measured and printed with the machine they were measured on.

Times ``rct demo`` (in a fresh directory) and the test suite as the README runs it
(``pytest -n 2``), each as wall-clock and as CPU time of the child processes, and prints
the machine: processors (``nproc``), CPU model and the load average before and after, since
on a shared machine the wall-clock time is mostly other people's work. The README's figures
are copied from this script's output, never estimated.

    python bench/bench_readme_timings.py                # both
    python bench/bench_readme_timings.py --only demo    # just the demo
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(label: str, cmd: list[str], cwd: Path) -> tuple[float, float, int]:
    """Run ``cmd``; return (wall seconds, CPU seconds of its process tree, exit code)."""
    cpu0, t0 = children_cpu(), time.perf_counter()
    rc = subprocess.run(
        cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    ).returncode
    wall, cpu = time.perf_counter() - t0, children_cpu() - cpu0
    print(f"{label:<22} wall {wall:8.1f} s   CPU {cpu:8.1f} s   exit {rc}", flush=True)
    return wall, cpu, rc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", choices=("demo", "tests"), default=None)
    args = ap.parse_args()
    print(
        f"machine: {os.cpu_count()} processors (nproc), {cpu_model()}; python {sys.version.split()[0]}"
    )
    print(f"load average before: {load()}", flush=True)
    rct = [sys.executable, "-m", "rct"]
    failed = 0
    if args.only in (None, "demo"):
        with tempfile.TemporaryDirectory() as tmp:
            failed |= timed("rct demo", [*rct, "demo", str(Path(tmp) / "demo")], ROOT)[2]
    if args.only in (None, "tests"):
        cmd = [sys.executable, "-m", "pytest", "-n", "2", "-q", "-p", "no:cacheprovider"]
        failed |= timed("pytest -n 2", cmd, ROOT)[2]
    print(f"load average after: {load()}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
