"""``rct analyse fit`` on any CSV (checked against lme4 reference values), ``rct analyse
emit-r`` and ``rct design power``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.rct.helpers import run_cli

ROOT = Path(__file__).resolve().parents[2]
REF = ROOT / "tools" / "r_reference"
LMM = json.loads((REF / "lmm_values.json").read_text())["cases"]
GLMM = json.loads((REF / "glmm_values.json").read_text())


def test_fit_a_gaussian_model_matches_lmer_with_satterthwaite_df(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ref = LMM["sleep_intercept_reml"]
    run = run_cli(
        capsys,
        "analyse",
        "fit",
        str(REF / "data" / "sleepstudy.csv"),
        "--formula",
        "Reaction ~ Days",
        "--group",
        "Subject",
        "--df",
        "satterthwaite",
        "--json",
    )
    assert run.code == 0, run.err
    days = json.loads(run.out)["coefficients"]["Days"]
    assert days["estimate"] == pytest.approx(ref["fixef"]["Days"], rel=1e-6)
    assert days["std_error"] == pytest.approx(ref["se"]["Days"], rel=1e-4)
    assert days["df"] == pytest.approx(ref["satterthwaite"]["df"]["Days"], rel=1e-3)


def test_fit_a_poisson_model_with_an_exposure_matches_glmer_agq7(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ref = GLMM["poisson_agq7"]
    run = run_cli(
        capsys,
        "analyse",
        "fit",
        str(REF / "data" / "sim_trial_counts.csv"),
        "--formula",
        "count ~ arm + post + treat",
        "--group",
        "borough",
        "--family",
        "poisson",
        "--exposure",
        "population",
        "--nagq",
        "7",
        "--json",
    )
    assert run.code == 0, run.err
    treat = json.loads(run.out)["coefficients"]["treat"]
    assert treat["estimate"] == pytest.approx(ref["fixef"]["treat"], rel=1e-4)
    assert treat["std_error"] == pytest.approx(ref["se"]["treat"], rel=1e-4)


def test_fit_prints_a_summary_table(capsys: pytest.CaptureFixture[str]) -> None:
    run = run_cli(
        capsys,
        "analyse",
        "fit",
        str(REF / "data" / "sleepstudy.csv"),
        "--formula",
        "Reaction ~ Days",
        "--group",
        "Subject",
        "--df",
        "kenward-roger",
    )
    assert run.code == 0, run.err
    assert "Days" in run.out and "Inference: kenward-roger" in run.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--formula", "Reaction ~ Nope", "--group", "Subject"], "Nope"),
        (
            [
                "--formula",
                "Reaction ~ Days",
                "--group",
                "Subject",
                "--family",
                "poisson",
                "--df",
                "satterthwaite",
            ],
            "applies to gaussian models",
        ),
        (["--formula", "Reaction ~ Days", "--group", "Subject", "--family", "poisson"], "integers"),
    ],
)
def test_fit_mistakes_get_one_clear_message(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    run = run_cli(capsys, "analyse", "fit", str(REF / "data" / "sleepstudy.csv"), *args)
    assert run.code != 0
    assert message in run.err and "Traceback" not in run.err


def test_fit_of_an_unidentifiable_random_term_names_it_with_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # borough x quarter in a Gaussian model with one row per cell: confounded with the
    # residual (#10); the library raises DesignError (tests/analysis/test_lmm_structures.py)
    formula = "rate ~ arm * post + (1 | borough) + (1 | borough:period)"
    data = str(REF / "data" / "sim_trial_gaussian.csv")
    run = run_cli(capsys, "analyse", "fit", data, "--formula", formula, "--group", "borough")
    assert run.code == 2
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert "(1 | borough:period) cannot be identified" in lines[0]
    assert "Traceback" not in run.err


def test_emit_r_writes_the_script_for_the_stored_protocol(
    trial_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sap.R"
    run = run_cli(capsys, "--db", trial_url, "--as", "sam", "analyse", "emit-r", "-o", str(out))
    assert run.code == 0, run.err
    text = out.read_text()
    assert "glmer(y ~ treatment + period + (1 | unit) + offset(log(child_population))" in text
    assert "Rscript sap.R analysis_dataset.csv" in text


def test_design_power_prints_plainly_and_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from protocols import shipped_protocol_path

    args = [
        "design",
        "power",
        "--protocol",
        str(shipped_protocol_path()),
        "--method",
        "cluster-level",
        "--simulations",
        "12",
        "--baseline-quarters",
        "2",
        "--follow-up-quarters",
        "2",
        "--rate-ratio",
        "0.9",
        "--seed",
        "5",
    ]
    run = run_cli(capsys, *args)
    assert run.code == 0, run.err
    assert run.out.startswith("Power ") and "(MC SE " in run.out
    as_json = run_cli(capsys, *args, "--json")
    data = json.loads(as_json.out)
    assert data["simulations"] == 12 and data["method"] == "cluster-level"
    assert data["message"] == run.out.splitlines()[0]


def test_design_power_refuses_two_ways_of_giving_the_clustering(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from protocols import shipped_protocol_path

    run = run_cli(
        capsys,
        "design",
        "power",
        "--protocol",
        str(shipped_protocol_path()),
        "--icc",
        "0.1",
        "--cv",
        "0.3",
    )
    assert run.code == 2 and "at most one" in run.err


def test_design_power_takes_a_borough_trend_sd(capsys: pytest.CaptureFixture[str]) -> None:
    from protocols import shipped_protocol_path

    base = [
        "design",
        "power",
        "--protocol",
        str(shipped_protocol_path()),
        "--method",
        "cluster-level",
        "--simulations",
        "6",
        "--baseline-quarters",
        "2",
        "--follow-up-quarters",
        "2",
        "--json",
    ]
    data = json.loads(run_cli(capsys, *base, "--sd-trend", "0.05").out)
    assert data["sd_trend"] == 0.05
    refused = run_cli(capsys, *base, "--sd-trend", "-0.1")
    assert refused.code == 2 and "--sd-trend" in refused.err
