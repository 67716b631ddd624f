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
    return ((pmt @ z) ** 2).sum(axis=1)


def timed(fn: object, repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return best


def line(what: str, ours: float, base: float) -> None:
    print(f"{what:<48} {ours:>10.3f} s {base:>10.3f} s {base / ours:>8.1f}x")


def larger_n(skip_exact: bool) -> None:
    from allocation.diagnostics import coassignment, diagnose
    from allocation.enumeration import sample_space, strata_plan
    from allocation.stream import RandomStream

    import os

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nmachine: {os.cpu_count()} cores, load average {load} (absolute times scale with it)")
    print(f"{'allocation at larger n':<48} {'ours':>12} {'baseline':>12} {'speed-up':>9}")
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
    line("800,000 randbelow(30) draws", timed(draws_fast, 3), timed(draws_slow, 1))

    plan = strata_plan(None, 30, 15)
    a = sample_space(plan, 50_000, RandomStream(seed, "scheme-sample"))
    b = sample_space(plan, 50_000, RandomStream(seed, "scheme-sample"), fast=False)
    assert np.array_equal(a, b), "the vectorised sampler must match the specification"
    ours = timed(lambda: sample_space(plan, 50_000, RandomStream(seed, "scheme-sample")), 3)
    base = timed(
        lambda: sample_space(plan, 50_000, RandomStream(seed, "scheme-sample"), fast=False), 1
    )
    line("sample 50,000 schemes at n = 30 (target < 1 s)", ours, base)

    table = units(30)[["x0", "x1", "x2"]]
    design = AllocationDesign(n_treated=15, covariates=("x0", "x1", "x2"))
    space = build_scheme_space(table, design)

    def two_products() -> np.ndarray:
        x = space.schemes.astype(np.float64)
        return (x.T @ x + (1 - x).T @ (1 - x)) / space.admissible

    assert np.array_equal(coassignment(space), two_products())
    line(
        "co-assignment, 50,000 schemes x 30 units",
        timed(lambda: coassignment(space), 3),
        timed(two_products, 3),
    )
    t = time.perf_counter()
    diagnose(space, table, design)
    sampled_plan = time.perf_counter() - t + timed(lambda: build_scheme_space(table, design), 1)
    if skip_exact:
        return
    exact = AllocationDesign(
        n_treated=15, covariates=("x0", "x1", "x2"), cutoff_quantile=0.1, max_enumerate=2**62
    )
    t = time.perf_counter()
    full = build_scheme_space(table, exact)
    built = time.perf_counter() - t
    diagnose(full, table, exact)
    total = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    line("plan --exact, C(30,15), cutoff 0.1 (target < 60 s)", total, sampled_plan)
    print(
        f"  enumerated and scored {full.evaluated:,} schemes in {built:.1f} s, "
        f"{full.admissible:,} admissible, diagnosed in {total - built:.1f} s, "
        f"peak memory {peak:.1f} GiB (baseline column: the default sampled plan)"
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
        ours = timed(lambda t=table, d=design: build_scheme_space(t, d), 3)
        base = timed(lambda t=table, k=n // 2: baseline(t, k), 1 if n == 24 else 2)
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
