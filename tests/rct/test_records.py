"""The typed names of roles, permissions and statuses are the strings stored and shown (#14)."""

from __future__ import annotations

from rct.allocation.state import AllocationStatus
from rct.protocols import ProtocolStatus
from rct.roles import PERMISSIONS, ROLES, Permission, Role, allowed


def test_every_role_that_can_be_held_has_its_enum_member() -> None:
    assert {str(r) for r in Role} - {"unregistered"} == set(ROLES)


def test_every_permission_of_the_table_has_its_enum_member() -> None:
    assert {str(p) for p in Permission} == set(PERMISSIONS)


def test_enum_members_compare_and_check_as_the_stored_strings() -> None:
    stored: str = "data-manager"
    assert Role.DATA_MANAGER == stored
    assert allowed(Role.STATISTICIAN, Permission.PROTOCOL_LOCK)
    assert not allowed(Role.EVALUATOR, Permission.ANALYSIS_RUN)
    assert not allowed(Role.UNREGISTERED, Permission.READ)


def test_statuses_are_the_stored_strings() -> None:
    assert [s.value for s in AllocationStatus] == ["sealed", "revealed", "void"]
    assert [s.value for s in ProtocolStatus] == ["draft", "locked"]
