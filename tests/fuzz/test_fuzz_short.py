"""The short fuzz profile (issue #11): mutated returns and protocols through the real CLI.

Each case ends accepted with every cell stored exactly, or rejected with an ``Error:`` line
and a byte-identical database; never a traceback, a partial write or a silent loss. The
long profile (>= 10,000 returns, >= 2,000 protocols) is ``bench/fuzz_long.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from tests.fuzz.harness import ProtocolRig, ReturnsRig
from tests.fuzz.strategies import hostile_protocols, hostile_returns

SHORT = settings(
    max_examples=40,
    deadline=None,
    database=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],  # a failure prints its case; no slow shrink
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def returns_rig(tmp_path_factory: pytest.TempPathFactory) -> ReturnsRig:
    return ReturnsRig(Path(tmp_path_factory.mktemp("fuzz-returns")))


@pytest.fixture(scope="module")
def protocol_rig(tmp_path_factory: pytest.TempPathFactory) -> ProtocolRig:
    return ProtocolRig(Path(tmp_path_factory.mktemp("fuzz-protocols")))


@SHORT
@given(case=hostile_returns())
def test_mutated_return_is_stored_exactly_or_rejected_cleanly(
    returns_rig: ReturnsRig, case: tuple[str, bytes]
) -> None:
    name, data = case
    outcome = returns_rig.run(name, data)
    assert outcome in ("accepted", "rejected"), returns_rig.examples


@SHORT
@given(toml=hostile_protocols())
def test_mutated_protocol_is_accepted_and_usable_or_rejected_cleanly(
    protocol_rig: ProtocolRig, toml: str
) -> None:
    outcome = protocol_rig.run(toml)
    assert outcome in ("accepted", "rejected"), protocol_rig.examples
