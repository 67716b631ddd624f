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
from analysis.sap.runner import run_sap
from analysis.sap.simulate import SimulationSettings, simulate_values
from tests.analysis.test_sap_runner import ARMS, SHIPPED, small_protocol


def test_the_script_fits_each_family_with_the_prespecified_package_and_options() -> None:
    text = r_script(SHIPPED)
    assert text.count("glmer(") == 7  # the seven Poisson analyses (one per between-within fit)
    assert "nAGQ = 7" in text
    assert "family = nbinom2" in text
    assert "lmerTest::lmer(rate ~ treatment + period + (1 | unit)" in text
    assert 'summary(m, ddf = "Kenward-Roger")' in text
    assert "offset(log(child_population))" in text
    assert "# gee-mancl-derouen: not refitted here" in text
    assert SHIPPED.fingerprint() in text


def test_the_script_is_balanced_and_names_every_unit_covariate() -> None:
    text = r_script(SHIPPED)
    for open_, close in ("()", "{}", "[]"):
        assert text.count(open_) == text.count(close), open_
    for u in SHIPPED.units:
        assert f'"{u.id}"' in text
    assert "baseline_da_referral_rate = c(" in text


def _export_csv(protocol, values, arms, path: Path) -> None:
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
