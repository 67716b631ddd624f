"""Write the datasets that the R reference values for the linear mixed models are computed on.

* ``dietox.csv``: the pig growth data (Lauridsen et al. 1999) as statsmodels ships it among
  its MixedLM test files (R: ``data(dietox, package = "geepack")``), with the row-name
  column dropped.
* ``sim_trial_gaussian.csv``: a simulated dataset shaped like the Safe & Together trial:
  seven boroughs (3 implementation, 4 usual practice), 12 quarters (6 baseline, 6 follow-up),
  outcome a rate per 10,000 children, and a borough-level baseline covariate (the rate in the
  year before the data window). Generated with a fixed numpy seed; the values are not trial data.

* ``sim_singular_slope.csv``: ten clusters of eight rows whose random-slope model
  ``y ~ t + (t | g)`` has a boundary (singular) REML and ML fit, to check boundary handling.

``sleepstudy.csv`` is exported from R by ``lmm_reference.R`` (``lme4::sleepstudy``).

Run from the repository root: ``python tools/r_reference/make_datasets.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels

OUT = Path(__file__).resolve().parent / "data"
SEED = 20260501


def dietox() -> pd.DataFrame:
    path = Path(statsmodels.__file__).parent / "regression" / "tests" / "results" / "dietox.csv"
    frame = pd.read_csv(path, index_col=0)
    return frame.reset_index(drop=True)


def sim_trial_gaussian(seed: int = SEED) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    boroughs = [f"B{i}" for i in range(1, 8)]
    treated = {"B2", "B5", "B6"}
    level = rng.normal(45.0, 8.0, size=7)  # borough's true rate per 10,000
    baseline = level + rng.normal(0.0, 3.0, size=7)  # observed pre-window annual rate
    rows = []
    for b, mu, base in zip(boroughs, level, baseline):
        arm = int(b in treated)
        for period in range(1, 13):
            post = int(period > 6)
            mean = mu + 0.4 * period - 5.0 * arm * post
            rows.append(
                {
                    "borough": b,
                    "arm": arm,
                    "period": period,
                    "post": post,
                    "baseline": round(float(base), 6),
                    "rate": round(float(mean + rng.normal(0.0, 4.0)), 6),
                }
            )
    return pd.DataFrame(rows)


def sim_singular_slope(seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(10), 8)
    t = np.tile(np.arange(8), 10).astype(float)
    y = rng.normal(size=10)[g] + 0.3 * t + rng.normal(size=80)
    return pd.DataFrame({"y": y, "t": t, "g": g})


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    dietox().to_csv(OUT / "dietox.csv", index=False)
    sim_trial_gaussian().to_csv(OUT / "sim_trial_gaussian.csv", index=False)
    sim_singular_slope().to_csv(OUT / "sim_singular_slope.csv", index=False, float_format="%.17g")


if __name__ == "__main__":
    main()
