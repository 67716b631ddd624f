"""The numpy GEE solver against statsmodels' GEE, and the fit without statsmodels.

statsmodels (a test dependency) is the solver's predecessor: ``GEE(..., Exchangeable(),
offset=...).fit(maxiter=500, ctol=1e-10, cov_type="bias_reduced", ddof_scale=0)``, with
``scale="X2"`` so its reported scale is ``phi = sum r^2 / N`` for the Poisson and binomial
families too (only the reported scale changes; the estimates and sandwiches do not depend
on it). The R reference (geepack and a direct Mancl-DeRouen computation) is in
``test_against_r_glmm.py``.

Tolerance ``REL = 1e-6``, elementwise, with an absolute floor of ``REL`` times the largest
element of the quantity (coefficients and covariance entries can be near zero). Measured
on 868 simulated datasets (300 seeds per family, 4-10 clusters of 2-15 rows; the 32 that
statsmodels did not fit were skipped), relative to the largest element / elementwise: at
most 2e-9 / 5e-8 (parameters), 9e-8 (alpha; largest when alpha is near 0), 9e-10 (scale),
7e-9 / 3e-8 (robust covariance), 2e-8 / 4e-8 (bias-reduced covariance). The two stop
on different criteria (statsmodels on the score norm, the solver on the step), so they
differ by the convergence tolerance, not by rounding.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from analysis.errors import ConvergenceError
from analysis.gee import GeneralizedEstimatingEquations, fit_gee
from analysis.gee import model as gee_model
from analysis.gee.solver import ExchangeableGeeFit, fit_exchangeable_gee

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tools" / "r_reference" / "data"
COUNTS = pd.read_csv(DATA / "sim_trial_counts.csv")
BINARY = pd.read_csv(DATA / "sim_trial_binary.csv")
REL = 1e-6

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _statsmodels_fit(
    y: np.ndarray, X: np.ndarray, g: np.ndarray, off: np.ndarray, link: str
) -> Any:
    """statsmodels' GEE with the options the model used before the numpy solver."""
    from statsmodels.genmod import families
    from statsmodels.genmod.cov_struct import Exchangeable
    from statsmodels.genmod.generalized_estimating_equations import GEE

    family = {"identity": families.Gaussian, "log": families.Poisson, "logit": families.Binomial}
    model = GEE(y, X, groups=g, family=family[link](), cov_struct=Exchangeable(), offset=off)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(maxiter=500, ctol=1e-10, cov_type="bias_reduced", ddof_scale=0, scale="X2")


def _usable(res: Any) -> bool:
    if res is None or not res.converged:
        return False
    quantities = [res.params, res.cov_robust, res.cov_robust_bc, res.cov_struct.dep_params]
    return all(np.all(np.isfinite(q)) for q in quantities)


def _assert_agree(ours: ExchangeableGeeFit, ref: Any) -> None:
    pairs: list[tuple[str, Any, Any]] = [
        ("params", ours.params, ref.params),
        ("alpha", ours.alpha, ref.cov_struct.dep_params),
        ("scale", ours.scale, ref.scale),
        ("robust", ours.cov_robust, ref.cov_robust),
        ("bias-reduced", ours.cov_bias_reduced, ref.cov_robust_bc),
    ]
    for name, mine, theirs in pairs:
        expected = np.atleast_1d(np.asarray(theirs, dtype=float))
        floor = REL * float(np.max(np.abs(expected)))
        np.testing.assert_allclose(
            np.atleast_1d(np.asarray(mine, dtype=float)),
            expected,
            rtol=REL,
            atol=floor,
            err_msg=name,
        )


def _trial_arrays(data: pd.DataFrame, formula: str, exposure: str | None) -> Arrays:
    model = GeneralizedEstimatingEquations.from_formula(
        formula, data, groups="borough", exposure=exposure, family="gaussian"
    )
    return model.y, model.X, model.groups, model.offset


@pytest.mark.parametrize(
    ("data", "formula", "exposure", "link"),
    [
        (COUNTS, "count ~ arm + post + treat", "population", "log"),
        (BINARY, "y ~ arm + post + treat + age", None, "logit"),
        (
            COUNTS.assign(lrate=np.log(COUNTS["count"] / COUNTS["population"])),
            "lrate ~ arm + post + treat",
            None,
            "identity",
        ),
    ],
)
def test_solver_matches_statsmodels_on_the_reference_trials(
    data: pd.DataFrame, formula: str, exposure: str | None, link: str
) -> None:
    y, X, g, off = _trial_arrays(data, formula, exposure)
    ref = _statsmodels_fit(y, X, g, off, link)
    assert _usable(ref)
    ours = fit_exchangeable_gee(y, X, g, link=link, offset=off)
    assert ours.converged
    _assert_agree(ours, ref)


