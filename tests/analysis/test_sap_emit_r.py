"""The R cross-check script: well formed, and (with R installed) agreeing with our fits."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.sap.emit_r import r_script
from analysis.sap.results import SapResults
from analysis.sap.runner import run_sap
from analysis.sap.simulate import SimulationSettings, simulate_values
from protocols import Protocol
from protocols.model import Family
from tests.analysis.test_sap_runner import ARMS, SHIPPED, small_protocol
from tools.r_reference import make_sap_random_terms as reference


def test_the_script_fits_each_family_with_the_prespecified_package_and_options() -> None:
    text = r_script(SHIPPED)
    # the eight Poisson analyses with a between-within fit: four secondaries and one
    # sensitivity analysis with a borough x phase effect (Laplace), two with AGQ 7 and the
    # GEE analysis' GLMM (nagq 1)
    assert text.count("glmer(") == 8
    assert text.count("nAGQ = 7") == 2 and text.count("nAGQ = 1,") == 6
    # glmer, glmmTMB (its SE) and glFormula (containment df) for each borough x phase model
    assert text.count("(1 | unit) + (1 | unit:post)") == 3 * 5
    assert "family = nbinom2" in text
    assert "lmerTest::lmer(rate ~ treatment + period + (1 | unit)" in text
    assert 'summary(m, ddf = "Kenward-Roger")' in text
    assert "offset(log(child_population))" in text
    assert "# gee-mancl-derouen: not refitted here" in text
    assert SHIPPED.fingerprint() in text


def _script_for(family: Family, random: tuple[str, ...], inference: tuple[str, ...]) -> str:
    base = SHIPPED.analysis("sensitivity_re_referrals_glmm")
    offset = "" if family == "gaussian" else base.offset
    a = replace(base, family=family, random=random, inference=inference, offset=offset)
    return r_script(small_protocol((a,)))


@pytest.mark.parametrize(
    ("random", "lme4"),
    [
        (("unit", "unit:post"), "(1 | unit) + (1 | unit:post)"),
        (("unit", "unit:period"), "(1 | unit) + (1 | unit:period)"),
        (("unit_trend",), "(1 + time | unit)"),
        (("unit", "unit_trend_uncorrelated"), "(1 | unit) + (0 + time | unit)"),
    ],
)
def test_a_glmm_with_several_random_effects_is_emitted_as_python_fits_it(
    random: tuple[str, ...], lme4: str
) -> None:
    text = _script_for("poisson", random, ("between-within",))
    assert f"glmer(y ~ treatment + period + {lme4} + offset(log(child_population))" in text
    assert "nAGQ = 1," in text and "nAGQ = 7" not in text  # Laplace, as in Python
    assert f"glmmTMB(y ~ treatment + period + {lme4}" in text  # exact Laplace SEs
    assert 'contain_df(X, rt)[["treatment"]]' in text and "bw_df(X" not in text


def test_a_random_intercept_alone_keeps_its_quadrature_and_between_within_df() -> None:
    text = _script_for("poisson", ("unit",), ("between-within",))
    assert "(1 | unit) + offset" in text and "nAGQ = 7" in text
    assert 'bw_df(X, d$unit)[["treatment"]]' in text and "contain_df(X, rt)[" not in text


def test_an_lmm_and_a_negative_binomial_glmm_carry_the_random_terms() -> None:
    lmm = _script_for("gaussian", ("unit", "unit:post"), ("kenward-roger",))
    assert "lmerTest::lmer(rate ~ treatment + period + (1 | unit) + (1 | unit:post)," in lmm
    nb = _script_for("negative_binomial", ("unit", "unit:period"), ("between-within",))
    assert "glmmTMB(y ~ treatment + period + (1 | unit) + (1 | unit:period)" in nb
    assert "family = nbinom2" in nb and 'contain_df(X, rt)[["treatment"]]' in nb


def test_the_committed_r_reference_script_is_what_the_emitter_writes() -> None:
    # sap_random_terms_r.csv is R's output of this very script: regenerate both
    # (python -m tools.r_reference.make_sap_random_terms) when the emitter changes
    assert reference.SCRIPT.read_text(encoding="utf-8") == r_script(reference.reference_protocol())


@pytest.fixture(scope="module")
def random_terms_fits() -> SapResults:
    protocol = reference.reference_protocol()
    return run_sap(protocol, reference.read_values(), reference.reference_arms(protocol), icc=False)


def test_every_random_structure_agrees_with_the_committed_r_refits(
    random_terms_fits: SapResults,
) -> None:
    """lme4 / lmerTest / pbkrtest / glmmTMB on the demo-shaped trial, run by the emitted
    script: estimates and SEs 1e-4 (relative), df and p-values 1e-3."""
    theirs = pd.read_csv(reference.R_RESULTS)
    assert set(theirs["analysis"]) == set(reference.ANALYSES)
    assert len(theirs) == sum(len(inf) for _, _, inf in reference.ANALYSES.values())
    for row in theirs.itertuples():
        ours = random_terms_fits.analysis(row.analysis)
        m = next(m for m in ours.methods if m.method == row.method)
        assert m.ok, (row.analysis, m.error)
        assert m.coefficient == pytest.approx(row.estimate, rel=1e-4), row
        assert m.std_error == pytest.approx(row.std_error, rel=1e-4), row
        assert (m.df if m.df is not None else np.inf) == pytest.approx(row.df, rel=1e-3), row
        assert m.pvalue == pytest.approx(row.pvalue, rel=1e-3), row


def test_the_script_is_balanced_and_names_every_unit_covariate() -> None:
    text = r_script(SHIPPED)
    for open_, close in ("()", "{}", "[]"):
        assert text.count(open_) == text.count(close), open_
    for u in SHIPPED.units:
        assert f'"{u.id}"' in text
    assert "baseline_da_referral_rate = c(" in text


def _export_csv(protocol: Protocol, values: pd.DataFrame, arms: dict[str, str], path: Path) -> None:
    from rct.capture.export import dataset_rows, write_dataset
    from rct.capture.values import StoredCell

    cells = {
        (r.unit, r.period, r.indicator): StoredCell(float(r.value), 1, "", 1)
        for r in values.itertuples()
        if not np.isnan(r.value)
    }
    write_dataset(dataset_rows(protocol, cells, {}, arms), path, "csv")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("Rscript") is None, reason="R is not installed")
def test_r_refits_agree_with_ours_on_a_simulated_trial(tmp_path: Path) -> None:
    analyses = tuple(
        SHIPPED.analysis(n)
        for n in (
            "primary_re_referrals",
            "secondary_into_care",
            "sensitivity_re_referrals_overdispersion",
            "sensitivity_re_referrals_rate_lmm",
            "sensitivity_re_referrals_follow_up_only",
        )
    )
    protocol = small_protocol(
        tuple(
            replace(
                a,
                inference=tuple(
                    m
                    for m in a.inference
                    if m in ("between-within", "satterthwaite", "kenward-roger")
                ),
            )
            for a in analyses
        )
    )
    values = simulate_values(protocol, ARMS, seed=3, settings=SimulationSettings(missing=0.05))
    _export_csv(protocol, values, ARMS, tmp_path / "dataset.csv")
    (tmp_path / "sap.R").write_text(r_script(protocol))
    done = subprocess.run(
        ["Rscript", "sap.R", "dataset.csv", "r.csv"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    ours = run_sap(protocol, values, ARMS, icc=False)
    theirs = pd.read_csv(tmp_path / "r.csv")
    assert len(theirs) == sum(len(a.inference) for a in protocol.analyses)
    for row in theirs.itertuples():
        m = next(m for m in ours.analysis(row.analysis).methods if m.method == row.method)
        assert m.ok, (row.analysis, m.error)
        # lme4/glmmTMB stop their optimisers at about 1e-5 relative; LMMs agree far closer
        assert row.estimate == pytest.approx(m.coefficient, rel=5e-4, abs=1e-5), row
        assert row.std_error == pytest.approx(m.std_error, rel=5e-4), row
        assert row.df == pytest.approx(m.df, rel=1e-4), row
        assert row.pvalue == pytest.approx(m.pvalue, rel=5e-3, abs=1e-8), row
