"""The allocation record and certificate are typed records whose plain data is the
certificate JSON (issue #14): they read back what they write, and the JSON keeps its keys."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rct.allocation.records import AllocationCertificate, AllocationRecordView, AllocationStatus

text = st.text(max_size=12)
hexes = st.text("0123456789abcdef", min_size=64, max_size=64)
maybe_text = st.none() | text
json_leaf = st.none() | st.booleans() | st.integers() | text
json_object = st.dictionaries(text, json_leaf, max_size=4)

records = st.builds(
    AllocationRecordView,
    units=st.lists(json_object, max_size=3) | json_object,
    design_fingerprint=st.none() | hexes,
    allocation=st.integers(1, 10**6),
    status=st.sampled_from(list(AllocationStatus)),
    replaces=st.none() | st.integers(1, 10**6),
    protocol_version=st.integers(1, 100),
    protocol_fingerprint=hexes,
    units_fingerprint=hexes,
    space_fingerprint=hexes,
    design=json_object,
    algorithm=st.dictionaries(text, text, max_size=3),
    commitment=hexes,
    envelope=st.none() | json_object,
    sealed_at=text,
    sealed_by=text,
    revealed_at=maybe_text,
    revealed_by=maybe_text,
    seed=st.none() | hexes,
    scheme_index=st.none() | st.integers(0, 10**6),
    arms=st.none() | st.dictionaries(text, st.sampled_from(["intervention", "control"])),
    voided_at=maybe_text,
    voided_by=maybe_text,
    void_reason=maybe_text,
)
certificates = st.builds(AllocationCertificate, record=records, checkpoint=st.none() | json_object)

#: the certificate JSON's keys, in the order it has always had them
RECORD_KEYS = [
    "units",
    "design_fingerprint",
    "allocation",
    "status",
    "replaces",
    "protocol_version",
    "protocol_fingerprint",
    "units_fingerprint",
    "space_fingerprint",
    "design",
    "algorithm",
    "commitment",
    "envelope",
    "sealed_at",
    "sealed_by",
    "revealed_at",
    "revealed_by",
    "seed",
    "scheme_index",
    "arms",
    "voided_at",
    "voided_by",
    "void_reason",
]


def _via_json(data: dict[str, Any]) -> Any:
    return json.loads(json.dumps(data, sort_keys=True))


@settings(max_examples=60)
@given(records)
def test_a_record_reads_back_what_it_writes(record: AllocationRecordView) -> None:
    assert AllocationRecordView.from_dict(record.to_dict()) == record
    assert AllocationRecordView.from_dict(_via_json(record.to_dict())) == record


@settings(max_examples=60)
@given(certificates)
def test_a_certificate_reads_back_what_it_writes(cert: AllocationCertificate) -> None:
    assert AllocationCertificate.from_dict(cert.to_dict()) == cert
    assert AllocationCertificate.from_dict(_via_json(cert.to_dict())) == cert


@settings(max_examples=20)
@given(records)
def test_the_record_keeps_the_certificate_json_keys_and_their_order(
    record: AllocationRecordView,
) -> None:
    with_envelope = replace(record, envelope={"kdf": {"n": 2**17}})
    assert list(with_envelope.to_dict()) == RECORD_KEYS
    withheld = replace(record, envelope=None).to_dict()
    assert list(withheld) == [k for k in RECORD_KEYS if k != "envelope"]
    assert list(AllocationCertificate(with_envelope, None).to_dict()) == [
        *RECORD_KEYS,
        "checkpoint",
    ]


def test_the_status_is_written_as_its_plain_string() -> None:
    record = AllocationRecordView(
        units=[],
        design_fingerprint=None,
        allocation=1,
        status=AllocationStatus.REVEALED,
        replaces=None,
        protocol_version=1,
        protocol_fingerprint="p",
        units_fingerprint="u",
        space_fingerprint="s",
        design={},
        algorithm={},
        commitment="c",
        envelope=None,
        sealed_at="t",
        sealed_by="sam",
    )
    status = record.to_dict()["status"]
    assert type(status) is str and status == "revealed"
    assert not record.revealed and replace(record, arms={"u1": "control"}).revealed
