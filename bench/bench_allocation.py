"""Benchmark the allocation engine; every figure is measured in this run.

1. Scoring every scheme of n clusters (half treated, six covariates): schemes per second of
   ``allocation.build_scheme_space`` against a straightforward numpy baseline
   (``itertools.combinations`` -> full 0/1 matrix -> one matrix product).
2. Allocation at larger n (issue #15 item 3), each against its baseline in the same run:
   * the stream: 800,000 ``randbelow`` draws, vectorised versus one call at a time;
   * sampling 50,000 schemes at n = 30: the vectorised sampler versus the specification
     run call by call (identical schemes and bytes, checked here);
   * the co-assignment matrix: one single-threaded product versus the former two float64
     products on the default BLAS threads;
   * ``allocate plan --exact`` at n = 30: every one of C(30,15) = 155,117,520 schemes
     enumerated, scored, cut and diagnosed, versus the default sampled plan.
   Targets: sampling under 1 s, the exact plan under 60 s on 2 cores.

Run: ``python bench/bench_allocation.py`` (``--skip-exact`` leaves out the minute-long
exact plan). R's cvcrand is not timed: it has no sampler or exact enumeration at this size.
"""

from __future__ import annotations

import argparse
import itertools
import math
import resource
import time
from collections.abc import Callable
from functools import partial

import numpy as np
import pandas as pd

from allocation import AllocationDesign, build_scheme_space

COVARIATES = tuple(f"x{i}" for i in range(6))


