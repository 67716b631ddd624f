"""The negative-binomial GLMM on near-Poisson data: stable density, size bound, glmmTMB.

Simulated trials with little overdispersion used to break the NB2 fit ("conditional modes
did not converge (PIRLS)", or an optimiser that never converged) because the textbook
NB2 log-density loses ``1e-16 k log k`` in absolute precision as the size ``k`` heads to
infinity. These tests pin the repaired behaviour on one of those datasets (seed 15 of the
shipped protocol's simulator, default settings) against glmmTMB.

glmmTMB reference values (glmmTMB 1.1.5, TMB 1.9.2, R 4.2.2, default control), computed
from the frame below written to CSV::

    nb <- glmmTMB(y ~ treatment + factor(period) + offset(log(child_population)) + (1 | unit),
                  data = d, family = nbinom2)

Seed 15: treatment -0.5076725041, SE 0.0767484387, unit SD 0.26293686, log-likelihood
-271.87900775, size 6.79e7 ("relative convergence (4)"). Seed 24: treatment -0.3774741419,
SE 0.0796149677, unit SD 0.30071083, log-likelihood -279.47430161, size 2.35e7 ("false
convergence (8)", positive-definite Hessian). Both stop at a huge but arbitrary size on
the flat ridge towards the Poisson model, where TMB's own log-gamma differences are noisy;
our fit stops at the size bound (1e8). Measured agreement: estimates 1.4e-6 and 4.2e-6
relative, SEs 1.5e-7 and 4.2e-7, unit SDs 5.9e-6 and 1.3e-5, log-likelihoods 1.1e-5 and
7e-7 absolute. Tolerances: ``REL_EST = 2e-5`` (estimate), ``REL_SE = 1e-5``,
``REL_SD = 5e-5``, ``ABS_LOGLIK = 5e-5``.

The Poisson limit is checked against lme4: ``glmer(..., family = poisson)`` (bobyqa) on
seed 15 gives log-likelihood -271.879016854566; the NB fit at the bound must be within
``ABS_POISSON = 1e-5`` of it (measured 1.6e-6, the price of stopping at k = 1e8).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from analysis.glmm import GlmmResults, fit_glmm
from analysis.glmm.families import make_family, nb_minus_poisson_logpmf
from analysis.glmm.model import SIZE_AT_BOUND, SIZE_MAX
from analysis.sap.dataset import build_frame
from analysis.sap.methods import model_formula
from analysis.sap.simulate import simulate_values
from tests.analysis.test_sap_runner import ARMS, SHIPPED

NB_ANALYSIS = SHIPPED.analysis("sensitivity_re_referrals_overdispersion")
REL_EST = 2e-5
REL_SE = 1e-5
REL_SD = 5e-5
ABS_LOGLIK = 5e-5
ABS_POISSON = 1e-5
GLMMTMB = {
    15: {"treatment": -0.5076725041, "se": 0.0767484387, "sd": 0.26293686, "loglik": -271.87900775},
    24: {"treatment": -0.3774741419, "se": 0.0796149677, "sd": 0.30071083, "loglik": -279.47430161},
}
GLMER_POISSON_LOGLIK_SEED_15 = -271.879016854566


def _nb_fit(seed: int) -> GlmmResults:
    values = simulate_values(SHIPPED, ARMS, seed=seed, indicators=[NB_ANALYSIS.outcome])
    frame = build_frame(SHIPPED, values, ARMS, NB_ANALYSIS)
    return fit_glmm(
        frame.data,
        model_formula(frame),
        "unit",
        family="negative_binomial",
        offset=frame.offset,
    )


@pytest.fixture(scope="module")
def fits() -> dict[int, GlmmResults]:
    return {seed: _nb_fit(seed) for seed in GLMMTMB}


@pytest.mark.parametrize("seed", sorted(GLMMTMB))
def test_previously_failing_near_poisson_datasets_match_glmmtmb(
    fits: dict[int, GlmmResults], seed: int
) -> None:
    fit, ref = fits[seed], GLMMTMB[seed]
    assert fit.params["treatment"] == pytest.approx(ref["treatment"], rel=REL_EST)
    assert fit.std_errors["treatment"] == pytest.approx(ref["se"], rel=REL_SE)
    assert fit.extra["theta"][0] == pytest.approx(ref["sd"], rel=REL_SD)
    assert fit.extra["loglik"] == pytest.approx(ref["loglik"], abs=ABS_LOGLIK)


def test_size_at_its_upper_bound_is_a_boundary_warning_not_a_failure(
    fits: dict[int, GlmmResults],
) -> None:
    fit = fits[15]
    assert fit.converged
    assert SIZE_AT_BOUND in fit.warnings and SIZE_AT_BOUND.code == "nb-size-at-bound"
    assert fit.extra["size_at_bound"] is True
    assert fit.extra["size"] == pytest.approx(SIZE_MAX)


def test_the_nb_fit_at_the_bound_is_the_poisson_glmm_of_lme4(fits: dict[int, GlmmResults]) -> None:
    assert fits[15].extra["loglik"] == pytest.approx(GLMER_POISSON_LOGLIK_SEED_15, abs=ABS_POISSON)


def _exact_correction(y: int, mu: float, k: float) -> float:
    """log NB2 - log Poisson from the finite product Gamma(y + k) / Gamma(k) k^-y."""
    a = math.fsum(math.log1p(j / k) for j in range(y))
    return a + mu - (k + y) * math.log1p(mu / k)


@settings(max_examples=60, deadline=None)
@given(
    y=st.integers(0, 400),
    mu=st.floats(0.01, 500.0),
    log10_size=st.floats(1.5, 14.0),
)
def test_the_nb_log_density_is_accurate_for_any_size(y: int, mu: float, log10_size: float) -> None:
    k = 10.0**log10_size
    got = float(nb_minus_poisson_logpmf(np.array([float(y)]), np.array([mu]), k)[0])
    assert got == pytest.approx(_exact_correction(y, mu, k), abs=1e-11)


@pytest.mark.parametrize("size", [0.3, 2.0, 29.0, 31.0, 500.0])
def test_the_nb_log_density_matches_scipy_at_moderate_sizes(size: float) -> None:
    y = np.array([0.0, 1.0, 4.0, 25.0, 160.0])
    mu = np.array([0.5, 3.0, 4.0, 30.0, 140.0])
    fam = make_family("negative_binomial", y).with_size(size)
    want = stats.nbinom.logpmf(y, size, size / (size + mu))
    np.testing.assert_allclose(-0.5 * fam.neg2_loglik(np.log(mu)), want, rtol=1e-12, atol=1e-11)


def test_an_infinite_size_is_exactly_the_poisson_model() -> None:
    y = np.array([0.0, 3.0, 17.0])
    eta = np.log(np.array([0.7, 2.5, 20.0]))
    nb = make_family("negative_binomial", y).with_size(math.inf)
    pois = make_family("poisson", y)
    np.testing.assert_array_equal(nb.neg2_loglik(eta), pois.neg2_loglik(eta))
    for a, b in zip(nb.derivatives(eta), pois.derivatives(eta)):
        np.testing.assert_allclose(a, b, rtol=1e-15)


@pytest.mark.parametrize("size", [3.0, 1e3, 1e9])
def test_nb_derivatives_are_those_of_the_log_density(size: float) -> None:
    y = np.array([0.0, 5.0, 40.0])
    eta = np.log(np.array([1.5, 4.0, 35.0]))
    fam = make_family("negative_binomial", y).with_size(size)
    h = 1e-5

    def half(e: np.ndarray) -> np.ndarray:
        return 0.5 * fam.neg2_loglik(e)

    d1, d2 = fam.derivatives(eta)
    np.testing.assert_allclose(d1, (half(eta + h) - half(eta - h)) / (2 * h), atol=1e-6)
    h2 = 1e-3  # a wider step for the second difference (rounding error ~ 1e-13 / h2^2)
    fd2 = (half(eta + h2) - 2 * half(eta) + half(eta - h2)) / h2**2
    np.testing.assert_allclose(d2, fd2, rtol=1e-5)
