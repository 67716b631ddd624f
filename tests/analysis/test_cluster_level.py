"""Behaviour of the two-stage cluster-level analysis."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.cluster_level import cluster_level_analysis
from analysis.errors import DataError, ModelSpecificationError

DATA = Path(__file__).resolve().parents[2] / "tools" / "r_reference" / "data"
COUNTS = pd.read_csv(DATA / "sim_trial_counts.csv")
BINARY = pd.read_csv(DATA / "sim_trial_binary.csv")


def test_df_drop_by_one_for_the_baseline_cluster_covariate() -> None:
    with_base = cluster_level_analysis(
        COUNTS, "count", "borough", "arm", exposure="population", post_indicator="post"
    )
    without = cluster_level_analysis(
        COUNTS,
        "count",
        "borough",
        "arm",
        exposure="population",
        post_indicator="post",
        adjust_baseline=False,
    )
    assert with_base.df["intervention"] == 7 - 2 - 1
    assert without.df["intervention"] == 7 - 2


def test_unadjusted_ratio_residual_equals_log_of_rate_ratio_of_cluster_means() -> None:
    # with no covariates the expected counts are proportional to population, so the
    # estimate is the difference in mean log cluster rates
    post = COUNTS[COUNTS["post"] == 1]
    res = cluster_level_analysis(post, "count", "borough", "arm", exposure="population")
    agg = post.groupby("borough").agg(
        count=("count", "sum"), pop=("population", "sum"), arm=("arm", "first")
    )
    lrate = np.log(agg["count"] / agg["pop"])
    expected = lrate[agg["arm"] == 1].mean() - lrate[agg["arm"] == 0].mean()
    assert res.params["intervention"] == pytest.approx(expected, rel=1e-10)


def test_binary_outcome_gives_risk_ratio() -> None:
    res = cluster_level_analysis(
        BINARY, "y", "borough", "arm", "age", family="binomial", post_indicator="post"
    )
    assert res.extra["ratio"] == pytest.approx(np.exp(res.params["intervention"]))


def test_arm_varying_within_a_cluster_is_refused() -> None:
    data = COUNTS.copy()
    data.loc[0, "arm"] = 1 - data.loc[0, "arm"]
    with pytest.raises(DataError):
        cluster_level_analysis(data, "count", "borough", "arm", exposure="population")


def test_ratio_residuals_for_gaussian_outcome_are_refused() -> None:
    with pytest.raises(ModelSpecificationError):
        cluster_level_analysis(COUNTS, "count", "borough", "arm", family="gaussian")


def test_ratio_residuals_name_the_clusters_without_events() -> None:
    data = pd.read_csv(DATA / "sim_trial_counts.csv")
    data.loc[(data["borough"] == "B03") & (data["post"] == 1), "count"] = 0
    with pytest.raises(DataError, match=r"no events in follow-up \(B03\)"):
        cluster_level_analysis(
            data,
            "count",
            "borough",
            "arm",
            "C(quarter)",
            exposure="population",
            post_indicator="post",
        )
