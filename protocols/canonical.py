"""The one canonical JSON form, and the SHA-256 fingerprints taken over it.

Protocols, unit tables, schemes and results are all fingerprinted through this module
(docs/architecture.md, decision 4), so a fingerprint never depends on key order, file layout or
platform. The rules, which another language can reimplement:

* objects have their keys sorted by Unicode code point; keys must be strings;
* no insignificant whitespace: separators are ``,`` and ``:``;
* text is UTF-8, non-ASCII characters are written as themselves (not ``\\u`` escapes);
* ``true``/``false``/``null`` as in JSON; integers in plain decimal;
* finite floats in the shortest form that round-trips (Python ``repr``), with ``-0.0``
  written ``0.0``; NaN and infinities are refused (they have no JSON form);
* tuples are arrays; anything else (sets, bytes, dates) is refused, so callers convert
  explicitly and the form cannot drift silently.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["CanonicalFormError", "canonical_json", "canonical_bytes", "fingerprint"]


class CanonicalFormError(ValueError):
    """A value has no canonical JSON form (NaN, a set, a non-string key, ...)."""


def _normalise(value: Any, path: str) -> Any:
    if value is None or isinstance(value, bool) or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CanonicalFormError(f"{path}: {value!r} has no canonical form")
        return 0.0 if value == 0.0 else value
    # numpy scalars without importing numpy: they expose .item()
    if hasattr(value, "item") and hasattr(value, "dtype") and getattr(value, "ndim", 1) == 0:
        return _normalise(value.item(), path)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise CanonicalFormError(f"{path}: key {k!r} is not a string")
            out[k] = _normalise(v, f"{path}.{k}")
        return out
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        return [_normalise(v, f"{path}[{i}]") for i, v in enumerate(value)]
    raise CanonicalFormError(f"{path}: {type(value).__name__} has no canonical form")


def canonical_json(value: Any) -> str:
    """Return the canonical JSON text of ``value`` (see the module docstring)."""
    return json.dumps(
        _normalise(value, "$"),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )


def canonical_bytes(value: Any) -> bytes:
    """Return the canonical JSON form of ``value`` encoded as UTF-8."""
    return canonical_json(value).encode("utf-8")


def fingerprint(value: Any) -> str:
    """SHA-256 (lower-case hex) of the canonical JSON form of ``value``."""
    return hashlib.sha256(canonical_bytes(value)).hexdigest()
