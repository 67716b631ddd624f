"""The worked example and check vectors in docs/randomness.md are what the code computes."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from allocation.commitment import COMMITMENT_V1, COMMITMENT_V2, commitment
from tools import randomness_worked_example as example

DOC = Path(__file__).resolve().parents[2] / "docs" / "randomness.md"


def test_worked_example_in_the_document_is_current() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert example.current_section(text) == example.render(), (
        "regenerate with: python tools/randomness_worked_example.py"
    )


def test_worked_example_covers_every_step_and_stays_small() -> None:
    section = example.render()
    for key in (
        "units.json",
        "units.fingerprint",
        "design.json",
        "design.fingerprint",
        "commitment.message",
        "commitment",
        "strata.splits",
        "balance.fixed",
        "scores",
        "space.cutoff_score",
        "space.admissible_schemes",
        "space.fingerprint",
        "draw.index",
        "arms",
    ):
        assert f"**{key}**" in section, key
    assert "(fails a constraint)" in section  # the constraint step is exercised


def _check_vector(heading: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    part = text[text.index(heading) :]
    vector: str = re.findall(r"`([0-9a-f]{64})`", part)[0]
    return vector


def test_commitment_check_vectors_in_the_document() -> None:
    seed = bytes(range(32))
    p, u, d = (hashlib.sha256(w).hexdigest() for w in (b"protocol", b"units", b"design"))
    assert _check_vector("### 9.1") == commitment(seed, p, u, d, version=COMMITMENT_V2)
    assert _check_vector("### 9.2") == commitment(seed, p, u, version=COMMITMENT_V1)


def test_the_check_script_fails_on_a_stale_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = DOC.read_text(encoding="utf-8").replace("**arms**", "**arms (edited)**")
    doc = tmp_path / "randomness.md"
    doc.write_text(stale, encoding="utf-8")
    monkeypatch.setattr(example, "DOC", doc)
    assert example.main(["--check"]) == 1
    assert example.main([]) == 0
    assert example.main(["--check"]) == 0
