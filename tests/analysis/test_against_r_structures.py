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
REFERENCE: dict[str, Any] = json.loads((REF_DIR / "lmm_structures_values.json").read_text())[
    "cases"
]
EST_TOL = 1e-4
DF_TOL = 1e-3
CASES = sorted(REFERENCE)
REML_CASES = [c for c in CASES if REFERENCE[c]["reml"]]


@cache
def _model(case: str) -> LinearMixedModel:
    ref = REFERENCE[case]
    data = pd.read_csv(REF_DIR / "data" / f"{ref['dataset']}.csv")
    return LinearMixedModel.from_formula(ref["formula"], data)


@cache
def _fit(case: str, df_method: str) -> FitResults:
    method = "reml" if REFERENCE[case]["reml"] else "ml"
    return _model(case).fit(method=method, df_method=df_method)


def _assert_close(
    ours: pd.Series | dict[str, float], ref: dict[str, float], rel: float, abs_: float = 1e-300
) -> None:
    for name, value in ref.items():
        assert float(ours[name]) == pytest.approx(value, rel=rel, abs=abs_), name


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
    res = _fit(case, "satterthwaite")
    _assert_close(res.params, REFERENCE[case]["fixef"], EST_TOL)
    _assert_close(res.std_errors, REFERENCE[case]["se"], EST_TOL)


@pytest.mark.parametrize("case", CASES)
def test_variance_components_and_theta_match_lme4(case: str) -> None:
    res = _fit(case, "satterthwaite")
    ref = REFERENCE[case]
    assert set(res.variance_components) == set(ref["varcomp"])
    # A variance on the boundary is 0 in both; compare those absolutely.
    _assert_close(dict(res.variance_components), ref["varcomp"], EST_TOL, abs_=1e-8)
    assert list(res.extra["theta"]) == list(ref["theta"])
    # theta of a variance near zero is ill-determined (flat deviance): compare it absolutely.
    _assert_close(res.extra["theta"], ref["theta"], EST_TOL, abs_=1e-5)
    sdcor = {row["var1"] and _key(row) or "residual": row["sdcor"] for row in res.extra["varcorr"]}
    _assert_close(sdcor, ref["sdcor"], EST_TOL, abs_=1e-4)


def _key(row: dict[str, Any]) -> str:
    group = row["group"].removesuffix(".1")
    if row["var2"] is None:
        return f"{group}.{row['var1']}"
    return f"{group}.{row['var2']}.{row['var1']}"


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
def test_kenward_roger_df_p_and_adjusted_covariance_match_pbkrtest(case: str) -> None:
    res = _fit(case, "kenward-roger")
    ref = REFERENCE[case]["kenward_roger"]
    _assert_close(res.df, ref["df"], DF_TOL)
    _assert_close(res.pvalues, ref["p"], DF_TOL)
    _assert_close(res.std_errors, ref["se"], EST_TOL)
    vadj = np.asarray(ref["vcov_adjusted"], dtype=float)
    names = list(REFERENCE[case]["fixef"])  # R's column order
    ours = res.cov_params.loc[names, names].to_numpy()
    scale = np.sqrt(np.outer(np.diag(vadj), np.diag(vadj)))
    np.testing.assert_allclose(ours / scale, vadj / scale, atol=EST_TOL)


@pytest.mark.parametrize("case", CASES)
def test_singular_flag_agrees_with_lme4(case: str) -> None:
    res = _fit(case, "residual")
    assert res.extra["singular"] == REFERENCE[case]["singular"]
    assert any("singular" in w for w in res.warnings) == REFERENCE[case]["singular"]
