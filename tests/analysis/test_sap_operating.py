"""The simulation engine behind ``rct design check``: deterministic seeds, any number of
workers, resumption, missing returns and the flag on anti-conservative methods."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import analysis.sap.methods as methods
from analysis.errors import ModelSpecificationError
from analysis.sap.characteristics import characteristics, flag_threshold
from analysis.sap.dataset import AnalysisFrame
from analysis.sap.methods import MethodContext
from analysis.sap.operating import OperatingPlan, SimulationRecord, run_key, run_simulations
from analysis.sap.results import MethodResult
from analysis.sap.scenarios import Scenario, apply_missing, default_grid
from analysis.sap.simulate import SimulationSettings
from tests.analysis.test_sap_runner import SPACE, UNITS, small_protocol

PRIMARY = "primary_re_referrals"


def plan_for(
    method_names: tuple[str, ...] = ("cluster-level",),
    scenarios: tuple[Scenario, ...] | None = None,
    seed: int = 5,
) -> OperatingPlan:
    grid = scenarios or default_grid(names=["reference"])
    return OperatingPlan.build(
        small_protocol(), grid, SPACE, UNITS, selection=((PRIMARY, method_names),), seed=seed
    )


def same(a: list[SimulationRecord], b: list[SimulationRecord]) -> bool:
    """Records equal to the last bit (repr, so that NaN equals NaN)."""
    return repr(a) == repr(b)


def test_results_are_identical_for_one_and_two_workers() -> None:
    plan = plan_for()
    one = run_simulations(plan, 4, workers=1)
    two = run_simulations(plan, 4, workers=2)
    assert same(one, two)
    assert [(r.scenario, r.index) for r in one] == [
        (s.key, i) for s in plan.scenarios for i in range(4)
    ]


def test_a_scenario_s_simulations_do_not_depend_on_the_other_scenarios() -> None:
    ref = default_grid(names=["reference"])
    alone = run_simulations(plan_for(scenarios=ref), 2, workers=1)
    grid = default_grid(names=["trend", "reference"])
    together = run_simulations(plan_for(scenarios=grid), 2, workers=1)
    keys = {s.key for s in ref}
    assert same(alone, [r for r in together if r.scenario in keys])


def test_another_master_seed_gives_other_trials() -> None:
    a = run_simulations(plan_for(seed=1), 2, workers=1)
    b = run_simulations(plan_for(seed=2), 2, workers=1)
    assert [r.outcomes[0][3] for r in a] != [r.outcomes[0][3] for r in b]


def test_a_resumed_run_skips_finished_simulations_and_gives_the_same_result() -> None:
    plan = plan_for()
    first: list[SimulationRecord] = []
    run_simulations(plan, 2, workers=1, on_record=first.append)
    assert len(first) == 4  # two scenarios (null and target), two trials each
    done = {(r.scenario, r.index): r for r in first}
    new: list[SimulationRecord] = []
    steps: list[int] = []
    resumed = run_simulations(
        plan, 3, workers=1, done=done, on_record=new.append, progress=steps.append
    )
    assert sorted(r.index for r in new) == [2, 2]  # only the third trial of each scenario
    assert sum(steps) == 6 and steps[0] == 4  # finished ones counted at once
    assert same(resumed, run_simulations(plan, 3, workers=1))


def test_failed_fits_are_counted_not_dropped() -> None:
    plan = plan_for(("cluster-level", "kenward-roger"))  # KR: Gaussian models only
    records = run_simulations(plan, 3, workers=1)
    res = characteristics(plan, records)
    kr = res.row(PRIMARY, "kenward-roger", "reference/null")
    assert (kr.simulations, kr.fitted, kr.failed) == (3, 0, 3)
    assert "Gaussian" in kr.first_error
    assert not kr.anti_conservative
    cl = res.row(PRIMARY, "cluster-level", "reference/null")
    assert cl.fitted + cl.failed == 3 and cl.coverage is not None and cl.bias is not None


def _anti_conservative(frame: AnalysisFrame, method: str, ctx: MethodContext) -> MethodResult:
    """The cluster-level analysis with every p-value divided by ten: far too liberal."""
    res: MethodResult = methods._cluster_level(frame, method, ctx)
    return replace(res, pvalue=res.pvalue / 10)


def test_a_deliberately_anti_conservative_method_is_flagged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(methods.INFERENCE_METHODS, "wald-normal", _anti_conservative)
    plan = plan_for(("cluster-level", "wald-normal"), seed=11)
    records = run_simulations(plan, 20, workers=1)
    res = characteristics(plan, records)
    liberal = res.row(PRIMARY, "wald-normal", "reference/null")
    honest = res.row(PRIMARY, "cluster-level", "reference/null")
    assert liberal.rejection_rate > liberal.threshold  # type: ignore[operator]
    assert liberal.anti_conservative and not honest.anti_conservative
    assert [(r.method, r.scenario) for r in res.flagged] == [("wald-normal", "reference/null")]
    assert res.to_dict()["flagged"] == [
        {"analysis": PRIMARY, "method": "wald-normal", "scenario": "reference/null"}
    ]
    # power is never flagged, however high
    assert not res.row(PRIMARY, "wald-normal", "reference/target").anti_conservative


def test_the_flag_threshold_is_two_monte_carlo_ses_of_a_nominal_method() -> None:
    assert flag_threshold(0.05, 1000) == pytest.approx(0.05 + 2 * math.sqrt(0.0475 / 1000))
    assert flag_threshold(0.05, 0) == math.inf


def test_missing_returns_follow_the_partnership_pattern() -> None:
    p = small_protocol()
    follow = [str(q) for q in p.schedule.follow_up]
    rows = [(u, str(q), "x", 1.0) for u in UNITS for q in p.schedule.quarters]
    values = pd.DataFrame(rows, columns=["unit", "period", "indicator", "value"])
    scen = Scenario("m", missing="partnership")
    out = apply_missing(values, scen, follow, np.random.default_rng(3))
    gone = out[out["value"].isna()]
    assert set(gone["period"]) <= set(follow)  # only late (follow-up) returns go missing
    for _unit, rows_u in gone.groupby("unit"):
        k = len(rows_u)
        assert 1 <= k <= 3 and sorted(rows_u["period"]) == follow[len(follow) - k :]
    none = apply_missing(values, Scenario("n"), follow, np.random.default_rng(3))
    assert not none["value"].isna().any()


def test_the_default_grid_pairs_every_drift_with_null_and_target() -> None:
    grid = default_grid()
    assert len(grid) == 16 and len({s.key for s in grid}) == 16
    for null, target in zip(grid[::2], grid[1::2]):
        assert null.is_null("da_re_referrals") and not target.is_null("da_re_referrals")
        assert target.true_log_effect("da_re_referrals") == pytest.approx(math.log(0.67))
    assert {s.missing for s in grid} == {"none", "partnership"}
    with pytest.raises(ModelSpecificationError, match="unknown scenario"):
        default_grid(names=["nope"])


def test_the_run_key_ignores_texts_but_not_models_or_seeds() -> None:
    plan = plan_for()
    p = small_protocol()
    a = p.analysis(PRIMARY)
    worded = replace(p, analyses=(replace(a, description="reworded"),))
    grid = default_grid(names=["reference"])
    same_key = OperatingPlan.build(
        worded, grid, SPACE, UNITS, selection=((PRIMARY, ("cluster-level",)),), seed=5
    )
    assert run_key(same_key) == run_key(plan)
    assert run_key(plan_for(seed=6)) != run_key(plan)
    remodelled = replace(p, analyses=(replace(a, fixed=("treatment",)),))
    other = OperatingPlan.build(
        remodelled, grid, SPACE, UNITS, selection=((PRIMARY, ("cluster-level",)),), seed=5
    )
    assert run_key(other) != run_key(plan)


def test_scenario_keys_follow_content_not_names() -> None:
    a = Scenario("a", SimulationSettings(sd_trend=0.02))
    b = Scenario("b", SimulationSettings(sd_trend=0.02))
    c = Scenario("a", SimulationSettings(sd_trend=0.03))
    assert a.key == b.key != c.key


def test_plans_refuse_what_they_cannot_run() -> None:
    p = small_protocol()
    grid = default_grid(names=["reference"])
    with pytest.raises(ModelSpecificationError, match="no analysis"):
        OperatingPlan.build(p, grid, SPACE, UNITS, selection=(("nope", ("cluster-level",)),))
    with pytest.raises(ModelSpecificationError, match="units"):
        OperatingPlan.build(p, grid, SPACE[:, :6], UNITS[:6])
    with pytest.raises(ModelSpecificationError, match="differ"):
        OperatingPlan.build(p, grid + grid, SPACE, UNITS)
    with pytest.raises(ModelSpecificationError, match="workers"):
        run_simulations(plan_for(), 1, workers=0)


@pytest.mark.parametrize("workers", [1, 2])
def test_an_interrupted_run_keeps_what_is_finished_and_resumes(workers: int) -> None:
    plan = plan_for()
    kept: list[SimulationRecord] = []

    def interrupt_after_the_first(record: SimulationRecord) -> None:
        kept.append(record)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_simulations(plan, 3, workers=workers, on_record=interrupt_after_the_first)
    assert len(kept) == 1
    new: list[SimulationRecord] = []
    resumed = run_simulations(
        plan, 3, workers=1, done={(r.scenario, r.index): r for r in kept}, on_record=new.append
    )
    assert len(new) == 5 and (kept[0].scenario, kept[0].index) not in {
        (r.scenario, r.index) for r in new
    }
    assert same(resumed, run_simulations(plan, 3, workers=1))


def test_a_borough_phase_shift_moves_follow_up_returns_only() -> None:
    from analysis.sap.simulate import simulate_values
    from tests.analysis.test_sap_runner import ARMS

    p = small_protocol()
    flat = simulate_values(p, ARMS, seed=4, indicators=["da_re_referrals"])
    shifted = simulate_values(
        p, ARMS, seed=4, settings=SimulationSettings(sd_post=0.5), indicators=["da_re_referrals"]
    )
    follow = flat["period"].isin([str(q) for q in p.schedule.follow_up])
    assert flat[~follow].equals(shifted[~follow])  # baseline draws untouched
    assert not flat[follow].equals(shifted[follow])
    with pytest.raises(ModelSpecificationError, match="sd_post"):
        SimulationSettings(sd_post=-0.1)
