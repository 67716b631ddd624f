"""Every error and warning code is documented, and every documented code is used (#14).

The codes are found by parsing the sources (tools/error_codes.py), so a new ``code=`` at a
raise site or a new ``CodedWarning`` fails here until the registry lists it and
docs/error-codes.md is regenerated.
"""

from __future__ import annotations

import re
from pathlib import Path

from tools.error_codes import (
    ERROR_REGISTRIES,
    WARNING_REGISTRIES,
    codes_in_sources,
    registry,
    render,
)

ROOT = Path(__file__).resolve().parents[1]


def _registered(specs: tuple[str, ...]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for spec in specs:
        for code in registry(spec):
            out.setdefault(code, []).append(spec)
    return out


def test_every_error_code_in_the_sources_is_documented_and_every_documented_one_used() -> None:
    used = {c for c, u in codes_in_sources().items() if u.kind == "error"}
    assert used == set(_registered(ERROR_REGISTRIES))


def test_every_warning_code_in_the_sources_is_documented_and_every_documented_one_used() -> None:
    used = {c for c, u in codes_in_sources().items() if u.kind == "warning"}
    assert used == set(_registered(WARNING_REGISTRIES))


def test_each_code_has_one_meaning() -> None:
    registered = _registered(ERROR_REGISTRIES + WARNING_REGISTRIES)
    assert {c: specs for c, specs in registered.items() if len(specs) > 1} == {}


def test_codes_are_kebab_case_and_say_what_to_do() -> None:
    for spec in ERROR_REGISTRIES + WARNING_REGISTRIES:
        for code, (meaning, action) in registry(spec).items():
            assert re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", code), code
            assert meaning.strip() and action.strip(), code


def test_error_codes_page_is_in_step_with_the_registries() -> None:
    doc = (ROOT / "docs" / "error-codes.md").read_text(encoding="utf-8")
    assert doc == render(), "docs/error-codes.md is out of date: run 'python -m tools.error_codes'"
