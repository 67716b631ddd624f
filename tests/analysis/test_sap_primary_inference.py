"""One primary inference per analysis: in the results JSON, the summary, and the dispatch
of the random-effect vocabulary to the model libraries."""

from __future__ import annotations

from dataclasses import replace

import pytest

from analysis.sap.methods import random_terms
from analysis.sap.results import SapResults
from analysis.sap.runner import run_sap
from analysis.sap.simulate import simulate_values
from analysis.sap.summary import primary_first
from tests.analysis.test_sap_runner import ARMS, SHIPPED, SPACE, UNITS, small_protocol


def _results(primary_inference: str) -> SapResults:
    a = SHIPPED.analysis("primary_re_referrals")
    p = small_protocol(
        (
            replace(
                a,
                inference=("cluster-level", "randomisation"),
                primary_inference=primary_inference,
            ),
        )
    )
    values = simulate_values(p, ARMS, seed=3, indicators=["da_re_referrals"])
    return run_sap(p, values, ARMS, SPACE, UNITS, icc=False, randomisation_ci=False)


def test_results_json_and_summary_lead_with_the_primary_inference() -> None:
    res = _results("randomisation")
    data = res.to_dict()["analyses"][0]
    assert data["primary_inference"] == "randomisation"
    assert [m["method"] for m in data["methods"]] == ["cluster-level", "randomisation"]
    assert [(lead, m.method) for lead, m in primary_first(res.analyses[0])] == [
        (True, "randomisation"),
        (False, "cluster-level"),
    ]
    md = res.summary_markdown()
    assert "**Primary result (primary_re_referrals):** randomisation: rate ratio" in md
    lines = [x for x in md.splitlines() if x.startswith("- ")]
    assert lines[-3].startswith("- **Primary inference** - randomisation: rate ratio")
    assert lines[-2].startswith("- Supportive - cluster-level: rate ratio")


def test_without_a_named_primary_inference_the_first_method_decides() -> None:
    data = _results("").to_dict()["analyses"][0]
    assert data["primary_inference"] == "cluster-level"


@pytest.mark.parametrize(
    ("entries", "terms"),
    [
        (("unit",), ("(1|unit)",)),
        (("unit", "unit:post"), ("(1|unit)", "(1|unit:post)")),
        (("unit", "unit:period"), ("(1|unit)", "(1|unit:period)")),
        (("unit", "unit_trend"), ("(1+time|unit)",)),
        (("unit", "unit_trend_uncorrelated"), ("(1|unit)", "(0+time|unit)")),
        (("unit", "unit:time"), ("(1+time|unit)",)),
    ],
)
def test_random_entries_become_lme4_terms(entries: tuple[str, ...], terms: tuple[str, ...]) -> None:
    assert random_terms(entries) == terms


def test_a_structure_the_installed_models_cannot_fit_fails_that_method_clearly() -> None:
    import inspect

    from analysis.glmm import fit_glmm

    a = SHIPPED.analysis("primary_re_referrals")
    p = small_protocol(
        (replace(a, random=("unit", "unit:post"), inference=("between-within", "cluster-level")),)
    )
    values = simulate_values(p, ARMS, seed=3, indicators=["da_re_referrals"])
    res = run_sap(p, values, ARMS, SPACE, UNITS, icc=False)
    bw, cl = res.analyses[0].methods
    assert cl.ok
    if "random" in inspect.signature(fit_glmm).parameters:  # the multi-term engine is here
        assert bw.ok
    else:
        assert not bw.ok and "(1|unit) + (1|unit:post)" in bw.error
