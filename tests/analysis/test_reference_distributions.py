"""The t, normal, F and chi-squared quantities the results report come from scipy.special
(scipy.stats costs about half a second to import in every ``rct analyse run``); they must
be the very values scipy.stats gives, bit for bit, for any estimate, standard error and
degrees of freedom."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from analysis.icc import chi2_1_quantile, icc_anova
from analysis.shared.results import FitResults

finite = st.floats(min_value=-50.0, max_value=50.0, allow_nan=False)
positive = st.floats(min_value=1e-3, max_value=20.0)
dfs = st.one_of(st.just(float("inf")), st.floats(min_value=0.5, max_value=1e4))


def _results(est: list[float], se: list[float], df: list[float]) -> FitResults:
    names = [f"b{i}" for i in range(len(est))]
    return FitResults(
        params=pd.Series(est, index=names),
        cov_params=pd.DataFrame(np.diag(np.square(se)), index=names, columns=names),
        df=pd.Series(df, index=names),
        model="test",
        inference="test",
        nobs=10,
        ngroups=5,
    )


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(finite, positive, dfs), min_size=1, max_size=5),
    st.floats(min_value=0.5, max_value=0.999),
)
def test_pvalues_and_intervals_equal_scipy_stats_to_the_bit(
    coefs: list[tuple[float, float, float]], level: float
) -> None:
    est, se, df = (list(x) for x in zip(*coefs))
    res = _results(est, se, df)
    t = np.abs(np.asarray(est) / np.asarray(se))
    q = 1 - (1 - level) / 2
    for i, d in enumerate(df):
        dist = stats.norm() if np.isinf(d) else stats.t(d)
        assert res.pvalues.iloc[i] == 2 * dist.sf(t[i])
        half = dist.ppf(q) * se[i]
        assert res.conf_int(level).iloc[i].tolist() == [est[i] - half, est[i] + half]


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.lists(st.floats(min_value=-10, max_value=10), min_size=2, max_size=6),
        min_size=2,
        max_size=7,
    ),
    st.floats(min_value=0.5, max_value=0.99),
)
def test_anova_icc_interval_uses_the_f_quantiles_scipy_stats_gives(
    clusters: list[list[float]], level: float
) -> None:
    y = [v for c in clusters for v in c]
    g = [i for i, c in enumerate(clusters) for _ in c]
    data = pd.DataFrame({"y": y, "g": g})
    arr = np.asarray(y)
    means = data.groupby("g")["y"].transform("mean").to_numpy()
    G, N = len(clusters), float(len(y))
    msb = float(np.sum((means - arr.mean()) ** 2)) / (G - 1)
    msw = float(np.sum((arr - means) ** 2)) / (N - G)
    if msw <= 0 or msb <= 0:
        return  # no variation: the interval is degenerate whichever quantiles are used
    sizes = np.asarray([len(c) for c in clusters], dtype=float)
    n0 = (N - np.sum(sizes**2) / N) / (G - 1)
    F, a = msb / msw, 1 - level
    fl = F / stats.f.ppf(1 - a / 2, G - 1, N - G)
    fu = F / stats.f.ppf(a / 2, G - 1, N - G)
    lo, hi = (fl - 1) / (fl + n0 - 1), (fu - 1) / (fu + n0 - 1)
    res = icc_anova(data, "y", "g", level=level)
    assert res.ci == (float(max(lo, 0.0)), float(min(max(hi, 0.0), 1.0)))


def test_chi_squared_quantile_of_the_profile_interval_is_scipy_stats() -> None:
    for level in (0.5, 0.8, 0.9, 0.95, 0.99, 0.999):
        assert chi2_1_quantile(level) == stats.chi2.ppf(level, 1)
