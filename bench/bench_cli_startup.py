"""How fast ``rct --help`` and ``rct completeness`` start, as ratios to a bare ``python -c pass``
in the same run.

Heavy libraries (pandas, statsmodels, scipy, SQLAlchemy) must load only in the commands that
need them, and no command that only reads imports Alembic or the migrations (the schema
revision is read from the migration files). This prints the ratios and which heavy modules
each command imported. ``rct completeness`` runs on a trial made for the purpose in a
temporary directory.

    python bench/bench_cli_startup.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAVY = ("pandas", "numpy", "scipy", "statsmodels", "sqlalchemy", "matplotlib", "cryptography")


def best_of(cmd: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def imported(args: list[str]) -> str:
    """The heavy modules (and Alembic) that ``rct ARGS`` leaves in ``sys.modules``."""
    probe = (
        "import sys; from rct.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY:' + ','.join(m for m in {HEAVY + ('alembic',)!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return out.stdout.rsplit("HEAVY:", 1)[-1].strip() or "none"


def make_trial(directory: Path) -> str:
    from protocols import load_protocol, shipped_protocol_path
    from rct.initialise import initialise
    from rct.keys import KeyStore

    url = f"sqlite:///{directory / 'rct.db'}"
    path = shipped_protocol_path()
    # The first admin's signing key lives in the scratch directory, under a bench passphrase.
    keys = KeyStore(directory / "keys", lambda _user: "bench only: startup timing key 2026")
    initialise(url, "ann", load_protocol(path), str(path), keys)
    return url


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = make_trial(Path(tmp))
        completeness = ["--db", url, "--as", "ann", "completeness"]
        bare = best_of([sys.executable, "-c", "pass"], args.repeat)
        helped = best_of([sys.executable, "-m", "rct", "--help"], args.repeat)
        comp = best_of([sys.executable, "-m", "rct", *completeness], args.repeat)
        print(f"python -c pass             median {bare * 1000:7.1f} ms")
        print(f"python -m rct --help       median {helped * 1000:7.1f} ms")
        print(f"python -m rct completeness median {comp * 1000:7.1f} ms")
        print(f"ratio rct --help / bare python:       {helped / bare:.2f}")
        print(f"ratio rct completeness / bare python: {comp / bare:.2f}")
        print(f"heavy modules imported by --help:       {imported(['--help'])}")
        print(f"heavy modules imported by completeness: {imported(completeness)}")


if __name__ == "__main__":
    main()
