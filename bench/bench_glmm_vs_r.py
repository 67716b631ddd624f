"""Benchmark: the GLMM engine against lme4's glmer and glmmTMB, timed in the same run.

For each case the same simulated data are fitted here and, when ``Rscript`` with lme4 and
glmmTMB is on the PATH, in R; each side reports the minimum wall-clock time over its
repetitions (R's includes neither start-up nor reading the data) and the ratio
``rct / R`` is printed (below 1: faster than R), for wall-clock time and for CPU time
(user + system; less disturbed when other jobs share the machine). Without R the rct times are printed with
a note. The targets of issue #15 are printed next to each ratio. Nothing is asserted; the
machine is shared, so compare ratios, not seconds.

Cases: Poisson GLMM (population offset, borough random intercept) Laplace and AGQ 10 at
7 x 13 (the trial's size) and 50 x 100, Laplace at 200 x 500; logistic GLMM AGQ 12 at
7 x 300 and 100 x 300; negative binomial (glmmTMB nbinom2) at 7 x 13; random intercept +
borough x phase Poisson GLMM at 7 x 13 (glmer).

Run: ``python bench/bench_glmm_vs_r.py [--quick] [--only=TEXT]`` (``--quick`` skips
200 x 500 and 100 x 300; ``--only`` keeps the cases whose label contains TEXT).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.glmm import fit_glmm

R_SCRIPT = r"""
suppressMessages({library(lme4); library(glmmTMB); library(jsonlite)})
args <- commandArgs(TRUE)
d <- read.csv(args[1]); d$cluster <- factor(d$cluster)
kind <- args[2]; nagq <- as.integer(args[3]); reps <- as.integer(args[4])
fit <- switch(kind,
  poisson = function() glmer(y ~ arm + post + treat + offset(log(population)) + (1 | cluster),
                             data = d, family = poisson, nAGQ = nagq),
  binomial = function() glmer(y ~ arm + post + treat + (1 | cluster), data = d,
                              family = binomial, nAGQ = nagq),
  nb = function() glmmTMB(y ~ arm + post + treat + offset(log(population)) + (1 | cluster),
                          data = d, family = nbinom2),
  cp = function() glmer(y ~ arm + post + treat + offset(log(population)) + (1 | cluster) +
                          (1 | cluster:post), data = d, family = poisson))
times <- sapply(seq_len(reps), function(i) {
  st <- system.time(suppressWarnings(fit()))
  c(st[["elapsed"]], st[["user.self"]] + st[["sys.self"]])
})
cat(toJSON(list(min = min(times[1, ]), cpu = min(times[2, ]))), "\n")
"""


def counts(n_clusters: int, per_cluster: int, rng: np.random.Generator) -> pd.DataFrame:
    """Borough-quarter counts with a population offset; half the periods are 'post'."""
    arm = (rng.permutation(n_clusters) < max(1, n_clusters * 3 // 7)).astype(int)
    pop = rng.integers(35_000, 95_000, n_clusters)
    u = rng.normal(0, 0.25, n_clusters)
    v = rng.normal(0, 0.1, (n_clusters, 2))
    c = np.repeat(np.arange(n_clusters), per_cluster)
    q = np.tile(np.arange(per_cluster), n_clusters)
    post = (q >= per_cluster // 2).astype(int)
    mu = pop[c] * 3e-3 * np.exp(u[c] + v[c, post] + np.log(0.8) * arm[c] * post)
    return pd.DataFrame(
        {
            "cluster": [f"C{i:04d}" for i in c],
            "arm": arm[c],
            "post": post,
            "treat": arm[c] * post,
            "population": pop[c],
            "y": rng.poisson(mu),
        }
    )


def binary(n_clusters: int, per_cluster: int, rng: np.random.Generator) -> pd.DataFrame:
    arm = (rng.permutation(n_clusters) < max(1, n_clusters * 3 // 7)).astype(int)
    u = rng.normal(0, 0.5, n_clusters)
    c = np.repeat(np.arange(n_clusters), per_cluster)
    post = (np.tile(np.arange(per_cluster), n_clusters) >= per_cluster // 2).astype(int)
    p = 1 / (1 + np.exp(-(-0.5 + u[c] - 0.4 * arm[c] * post)))
    return pd.DataFrame(
        {
            "cluster": [f"C{i:04d}" for i in c],
            "arm": arm[c],
            "post": post,
            "treat": arm[c] * post,
            "y": (rng.random(len(c)) < p).astype(int),
        }
    )


def min_time(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Minimum wall-clock and minimum CPU (user + system) seconds over ``repeats`` calls."""
    best, best_cpu = np.inf, np.inf
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return float(best), float(best_cpu)


