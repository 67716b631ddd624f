"""Read a protocol from TOML (or from its stored plain form) and check it whole.

Validation never stops at the first mistake: every problem is collected with its location
(``units[3].gss_code: ...``) and raised together as one
:class:`~protocols.errors.ProtocolValidationError`, so a statistician fixes a file in one
pass. Nothing here raises a bare ``KeyError`` or ``TypeError`` on a malformed file. This
module reads the trial, arms, units, schedule and indicators; :mod:`protocols.plan` reads
the allocation specification and the analysis plan.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, cast

from protocols import vocabulary as V
from protocols.checker import (
    GSS,
    MAX_DEPTH,
    Checker,
    array,
    depth,
    finite,
    show,
    table,
    unique,
)
from protocols.errors import Problem, ProtocolError, ProtocolFileNotFound, ProtocolValidationError
from protocols.model import Arm, Indicator, Protocol, Schedule, Trial, Unit
from protocols.plan import read_allocation, read_analyses
from protocols.quarters import Quarter, QuarterError

__all__ = ["load_protocol", "loads_protocol", "protocol_from_data", "shipped_protocol_path"]


#: A trial's schedule lies within these years and spans at most so many quarters; the
#: completeness matrix and the scheduler compute dates from it.
FIRST_YEAR, LAST_YEAR, MAX_QUARTERS = 1990, 2100, 200
#: A return is due at most a year after its quarter ends.
MAX_DEADLINE_DAYS = 366


def shipped_protocol_path(name: str = "safe_and_together_london") -> Path:
    """Path of a protocol file shipped with the package."""
    return Path(str(resources.files("protocols").joinpath(f"{name}.toml")))


def load_protocol(path: str | Path) -> Protocol:
    """Read and check a protocol TOML file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProtocolFileNotFound(f"{path}: no such protocol file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"{path}: cannot be read ({exc})") from None
    return loads_protocol(text, source=str(path))


def loads_protocol(text: str, source: str = "protocol") -> Protocol:
    """Read and check protocol TOML text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProtocolValidationError([Problem("toml", str(exc))], source) from None
    except RecursionError:
        raise ProtocolValidationError([_too_deep()], source) from None
    return protocol_from_data(data, source)


def _too_deep() -> Problem:
    return Problem("toml", f"arrays or tables nested more than {MAX_DEPTH} deep")


def protocol_from_data(data: Mapping[str, Any], source: str = "protocol") -> Protocol:
    """Build a protocol from plain data (parsed TOML or the stored canonical form)."""
    if depth(data) > MAX_DEPTH:
        raise ProtocolValidationError([_too_deep()], source)
    c = Checker()
    c.unknown_keys(
        data,
        {
            "format_version",
            "trial",
            "arms",
            "units",
            "allocation",
            "schedule",
            "indicators",
            "analyses",
        },
        "",
    )
    version = c.get(data, "format_version", "", int)
    if version is not None and version != 1:
        c.add("format_version", f"this toolkit reads format 1, found {version}")
    trial = _trial(c, table(c, data, "trial"))
    arms = _arms(c, array(c, data, "arms"))
    units = _units(c, array(c, data, "units"))
    schedule = _schedule(c, table(c, data, "schedule"))
    indicators = _indicators(c, array(c, data, "indicators"), units)
    allocation = read_allocation(c, table(c, data, "allocation"), arms, units)
    analyses = read_analyses(c, array(c, data, "analyses", required=False), indicators, units)
    if c.problems:
        raise ProtocolValidationError(c.problems, source)
    assert trial and schedule and allocation
    return Protocol(
        format_version=1,
        trial=trial,
        arms=arms,
        units=units,
        allocation=allocation,
        schedule=schedule,
        indicators=indicators,
        analyses=analyses,
    )


def _trial(c: Checker, t: Mapping[str, Any]) -> Trial | None:
    c.unknown_keys(t, {"id", "title", "version", "registration", "sponsor", "description"}, "trial")
    return Trial(
        id=c.text(t, "id", "trial", slug=False),
        title=c.text(t, "title", "trial"),
        version=c.text(t, "version", "trial"),
        registration=c.text(t, "registration", "trial", ""),
        sponsor=c.text(t, "sponsor", "trial", ""),
        description=c.text(t, "description", "trial", ""),
    )


def _arms(c: Checker, items: list[Mapping[str, Any]]) -> tuple[Arm, ...]:
    arms = []
    for i, t in enumerate(items):
        w = f"arms[{i}]"
        c.unknown_keys(t, {"code", "label", "description"}, w)
        arms.append(
            Arm(
                c.text(t, "code", w, slug=True),
                c.text(t, "label", w),
                c.text(t, "description", w, ""),
            )
        )
    if items and len(arms) < 2:
        c.add("arms", "a trial needs at least two arms")
    unique(c, [(f"arms[{i}].code", a.code) for i, a in enumerate(arms)], "arm code")
    return tuple(arms)


def _units(c: Checker, items: list[Mapping[str, Any]]) -> tuple[Unit, ...]:
    units = []
    for i, t in enumerate(items):
        w = f"units[{i}]"
        c.unknown_keys(
            t,
            {
                "id",
                "name",
                "gss_code",
                "stratum",
                "covariates",
                "illustrative",
                "illustrative_covariates",
                "note",
            },
            w,
        )
        gss = c.text(t, "gss_code", w, "")
        if gss and not GSS.match(gss):
            c.add(
                f"{w}.gss_code",
                f"must be a GSS code like E09000007 (a letter and eight digits), found {gss!r}",
            )
        cov_table = c.get(t, "covariates", w, dict, {}) or {}
        covs: dict[str, float | str] = {}
        for k, v in cov_table.items():
            if isinstance(v, bool) or not isinstance(v, (int, float, str)):
                c.add(f"{w}.covariates.{k}", f"must be a number or text, found {show(v)}")
            elif not isinstance(v, str) and not finite(c, f"{w}.covariates.{k}", v):
                pass
            else:
                covs[k] = float(v) if isinstance(v, int) else v
        illus = c.texts(t, "illustrative_covariates", w)
        for j, name in enumerate(illus):
            if name not in covs:
                c.add(
                    f"{w}.illustrative_covariates[{j}]",
                    f"{name!r} is not one of this unit's covariates",
                )
        illustrative = c.get(t, "illustrative", w, bool, False)
        units.append(
            Unit(
                id=c.text(t, "id", w, slug=True),
                name=c.text(t, "name", w),
                gss_code=gss,
                stratum=c.text(t, "stratum", w, ""),
                covariates=covs,
                illustrative=bool(illustrative),
                illustrative_covariates=tuple(sorted(set(illus))),
                note=c.text(t, "note", w, ""),
            )
        )
    if items and len(units) < 2:
        c.add("units", "a cluster trial needs at least two units")
    unique(c, [(f"units[{i}].id", u.id) for i, u in enumerate(units)], "unit id")
    unique(c, [(f"units[{i}].name", u.name) for i, u in enumerate(units)], "unit name")
    unique(c, [(f"units[{i}].gss_code", u.gss_code) for i, u in enumerate(units)], "GSS code")
    return tuple(units)


def _quarter(c: Checker, t: Mapping[str, Any], key: str, where: str) -> Quarter | None:
    text = c.text(t, key, where)
    if not text:
        return None
    try:
        return Quarter.parse(text)
    except QuarterError as exc:
        c.add(f"{where}.{key}", str(exc))
        return None


def _schedule(c: Checker, t: Mapping[str, Any]) -> Schedule | None:
    w = "schedule"
    c.unknown_keys(
        t,
        {
            "baseline_start",
            "baseline_end",
            "follow_up_start",
            "follow_up_end",
            "go_live",
            "submission_deadline_days",
        },
        w,
    )
    qs = [
        _quarter(c, t, k, w)
        for k in ("baseline_start", "baseline_end", "follow_up_start", "follow_up_end")
    ]
    go_live = c.text(t, "go_live", w)
    if go_live:
        try:
            if not FIRST_YEAR <= dt.date.fromisoformat(go_live).year <= LAST_YEAR:
                c.add(f"{w}.go_live", f"must lie in the years {FIRST_YEAR} to {LAST_YEAR}")
        except ValueError:
            c.add(f"{w}.go_live", f"must be a date written YYYY-MM-DD, found {go_live!r}")
    deadline = c.get(t, "submission_deadline_days", w, int)
    if deadline is not None and not 0 <= deadline <= MAX_DEADLINE_DAYS:
        c.add(
            f"{w}.submission_deadline_days",
            f"must be from 0 to {MAX_DEADLINE_DAYS} days, found {deadline}",
        )
    if any(q is None for q in qs):
        return None
    bs, be, fs, fe = cast(list[Quarter], qs)
    for key, q in zip(("baseline_start", "baseline_end", "follow_up_start", "follow_up_end"), qs):
        if q is not None and not FIRST_YEAR <= q.year <= LAST_YEAR:
            c.add(f"{w}.{key}", f"{q} is outside the years {FIRST_YEAR} to {LAST_YEAR}")
            return None
    if fe.index - bs.index >= MAX_QUARTERS:
        c.add(f"{w}.follow_up_end", f"the schedule spans more than {MAX_QUARTERS} quarters")
    if not bs <= be:
        c.add(f"{w}.baseline_end", f"{be} is before baseline_start {bs}")
    if not be < fs:
        c.add(f"{w}.follow_up_start", f"{fs} must come after baseline_end {be}")
    if not fs <= fe:
        c.add(f"{w}.follow_up_end", f"{fe} is before follow_up_start {fs}")
    return Schedule(bs, be, fs, fe, go_live, deadline if deadline is not None else 0)


def _indicators(
    c: Checker, items: list[Mapping[str, Any]], units: tuple[Unit, ...]
) -> tuple[Indicator, ...]:
    out = []
    for i, t in enumerate(items):
        w = f"indicators[{i}]"
        c.unknown_keys(
            t,
            {"code", "label", "definition", "type", "minimum", "maximum", "denominator", "note"},
            w,
        )
        minimum = c.get(t, "minimum", w, float, 0.0)
        maximum = c.get(t, "maximum", w, float, None)
        if minimum is not None and maximum is not None and maximum < minimum:
            c.add(f"{w}.maximum", f"{maximum} is below minimum {minimum}")
        denominator = c.text(t, "denominator", w, "")
        if denominator and units and any(denominator not in u.covariates for u in units):
            c.add(f"{w}.denominator", f"{denominator!r} must be a covariate of every unit")
        elif denominator:
            for u in units:
                d = u.covariates[denominator]
                if isinstance(d, str) or not d > 0:
                    c.add(
                        f"{w}.denominator",
                        f"{denominator!r} must be a positive number for every unit "
                        f"(it divides the rates), found {d!r} for {u.id}",
                    )
        out.append(
            Indicator(
                code=c.text(t, "code", w, slug=True),
                label=c.text(t, "label", w),
                definition=c.text(t, "definition", w),
                type=cast(Any, c.text(t, "type", w, "count", choices=V.INDICATOR_TYPES)),
                minimum=minimum if minimum is not None else 0.0,
                maximum=maximum,
                denominator=denominator,
                note=c.text(t, "note", w, ""),
            )
        )
    if not items:
        c.add("indicators", "at least one outcome indicator is required")
    unique(c, [(f"indicators[{i}].code", x.code) for i, x in enumerate(out)], "indicator code")
    return tuple(out)
