"""Collecting every problem of a protocol at once, each with its location.

The section readers (:mod:`protocols.loader`, :mod:`protocols.plan`) read plain data through
a :class:`Checker`, which records a :class:`~protocols.errors.Problem` instead of raising, so
one pass reports everything wrong with a file.
"""

from __future__ import annotations

import math
import re
import reprlib
from collections.abc import Mapping
from typing import Any, cast

from protocols.errors import Problem

__all__ = [
    "Checker",
    "SLUG",
    "MAX_MAGNITUDE",
    "MAX_DEPTH",
    "finite",
    "depth",
    "GSS",
    "MISSING",
    "kind_name",
    "show",
    "table",
    "array",
    "unique",
]

SLUG = re.compile(r"^[a-z][a-z0-9_]*$")
#: The largest number a protocol may hold: planning squares and sums covariates, so a
#: 1e308 would overflow there long after validation said the file was fine.
MAX_MAGNITUDE = 1e12
#: The deepest nesting of arrays and tables a protocol may have (the format needs 3).
MAX_DEPTH = 16
GSS = re.compile(r"^[EWSN]\d{8}$")
MISSING = object()


class Checker:
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
        default: Any = MISSING,
    ) -> Any:
        loc = f"{where}.{key}" if where else key
        # None appears only in the stored canonical form, where it means "not given".
        if key not in table or table[key] is None:
            if default is MISSING:
                self.add(loc, "is required")
                return None
            return default
        value = table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and bool not in kinds:
            self.add(loc, f"must be {kind_name(kinds)}, found {value!r}")
            return None
        if not isinstance(value, kinds):
            self.add(loc, f"must be {kind_name(kinds)}, found {show(value)}")
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not finite(self, loc, value):
                return None
        return value

    def text(
        self,
        table: Mapping[str, Any],
        key: str,
        where: str,
        default: Any = MISSING,
        *,
        slug: bool = False,
        choices: tuple[str, ...] | None = None,
    ) -> str:
        value = self.get(table, key, where, str, default)
        loc = f"{where}.{key}" if where else key
        if value is None:
            return "" if default is MISSING or default is None else cast(str, default)
        if default is MISSING and not value.strip():
            self.add(loc, "must not be empty")
        if slug and value and not SLUG.match(value):
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
                self.add(f"{where}.{key}[{i}]", f"must be text, found {show(v)}")
            else:
                out.append(v)
        return tuple(out)

    def unknown_keys(self, table: Mapping[str, Any], allowed: set[str], where: str) -> None:
        for k in table:
            if k not in allowed:
                loc = f"{where}.{k}" if where else k
                self.add(loc, f"is not a known field (known: {', '.join(sorted(allowed))})")


def finite(c: Checker, loc: str, value: float) -> bool:
    """Whether ``value`` is a finite number within :data:`MAX_MAGNITUDE`; records why not."""
    if isinstance(value, float) and not math.isfinite(value):
        c.add(loc, f"must be a finite number, found {value!r}")
        return False
    if abs(value) > MAX_MAGNITUDE:
        c.add(loc, f"must be at most {MAX_MAGNITUDE:g} in size, found {value!r}")
        return False
    return True


def depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """Nesting depth of plain data, counting no further than ``limit + 1``."""
    stack = [(value, 0)]
    deepest = 0
    while stack:
        v, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > limit:
            break
        if isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)
    return deepest


def kind_name(kinds: tuple[type, ...]) -> str:
    names = {
        str: "text",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        list: "a list",
        dict: "a table",
    }
    return " or ".join(names.get(k, k.__name__) for k in kinds)


_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxstring = 40


def show(v: Any) -> str:
    kind = {
        str: "text",
        int: "integer",
        float: "number",
        bool: "boolean",
        list: "list",
        dict: "table",
    }.get(type(v), type(v).__name__)
    text = _REPR.repr(v)  # bounded: a deeply nested value must not recurse without end
    return f"{kind} {text if len(text) < 40 else text[:37] + '...'}"


def table(c: Checker, data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = c.get(data, key, "", dict)
    return cast(Mapping[str, Any], value) if value is not None else {}


def array(
    c: Checker, data: Mapping[str, Any], key: str, required: bool = True
) -> list[Mapping[str, Any]]:
    value = c.get(data, key, "", list, MISSING if required else [])
    if value is None:
        return []
    out: list[Mapping[str, Any]] = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            c.add(f"{key}[{i}]", f"must be a table, found {show(item)}")
        else:
            out.append(item)
    return out


def unique(c: Checker, values: list[tuple[str, str]], what: str) -> None:
    seen: dict[str, str] = {}
    for loc, v in values:
        if v and v in seen:
            c.add(loc, f"{what} {v!r} is used twice (also at {seen[v]})")
        seen.setdefault(v, loc)
