"""Diagnostics warn when a space is over-constrained, and report what they claim."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from allocation import AllocationDesign, build_scheme_space, diagnose

SEVEN = pd.DataFrame(
    {"x": [3.0, 1.0, 4.0, 1.5, 5.0, 9.0, 2.6], "region": ["n", "n", "s", "s", "s", "e", "e"]},
    index=["WF", "HK", "NW", "HF", "BN", "BD", "CM"],
)


def test_seven_units_three_treated_give_35_schemes_and_p_one_in_35() -> None:
    d = diagnose(build_scheme_space(SEVEN, AllocationDesign(n_treated=3)), SEVEN)
    assert d.total == d.admissible == 35
    assert d.min_p_value == pytest.approx(1 / 35)
    assert "space-too-small" not in {w.code for w in d.warnings}


def test_ten_schemes_make_p_one_tenth_and_warn() -> None:
    design = AllocationDesign(n_treated=3, covariates=("x",), cutoff_schemes=10)
    d = diagnose(build_scheme_space(SEVEN, design), SEVEN)
    assert d.admissible == 10
    assert d.min_p_value == pytest.approx(0.1)
    assert "space-too-small" in {w.code for w in d.warnings}


def test_complement_closed_space_halves_the_resolution() -> None:
    units = SEVEN.iloc[:6]
    d = diagnose(build_scheme_space(units, AllocationDesign(n_treated=3)), units)
    assert d.min_p_value == pytest.approx(2 / 20)


def test_pairs_always_or_never_together_are_flagged() -> None:
    design = AllocationDesign(n_treated=3, covariates=("x",), cutoff_schemes=2)
    space = build_scheme_space(SEVEN, design)
    d = diagnose(space, SEVEN)
    co = d.coassignment
    assert np.allclose(np.diag(co), 1.0)
    assert len(d.always_together) + len(d.never_together) > 0
    for a, b in d.always_together:
        assert any(
            w.code == "units-always-together" and f"Units {a} and {b} " in w.message
            for w in d.warnings
        )


def test_coassignment_is_the_share_of_schemes_sharing_an_arm() -> None:
    space = build_scheme_space(SEVEN, AllocationDesign(n_treated=3))
    d = diagnose(space, SEVEN)
    # two given units share an arm in C(5,1) + C(5,3) = 15 of 35 schemes
    assert d.coassignment[0, 1] == pytest.approx(15 / 35)


def test_baseline_table_gives_arm_means_for_the_chosen_scheme() -> None:
    design = AllocationDesign(n_treated=3, covariates=("x", "region"), categorical=("region",))
    space = build_scheme_space(SEVEN, design)
    chosen = space.draw(bytes(32))
    d = diagnose(space, SEVEN, chosen=chosen)
    rows = {r["covariate"]: r for r in d.baseline or []}
    treated = [u for u, arm in chosen.arms.items() if arm == "intervention"]
    assert rows["x"]["mean_intervention"] == pytest.approx(SEVEN.loc[treated, "x"].mean())
    assert set(rows) == {"x", "region[e]", "region[n]", "region[s]"}


def test_to_dict_is_json_and_deterministic() -> None:
    design = AllocationDesign(n_treated=3, covariates=("x",), cutoff_quantile=0.5)
    a = diagnose(build_scheme_space(SEVEN, design), SEVEN).to_dict()
    b = diagnose(build_scheme_space(SEVEN.iloc[::-1], design), SEVEN.iloc[::-1]).to_dict()
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert sum(a["histogram"]["counts"]) == 35


def test_summary_mentions_warnings() -> None:
    design = AllocationDesign(n_treated=3, covariates=("x",), cutoff_schemes=10)
    text = diagnose(build_scheme_space(SEVEN, design), SEVEN).summary()
    assert "WARNINGS" in text and "35 schemes" in text