def units(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(n)  # benchmark data only
    return pd.DataFrame(
        rng.normal(size=(n, 6)), columns=list(COVARIATES), index=[f"u{i:02d}" for i in range(n)]
    )


def baseline(table: pd.DataFrame, k: int) -> np.ndarray:
    x = table.to_numpy()
    z = (x - x.mean(axis=0)) / x.std(axis=0, ddof=1)
    n = len(table)
    combos = np.array(list(itertools.combinations(range(n), k)), dtype=np.intp)
    pmt = np.zeros((len(combos), n))
    pmt[np.arange(len(combos))[:, None], combos] = 1.0
    scores: np.ndarray = ((pmt @ z) ** 2).sum(axis=1)
    return scores


CPU: dict[int, float] = {}


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Best wall-clock time of ``repeat`` runs; the CPU time of that run goes to ``CPU``.

    On a shared machine the wall clock measures the queue as much as the code; the
    process's CPU time is what the same run would take on an idle core.
    """
    best, cpu = math.inf, math.inf
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall = time.perf_counter() - start
        if wall < best:
            best, cpu = wall, time.process_time() - start_cpu
    CPU[id(fn)] = cpu
    return best


def cpu_of(fn: Callable[[], object]) -> float:
    return CPU[id(fn)]


def line(what: str, ours: float, base: float, ours_cpu: float, base_cpu: float) -> None:
    print(
        f"{what:<48} {ours:>9.3f} s {base:>9.3f} s {base / ours:>7.1f}x"
        f" | cpu {ours_cpu:>8.3f} s {base_cpu:>8.3f} s {base_cpu / ours_cpu:>7.1f}x"
    )


def compare(
    what: str,
    ours: Callable[[], object],
    base: Callable[[], object],
    repeat_ours: int,
    repeat_base: int,
) -> None:
    o, b = timed(ours, repeat_ours), timed(base, repeat_base)
    line(what, o, b, cpu_of(ours), cpu_of(base))


def larger_n(skip_exact: bool) -> None:
    import os

    from allocation.diagnostics import coassignment, diagnose
    from allocation.enumeration import sample_space, strata_plan
    from allocation.stream import RandomStream

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nmachine: {os.cpu_count()} cores, load average {load} (absolute times scale with it)")
    print(
        f"{'allocation at larger n (wall clock | process CPU)':<48} {'ours':>11} {'baseline':>11}"
        f" {'ratio':>8} | cpu {'ours':>10} {'baseline':>10} {'ratio':>8}"
    )
    seed = bytes(range(32))

    def draws_fast() -> None:
        RandomStream(seed, "bench").randbelow_array(30, 800_000)

    def draws_slow() -> None:
        s = RandomStream(seed, "bench")
        for _ in range(800_000):
            s.randbelow(30)

    fast = RandomStream(seed, "bench").randbelow_array(30, 1000).tolist()
    slow_stream = RandomStream(seed, "bench")
    assert fast == [slow_stream.randbelow(30) for _ in range(1000)]
    compare("800,000 randbelow(30) draws", draws_fast, draws_slow, 3, 1)

    plan = strata_plan(None, 30, 15)
    a = sample_space(plan, 50_000, RandomStream(seed, "scheme-sample"))
    b = sample_space(plan, 50_000, RandomStream(seed, "scheme-sample"), fast=False)
    assert np.array_equal(a, b), "the vectorised sampler must match the specification"
    compare(
        "sample 50,000 schemes at n = 30 (target < 1 s)",
        lambda: sample_space(plan, 50_000, RandomStream(seed, "scheme-sample")),
        lambda: sample_space(plan, 50_000, RandomStream(seed, "scheme-sample"), fast=False),
        3,
        1,
    )

    table = units(30)[["x0", "x1", "x2"]]
    design = AllocationDesign(n_treated=15, covariates=("x0", "x1", "x2"))
    space = build_scheme_space(table, design)

    def two_products() -> np.ndarray:
        x = space.schemes.astype(np.float64)
        return (x.T @ x + (1 - x).T @ (1 - x)) / space.admissible

    assert np.array_equal(coassignment(space), two_products())
    compare(
        "co-assignment, 50,000 schemes x 30 units", lambda: coassignment(space), two_products, 3, 3
    )
    if skip_exact:
        return
    exact = AllocationDesign(
        n_treated=15, covariates=("x0", "x1", "x2"), cutoff_quantile=0.1, max_enumerate=2**62
    )
    t, t_cpu = time.perf_counter(), time.process_time()
    full = build_scheme_space(table, exact)
    built, built_cpu = time.perf_counter() - t, time.process_time() - t_cpu
    diagnose(full, table, exact)
    total, total_cpu = time.perf_counter() - t, time.process_time() - t_cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(
        f"plan --exact, C(30,15), cutoff 0.1 (target < 60 s): {total:.1f} s wall, "
        f"{total_cpu:.1f} s CPU ({total_cpu / 60:.2f} of the 60 s target); "
        f"{full.evaluated:,} schemes enumerated and scored in {built:.1f} s wall / "
        f"{built_cpu:.1f} s CPU, {full.admissible:,} admissible, diagnosed in "
        f"{total - built:.1f} s wall / {total_cpu - built_cpu:.1f} s CPU; peak memory {peak:.1f} GiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="allocation benchmarks")
    parser.add_argument("--skip-exact", action="store_true", help="leave out the exact plan")
    args = parser.parse_args()
    print(f"{'n':>4} {'schemes':>10} {'ours/s':>14} {'baseline/s':>14} {'ratio':>8}")
    for n in (16, 20, 24):
        table = units(n)
        design = AllocationDesign(n_treated=n // 2, covariates=COVARIATES, cutoff_quantile=0.1)
        count = math.comb(n, n // 2)
        ours = timed(partial(build_scheme_space, table, design), 3)
        base = timed(partial(baseline, table, n // 2), 1 if n == 24 else 2)
        check = build_scheme_space(table, design).all_scores
        assert (
            np.allclose(np.sort(check), np.sort(baseline(table, n // 2)), rtol=1e-8)
            if n < 24
            else True
        )
        print(
            f"{n:>4} {count:>10,} {count / ours:>14,.0f} {count / base:>14,.0f} {base / ours:>8.1f}x"
        )
    larger_n(args.skip_exact)


if __name__ == "__main__":
    main()
