"""``rct analyse run`` with nothing analysable refuses and stores nothing; a method failing
for a data reason says so in words; an internal error is raised, never stored as FAILED."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from analysis.errors import DataError
from analysis.sap import methods
from analysis.sap.dataset import AnalysisFrame, build_frame
from analysis.sap.methods import MethodContext, fit_method
from analysis.sap.simulate import simulate_values
from rct.db.analysis_models import AnalysisRun
from rct.db.models import AuditEvent
from rct.workspace import Workspace
from tests.rct.helpers import run_cli
from tests.rct.test_analyse import SMALL, _import, _revealed, small_trial  # noqa: F401


def _stored_runs(url: str) -> tuple[int, int]:
    ws = Workspace(url, "sam")
    try:
        with ws.session() as s:
            runs = s.scalar(select(func.count()).select_from(AnalysisRun))
            events = s.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "analysis.run")
            )
            return int(runs or 0), int(events or 0)
    finally:
        ws.close()


def test_run_with_no_data_refuses_says_what_is_missing_and_stores_nothing(
    small_trial: str,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ws, _ = _revealed(small_trial, tmp_path)
    ws.close()
    run = run_cli(capsys, "--db", small_trial, "--as", "sam", "analyse", "run")
    assert run.code == 6, run.err
    assert run.err.startswith("Error: nothing to analyse yet, so nothing was stored")
    assert "no observed values of da_re_referrals" in run.err
    assert "FAILED" not in run.err + run.out and "Traceback" not in run.err
    assert _stored_runs(small_trial) == (0, 0)


def test_run_with_baseline_data_only_refuses_naming_the_follow_up(
    small_trial: str,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from rct.capture.submit import submit_return

    ws, arms = _revealed(small_trial, tmp_path)
    values = simulate_values(SMALL, arms, seed=5)
    base = values[values["period"] <= str(SMALL.schedule.baseline_end)]
    body = "borough,period,indicator,value\n" + "".join(
        f"{r.unit},{r.period},{r.indicator},{int(r.value)}\n" for r in base.itertuples()
    )
    assert submit_return(ws, "baseline.csv", data=body.encode()).stored
    ws.close()
    run = run_cli(capsys, "--db", small_trial, "--as", "sam", "analyse", "run")
    assert run.code == 6, run.err
    assert "no follow-up values of da_re_referrals" in run.err
    assert _stored_runs(small_trial) == (0, 0)


def _frame_and_ctx() -> tuple[AnalysisFrame, MethodContext]:
    units = [u.id for u in SMALL.units]
    arms = {u: ("intervention" if i < 3 else "control") for i, u in enumerate(units)}
    values = simulate_values(SMALL, arms, seed=3)
    analysis = SMALL.analyses[0]
    return build_frame(SMALL, values, arms, analysis), MethodContext(arms, "intervention")


def test_follow_up_in_one_arm_only_is_a_data_error_in_words() -> None:
    units = [u.id for u in SMALL.units]
    arms = {u: ("intervention" if i < 3 else "control") for i, u in enumerate(units)}
    values = simulate_values(SMALL, arms, seed=3)
    post = values["period"] >= str(SMALL.schedule.follow_up_start)
    values.loc[post & values["unit"].map(arms).eq("control"), "value"] = float("nan")
    with pytest.raises(DataError, match="no follow-up values of da_re_referrals in the control"):
        build_frame(SMALL, values, arms, SMALL.analyses[0])


def test_a_method_failing_for_a_data_reason_is_reported_in_words(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frame, ctx = _frame_and_ctx()

    def data_problem(*_: object) -> object:
        raise DataError("too few clusters with follow-up values")

    monkeypatch.setitem(methods.INFERENCE_METHODS, "cluster-level", data_problem)
    result = fit_method(frame, "cluster-level", ctx)
    assert not result.ok
    assert result.error == "too few clusters with follow-up values"


def test_an_internal_error_is_raised_not_stored_as_failed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frame, ctx = _frame_and_ctx()

    def bug(*_: object) -> object:
        raise ValueError("negative dimensions are not allowed")

    monkeypatch.setitem(methods.INFERENCE_METHODS, "cluster-level", bug)
    with pytest.raises(ValueError, match="negative dimensions"):
        fit_method(frame, "cluster-level", ctx)


def test_results_of_a_normal_run_name_no_internal_exception_types(
    small_trial: str,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ws, arms = _revealed(small_trial, tmp_path)
    _import(ws, arms)
    ws.close()
    run = run_cli(capsys, "--db", small_trial, "--as", "sam", "analyse", "run", "--json")
    assert run.code == 0, run.err
    text = json.dumps(json.loads(run.out))
    for name in ("ValueError", "KeyError", "RuntimeError", "IndexError", "TypeError"):
        assert name not in text


def test_analyse_run_shows_one_progress_bar_and_none_under_json(
    small_trial: str,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ws, arms = _revealed(small_trial, tmp_path)
    _import(ws, arms)
    ws.close()
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    run = run_cli(capsys, "--db", small_trial, "--as", "sam", "analyse", "run")
    assert run.code == 0, run.err
    assert "Running the SAP: 100%" in run.err and "elapsed" in run.err and "left" in run.err
    quiet = run_cli(capsys, "--db", small_trial, "--as", "sam", "analyse", "run", "--json")
    assert quiet.code == 0 and "Running the SAP" not in quiet.err
