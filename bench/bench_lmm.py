"""Benchmark: random-intercept LMM on 100,000 rows in 200 clusters, ours vs statsmodels MixedLM.

Both fit the same simulated data by REML in the same run; prints wall-clock times, the speed
ratio and the largest absolute differences in fixed effects and variance components. Run from
the repository root: ``python bench/bench_lmm.py``. Nothing is asserted: timings vary by machine.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import statsmodels.api as sm

from analysis.lmm import LinearMixedModel
from analysis.shared.results import FitResults

N_ROWS = 100_000
N_CLUSTERS = 200
SEED = 12345
T = TypeVar("T")


def simulate() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED)
    groups = rng.integers(0, N_CLUSTERS, size=N_ROWS)
    X = np.column_stack([np.ones(N_ROWS), rng.normal(size=(N_ROWS, 4))])  # five fixed effects
    beta = np.array([1.0, 0.5, -0.25, 0.1, 0.0])
    u = rng.normal(scale=0.7, size=N_CLUSTERS)
    y = X @ beta + u[groups] + rng.normal(size=N_ROWS)
    return y, X, groups


def best_of(fn: Callable[[], T], repeats: int) -> tuple[float, T]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    y, X, groups = simulate()
    names = ["(Intercept)", "x1", "x2", "x3", "x4"]

    def ours() -> FitResults:
        model = LinearMixedModel(y, X, groups, fixed_names=names, group_name="g")
        return model.fit(method="reml", df_method="normal")

    def theirs() -> Any:  # statsmodels has no type stubs
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return sm.MixedLM(y, X, groups).fit(reml=True)  # statsmodels' default optimisers

    t_ours, res_ours = best_of(ours, 3)
    t_theirs, res_theirs = best_of(theirs, 3)
    beta_ours = res_ours.params.to_numpy()
    beta_theirs = np.asarray(res_theirs.fe_params)
    vc_ours = res_ours.variance_components
    tau2_theirs = float(np.asarray(res_theirs.cov_re)[0, 0])
    s2_theirs = float(res_theirs.scale)
    se_ours = res_ours.std_errors.to_numpy()
    se_theirs = np.asarray(res_theirs.bse_fe)
    print(f"rows {N_ROWS}, clusters {N_CLUSTERS}, fixed effects {X.shape[1]}, REML")
    print(f"analysis.lmm      : {t_ours:8.3f} s (best of 3, incl. design set-up)")
    print(f"statsmodels MixedLM: {t_theirs:8.3f} s (best of 3)")
    print(f"speed ratio (statsmodels / ours): {t_theirs / t_ours:8.1f}x")
    print(f"max |beta difference|        : {np.max(np.abs(beta_ours - beta_theirs)):.2e}")
    print(f"max |SE difference|          : {np.max(np.abs(se_ours - se_theirs)):.2e}")
    print(f"|cluster variance difference|: {abs(vc_ours['g.(Intercept)'] - tau2_theirs):.2e}")
    print(f"|residual variance difference|: {abs(vc_ours['residual'] - s2_theirs):.2e}")
    model = LinearMixedModel(y, X, groups)
    theta_theirs = np.sqrt(tau2_theirs / s2_theirs)
    print(
        "REML criterion, ours minus at statsmodels' estimate: "
        f"{res_ours.extra['reml_criterion'] - model.deviance([theta_theirs]):.2e}"
    )
    print(pd.Series(beta_ours - beta_theirs, index=names).to_string())


if __name__ == "__main__":
    main()
