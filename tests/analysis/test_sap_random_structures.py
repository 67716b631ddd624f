"""The protocol's random-effect vocabulary reaches the model engines through the SAP runner.

``unit:post``, ``unit:period`` and the borough trends are fitted by the LMM (REML, KR and
Satterthwaite) and by the GLMM engine (Laplace, containment df), so a statistician can
prespecify the cluster-period models that issue #10 asks for and have them run exactly as
``rct analyse run`` runs them.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from analysis.sap.runner import run_sap
from analysis.sap.simulate import SimulationSettings, simulate_values
from protocols import Analysis
from protocols.model import Family
from tests.analysis.test_sap_runner import ARMS, SHIPPED, SPACE, UNITS, small_protocol

DRIFT = SimulationSettings(rate_ratios={"da_re_referrals": 0.7}, sd_between=0.2, sd_post=0.1)


def _analysis(
    name: str, family: Family, random: tuple[str, ...], inference: tuple[str, ...]
) -> Analysis:
    base = SHIPPED.analysis("sensitivity_re_referrals_rate_lmm")
    return replace(
        base,
        name=name,
        role="sensitivity",
        family=family,
        random=random,
        inference=inference,
        offset="" if family == "gaussian" else "child_population",
        primary_inference="",
    )


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    analyses: tuple[Analysis, ...] = (
        _analysis(
            "lmm_post", "gaussian", ("unit", "unit:post"), ("kenward-roger", "satterthwaite")
        ),
        _analysis("lmm_trend", "gaussian", ("unit", "unit_trend"), ("satterthwaite",)),
        _analysis("glmm_post", "poisson", ("unit", "unit:post"), ("between-within",)),
        _analysis("glmm_period", "poisson", ("unit", "unit:period"), ("between-within",)),
    )
    p = small_protocol(analyses)
    values = simulate_values(p, ARMS, seed=11, settings=DRIFT)
    res = run_sap(p, values, ARMS, SPACE, UNITS, icc=False, randomisation_ci=False)
    results: dict[str, Any] = json.loads(res.to_json())
    return results


def _method(results: dict[str, Any], analysis: str, method: str) -> dict[str, Any]:
    a = next(a for a in results["analyses"] if a["name"] == analysis)
    return next(m for m in a["methods"] if m["method"] == method)


@pytest.mark.parametrize(
    ("analysis", "method"),
    [
        ("lmm_post", "kenward-roger"),
        ("lmm_post", "satterthwaite"),
        ("lmm_trend", "satterthwaite"),
        ("glmm_post", "between-within"),
        ("glmm_period", "between-within"),
    ],
)
def test_each_structure_is_fitted_with_a_finite_effect_and_p(
    results: dict[str, Any], analysis: str, method: str
) -> None:
    m = _method(results, analysis, method)
    assert m["status"] == "ok", m
    assert m["pvalue"] is not None and 0.0 <= m["pvalue"] <= 1.0


def test_the_borough_by_phase_effect_leaves_the_treatment_about_clusters_minus_two_df(
    results: dict[str, Any],
) -> None:
    # Treatment varies only between boroughs' follow-up phases: with a borough x phase
    # random effect its df come from the 7 boroughs (containment), not from 50-odd rows.
    for analysis, method in (("glmm_post", "between-within"), ("lmm_post", "kenward-roger")):
        df = _method(results, analysis, method)["df"]
        assert df is not None and df < 10, (analysis, df)


def test_an_unidentifiable_gaussian_cluster_period_term_fails_naming_the_term() -> None:
    # One row per borough x quarter cell: the term is the residual. The SAP reports the
    # method as failed with the library's message (the CLI's 'analyse fit' exits 2 on it).
    a = _analysis("lmm_period", "gaussian", ("unit", "unit:period"), ("kenward-roger",))
    p = small_protocol((a,))
    values = simulate_values(p, ARMS, seed=11, settings=DRIFT)
    res = run_sap(p, values, ARMS, icc=False)
    (m,) = res.analysis("lmm_period").methods
    assert not m.ok
    assert m.error is not None and "(1 | unit:period) cannot be identified" in m.error