def r_time(
    data: pd.DataFrame, kind: str, nagq: int, repeats: int, tmp: Path
) -> tuple[float, float] | None:
    if shutil.which("Rscript") is None:
        return None
    csv = tmp / "data.csv"
    data.to_csv(csv, index=False)
    script = tmp / "fit.R"
    script.write_text(R_SCRIPT)
    out = subprocess.run(
        ["Rscript", str(script), str(csv), kind, str(nagq), str(repeats)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        print(f"  (R failed: {out.stderr.strip().splitlines()[-1:]})")
        return None
    times = json.loads(out.stdout.strip().splitlines()[-1])
    return float(times["min"][0]), float(times["cpu"][0])


def rct_fit(data: pd.DataFrame, kind: str, nagq: int) -> Callable[[], object]:
    formula = "y ~ arm + post + treat"
    if kind == "binomial":
        return lambda: fit_glmm(data, formula, "cluster", family="binomial", nagq=nagq)
    family = "negative_binomial" if kind == "nb" else "poisson"
    random = "(1|cluster) + (1|cluster:post)" if kind == "cp" else None
    return lambda: fit_glmm(
        data, formula, "cluster", family=family, exposure="population", nagq=nagq, random=random
    )


def main() -> None:
    quick = "--quick" in sys.argv
    rng = np.random.default_rng(2026)
    cases = [
        ("Poisson Laplace 7x13", counts(7, 13, rng), "poisson", 1, 7, "<= 0.2"),
        ("Poisson AGQ10 7x13", None, "poisson", 10, 7, "<= 0.2"),
        ("Poisson Laplace 50x100", counts(50, 100, rng), "poisson", 1, 3, "<= 1"),
        ("Poisson AGQ10 50x100", None, "poisson", 10, 3, "<= 1"),
        ("logistic AGQ12 7x300", binary(7, 300, rng), "binomial", 12, 3, "<= 1"),
        ("neg. binomial 7x13 (glmmTMB)", counts(7, 13, rng), "nb", 1, 5, "<= 1"),
        ("RI + borough:post 7x13", counts(7, 13, rng), "cp", 1, 5, "<= 1"),
    ]
    if not quick:
        cases += [
            ("Poisson Laplace 200x500", counts(200, 500, rng), "poisson", 1, 1, "<= 1"),
            ("logistic AGQ12 100x300", binary(100, 300, rng), "binomial", 12, 1, "<= 1"),
        ]
    only = [a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--only=")]
    if only:
        # keep the dataset of an AGQ case (None: the previous case's data)
        keep = []
        for i, case in enumerate(cases):
            if only[0] in case[0]:
                data = case[1]
                j = i
                while data is None:
                    j -= 1
                    data = cases[j][1]
                keep.append((case[0], data, *case[2:]))
        cases = keep
    if shutil.which("Rscript") is None:
        print("note: Rscript not found; R timings and ratios skipped")
    print(f"{'fit':<32}{'rct s':>9}{'R s':>9}{'rct/R':>8}{'cpu rct/R':>11}  target")
    last = None
    with tempfile.TemporaryDirectory() as tmpdir:
        for label, data, kind, nagq, reps, target in cases:
            data = last if data is None else data
            last = data
            ours, ours_cpu = min_time(rct_fit(data, kind, nagq), reps)
            theirs = r_time(data, kind, nagq, reps, Path(tmpdir))
            ratio = f"{ours / theirs[0]:8.2f}" if theirs else f"{'-':>8}"
            cpu = f"{ours_cpu / theirs[1]:11.2f}" if theirs and theirs[1] > 0 else f"{'-':>11}"
            r_col = f"{theirs[0]:9.3f}" if theirs else f"{'-':>9}"
            print(f"{label:<32}{ours:9.3f}{r_col}{ratio}{cpu}  {target}", flush=True)


if __name__ == "__main__":
    main()
