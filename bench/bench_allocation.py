"""Benchmark: scoring every scheme of n clusters (half treated, six covariates).

Prints schemes per second of ``allocation.build_scheme_space`` and of a straightforward
numpy baseline (``itertools.combinations`` -> full 0/1 matrix -> one matrix product),
both measured in this run, and their ratio. Run: ``python bench/bench_allocation.py``.
"""

from __future__ import annotations

import itertools
import math
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


def main() -> None:
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


if __name__ == "__main__":
    main()
