"""The linear mixed model against R: lme4 fits, lmerTest Satterthwaite, pbkrtest Kenward-Roger.

(The GLMM, GEE and cluster-level comparisons with glmer, glmmTMB and geepack are in
``test_against_r_glmm.py``; the SAP runner's against lme4/glmmTMB in ``test_sap_emit_r.py``.)

Reference values were written by ``tools/r_reference/lmm_reference.R`` (R 4.2, lme4 1.1-31,
lmerTest 3.1-3, pbkrtest 0.5.2) into ``tools/r_reference/lmm_values.json``; the between-within
df there are computed in R directly from the design. Tolerances: estimates, standard errors,
variance components and the (RE)ML criterion to 1e-4 relative; df and p-values to 1e-3.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from analysis.lmm import LinearMixedModel
from analysis.shared.results import FitResults

REF_DIR = Path(__file__).resolve().parents[2] / "tools" / "r_reference"
REFERENCE: dict[str, Any] = json.loads((REF_DIR / "lmm_values.json").read_text())["cases"]
FILES = {
    "sleepstudy": "sleepstudy.csv",
    "dietox": "dietox.csv",
    "sim_trial_gaussian": "sim_trial_gaussian.csv",
    "sim_singular_slope": "sim_singular_slope.csv",
}
EST_TOL = 1e-4
DF_TOL = 1e-3
CASES = sorted(REFERENCE)
REML_CASES = [c for c in CASES if REFERENCE[c]["reml"]]


def _split_lme4_formula(formula: str) -> tuple[str, str | None]:
    """``"y ~ x + (1 + z | g)"`` -> fixed formula and our ``re_formula`` (None = intercept)."""
    fixed, _, random = formula.partition(" + (")
    terms = random.rstrip(")").split("|")[0].strip()
    return fixed, None if terms == "1" else "~ " + terms


@cache
def _model(case: str) -> LinearMixedModel:
    ref = REFERENCE[case]
    data = pd.read_csv(REF_DIR / "data" / FILES[ref["dataset"]])
    fixed, re_formula = _split_lme4_formula(ref["formula"])
    return LinearMixedModel.from_formula(fixed, data, groups=ref["group"], re_formula=re_formula)


@cache
def _fit(case: str, df_method: str) -> FitResults:
    method = "reml" if REFERENCE[case]["reml"] else "ml"
    return _model(case).fit(method=method, df_method=df_method)


def _assert_close(ours: pd.Series | dict[str, float], ref: dict[str, float], rel: float) -> None:
    for name, value in ref.items():
        assert float(ours[name]) == pytest.approx(value, rel=rel, abs=1e-300), name


@pytest.mark.parametrize("case", CASES)
def test_fixed_effects_match_lme4(case: str) -> None:
    _assert_close(_fit(case, "satterthwaite").params, REFERENCE[case]["fixef"], EST_TOL)


@pytest.mark.parametrize("case", CASES)
def test_standard_errors_match_lme4(case: str) -> None:
    _assert_close(_fit(case, "satterthwaite").std_errors, REFERENCE[case]["se"], EST_TOL)


@pytest.mark.parametrize("case", CASES)
def test_variance_components_match_lme4(case: str) -> None:
    res = _fit(case, "satterthwaite")
    assert set(res.variance_components) == set(REFERENCE[case]["varcomp"])
    _assert_close(dict(res.variance_components), REFERENCE[case]["varcomp"], EST_TOL)


@pytest.mark.parametrize("case", CASES)
def test_reml_or_ml_criterion_matches_lme4(case: str) -> None:
    res = _fit(case, "satterthwaite")
    key = "reml_criterion" if REFERENCE[case]["reml"] else "deviance"
    assert res.extra[key] == pytest.approx(REFERENCE[case]["criterion"], rel=EST_TOL)
    assert res.extra["loglik"] == pytest.approx(REFERENCE[case]["loglik"], rel=EST_TOL)


@pytest.mark.parametrize("case", CASES)
def test_satterthwaite_df_and_p_match_lmertest(case: str) -> None:
    res = _fit(case, "satterthwaite")
    _assert_close(res.df, REFERENCE[case]["satterthwaite"]["df"], DF_TOL)
    _assert_close(res.pvalues, REFERENCE[case]["satterthwaite"]["p"], DF_TOL)


@pytest.mark.parametrize("case", REML_CASES)
def test_kenward_roger_df_and_p_match_pbkrtest(case: str) -> None:
    res = _fit(case, "kenward-roger")
    _assert_close(res.df, REFERENCE[case]["kenward_roger"]["df"], DF_TOL)
    _assert_close(res.pvalues, REFERENCE[case]["kenward_roger"]["p"], DF_TOL)


@pytest.mark.parametrize("case", REML_CASES)
def test_kenward_roger_adjusted_covariance_matches_pbkrtest(case: str) -> None:
    res = _fit(case, "kenward-roger")
    _assert_close(res.std_errors, REFERENCE[case]["kenward_roger"]["se"], EST_TOL)
    ref = np.asarray(REFERENCE[case]["kenward_roger"]["vcov_adjusted"], dtype=float)
    names = list(REFERENCE[case]["fixef"])  # R's column order
    ours = res.cov_params.loc[names, names].to_numpy()
    scale = np.sqrt(np.outer(np.diag(ref), np.diag(ref)))
    np.testing.assert_allclose(ours / scale, ref / scale, atol=EST_TOL)


@pytest.mark.parametrize("case", CASES)
def test_between_within_df_and_p_match_direct_formula(case: str) -> None:
    res = _fit(case, "between-within")
    _assert_close(res.df, REFERENCE[case]["between_within"]["df"], DF_TOL)
    _assert_close(res.pvalues, REFERENCE[case]["between_within"]["p"], DF_TOL)


@pytest.mark.parametrize("case", CASES)
def test_singular_flag_agrees_with_lme4(case: str) -> None:
    res = _fit(case, "residual")
    flagged = any("singular" in w for w in res.warnings)
    assert flagged == REFERENCE[case]["singular"]
