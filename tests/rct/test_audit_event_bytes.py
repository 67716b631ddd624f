"""The audit chain's fast canonical form of an event equals the generic one (the chain's
hashes and signatures must not depend on which path computed them)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from protocols.canonical import canonical_bytes
from rct.audit import _event_bytes, _hashed_fields

texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)


@given(st.integers(min_value=0, max_value=2**62), texts, texts, texts, texts, texts, texts, texts)
def test_the_fast_event_form_is_the_canonical_form(
    seq: int, at: str, actor: str, role: str, action: str, entity: str, reason: str, body: str
) -> None:
    fields = _hashed_fields(seq, at, actor, role, action, entity, reason, body)
    assert _event_bytes(fields) == canonical_bytes(fields)


def test_other_types_take_the_generic_path() -> None:
    fields = {"seq": 1.0, "payload": {"b": [1, 2.5], "a": None}}
    assert _event_bytes(fields) == canonical_bytes(fields)
