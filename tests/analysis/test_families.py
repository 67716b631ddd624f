"""The family registry: one statement of what each outcome family allows."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.errors import ModelSpecificationError
from analysis.families import FAMILIES, family_info
from analysis.glmm import fit_glmm
from analysis.glmm.model import FAMILIES as GLMM_FAMILIES


def test_registry_states_links_quadrature_and_engines() -> None:
    assert {n for n, f in FAMILIES.items() if f.agq} == {"poisson", "binomial"}
    assert family_info("negative_binomial").level_family == "poisson"
    assert family_info("binomial").link == "logit"
    assert family_info("gaussian").mixed_model == "lmm"
    assert set(GLMM_FAMILIES) == {n for n, f in FAMILIES.items() if f.mixed_model == "glmm"}


def test_unknown_family_names_the_choices() -> None:
    with pytest.raises(ModelSpecificationError, match="choose from gaussian, poisson"):
        family_info("gamma")


def test_glmm_refuses_quadrature_where_the_registry_says_so() -> None:
    data = pd.DataFrame({"g": list("aabbcc"), "y": [1, 2, 3, 4, 5, 6]})
    with pytest.raises(ModelSpecificationError, match="adaptive quadrature"):
        fit_glmm(data, "y ~ 1", "g", family="negative_binomial", nagq=5)


def test_registry_states_trials_level_effects_and_icc_models() -> None:
    assert {n for n, f in FAMILIES.items() if f.trials} == {"binomial"}
    assert family_info("binomial").cluster_level_effect == "risk ratio"
    assert family_info("poisson").cluster_level_effect == "rate ratio"
    assert family_info("gaussian").cluster_level_effect == "mean difference"
    assert family_info("negative_binomial").icc_model_family == "poisson"
    assert family_info("binomial").icc_model_family == "binomial"


def test_sap_modules_ask_the_registry_instead_of_comparing_family_names() -> None:
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    compare = re.compile(r"family\s*(==|!=|in)\s*\(?\s*\"|\"\s*(==|!=)\s*\w*family")
    for path in [*sorted((root / "analysis" / "sap").glob("*.py")), root / "rct/cli/analyse.py"]:
        text = path.read_text(encoding="utf-8")
        assert not compare.search(text), path.name
