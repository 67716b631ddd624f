"""Read a protocol from TOML (or from its stored plain form) and check it whole.

Validation never stops at the first mistake: every problem is collected with its location
(``units[3].gss_code: ...``) and raised together as one
:class:`~protocols.errors.ProtocolValidationError`, so a statistician fixes a file in one
pass. Nothing here raises a bare ``KeyError`` or ``TypeError`` on a malformed file.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, cast

from protocols import vocabulary as V
from protocols.errors import Problem, ProtocolError, ProtocolValidationError
from protocols.model import (
    AllocationSpec,
    Analysis,
    Arm,
    Indicator,
    Protocol,
    Schedule,
    Trial,
    Unit,
)
from protocols.quarters import Quarter, QuarterError

__all__ = ["load_protocol", "loads_protocol", "protocol_from_data", "shipped_protocol_path"]

_SLUG = re.compile(r"^[a-z][a-z0-9_]*$")
_GSS = re.compile(r"^[EWSN]\d{8}$")
_MISSING = object()


class _Checker:
    """Collects problems while reading nested plain data."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, where: str, message: str) -> None:
        self.problems.append(Problem(where, message))

    def get(
        self,
        table: Mapping[str, Any],
        key: str,
        where: str,
        kind: type | tuple[type, ...],
        default: Any = _MISSING,
    ) -> Any:
        loc = f"{where}.{key}" if where else key
        # None appears only in the stored canonical form, where it means "not given".
        if key not in table or table[key] is None:
            if default is _MISSING:
                self.add(loc, "is required")
                return None
            return default
        value = table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and bool not in kinds:
            self.add(loc, f"must be {_kind_name(kinds)}, found {value!r}")
            return None
        if not isinstance(value, kinds):
            self.add(loc, f"must be {_kind_name(kinds)}, found {_show(value)}")
            return None
        return value

    def text(
        self,
        table: Mapping[str, Any],
        key: str,
        where: str,
        default: Any = _MISSING,
        *,
        slug: bool = False,
        choices: tuple[str, ...] | None = None,
    ) -> str:
        value = self.get(table, key, where, str, default)
        loc = f"{where}.{key}" if where else key
        if value is None:
            return "" if default is _MISSING or default is None else cast(str, default)
        if default is _MISSING and not value.strip():
            self.add(loc, "must not be empty")
        if slug and value and not _SLUG.match(value):
            self.add(
                loc,
                f"must be lower-case letters, digits and _ starting with a letter, found {value!r}",
            )
        if choices is not None and value not in choices:
            self.add(loc, f"must be one of {', '.join(choices)}; found {value!r}")
        return cast(str, value)

    def texts(
        self, table: Mapping[str, Any], key: str, where: str, default: Any = ()
    ) -> tuple[str, ...]:
        value = self.get(table, key, where, list, list(default))
        if value is None:
            return ()
        out = []
        for i, v in enumerate(value):
            if not isinstance(v, str):
                self.add(f"{where}.{key}[{i}]", f"must be text, found {_show(v)}")
            else:
                out.append(v)
        return tuple(out)

    def unknown_keys(self, table: Mapping[str, Any], allowed: set[str], where: str) -> None:
        for k in table:
            if k not in allowed:
                loc = f"{where}.{k}" if where else k
                self.add(loc, f"is not a known field (known: {', '.join(sorted(allowed))})")


def _kind_name(kinds: tuple[type, ...]) -> str:
    names = {
        str: "text",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        list: "a list",
        dict: "a table",
    }
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _show(v: Any) -> str:
    kind = {
        str: "text",
        int: "integer",
        float: "number",
        bool: "boolean",
        list: "list",
        dict: "table",
    }.get(type(v), type(v).__name__)
    text = repr(v)
    return f"{kind} {text if len(text) < 40 else text[:37] + '...'}"


def shipped_protocol_path(name: str = "safe_and_together_london") -> Path:
    """Path of a protocol file shipped with the package."""
    return Path(str(resources.files("protocols").joinpath(f"{name}.toml")))


def load_protocol(path: str | Path) -> Protocol:
    """Read and check a protocol TOML file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProtocolError(f"{path}: no such protocol file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"{path}: cannot be read ({exc})") from None
    return loads_protocol(text, source=str(path))


def loads_protocol(text: str, source: str = "protocol") -> Protocol:
    """Read and check protocol TOML text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProtocolValidationError([Problem("toml", str(exc))], source) from None
    return protocol_from_data(data, source)


