"""Simulate the datasets of the multi-term GLMM references (glmm_terms_reference.R).

Seven boroughs x 13 quarters (the trial's size), three of them in the intervention arm from
quarter 7 ("post"): counts with a population offset, a borough random intercept, a borough x
phase effect and a borough trend; a second count dataset whose borough x phase SD is zero
(a boundary fit in lme4), an overdispersed one (gamma-Poisson, size 25) and a child-level binary dataset (7 x 2 phases x 40 children).
Run from this directory: ``python make_glmm_terms_datasets.py`` (fixed seeds).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def counts(
    seed: int, sd_borough: float, sd_phase: float, sd_trend: float, size: float = np.inf
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = np.array([1, 0, 1, 0, 0, 1, 0])
    rows = []
    u = rng.normal(0, sd_borough, 7)
    v = rng.normal(0, sd_phase, (7, 2))
    s = rng.normal(0, sd_trend, 7)
    pop = rng.integers(40_000, 90_000, 7)
    for b in range(7):
        for q in range(1, 14):
            post = int(q >= 7)
            t = (q - 7) / 4.0
            eta = np.log(pop[b] * 2e-3) + u[b] + v[b, post] + s[b] * t - 0.25 * arm[b] * post
            mu = np.exp(eta) * (rng.gamma(size, 1 / size) if np.isfinite(size) else 1.0)
            rows.append(
                (f"B{b + 1:02d}", arm[b], q, post, arm[b] * post, t, pop[b], rng.poisson(mu))
            )
    cols = ["borough", "arm", "quarter", "post", "treat", "t", "population", "count"]
    return pd.DataFrame(rows, columns=cols)


def binary(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = np.array([1, 0, 1, 0, 0, 1, 0])
    u = rng.normal(0, 0.4, 7)
    v = rng.normal(0, 0.3, (7, 2))
    rows = []
    for b in range(7):
        for post in (0, 1):
            for _ in range(40):
                eta = -0.6 + u[b] + v[b, post] - 0.5 * arm[b] * post
                y = int(rng.random() < 1 / (1 + np.exp(-eta)))
                rows.append((f"B{b + 1:02d}", arm[b], post, arm[b] * post, y))
    return pd.DataFrame(rows, columns=["borough", "arm", "post", "treat", "y"])


if __name__ == "__main__":
    counts(1501, 0.3, 0.12, 0.08).to_csv("data/sim_cp_counts.csv", index=False)
    counts(1502, 0.3, 0.0, 0.0).to_csv("data/sim_cp_counts_boundary.csv", index=False)
    counts(1504, 0.3, 0.12, 0.0, size=25.0).to_csv("data/sim_cp_counts_nb.csv", index=False)
    binary(1503).to_csv("data/sim_cp_binary.csv", index=False)
