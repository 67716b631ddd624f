"""What part of the audit trail a data manager may read (issue #12 item 3).

A data manager acts for one borough and reads that borough's data only. Data events carry
figures and query texts, so a data manager sees a data event only when every unit it
touches is their own; trial-level events (protocol, users, allocation, analyses,
checkpoints, refusals) carry no borough's figures and stay visible, so the trial's history
remains readable. Every other role reads the whole trail.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from rct.roles import Role

__all__ = ["event_units", "visible_to"]


def event_units(action: str, entity: str, payload: str | dict[str, Any]) -> set[str] | None:
    """The units a data event touches; None for trial-level events."""
    if not action.startswith("data.") or action == "data.settings":
        return None
    p = json.loads(payload) if isinstance(payload, str) else payload
    if not isinstance(p, dict):
        return set()
    units = p.get("units")
    if isinstance(units, list):
        return {str(u) for u in units}
    cell = p.get("cell")
    if isinstance(cell, str) and "/" in cell:
        return {cell.split("/", 1)[0]}
    scope = p.get("scope")
    if isinstance(scope, str) and scope.startswith("borough "):
        return {scope[len("borough ") :]}
    if entity.startswith("cell/"):
        return {entity.split("/")[1]}
    return {"*"}  # a data event that does not say: only non-data-managers see it


def visible_to(role: str, borough: str | None) -> Callable[[str, str, Any], bool]:
    """A filter ``(action, entity, payload) -> bool`` for what ``role`` may read."""
    if role != Role.DATA_MANAGER:
        return lambda _a, _e, _p: True

    def visible(action: str, entity: str, payload: Any) -> bool:
        units = event_units(action, entity, payload)
        return units is None or (bool(units) and units <= {borough})

    return visible
