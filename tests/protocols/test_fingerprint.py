"""The canonical fingerprint ignores layout (key order, whitespace, comments, unit order)
and changes with any meaningful edit. Property-based: hypothesis rewrites the shipped file."""

from __future__ import annotations

import tomllib
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from protocols import (
    canonical_json,
    fingerprint,
    load_protocol,
    protocol_from_data,
    shipped_protocol_path,
)

BASE = tomllib.loads(shipped_protocol_path().read_text(encoding="utf-8"))
BASE_FP = load_protocol(shipped_protocol_path()).fingerprint()


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(v)


def write_toml(data: dict[str, Any], rnd: Any, comments: bool) -> str:
    """Write ``data`` as TOML with keys and array-of-table entries in a random order."""
    out: list[str] = []

    def keys(d: dict[str, Any]) -> list[str]:
        ks = list(d)
        rnd.shuffle(ks)
        return ks

    def emit_table(header: str, table: dict[str, Any]) -> None:
        out.append(header)
        if comments:
            out.append("# a comment that must not matter")
        for k in keys(table):
            out.append(
                f"{k}{' ' * rnd.randint(1, 3)}={' ' * rnd.randint(1, 3)}{_toml_value(table[k])}"
            )
        out.append("")

    top = {k: v for k, v in data.items() if not isinstance(v, (dict, list))}
    for k in keys(top):
        out.append(f"{k} = {_toml_value(top[k])}")
    for k in keys(data):
        v = data[k]
        if isinstance(v, dict):
            emit_table(f"[{k}]", v)
        elif isinstance(v, list):
            items = list(v)
            if k in ("units", "arms", "indicators", "analyses"):
                rnd.shuffle(items)
            for item in items:
                emit_table(f"[[{k}]]", item)
    return "\n".join(out) + "\n"


@settings(max_examples=40, deadline=None)
@given(rnd=st.randoms(use_true_random=False), comments=st.booleans())
def test_fingerprint_ignores_key_order_whitespace_comments_and_unit_order(
    rnd: Any, comments: bool
) -> None:
    from protocols import loads_protocol

    text = write_toml(BASE, rnd, comments)
    assert loads_protocol(text).fingerprint() == BASE_FP


def _edits() -> st.SearchStrategy[tuple[str, Any]]:
    """(description, function that changes one meaningful value of the plain data)."""
    unit_index = st.integers(0, len(BASE["units"]) - 1)
    return st.one_of(
        unit_index.map(
            lambda i: (f"unit {i} population", ("units", i, "covariates", "child_population", 1.0))
        ),
        unit_index.map(lambda i: (f"unit {i} name", ("units", i, "name", None, "Elsewhere"))),
        st.just(("deadline", ("schedule", None, "submission_deadline_days", None, 46))),
        st.just(("cutoff", ("allocation", None, "cutoff_quantile", None, 0.5))),
        st.just(("primary quadrature", ("analyses", 0, "nagq", None, 9))),
        st.just(("primary inference", ("analyses", 0, "inference", None, ["cluster-level"]))),
        st.just(("deciding method", ("analyses", 0, "primary_inference", None, "randomisation"))),
        st.just(("indicator max", ("indicators", 2, "maximum", None, 2001))),
        st.just(("trial version", ("trial", None, "version", None, "0.2"))),
    )


@settings(max_examples=30, deadline=None)
@given(edit=_edits())
def test_any_meaningful_edit_changes_the_fingerprint(edit: tuple[str, Any]) -> None:
    import copy

    _, (section, index, key, sub, value) = edit
    data = copy.deepcopy(BASE)
    target = data[section] if index is None else data[section][index]
    if sub is None:
        target[key] = value
    else:
        target[key][sub] = value
    assert protocol_from_data(data).fingerprint() != BASE_FP


@given(
    st.dictionaries(
        st.text(max_size=5),
        st.one_of(
            st.integers(),
            st.floats(allow_nan=False, allow_infinity=False),
            st.text(max_size=5),
            st.booleans(),
            st.none(),
        ),
        max_size=6,
    )
)
def test_canonical_json_does_not_depend_on_key_insertion_order(d: dict[str, Any]) -> None:
    reversed_d = dict(reversed(list(d.items())))
    assert canonical_json(d) == canonical_json(reversed_d)
    assert fingerprint(d) == fingerprint(reversed_d)


def test_canonical_json_has_a_fixed_byte_form() -> None:
    assert (
        canonical_json({"b": [1, 2.5, -0.0], "a": "é", "c": None, "d": True})
        == '{"a":"é","b":[1,2.5,0.0],"c":null,"d":true}'
    )
    assert fingerprint({}) == "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"


def test_canonical_json_refuses_nan() -> None:
    import pytest

    from protocols.canonical import CanonicalFormError

    with pytest.raises(CanonicalFormError):
        canonical_json({"x": float("nan")})
