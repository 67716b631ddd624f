"""Data capture reads behind ``rct data``: a return's blank template, a cell's stored
versions, and the capture settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rct import protocols as store
from rct.capture.settings import child_records_enabled
from rct.capture.template import write_template
from rct.capture.values import readable_unit, versions
from rct.errors import InputError
from rct.workspace import Workspace

__all__ = ["WrittenTemplate", "write_return_template", "value_history", "child_records_on"]


@dataclass(frozen=True)
class WrittenTemplate:
    """The blank return just written: where, for which borough, how many indicators."""

    path: Path
    unit_name: str
    period: str
    indicators: int


def write_return_template(
    ws: Workspace, borough: str | None, period: str, output: str | None, *, force: bool
) -> WrittenTemplate:
    """Write a blank return for ``borough`` (a data manager's default: their own) and
    ``period`` to ``output`` (default ``return_UNIT_PERIOD.csv``).

    An existing file (perhaps a return already filled in) is refused unless ``force``.
    """
    with ws.session() as s:
        actor = ws.read_as(s)
        protocol = store.current(s).protocol
    key = borough or actor.borough
    if not key:
        raise InputError("give the borough: --borough CODE")
    try:
        unit = protocol.unit(key)
    except KeyError:
        known = ", ".join(f"{u.id} ({u.gss_code})" for u in protocol.units)
        raise InputError(f"borough {key!r} is not a unit of this trial; known: {known}") from None
    if period not in {str(q) for q in protocol.schedule.quarters}:
        sch = protocol.schedule
        raise InputError(
            f"{period} is outside the trial's schedule "
            f"({sch.baseline_start} to {sch.follow_up_end})"
        )
    path = Path(output or f"return_{unit.id}_{period}.csv")
    if path.exists() and not force:
        raise InputError(
            f"{path} already exists and may hold a filled-in return; choose another -o FILE "
            "or overwrite it with --force"
        )
    write_template(protocol, unit, period, path)
    return WrittenTemplate(path, unit.name, period, len(protocol.indicators))


def value_history(
    ws: Workspace,
    *,
    borough: str | None = None,
    period: str | None = None,
    indicator: str | None = None,
) -> list[dict[str, Any]]:
    """Every stored version of the matching cells the acting user may read (a data
    manager: their own borough's only)."""
    with ws.session() as s:
        unit = readable_unit(ws, s, borough)
        return versions(s, unit=unit, period=period, indicator=indicator)


def child_records_on(ws: Workspace) -> bool:
    """Whether this trial collects child-level records (any registered user may ask)."""
    with ws.session() as s:
        ws.read_as(s)
        return child_records_enabled(s)