def protocol_from_data(data: Mapping[str, Any], source: str = "protocol") -> Protocol:
    """Build a protocol from plain data (parsed TOML or the stored canonical form)."""
    c = _Checker()
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
    trial = _trial(c, _table(c, data, "trial"))
    arms = _arms(c, _array(c, data, "arms"))
    units = _units(c, _array(c, data, "units"))
    schedule = _schedule(c, _table(c, data, "schedule"))
    indicators = _indicators(c, _array(c, data, "indicators"), units)
    allocation = _allocation(c, _table(c, data, "allocation"), arms, units)
    analyses = _analyses(c, _array(c, data, "analyses", required=False), indicators, units)
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


def _table(c: _Checker, data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = c.get(data, key, "", dict)
    return cast(Mapping[str, Any], value) if value is not None else {}


def _array(
    c: _Checker, data: Mapping[str, Any], key: str, required: bool = True
) -> list[Mapping[str, Any]]:
    value = c.get(data, key, "", list, _MISSING if required else [])
    if value is None:
        return []
    out: list[Mapping[str, Any]] = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            c.add(f"{key}[{i}]", f"must be a table, found {_show(item)}")
        else:
            out.append(item)
    return out


def _trial(c: _Checker, t: Mapping[str, Any]) -> Trial | None:
    c.unknown_keys(t, {"id", "title", "version", "registration", "sponsor", "description"}, "trial")
    return Trial(
        id=c.text(t, "id", "trial", slug=False),
        title=c.text(t, "title", "trial"),
        version=c.text(t, "version", "trial"),
        registration=c.text(t, "registration", "trial", ""),
        sponsor=c.text(t, "sponsor", "trial", ""),
        description=c.text(t, "description", "trial", ""),
    )


def _unique(c: _Checker, values: list[tuple[str, str]], what: str) -> None:
    seen: dict[str, str] = {}
    for loc, v in values:
        if v and v in seen:
            c.add(loc, f"{what} {v!r} is used twice (also at {seen[v]})")
        seen.setdefault(v, loc)


def _arms(c: _Checker, items: list[Mapping[str, Any]]) -> tuple[Arm, ...]:
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
    _unique(c, [(f"arms[{i}].code", a.code) for i, a in enumerate(arms)], "arm code")
    return tuple(arms)


def _units(c: _Checker, items: list[Mapping[str, Any]]) -> tuple[Unit, ...]:
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
        if gss and not _GSS.match(gss):
            c.add(
                f"{w}.gss_code",
                f"must be a GSS code like E09000007 (a letter and eight digits), found {gss!r}",
            )
        cov_table = c.get(t, "covariates", w, dict, {}) or {}
        covs: dict[str, float | str] = {}
        for k, v in cov_table.items():
            if isinstance(v, bool) or not isinstance(v, (int, float, str)):
                c.add(f"{w}.covariates.{k}", f"must be a number or text, found {_show(v)}")
            elif isinstance(v, float) and not math.isfinite(v):
                c.add(f"{w}.covariates.{k}", f"must be a finite number, found {v!r}")
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
    _unique(c, [(f"units[{i}].id", u.id) for i, u in enumerate(units)], "unit id")
    _unique(c, [(f"units[{i}].name", u.name) for i, u in enumerate(units)], "unit name")
    _unique(c, [(f"units[{i}].gss_code", u.gss_code) for i, u in enumerate(units)], "GSS code")
    return tuple(units)


def _quarter(c: _Checker, t: Mapping[str, Any], key: str, where: str) -> Quarter | None:
    text = c.text(t, key, where)
    if not text:
        return None
    try:
        return Quarter.parse(text)
    except QuarterError as exc:
        c.add(f"{where}.{key}", str(exc))
        return None


def _schedule(c: _Checker, t: Mapping[str, Any]) -> Schedule | None:
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
            dt.date.fromisoformat(go_live)
        except ValueError:
            c.add(f"{w}.go_live", f"must be a date written YYYY-MM-DD, found {go_live!r}")
    deadline = c.get(t, "submission_deadline_days", w, int)
    if deadline is not None and deadline < 0:
        c.add(f"{w}.submission_deadline_days", f"must be zero or more, found {deadline}")
    if any(q is None for q in qs):
        return None
    bs, be, fs, fe = cast(list[Quarter], qs)
    if not bs <= be:
        c.add(f"{w}.baseline_end", f"{be} is before baseline_start {bs}")
    if not be < fs:
        c.add(f"{w}.follow_up_start", f"{fs} must come after baseline_end {be}")
    if not fs <= fe:
        c.add(f"{w}.follow_up_end", f"{fe} is before follow_up_start {fs}")
    return Schedule(bs, be, fs, fe, go_live, deadline if deadline is not None else 0)


def _indicators(
    c: _Checker, items: list[Mapping[str, Any]], units: tuple[Unit, ...]
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
    _unique(c, [(f"indicators[{i}].code", x.code) for i, x in enumerate(out)], "indicator code")
    return tuple(out)


def _allocation(
    c: _Checker, t: Mapping[str, Any], arms: tuple[Arm, ...], units: tuple[Unit, ...]
) -> AllocationSpec | None:
    w = "allocation"
    c.unknown_keys(
        t,
        {
            "method",
            "arm_sizes",
            "intervention_arm",
            "stratify",
            "covariates",
            "categorical",
            "metric",
            "weights",
            "cutoff_quantile",
            "cutoff_schemes",
            "max_covariate_difference",
        },
        w,
    )
    method = c.text(t, "method", w, choices=V.ALLOCATION_METHODS)
    codes = [a.code for a in arms]
    sizes_raw = c.get(t, "arm_sizes", w, dict) or {}
    sizes: dict[str, int] = {}
    for k, v in sizes_raw.items():
        if k not in codes:
            c.add(f"{w}.arm_sizes.{k}", f"is not an arm (arms: {', '.join(codes)})")
        elif isinstance(v, bool) or not isinstance(v, int) or v < 1:
            c.add(f"{w}.arm_sizes.{k}", f"must be a whole number of units, at least 1; found {v!r}")
        else:
            sizes[k] = v
    if sizes_raw and codes and set(sizes_raw) != set(codes):
        missing = [a for a in codes if a not in sizes_raw]
        if missing:
            c.add(f"{w}.arm_sizes", f"gives no size for arm(s) {', '.join(missing)}")
    if sizes and units and len(sizes) == len(codes) and sum(sizes.values()) != len(units):
        c.add(
            f"{w}.arm_sizes",
            f"sizes add up to {sum(sizes.values())} but there are {len(units)} units",
        )
    intervention = c.text(t, "intervention_arm", w, "intervention")
    if codes and intervention not in codes:
        c.add(f"{w}.intervention_arm", f"{intervention!r} is not an arm (arms: {', '.join(codes)})")
    stratify = bool(c.get(t, "stratify", w, bool, method == "stratified"))
    if stratify:
        for i, u in enumerate(units):
            if not u.stratum:
                c.add(f"units[{i}].stratum", "is required because allocation.stratify is true")
    covariates = c.texts(t, "covariates", w)
    categorical = c.texts(t, "categorical", w)
    for j, name in enumerate(covariates):
        for i, u in enumerate(units):
            if name not in u.covariates:
                c.add(
                    f"units[{i}].covariates", f"lacks {name!r}, named in allocation.covariates[{j}]"
                )
            elif name not in categorical and isinstance(u.covariates[name], str):
                c.add(
                    f"units[{i}].covariates.{name}",
                    f"is text ({u.covariates[name]!r}) but {name!r} is not listed in allocation.categorical",
                )
    for j, name in enumerate(categorical):
        if name not in covariates:
            c.add(f"{w}.categorical[{j}]", f"{name!r} is not in allocation.covariates")
    metric = c.text(t, "metric", w, "l2", choices=V.METRICS)
    weights_raw = c.get(t, "weights", w, dict, {}) or {}
    weights: dict[str, float] = {}
    for k, v in weights_raw.items():
        if k not in covariates:
            c.add(f"{w}.weights.{k}", "is not in allocation.covariates")
        elif (
            isinstance(v, bool)
            or not isinstance(v, (int, float))
            or not v > 0
            or not math.isfinite(v)
        ):
            c.add(f"{w}.weights.{k}", f"must be a positive number, found {v!r}")
        else:
            weights[k] = float(v)
    q = c.get(t, "cutoff_quantile", w, float, None)
    n = c.get(t, "cutoff_schemes", w, int, None)
    if q is not None and not 0 < q <= 1:
        c.add(f"{w}.cutoff_quantile", f"must be above 0 and at most 1, found {q}")
    if n is not None and n < 1:
        c.add(f"{w}.cutoff_schemes", f"must be at least 1, found {n}")
    if method == "constrained":
        if not covariates:
            c.add(f"{w}.covariates", "constrained randomisation needs at least one covariate")
        if (q is None) == (n is None):
            c.add(
                w,
                "constrained randomisation needs exactly one of cutoff_quantile and cutoff_schemes",
            )
    elif q is not None or n is not None:
        c.add(w, f"a cutoff applies only to method 'constrained', not {method!r}")
    maxdiff_raw = c.get(t, "max_covariate_difference", w, dict, {}) or {}
    maxdiff: dict[str, float] = {}
    for k, v in maxdiff_raw.items():
        if k not in covariates:
            c.add(f"{w}.max_covariate_difference.{k}", "is not in allocation.covariates")
        elif isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            c.add(f"{w}.max_covariate_difference.{k}", f"must be a number at least 0, found {v!r}")
        else:
            maxdiff[k] = float(v)
    if not method:
        return None
    return AllocationSpec(
        method=cast(Any, method),
        arm_sizes=sizes,
        stratify=stratify,
        covariates=covariates,
        categorical=tuple(sorted(categorical)),
        metric=cast(Any, metric),
        weights=weights,
        cutoff_quantile=q,
        cutoff_schemes=n,
        max_covariate_difference=maxdiff,
        intervention_arm=intervention,
    )


def _analyses(
    c: _Checker,
    items: list[Mapping[str, Any]],
    indicators: tuple[Indicator, ...],
    units: tuple[Unit, ...],
) -> tuple[Analysis, ...]:
    codes = {i.code for i in indicators}
    common_covs = set.intersection(*(set(u.covariates) for u in units)) if units else set()
    out = []
    for i, t in enumerate(items):
        w = f"analyses[{i}]"
        c.unknown_keys(
            t,
            {
                "name",
                "role",
                "outcome",
                "family",
                "fixed",
                "random",
                "offset",
                "periods",
                "inference",
                "nagq",
                "description",
            },
            w,
        )
        outcome = c.text(t, "outcome", w)
        if outcome and codes and outcome not in codes:
            c.add(
                f"{w}.outcome", f"{outcome!r} is not an indicator code ({', '.join(sorted(codes))})"
            )
        family = c.text(t, "family", w, choices=V.FAMILIES)
        fixed = c.texts(t, "fixed", w)
        for j, term in enumerate(fixed):
            if term not in V.TERMS and term not in common_covs:
                c.add(
                    f"{w}.fixed[{j}]",
                    f"{term!r} is neither a model term ({', '.join(V.TERMS)}) "
                    "nor a covariate of every unit",
                )
        if fixed and "treatment" not in fixed:
            c.add(f"{w}.fixed", "must include 'treatment', the effect the analysis estimates")
        random = c.texts(t, "random", w, ("unit",))
        for j, term in enumerate(random):
            if term not in V.RANDOM_TERMS:
                c.add(
                    f"{w}.random[{j}]",
                    f"must be one of {', '.join(V.RANDOM_TERMS)}; found {term!r}",
                )
        offset = c.text(t, "offset", w, "")
        if offset and units and offset not in common_covs:
            c.add(
                f"{w}.offset",
                f"{offset!r} must be a covariate of every unit (its log is the offset)",
            )
        inference = c.texts(t, "inference", w)
        if not inference and "inference" in t:
            c.add(f"{w}.inference", "must name at least one inference method")
        for j, m in enumerate(inference):
            if m not in V.INFERENCE:
                c.add(
                    f"{w}.inference[{j}]", f"must be one of {', '.join(V.INFERENCE)}; found {m!r}"
                )
            elif family in V.FAMILIES and family not in V.INFERENCE[m]:
                c.add(f"{w}.inference[{j}]", f"{m!r} does not apply to family {family!r}")
        nagq = c.get(t, "nagq", w, int, 1)
        if nagq is not None and not 1 <= nagq <= 50:
            c.add(f"{w}.nagq", f"must be between 1 (Laplace) and 50, found {nagq}")
        out.append(
            Analysis(
                name=c.text(t, "name", w, slug=True),
                role=cast(Any, c.text(t, "role", w, choices=V.ROLES)),
                outcome=outcome,
                family=cast(Any, family),
                fixed=fixed,
                random=random,
                offset=offset,
                periods=cast(Any, c.text(t, "periods", w, "all", choices=V.PERIOD_WINDOWS)),
                inference=inference or ("between-within",),
                nagq=nagq or 1,
                description=c.text(t, "description", w, ""),
            )
        )
    _unique(c, [(f"analyses[{i}].name", x.name) for i, x in enumerate(out)], "analysis name")
    primaries = [x for x in out if x.role == "primary"]
    if len(primaries) > 1:
        c.add(
            "analyses",
            f"at most one primary analysis, found {len(primaries)}: "
            + ", ".join(x.name for x in primaries),
        )
    return tuple(out)
