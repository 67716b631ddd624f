"""Draws are uniform over the admissible space (chi-square goodness of fit).

Seeds are SHA-256 of "uniformity-<i>", so the test is fully reproducible. The critical
value is the chi-square upper 1e-6 quantile: if the draw were uniform, a fixed seed set
fails with probability 1e-6 (and, being deterministic, it then fails every time).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
from scipy import stats

from allocation import AllocationDesign, build_scheme_space

ALPHA = 1e-6


def seeds(count: int) -> list[bytes]:
    return [hashlib.sha256(f"uniformity-{i}".encode()).digest() for i in range(count)]


def chi_square_p(space_size: int, indices: list[int]) -> tuple[float, float]:
    counts = np.bincount(indices, minlength=space_size)
    expected = len(indices) / space_size
    statistic = float(((counts - expected) ** 2 / expected).sum())
    critical = float(stats.chi2.isf(ALPHA, df=space_size - 1))
    return statistic, critical


def test_draws_are_uniform_over_the_constrained_space() -> None:
    units = pd.DataFrame({"x": [3.0, 1.0, 4.0, 1.5, 5.0, 9.0, 2.6]}, index=list("ABCDEFG"))
    space = build_scheme_space(
        units, AllocationDesign(n_treated=3, covariates=("x",), cutoff_schemes=10)
    )
    statistic, critical = chi_square_p(10, [space.draw(s).index for s in seeds(4000)])
    assert statistic < critical


def test_draws_are_uniform_over_the_full_space() -> None:
    units = pd.DataFrame(index=list("ABCDEFG"))
    space = build_scheme_space(units, AllocationDesign(n_treated=3))
    statistic, critical = chi_square_p(35, [space.draw(s).index for s in seeds(7000)])
    assert statistic < critical


def test_a_biased_draw_would_be_detected() -> None:
    # the same test rejects modulo bias (index = first byte % 35), so it has power
    indices = [s[0] % 35 for s in seeds(30000)]
    statistic, critical = chi_square_p(35, indices)
    assert statistic >= critical
