"""Benchmark-style check: the shipped primary analysis keeps its size over the default grid.

Runs ``rct design check``'s engine on the shipped protocol for the primary analysis under
its primary inference only, with SIMULATIONS (default 1000) simulated trials in every
*null* scenario of the default grid (reference, high ICC, borough trends, strong borough
trends, borough x quarter, borough x phase, overdispersion, missing returns as in the
partnership data), allocations drawn from the protocol's admissible scheme space. Prints
per scenario the type I error with its Monte Carlo SE, the flag threshold
``alpha + 2 sqrt(alpha (1 - alpha) / n)`` and PASS/FAIL, and exits 1 if any scenario fails.

This is slow (a few tenths of a second per simulated trial and worker), so it is not a
test. It keeps a checkpoint (``bench-design-size.jsonl`` in the working directory, or
the third argument): interrupt it and run it again to resume.

Run: ``python bench/bench_design_size.py [SIMULATIONS] [WORKERS] [CHECKPOINT]``
"""

from __future__ import annotations

import sys
import time

from analysis.sap.characteristics import characteristics
from analysis.sap.operating import OperatingPlan, run_key, run_simulations
from analysis.sap.scenarios import default_grid
from protocols import load_protocol, shipped_protocol_path
from rct.allocation.design import space_for_protocol
from rct.design_check import Checkpoint


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else None
    path = sys.argv[3] if len(sys.argv) > 3 else "bench-design-size.jsonl"
    protocol = load_protocol(shipped_protocol_path())
    primary = next(a for a in protocol.analyses if a.role == "primary")
    method = primary.deciding_inference
    nulls = tuple(s for s in default_grid() if s.name.endswith("/null"))
    space = space_for_protocol(protocol)
    plan = OperatingPlan.build(
        protocol,
        nulls,
        space.schemes.astype("int64"),
        space.unit_ids,
        selection=((primary.name, (method,)),),
        seed=20261130,
    )
    store = Checkpoint(path, run_key(plan))
    had = len(store.records)
    t0 = time.perf_counter()
    try:
        records = run_simulations(
            plan, n, workers=workers, done=store.records, on_record=store.append
        )
    finally:
        store.close()
    seconds = time.perf_counter() - t0
    result = characteristics(plan, records)
    print(
        f"{primary.name} / {method} (primary inference): {n} simulated trials per null "
        f"scenario, {len(space.schemes)} admissible schemes, alpha {result.alpha:g}; "
        f"{len(records) - had} simulated in {seconds:.0f} s ({had} from the checkpoint)"
    )
    print(f"{'scenario':<18} {'type I':>7} {'MC SE':>6} {'limit':>6} {'failed':>6}  verdict")
    bad = 0
    for r in result.rows:
        ok = not r.anti_conservative and r.fitted > 0
        bad += not ok
        print(
            f"{r.scenario.split('/')[0]:<18} {r.rejection_rate:>7.2%} {r.mc_se:>6.2%} "
            f"{(r.threshold or 0):>6.2%} {r.failed:>6}  {'PASS' if ok else 'FAIL'}"
        )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
