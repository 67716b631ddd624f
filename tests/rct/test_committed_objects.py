"""Properties of rct-commitment-v2: fields outside the committed units and design objects
never change the commitment; every field inside them does. And v1 allocations still verify."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from allocation.commitment import COMMITMENT_V1, COMMITMENT_V2, commitment
from protocols import Protocol, load_protocol, shipped_protocol_path
from rct.allocation.design import committed_inputs, space_for_protocol
from rct.allocation.verify import verify_allocation

BASE = load_protocol(shipped_protocol_path())
SEED = bytes(range(32))
USED = ("child_population", "baseline_da_referral_rate")  # numeric covariates of the design
texts = st.text(min_size=1, max_size=12).filter(lambda s: "\x00" not in s)


def v2_commitment(p: Protocol) -> str:
    inputs = committed_inputs(p, COMMITMENT_V2)
    return commitment(
        SEED,
        BASE.fingerprint(),  # held fixed: only the committed objects vary here
        inputs["units_fingerprint"],
        inputs["design_fingerprint"],
        version=COMMITMENT_V2,
    )


def with_unit(p: Protocol, index: int, **changes: Any) -> Protocol:
    units = list(p.units)
    units[index] = dataclasses.replace(units[index], **changes)
    return dataclasses.replace(p, units=tuple(units))


BASELINE = v2_commitment(BASE)


@settings(max_examples=40, deadline=None)
@given(
    index=st.integers(0, len(BASE.units) - 1),
    name=texts,
    gss=st.from_regex(r"E09[0-9]{6}", fullmatch=True),
    note=texts,
    stratum=texts,
    extra=st.floats(-1e9, 1e9, allow_nan=False),
    illustrative=st.booleans(),
)
def test_fields_outside_the_committed_objects_do_not_change_the_commitment(
    index: int, name: str, gss: str, note: str, stratum: str, extra: float, illustrative: bool
) -> None:
    unit = BASE.units[index]
    changed = with_unit(
        BASE,
        index,
        name=name,
        gss_code=gss,
        note=note,
        stratum=stratum,  # the design is not stratified: the stratum is not read
        illustrative=illustrative,
        covariates={**unit.covariates, "unused_covariate": extra},
    )
    assert v2_commitment(changed) == BASELINE


@settings(max_examples=40, deadline=None)
@given(
    index=st.integers(0, len(BASE.units) - 1),
    column=st.sampled_from(USED),
    delta=st.floats(0.5, 1e4),
)
def test_a_committed_covariate_value_changes_the_commitment(
    index: int, column: str, delta: float
) -> None:
    unit = BASE.units[index]
    value = float(unit.covariates[column]) + delta
    changed = with_unit(BASE, index, covariates={**unit.covariates, column: value})
    assert v2_commitment(changed) != BASELINE


@settings(max_examples=20, deadline=None)
@given(
    index=st.integers(0, len(BASE.units) - 1), suffix=st.from_regex(r"[a-z]{1,5}", fullmatch=True)
)
def test_a_unit_id_or_category_changes_the_commitment(index: int, suffix: str) -> None:
    unit = BASE.units[index]
    assert v2_commitment(with_unit(BASE, index, id=unit.id + "_" + suffix)) != BASELINE
    flipped = "outer" if unit.covariates["inner_london"] == "inner" else "inner"
    covs = {**unit.covariates, "inner_london": flipped}
    assert v2_commitment(with_unit(BASE, index, covariates=covs)) != BASELINE


@settings(max_examples=20, deadline=None)
@given(q=st.floats(0.05, 1.0).filter(lambda q: q != BASE.allocation.cutoff_quantile))
def test_a_design_field_changes_the_commitment(q: float) -> None:
    spec = dataclasses.replace(BASE.allocation, cutoff_quantile=q)
    assert v2_commitment(dataclasses.replace(BASE, allocation=spec)) != BASELINE


def test_stratum_is_committed_when_the_design_is_stratified() -> None:
    strat = dataclasses.replace(
        BASE,
        allocation=dataclasses.replace(BASE.allocation, stratify=True),
        units=tuple(
            dataclasses.replace(u, stratum="a" if i % 2 else "b") for i, u in enumerate(BASE.units)
        ),
    )
    inputs = committed_inputs(strat, COMMITMENT_V2)
    assert "stratum" in inputs["units"]["columns"]
    before = v2_commitment(strat)
    assert v2_commitment(with_unit(strat, 0, stratum="c")) != before


def test_v1_allocations_still_verify_through_the_v1_path() -> None:
    """A certificate sealed under rct-commitment-v1 (whole unit table, no design) passes."""
    space = space_for_protocol(BASE)
    drawn = space.draw(SEED)
    com = commitment(SEED, BASE.fingerprint(), BASE.units_fingerprint(), version=COMMITMENT_V1)
    cert = {
        "allocation": 1,
        "algorithm": {"commitment": COMMITMENT_V1},
        "protocol_fingerprint": BASE.fingerprint(),
        "units_fingerprint": BASE.units_fingerprint(),
        "space_fingerprint": space.fingerprint(),
        "units": BASE.units_table(),
        "design": space.design.to_dict(),
        "commitment": com,
        "seed": SEED.hex(),
        "arms": drawn.arms,
        "scheme_index": drawn.index,
    }
    checks = {c.name: c for c in verify_allocation(cert, BASE, [])}
    for name in ("unit table fingerprint", "units object", "design object", "commitment"):
        assert checks[name].ok, checks[name]
    # the same certificate labelled v2 does not verify: the label selects the algorithm
    relabelled = {**cert, "algorithm": {"commitment": COMMITMENT_V2}}
    assert not {c.name: c for c in verify_allocation(relabelled, BASE, [])}["commitment"].ok
    assert hashlib.sha256(b"").hexdigest() not in com


def test_explain_follows_the_v1_path_for_a_v1_certificate() -> None:
    from rct.allocation.verify import explain_certificate

    space = space_for_protocol(BASE)
    com = commitment(SEED, BASE.fingerprint(), BASE.units_fingerprint(), version=COMMITMENT_V1)
    cert = {
        "algorithm": {"commitment": COMMITMENT_V1},
        "protocol_fingerprint": BASE.fingerprint(),
        "units": BASE.units_table(),
        "design": space.design.to_dict(),
        "seed": SEED.hex(),
    }
    steps = {s.key: s.value for s in explain_certificate(cert)}
    assert steps["commitment"] == com
    assert steps["units.fingerprint"] == BASE.units_fingerprint()
    assert steps["commitment.message"].startswith(b"rct-commitment-v1\x00".hex())
    assert steps["space.fingerprint"] == space.fingerprint()
    assert int(steps["draw.index"]) == space.draw(SEED).index
