"""How fast ``rct --help`` starts, as a ratio to a bare ``python -c pass`` in the same run.

Heavy libraries (pandas, statsmodels, scipy, SQLAlchemy) must load only in the commands that
need them; this prints the ratio and which heavy modules ``rct --help`` imported (none).

    python bench/bench_cli_startup.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

HEAVY = ("pandas", "numpy", "scipy", "statsmodels", "sqlalchemy", "matplotlib", "cryptography")


def best_of(cmd: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    bare = best_of([sys.executable, "-c", "pass"], args.repeat)
    rct = best_of([sys.executable, "-m", "rct", "--help"], args.repeat)
    probe = (
        "import sys; from rct.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    heavy = loaded.stdout.rsplit("HEAVY:", 1)[-1].strip()
    print(f"python -c pass      median {bare * 1000:7.1f} ms")
    print(f"python -m rct --help median {rct * 1000:7.1f} ms")
    print(f"ratio rct --help / bare python: {rct / bare:.2f}")
    print(f"heavy modules imported by --help: {heavy or 'none'}")


if __name__ == "__main__":
    main()