def _simulated(sizes: list[int], seed: int, link: str) -> Arrays:
    """Clusters of the given sizes, a cluster-level arm, a row-level covariate and a
    random cluster effect; rows shuffled so clusters are not contiguous."""
    rng = np.random.default_rng(seed)
    k = len(sizes)
    g = np.repeat(np.arange(k), sizes)
    n = g.size
    arm = (np.arange(k) % 2)[g].astype(float)
    x = rng.normal(size=n)
    X = np.column_stack([np.ones(n), arm, x])
    u = rng.normal(scale=0.5, size=k)[g]
    off = np.zeros(n)
    if link == "log":
        off = np.log(rng.uniform(5.0, 50.0, size=n))
        y = rng.poisson(np.exp(-1.0 + 0.3 * arm + 0.2 * x + u + off)).astype(float)
    elif link == "logit":
        eta = 0.2 + 0.5 * arm + 0.5 * x + u
        y = (rng.uniform(size=n) < 1.0 / (1.0 + np.exp(-eta))).astype(float)
    else:
        y = 1.0 + 0.5 * arm + 0.3 * x + u + rng.normal(size=n)
    order = rng.permutation(n)
    return y[order], X[order], g[order], off[order]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sizes=st.lists(st.integers(2, 15), min_size=4, max_size=10),
    seed=st.integers(0, 2**32 - 1),
    link=st.sampled_from(["log", "logit", "identity"]),
)
def test_solver_matches_statsmodels_on_small_unbalanced_trials(
    sizes: list[int], seed: int, link: str
) -> None:
    y, X, g, off = _simulated(sizes, seed, link)
    ref = _statsmodels_fit(y, X, g, off, link)
    assume(_usable(ref))
    # Separation (a binary outcome predicted perfectly) sends the estimates to infinity:
    # statsmodels stops on a small score there, the solver on a small step.
    fitted = 1.0 / (1.0 + np.exp(-(X @ np.asarray(ref.params) + off)))
    assume(link != "logit" or bool(np.all((fitted > 1e-6) & (fitted < 1 - 1e-6))))
    ours = fit_exchangeable_gee(y, X, g, link=link, offset=off)
    assert ours.converged
    _assert_agree(ours, ref)


def test_row_order_does_not_change_the_fit() -> None:
    y, X, g, off = _simulated([3, 7, 2, 12, 5], 7, "log")
    order = np.argsort(g, kind="stable")
    a = fit_exchangeable_gee(y, X, g, link="log", offset=off)
    b = fit_exchangeable_gee(y[order], X[order], g[order], link="log", offset=off[order])
    np.testing.assert_allclose(a.params, b.params, rtol=1e-10)
    np.testing.assert_allclose(a.cov_bias_reduced, b.cov_bias_reduced, rtol=1e-8)


def test_iteration_limit_gives_the_coded_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    def one_step(*args: Any, **kw: Any) -> ExchangeableGeeFit:
        return fit_exchangeable_gee(*args, **{**kw, "maxiter": 1})

    monkeypatch.setattr(gee_model, "fit_exchangeable_gee", one_step)
    fit = fit_gee(COUNTS, "count ~ arm + post + treat", "borough", exposure="population")
    assert not fit.converged
    assert [w.code for w in fit.warnings] == ["gee-not-converged"]


def test_non_finite_estimates_raise_convergence_error() -> None:
    y, X, g, off = _simulated([4, 4, 4, 4], 1, "identity")
    y[0] = np.nan
    with pytest.raises(ConvergenceError, match="finite"):
        fit_exchangeable_gee(y, X, g, link="identity", offset=off)


def test_fitting_a_gee_does_not_import_statsmodels() -> None:
    code = (
        "import sys\n"
        "import pandas as pd\n"
        "from analysis.gee import fit_gee\n"
        f"data = pd.read_csv({str(DATA / 'sim_trial_counts.csv')!r})\n"
        "fit_gee(data, 'count ~ arm + post + treat', 'borough', exposure='population')\n"
        "assert 'statsmodels' not in sys.modules, sorted(\n"
        "    m for m in sys.modules if m.startswith('statsmodels'))\n"
    )
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
        check=False,
    )
    assert done.returncode == 0, done.stderr
