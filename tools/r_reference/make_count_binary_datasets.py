"""Simulate the two trial-shaped datasets the GLMM/GEE reference values are computed on.

The datasets are committed next to this script (``data/sim_trial_counts.csv`` and
``data/sim_trial_binary.csv``) and read by ``glmm_reference.R`` (R's lme4, glmmTMB and
geepack) and by ``tests/analysis/test_against_r_glmm.py``. Regenerating them with the fixed
seed below reproduces the committed files byte for byte with the same numpy version; the
tests only read the committed files, so a numpy change can never move the references.

Counts: seven boroughs (3 intervention, 4 control), 12 quarters (6 baseline, 6 follow-up),
child population 0-17 of tens of thousands per borough, a rate of about 30 per 10,000
children per quarter, between-borough SD 0.25 on the log scale, an intervention rate ratio
of 0.75 in follow-up, and mild overdispersion (observation-level log-normal, SD 0.08).

Binary: about 1,500 child-level records over the same seven boroughs (baseline and
follow-up cohorts), a borough random intercept with SD 0.35 on the logit scale, a
child-level covariate (age) and an intervention odds ratio of 0.7 in follow-up.

Run: ``python tools/r_reference/make_count_binary_datasets.py``
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20260514
HERE = Path(__file__).resolve().parent / "data"
BOROUGHS = ["B01", "B02", "B03", "B04", "B05", "B06", "B07"]
ARM = [1, 0, 1, 0, 0, 1, 0]


def make_counts(rng: np.random.Generator) -> pd.DataFrame:
    """Quarterly counts per borough with child population as the denominator."""
    population = rng.integers(35_000, 95_000, size=len(BOROUGHS))
    u = rng.normal(0.0, 0.25, size=len(BOROUGHS))
    rows = []
    for b, (code, arm) in enumerate(zip(BOROUGHS, ARM)):
        for quarter in range(1, 13):
            post = int(quarter > 6)
            treat = arm * post
            eta = (
                np.log(30e-4)
                + 0.01 * (quarter - 6.5)
                + u[b]
                + np.log(0.75) * treat
                + rng.normal(0.0, 0.08)
            )
            pop = int(population[b] + rng.integers(-300, 300))
            count = int(rng.poisson(pop * np.exp(eta)))
            rows.append(
                {
                    "borough": code,
                    "arm": arm,
                    "quarter": quarter,
                    "post": post,
                    "treat": treat,
                    "population": pop,
                    "count": count,
                }
            )
    return pd.DataFrame(rows)


def make_binary(rng: np.random.Generator) -> pd.DataFrame:
    """Child-level binary outcomes (e.g. re-referral within 12 months)."""
    u = rng.normal(0.0, 0.35, size=len(BOROUGHS))
    rows = []
    child = 0
    for b, (code, arm) in enumerate(zip(BOROUGHS, ARM)):
        n_children = int(rng.integers(150, 280))
        for _ in range(n_children):
            child += 1
            post = int(rng.random() < 0.5)
            age = int(rng.integers(0, 18))
            eta = -0.9 + u[b] + 0.03 * (age - 8) + 0.1 * post + np.log(0.7) * arm * post
            y = int(rng.random() < 1.0 / (1.0 + np.exp(-eta)))
            rows.append(
                {
                    "child": f"C{child:05d}",
                    "borough": code,
                    "arm": arm,
                    "post": post,
                    "treat": arm * post,
                    "age": age,
                    "y": y,
                }
            )
    return pd.DataFrame(rows)


def main() -> None:
    rng = np.random.default_rng(SEED)
    HERE.mkdir(parents=True, exist_ok=True)
    make_counts(rng).to_csv(HERE / "sim_trial_counts.csv", index=False, lineterminator="\n")
    make_binary(rng).to_csv(HERE / "sim_trial_binary.csv", index=False, lineterminator="\n")


if __name__ == "__main__":
    main()
