"""Write the simulated datasets for the R reference values of the LMM's random-effect structures.

All are shaped like the Safe & Together trial (seven boroughs, 3 implementation and 4 usual
practice, 13 quarters of which the first 6 are baseline) and generated with fixed numpy
seeds; none of the values are trial data.

* ``sim_drift.csv``: one rate per borough-quarter (88 of 91 cells; three never returned),
  with borough intercepts, borough x phase (``post``) effects and borough trends on ``t``
  (quarters since the first, centred at the middle quarter). For ``(1 | borough) +
  (1 | borough:post)``, ``(1 + t | borough)`` and ``(1 | borough) + (0 + t | borough)``.
* ``sim_sites.csv``: two to four sites per borough reporting every quarter, with borough x
  quarter effects, for the cluster-period model ``(1 | borough) + (1 | borough:quarter)``.
* ``sim_boundary.csv``: like ``sim_drift.csv`` but without borough x phase or trend effects;
  the seed is one for which lme4's REML and ML estimates of the borough x phase variance
  are exactly zero (a boundary, singular fit).

Run from the repository root: ``python tools/r_reference/make_lmm_structure_datasets.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parent / "data"
BOROUGHS = tuple(f"B{i}" for i in range(1, 8))
TREATED = frozenset({"B2", "B5", "B6"})
QUARTERS = 13
MISSING = {("B3", 9), ("B4", 2), ("B7", 13)}  # borough-quarter cells never returned


def _rows(seed: int, sd_post: float, sd_trend: float, sites: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for b in BOROUGHS:
        arm = int(b in TREATED)
        level = 45.0 + rng.normal(0.0, 6.0)
        phase = rng.normal(0.0, sd_post, size=2)
        trend = rng.normal(0.0, sd_trend)
        n_sites = int(rng.integers(2, 5)) if sites else 1
        for quarter in range(1, QUARTERS + 1):
            if not sites and (b, quarter) in MISSING:
                continue
            post = int(quarter > 6)
            t = float(quarter - 7)
            cell = rng.normal(0.0, 2.0) if sites else 0.0
            mean = level + phase[post] + (0.4 + trend) * t - 5.0 * arm * post + cell
            for site in range(n_sites):
                row = {"borough": b, "arm": arm, "quarter": quarter, "post": post, "t": t}
                if sites:
                    row["site"] = f"{b}s{site + 1}"
                row["rate"] = round(float(mean + rng.normal(0.0, 3.0)), 6)
                rows.append(row)
    return pd.DataFrame(rows)


def sim_drift() -> pd.DataFrame:
    return _rows(20261130, sd_post=3.0, sd_trend=0.5, sites=False)


def sim_sites() -> pd.DataFrame:
    return _rows(20261131, sd_post=0.0, sd_trend=0.0, sites=True)


BOUNDARY_SEED = 2  # a seed whose borough:post variance lme4 estimates as exactly zero (REML and ML)


def sim_boundary() -> pd.DataFrame:
    return _rows(BOUNDARY_SEED, sd_post=0.0, sd_trend=0.0, sites=False)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    sim_drift().to_csv(OUT / "sim_drift.csv", index=False)
    sim_sites().to_csv(OUT / "sim_sites.csv", index=False)
    sim_boundary().to_csv(OUT / "sim_boundary.csv", index=False)


if __name__ == "__main__":
    main()
