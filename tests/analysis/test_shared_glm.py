"""The plain GLM (analysis/shared/glm.py) against R's glm and statsmodels' GLM.

R reference: ``tools/r_reference/glm_values.json``, written by
``tools/r_reference/glm_reference.R`` (glm with ``epsilon = 1e-14``) from the committed
datasets. Tolerances: coefficients, fitted means and deviance to 1e-8 relative against R
(measured: at most 7e-12); against statsmodels (which stops at an absolute deviance change of
1e-8) to 1e-6 on generated data.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from analysis.errors import DataError
from analysis.shared.design import model_matrices
from analysis.shared.glm import fit_glm

REF_DIR = Path(__file__).resolve().parents[2] / "tools" / "r_reference"
R = json.loads((REF_DIR / "glm_values.json").read_text())
DATA = REF_DIR / "data"
COUNTS = pd.read_csv(DATA / "sim_trial_counts.csv")
BINARY = pd.read_csv(DATA / "sim_trial_binary.csv")
RATES = pd.read_csv(DATA / "sim_trial_gaussian.csv")
REL = 1e-8

CASES = {
    "poisson_quarters": (
        COUNTS[COUNTS["post"] == 1],
        "count ~ C(quarter)",
        "poisson",
        "population",
    ),
    "poisson_covariates": (COUNTS, "count ~ arm + post + treat", "poisson", "population"),
    "binomial_covariates": (BINARY, "y ~ post + treat + age", "binomial", None),
    "gaussian_covariates": (
        RATES[RATES["post"] == 1],
        "rate ~ C(period) + baseline",
        "gaussian",
        None,
    ),
}


@pytest.mark.parametrize("key", sorted(CASES))
def test_fit_matches_r_glm(key: str) -> None:
    data, formula, family, exposure = CASES[key]
    mm = model_matrices(formula, data)
    y, X = mm.y, mm.X
    offset = None if exposure is None else np.log(data[exposure].to_numpy(dtype=float))
    fit = fit_glm(y, X, family, offset=offset)
    ref = R[key]
    assert fit.converged
    np.testing.assert_allclose(fit.beta, list(ref["coef"].values()), rtol=REL)
    np.testing.assert_allclose(fit.fitted, ref["fitted"], rtol=REL)
    assert fit.deviance == pytest.approx(ref["deviance"], rel=REL)


@st.composite
def datasets(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    family = draw(st.sampled_from(["poisson", "binomial", "gaussian"]))
    n = draw(st.integers(min_value=8, max_value=60))
    p = draw(st.integers(min_value=1, max_value=4))
    seed = draw(st.integers(min_value=0, max_value=2**32 - 1))
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=(n, p - 1))])
    beta = rng.normal(scale=0.5, size=p)
    offset = rng.normal(scale=0.3, size=n) + (2.0 if family == "poisson" else 0.0)
    eta = X @ beta + offset
    if family == "poisson":
        y = rng.poisson(np.exp(eta)).astype(float)
    elif family == "binomial":
        y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    else:
        y = eta + rng.normal(size=n)
    return y, X, offset, family


@settings(max_examples=150, deadline=None)
@given(datasets())
def test_fit_matches_statsmodels_glm(case: tuple[np.ndarray, np.ndarray, np.ndarray, str]) -> None:
    import statsmodels.api as sm

    y, X, offset, family = case
    fam = {"poisson": sm.families.Poisson, "binomial": sm.families.Binomial}.get(
        family, sm.families.Gaussian
    )()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # separation, perfect prediction: skipped below
        try:
            theirs = sm.GLM(y, X, family=fam, offset=offset).fit()
        except Exception:  # statsmodels' own failures are not what is tested here
            assume(False)
            return
    try:
        ours = fit_glm(y, X, family, offset=offset)
    except DataError:  # every outcome 0 (or 1): no finite fit, refused by design
        assume(False)
        return
    assume(theirs.converged and ours.converged and np.all(np.abs(theirs.params) < 10))
    np.testing.assert_allclose(ours.beta, theirs.params, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(ours.fitted, theirs.fittedvalues, rtol=1e-6, atol=1e-10)


def test_separated_binary_data_give_large_coefficients_not_an_error() -> None:
    X = np.column_stack([np.ones(6), [0, 0, 0, 1, 1, 1]])
    y = np.array([0, 0, 0, 1, 1, 1], dtype=float)
    fit = fit_glm(y, X, "binomial")
    # as in R's glm: the deviance goes to 0 with the slope off towards infinity
    assert fit.beta[1] > 10
    assert fit.deviance < 1e-6


def test_unknown_family_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown family"):
        fit_glm(np.ones(3), np.ones((3, 1)), "gamma")


def test_the_analyses_that_fit_glms_do_not_import_statsmodels_or_scipy_stats() -> None:
    code = (
        "import sys, pandas as pd\n"
        "from analysis.cluster_level import cluster_level_analysis\n"
        f"d = pd.read_csv({str(DATA / 'sim_trial_counts.csv')!r})\n"
        "r = cluster_level_analysis(d, 'count', 'borough', 'arm', 'C(quarter)',"
        " exposure='population', post_indicator='post')\n"
        "r.pvalues; r.conf_int()\n"
        "print(sorted(m for m in ('statsmodels', 'scipy.stats') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("family", "y", "trials", "message"),
    [
        ("poisson", [0, 0, 0, 0], None, "every outcome is 0"),
        ("binomial", [0, 0, 0, 0], None, "every outcome is 0"),
        ("binomial", [2, 3, 1, 4], [2, 3, 1, 4], "equal to its number of trials"),
    ],
)
def test_data_with_no_finite_fit_are_refused_naming_why(
    family: str, y: list[float], trials: list[float] | None, message: str
) -> None:

    X = np.column_stack([np.ones(4), [0, 1, 0, 1]])
    m = None if trials is None else np.asarray(trials, dtype=float)
    with pytest.raises(DataError, match=message):
        fit_glm(np.asarray(y, dtype=float), X, family, trials=m)


@pytest.mark.parametrize("residual", ["ratio", "difference"])
def test_cluster_level_analysis_of_a_follow_up_with_no_events_is_refused(residual: str) -> None:
    from analysis.cluster_level import cluster_level_analysis

    data = COUNTS.assign(count=np.where(COUNTS["post"] == 1, 0, COUNTS["count"]))
    with pytest.raises(DataError):
        cluster_level_analysis(
            data,
            "count",
            "borough",
            "arm",
            "C(quarter)",
            exposure="population",
            post_indicator="post",
            residual=residual,
        )


def test_ordinary_designs_are_solved_unscaled_and_wide_ones_equilibrated() -> None:
    # Ordinary designs keep the bits earlier versions computed (a GLMM's start, and so
    # where its optimiser stops, depends on them); a design whose columns differ in length
    # by more than EQUILIBRATE_ABOVE is solved in unit-length columns, which recovers a
    # planted coefficient that the unscaled solve loses digits of.
    from analysis.shared.glm import _solve

    rng = np.random.default_rng(7)
    X = np.column_stack([np.ones(40), rng.integers(0, 2, 40), rng.normal(size=40)])
    z, w = rng.normal(size=40), rng.uniform(0.5, 2.0, 40)
    sw = np.sqrt(w)
    plain = np.linalg.lstsq(X * sw[:, None], z * sw, rcond=None)[0]
    assert np.array_equal(_solve(X, z, w), plain)

    wide = np.column_stack([np.ones(40), rng.integers(0, 2, 40), 1e13 + rng.normal(size=40) * 1e11])
    beta = np.array([2.0, -0.5, 3e-13])
    fitted = _solve(wide, wide @ beta, np.ones(40))
    np.testing.assert_allclose(wide @ fitted, wide @ beta, rtol=1e-12)  # unscaled: 7e-3
    np.testing.assert_allclose(fitted, beta, rtol=1e-8)
