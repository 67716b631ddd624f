"""The linear mixed model against R: lme4 fits, lmerTest Satterthwaite, pbkrtest Kenward-Roger.

(The GLMM, GEE and cluster-level comparisons with glmer, glmmTMB and geepack are in
``test_against_r_glmm.py``; the SAP runner's against lme4/glmmTMB in ``test_sap_emit_r.py``.)

Reference values were written by ``tools/r_reference/lmm_reference.R`` (R 4.2, lme4 1.1-31,
lmerTest 3.1-3, pbkrtest 0.5.2) into ``tools/r_reference/lmm_values.json``; the between-within
df there are computed in R directly from the design. Tolerances: estimates, standard errors,
variance components and the (RE)ML criterion to 1e-4 relative; df and p-values to 1e-3.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from analysis.lmm import LinearMixedModel
from tests.analysis.lme4_checks import DF_TOL, EST_TOL, REF_DIR, Lme4Reference, assert_close

FILES = {
    "sleepstudy": "sleepstudy.csv",
    "dietox": "dietox.csv",
    "sim_trial_gaussian": "sim_trial_gaussian.csv",
    "sim_singular_slope": "sim_singular_slope.csv",
}


def _split_lme4_formula(formula: str) -> tuple[str, str | None]:
    """``"y ~ x + (1 + z | g)"`` -> fixed formula and our ``re_formula`` (None = intercept)."""
    fixed, _, random = formula.partition(" + (")
    terms = random.rstrip(")").split("|")[0].strip()
    return fixed, None if terms == "1" else "~ " + terms


def _model(ref: dict[str, Any]) -> LinearMixedModel:
    data = pd.read_csv(REF_DIR / "data" / FILES[ref["dataset"]])
    fixed, re_formula = _split_lme4_formula(ref["formula"])
    return LinearMixedModel.from_formula(fixed, data, groups=ref["group"], re_formula=re_formula)


R = Lme4Reference("lmm_values.json", _model)
REFERENCE = R.cases
CASES = R.names
REML_CASES = R.reml_names


@pytest.mark.parametrize("case", CASES)
def test_fixed_effects_and_standard_errors_match_lme4(case: str) -> None:
    R.check_estimates(case)


@pytest.mark.parametrize("case", CASES)
def test_variance_components_match_lme4(case: str) -> None:
    res = R.fit(case, "satterthwaite")
    assert set(res.variance_components) == set(REFERENCE[case]["varcomp"])
    assert_close(dict(res.variance_components), REFERENCE[case]["varcomp"], EST_TOL)


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
def test_between_within_df_and_p_match_direct_formula(case: str) -> None:
    res = R.fit(case, "between-within")
    assert_close(res.df, REFERENCE[case]["between_within"]["df"], DF_TOL)
    assert_close(res.pvalues, REFERENCE[case]["between_within"]["p"], DF_TOL)


@pytest.mark.parametrize("case", CASES)
def test_singular_flag_agrees_with_lme4(case: str) -> None:
    R.check_singular_warning(case)
