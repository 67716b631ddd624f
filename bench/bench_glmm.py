"""Benchmark: GLMM fit time against a Poisson GLM fitted in the same run.

Prints, for a trial-sized dataset (7 boroughs x 12 quarters) and a large one (200
clusters x 12 quarters), the median wall-clock time of ``fit_glmm`` (Poisson, Laplace and
AGQ with 7 points) and its ratio to statsmodels' ``GLM(...).fit()`` on the same data, and
the power-simulation throughput (GLMM fits per second on freshly simulated trials).
Nothing is asserted: timings depend on the machine; the ratios are what to compare.

Run: ``python bench/bench_glmm.py``
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

import numpy as np
import pandas as pd
import statsmodels.api as sm

from analysis.glmm import fit_glmm


def simulate(n_clusters: int, rng: np.random.Generator) -> pd.DataFrame:
    arm = np.zeros(n_clusters, dtype=int)
    arm[rng.permutation(n_clusters)[: n_clusters * 3 // 7 or 1]] = 1
    pop = rng.integers(35_000, 95_000, size=n_clusters)
    u = rng.normal(0, 0.25, size=n_clusters)
    rows = []
    for c in range(n_clusters):
        for q in range(1, 13):
            post = int(q > 6)
            mu = pop[c] * 30e-4 * np.exp(u[c] + np.log(0.75) * arm[c] * post)
            rows.append((f"C{c:04d}", arm[c], post, arm[c] * post, pop[c], rng.poisson(mu)))
    return pd.DataFrame(rows, columns=["cluster", "arm", "post", "treat", "population", "count"])


def median_time(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def glm_baseline(data: pd.DataFrame) -> None:
    X = sm.add_constant(data[["arm", "post", "treat"]].to_numpy(dtype=float))
    sm.GLM(
        data["count"].to_numpy(), X, family=sm.families.Poisson(), offset=np.log(data["population"])
    ).fit()


def main() -> None:
    rng = np.random.default_rng(2026)
    formula = "count ~ arm + post + treat"
    print(f"{'dataset':<26}{'fit':<16}{'median s':>10}{'GLM s':>10}{'ratio':>10}")
    for n_clusters, repeats in ((7, 7), (200, 3)):
        data = simulate(n_clusters, rng)
        base = median_time(partial(glm_baseline, data), repeats)
        for nagq in (1, 7):
            t = median_time(
                partial(
                    fit_glmm,
                    data,
                    formula,
                    "cluster",
                    family="poisson",
                    exposure="population",
                    nagq=nagq,
                ),
                repeats,
            )
            label = f"{n_clusters} clusters x 12 q"
            print(f"{label:<26}{f'poisson agq{nagq}':<16}{t:>10.4f}{base:>10.4f}{t / base:>10.1f}")
    n_sim = 20
    trials = [simulate(7, rng) for _ in range(n_sim)]
    t0 = time.perf_counter()
    for d in trials:
        glm_baseline(d)
    glm_rate = n_sim / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for d in trials:
        fit_glmm(d, formula, "cluster", family="poisson", exposure="population", nagq=1)
    rate = n_sim / (time.perf_counter() - t0)
    print(
        f"power simulation: {rate:.1f} GLMM fits/s (GLM baseline {glm_rate:.1f} fits/s, ratio {glm_rate / rate:.1f})"
    )


if __name__ == "__main__":
    main()
