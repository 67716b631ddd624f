"""The LMM's random-effect structures against R: lme4, lmerTest Satterthwaite, pbkrtest KR.

Structures: borough x phase ``(1 | borough) + (1 | borough:post)``, cluster-period
``(1 | borough) + (1 | borough:quarter)``, correlated ``(1 + t | borough)`` and
uncorrelated ``(1 | borough) + (0 + t | borough)`` slopes, a slope with a borough x phase
effect, and data whose borough x phase variance is on the boundary (zero). Reference values
were written by ``tools/r_reference/lmm_structures_reference.R`` into
``tools/r_reference/lmm_structures_values.json`` from the CSVs that
``make_lmm_structure_datasets.py`` writes. Tolerances: estimates, standard errors, variance
components and the (RE)ML criterion to 1e-4 relative; df and p-values to 1e-3.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from analysis.lmm import LinearMixedModel
from tests.analysis.lme4_checks import EST_TOL, REF_DIR, Lme4Reference, assert_close


def _model(ref: dict[str, Any]) -> LinearMixedModel:
    data = pd.read_csv(REF_DIR / "data" / f"{ref['dataset']}.csv")
    return LinearMixedModel.from_formula(ref["formula"], data)


R = Lme4Reference("lmm_structures_values.json", _model)
REFERENCE = R.cases
CASES = R.names
REML_CASES = R.reml_names


def test_every_structure_and_a_boundary_fit_are_covered() -> None:
    formulas = " ".join(REFERENCE[c]["formula"] for c in CASES)
    for term in (
        "(1 | borough:post)",
        "(1 | borough:quarter)",
        "(1 + t | borough)",
        "(0 + t | borough)",
    ):
        assert term in formulas
    assert any(REFERENCE[c]["singular"] for c in REML_CASES)
    assert any(REFERENCE[c]["singular"] for c in CASES if not REFERENCE[c]["reml"])


@pytest.mark.parametrize("case", CASES)
def test_fixed_effects_and_standard_errors_match_lme4(case: str) -> None:
    R.check_estimates(case)


@pytest.mark.parametrize("case", CASES)
def test_variance_components_and_theta_match_lme4(case: str) -> None:
    res = R.fit(case, "satterthwaite")
    ref = REFERENCE[case]
    assert set(res.variance_components) == set(ref["varcomp"])
    # A variance on the boundary is 0 in both; compare those absolutely.
    assert_close(dict(res.variance_components), ref["varcomp"], EST_TOL, abs_=1e-8)
    assert list(res.extra["theta"]) == list(ref["theta"])
    # theta of a variance near zero is ill-determined (flat deviance): compare it absolutely.
    assert_close(res.extra["theta"], ref["theta"], EST_TOL, abs_=1e-5)
    sdcor = {row["var1"] and _key(row) or "residual": row["sdcor"] for row in res.extra["varcorr"]}
    assert_close(sdcor, ref["sdcor"], EST_TOL, abs_=1e-4)


def _key(row: dict[str, Any]) -> str:
    group = row["group"].removesuffix(".1")
    if row["var2"] is None:
        return f"{group}.{row['var1']}"
    return f"{group}.{row['var2']}.{row['var1']}"


@pytest.mark.parametrize("case", CASES)
def test_reml_or_ml_criterion_matches_lme4(case: str) -> None:
    R.check_criterion(case)


@pytest.mark.parametrize("case", CASES)
def test_satterthwaite_df_and_p_match_lmertest(case: str) -> None:
    R.check_satterthwaite(case)


@pytest.mark.parametrize("case", REML_CASES)
def test_kenward_roger_df_p_and_adjusted_covariance_match_pbkrtest(case: str) -> None:
    R.check_kenward_roger(case)


@pytest.mark.parametrize("case", CASES)
def test_singular_flag_agrees_with_lme4(case: str) -> None:
    assert R.fit(case, "residual").extra["singular"] == REFERENCE[case]["singular"]
    R.check_singular_warning(case)
