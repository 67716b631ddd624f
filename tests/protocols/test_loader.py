"""The protocol loader: the shipped protocol reads cleanly; every problem is reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from protocols import (
    ProtocolError,
    ProtocolValidationError,
    Quarter,
    load_protocol,
    loads_protocol,
    protocol_from_data,
    shipped_protocol_path,
)

SHIPPED = shipped_protocol_path().read_text(encoding="utf-8")


def problems_of(text: str) -> list[str]:
    with pytest.raises(ProtocolValidationError) as info:
        loads_protocol(text)
    return [str(p) for p in info.value.problems]


def test_shipped_protocol_has_seven_placeholder_boroughs_and_five_indicators() -> None:
    p = load_protocol(shipped_protocol_path())
    assert len(p.units) == 7
    assert all(u.illustrative for u in p.units)
    assert {u.gss_code for u in p.units}.isdisjoint(
        {"E09000012", "E09000031", "E09000025", "E09000013", "E09000003", "E09000002"}
    )
    assert [i.code for i in p.indicators] == [
        "da_referral_at_intake",
        "da_flagged_after_assessment",
        "cp_plans_with_da",
        "children_into_care_with_da",
        "da_re_referrals",
    ]
    assert p.arm_codes == ("intervention", "control")
    assert sum(p.allocation.arm_sizes.values()) == 7
    assert [a.role for a in p.analyses].count("primary") == 1


def test_shipped_protocol_marks_non_public_covariates_illustrative() -> None:
    p = load_protocol(shipped_protocol_path())
    for u in p.units:
        assert set(u.illustrative_covariates) == {"child_population", "baseline_da_referral_rate"}


def test_schedule_orders_baseline_transition_and_follow_up() -> None:
    s = load_protocol(shipped_protocol_path()).schedule
    assert s.phase(Quarter.parse("2025-Q1")) == "baseline"
    assert s.phase(Quarter.parse("2026-Q4")) == "transition"
    assert s.phase(Quarter.parse("2027-Q1")) == "follow_up"
    assert s.phase(Quarter.parse("2028-Q2")) is None


def test_every_problem_is_reported_with_its_location() -> None:
    text = (
        SHIPPED.replace('gss_code = "E09000007"', 'gss_code = "E0900007"')
        .replace('family = "poisson"', 'family = "poison"', 1)
        .replace("intervention = 3", "intervention = 2")
        .replace('follow_up_start = "2027-Q1"', 'follow_up_start = "2027-Q5"')
    )
    found = problems_of(text)
    assert any(x.startswith("units[0].gss_code: must be a GSS code") for x in found)
    assert any(x.startswith("analyses[0].family: must be one of") for x in found)
    assert any(
        x.startswith("allocation.arm_sizes: sizes add up to 6 but there are 7 units") for x in found
    )
    assert any(x.startswith("schedule.follow_up_start:") for x in found)
    assert len(found) == 4


def test_unknown_field_is_named() -> None:
    found = problems_of(SHIPPED.replace("[trial]\n", '[trial]\ncolour = "blue"\n'))
    assert found and found[0].startswith("trial.colour: is not a known field")


def test_duplicate_unit_id_names_both_places() -> None:
    found = problems_of(SHIPPED.replace('id = "enfield"', 'id = "camden"'))
    assert any(
        "units[1].id: unit id 'camden' is used twice (also at units[0].id)" in x for x in found
    )


def test_wrong_types_are_reported_not_raised() -> None:
    found = problems_of(
        SHIPPED.replace("submission_deadline_days = 45", 'submission_deadline_days = "45"')
    )
    assert found == ["schedule.submission_deadline_days: must be an integer, found text '45'"]


def test_analysis_must_estimate_treatment_and_use_known_terms() -> None:
    text = SHIPPED.replace(
        'fixed = ["treatment", "period"]\nrandom', 'fixed = ["period", "weather"]\nrandom', 1
    )
    found = problems_of(text)
    assert any("analyses[0].fixed[1]: 'weather' is neither a model term" in x for x in found)
    assert any("analyses[0].fixed: must include 'treatment'" in x for x in found)


def test_inference_method_must_suit_the_family() -> None:
    found = problems_of(
        SHIPPED.replace(
            'inference = ["cluster-level", "randomisation"]',
            'inference = ["satterthwaite", "cluster-level", "randomisation"]',
            1,
        )
    )
    assert any("'satterthwaite' does not apply to family 'poisson'" in x for x in found)


def test_constrained_allocation_needs_exactly_one_cutoff() -> None:
    found = problems_of(
        SHIPPED.replace("cutoff_quantile = 0.75", "cutoff_quantile = 0.75\ncutoff_schemes = 10")
    )
    assert any("exactly one of cutoff_quantile and cutoff_schemes" in x for x in found)


def test_broken_toml_is_a_validation_error() -> None:
    found = problems_of("[trial\nid = 1")
    assert found[0].startswith("toml:")


def test_missing_file_is_a_protocol_error(tmp_path: Path) -> None:
    with pytest.raises(ProtocolError, match="no such protocol file"):
        load_protocol(tmp_path / "absent.toml")


def test_stored_canonical_form_reads_back_to_the_same_protocol() -> None:
    p = load_protocol(shipped_protocol_path())
    again = protocol_from_data(p.canonical())
    assert again.canonical() == p.canonical()
    assert again.fingerprint() == p.fingerprint()


def test_objects_are_immutable() -> None:
    p = load_protocol(shipped_protocol_path())
    with pytest.raises(AttributeError):
        p.trial.id = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        p.units[0].covariates["child_population"] = 1.0  # type: ignore[index]


def test_covariate_constraints_use_cvrcov_language_on_numeric_covariates() -> None:
    text = SHIPPED.replace(
        "cutoff_quantile = 0.75",
        'cutoff_quantile = 0.75\ncovariate_constraints = { child_population = "mf0.2", '
        'inner_london = "s1", baseline_da_referral_rate = "q" }',
    )
    found = problems_of(text)
    assert any(
        x.startswith("allocation.covariate_constraints.inner_london: constraints apply to numeric")
        for x in found
    )
    assert any(
        x.startswith(
            "allocation.covariate_constraints.baseline_da_referral_rate: must be cvcrand's form"
        )
        for x in found
    )
    assert len(found) == 2


PRIMARY_LINE = 'primary_inference = "cluster-level"\n'


def test_the_primary_analysis_must_name_its_primary_inference() -> None:
    assert PRIMARY_LINE in SHIPPED
    found = problems_of(SHIPPED.replace(PRIMARY_LINE, "", 1))
    assert any(
        x.startswith("analyses[0].primary_inference: is required for the primary analysis")
        and "one of cluster-level, randomisation" in x
        for x in found
    )


def test_the_primary_inference_must_be_one_of_the_listed_methods() -> None:
    found = problems_of(SHIPPED.replace(PRIMARY_LINE, 'primary_inference = "between-within"\n', 1))
    assert any(
        "analyses[0].primary_inference: 'between-within' must be one of this analysis' "
        "inference methods (cluster-level, randomisation)" in x
        for x in found
    )


def test_other_analyses_may_name_a_primary_inference_and_default_to_their_first() -> None:
    from protocols import loads_protocol

    p = loads_protocol(SHIPPED)
    assert p.analysis("primary_re_referrals").deciding_inference == "cluster-level"
    assert p.analysis("sensitivity_re_referrals_gee").primary_inference == ""
    assert p.analysis("sensitivity_re_referrals_gee").deciding_inference == "gee-mancl-derouen"


def test_the_new_random_effect_vocabulary_is_accepted() -> None:
    from protocols import loads_protocol

    entries = '["unit", "unit:post", "unit:period", "unit_trend", "unit_trend_uncorrelated"]'
    text = SHIPPED.replace('random = ["unit"]', f"random = {entries}", 1)
    a = loads_protocol(text).analysis("primary_re_referrals")
    assert a.random == ("unit", "unit:post", "unit:period", "unit_trend", "unit_trend_uncorrelated")
    found = problems_of(SHIPPED.replace('random = ["unit"]', 'random = ["unit:weather"]', 1))
    assert any("analyses[0].random[0]: must be one of" in x for x in found)
