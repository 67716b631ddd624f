"""Benchmark: the operating-characteristics run's speed-up from 1 to 2 (or more) workers.

Runs the same ``rct design check`` workload (the shipped protocol's primary analysis under
its primary and supportive inference methods, the reference and trend scenarios of the
default grid, null and target: four scenarios) with 1 worker and then with 2 (or the
numbers given), times each run, checks that the results are identical, and prints the
speed-up against the 1-worker run measured in the same process.

Expected speed-up on 16 cores: close to 16 x the per-core rate, less a fixed cost. Each
simulated trial is an independent task of a few tenths of a second (simulate, build the
frame, fit) with no shared state: the work sent per chunk is the plan (a few kB), the
result a few hundred bytes, so communication is negligible and the parallel part scales
linearly with workers. What does not scale is the start of the worker processes (each
imports numpy, scipy, pandas and statsmodels: about 1-2 s, paid once per worker, in
parallel) and the last chunk's tail (chunks are at most 8 trials, so the idle tail is at
most one chunk per worker). With T trials of t seconds on W workers the run takes about
``s + T t / W + c t`` (``s`` start-up, ``c`` <= 8): for the default grid (16 scenarios x 100
trials, t = 0.3 s) that is 480 s on one worker and about 2 + 30 + 2.4 = 34 s on 16, a
speed-up of about 14. On this shared 2-core machine the measured figure also depends on
what else is running; a speed-up near 2 needs both cores idle.

Run: ``python bench/bench_design_workers.py [SIMULATIONS] [WORKERS ...]`` (default 12 and 2)
"""

from __future__ import annotations

import sys
import time

from analysis.sap.operating import OperatingPlan, run_simulations
from analysis.sap.scenarios import default_grid
from protocols import load_protocol, shipped_protocol_path
from rct.allocation.design import space_for_protocol


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 12
    counts = [int(x) for x in sys.argv[2:]] or [2]
    protocol = load_protocol(shipped_protocol_path())
    primary = next(a for a in protocol.analyses if a.role == "primary")
    space = space_for_protocol(protocol)
    plan = OperatingPlan.build(
        protocol,
        default_grid(names=["reference", "trend"]),
        space.schemes.astype("int64"),
        space.unit_ids,
        selection=((primary.name, primary.inference),),
        seed=7,
    )
    trials = n * len(plan.scenarios)
    t0 = time.perf_counter()
    base = run_simulations(plan, n, workers=1)
    one = time.perf_counter() - t0
    print(
        f"{trials} simulated trials ({primary.name}: {', '.join(primary.inference)}; "
        f"{len(plan.scenarios)} scenarios)"
    )
    print(f"1 worker : {one:7.1f} s  ({trials / one:.2f} trials/s)  speed-up 1.00")
    identical = True
    for w in counts:
        t0 = time.perf_counter()
        other = run_simulations(plan, n, workers=w)
        sec = time.perf_counter() - t0
        same = repr(other) == repr(base)
        identical &= same
        print(
            f"{w} workers: {sec:7.1f} s  ({trials / sec:.2f} trials/s)  speed-up "
            f"{one / sec:.2f}  results identical: {'yes' if same else 'NO'}"
        )
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
