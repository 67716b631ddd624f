"""Commitment to a seed before reveal, the seed itself, and the committed objects.

Sealing publishes a commitment while the seed stays encrypted (docs/architecture.md,
decision 5). After reveal anyone recomputes it from the revealed seed and checks it. The
message hashed, byte for byte (``docs/randomness.md`` section 9)::

    rct-commitment-v2 (new seals):
        b"rct-commitment-v2" || 0x00 || seed (32 bytes)
            || protocol fingerprint || units fingerprint || design fingerprint
    rct-commitment-v1 (allocations sealed before v2; still verified):
        b"rct-commitment-v1" || 0x00 || seed (32 bytes)
            || protocol fingerprint || units fingerprint (of the protocol's whole unit table)

each fingerprint as 64 lower-case hex ASCII characters. In v2 the units fingerprint is the
SHA-256 of the canonical JSON of the **units object** (:func:`units_object`: unit ids and
exactly the columns the design reads) and the design fingerprint that of the **design
object** (:func:`design_object`), so an outsider holding both objects recomputes every
committed value. Every field has a fixed length, so no two inputs share a message.
SHA-256 of a 256-bit random seed reveals nothing usable about the seed.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from allocation.errors import CommitmentError, UnitsError
from allocation.stream import SEED_BYTES

if TYPE_CHECKING:
    import pandas as pd

    from allocation.design import AllocationDesign

__all__ = [
    "COMMITMENT_V1",
    "COMMITMENT_V2",
    "COMMITMENT_VERSION",
    "UNITS_VERSION",
    "commitment",
    "commitment_message",
    "design_object",
    "units_object",
    "units_columns",
    "verify_commitment",
    "new_seed",
    "units_fingerprint",
]

COMMITMENT_V1 = "rct-commitment-v1"
COMMITMENT_V2 = "rct-commitment-v2"
COMMITMENT_VERSION = COMMITMENT_V2  # what new seals use
COMMITMENT_VERSIONS = (COMMITMENT_V1, COMMITMENT_V2)
UNITS_VERSION = "rct-units-v1"
_HEX64 = re.compile(r"[0-9a-f]{64}")


def new_seed() -> bytes:
    """A fresh 32-byte seed from the operating system's CSPRNG (:func:`secrets.token_bytes`)."""
    return secrets.token_bytes(SEED_BYTES)


def _check_fp(value: str, what: str) -> bytes:
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise CommitmentError(f"{what} must be 64 lower-case hex characters (a SHA-256)")
    return value.encode("ascii")


def commitment_message(
    seed: bytes,
    protocol_fingerprint: str,
    units_fingerprint: str,
    design_fingerprint: str | None = None,
    *,
    version: str = COMMITMENT_V1,
) -> bytes:
    """The exact bytes hashed by :func:`commitment` (shown by ``verify --explain``)."""
    if version not in COMMITMENT_VERSIONS:
        raise CommitmentError(f"unknown commitment algorithm {version!r}")
    if not isinstance(seed, (bytes, bytearray)) or len(seed) != SEED_BYTES:
        raise CommitmentError(f"seed must be exactly {SEED_BYTES} bytes")
    msg = (
        version.encode("ascii")
        + b"\x00"
        + bytes(seed)
        + _check_fp(protocol_fingerprint, "protocol fingerprint")
        + _check_fp(units_fingerprint, "units fingerprint")
    )
    if version == COMMITMENT_V2:
        if design_fingerprint is None:
            raise CommitmentError(f"{COMMITMENT_V2} needs the design fingerprint")
        msg += _check_fp(design_fingerprint, "design fingerprint")
    elif design_fingerprint is not None:
        raise CommitmentError(f"{COMMITMENT_V1} does not commit to a design fingerprint")
    return msg


def commitment(
    seed: bytes,
    protocol_fingerprint: str,
    units_fingerprint: str,
    design_fingerprint: str | None = None,
    *,
    version: str = COMMITMENT_V1,
) -> str:
    """SHA-256 (hex) binding a seed to a protocol, the units object and the design object.

    Parameters
    ----------
    seed : bytes
        The 32-byte allocation seed.
    protocol_fingerprint, units_fingerprint : str
        SHA-256 hex fingerprints (lower case).
    design_fingerprint : str, optional
        SHA-256 hex of the design object; required by (and only by) ``rct-commitment-v2``.
    version : str
        ``"rct-commitment-v1"`` or ``"rct-commitment-v2"``: the algorithm label stored with
        the allocation selects it, so allocations sealed under v1 still verify.
    """
    msg = commitment_message(
        seed, protocol_fingerprint, units_fingerprint, design_fingerprint, version=version
    )
    return hashlib.sha256(msg).hexdigest()


def verify_commitment(
    expected: str,
    seed: bytes,
    protocol_fingerprint: str,
    units_fingerprint: str,
    design_fingerprint: str | None = None,
    *,
    version: str = COMMITMENT_V1,
) -> None:
    """Raise :class:`CommitmentError` unless the inputs reproduce ``expected``."""
    actual = commitment(
        seed, protocol_fingerprint, units_fingerprint, design_fingerprint, version=version
    )
    if not hmac.compare_digest(actual, str(expected)):
        raise CommitmentError("the seed, protocol and unit table do not match the commitment")


def _plain(value: Any, unit: str, column: str) -> Any:
    if value is None:
        raise UnitsError(f"unit {unit!r} has no value for {column!r}")
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, bool) or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            raise UnitsError(f"unit {unit!r} has no value for {column!r}")
        return value
    return str(value)


def units_columns(design: AllocationDesign) -> list[str]:
    """The columns of the units object: the design's covariates, plus its stratum column
    when stratified, sorted by code point."""
    return sorted(set(design.covariates) | ({design.strata} if design.strata else set()))


def units_object(units: pd.DataFrame, columns: Sequence[str]) -> dict[str, Any]:
    """The units object: unit ids and exactly ``columns``, independent of row order.

    ``{"version": "rct-units-v1", "columns": sorted(columns), "units": [{"id": id,
    "values": {column: value}} ...]}`` with units sorted by id (code-point order); values
    are the table's own numbers (floats for a protocol) and texts.
    """
    cols = sorted(set(columns))
    missing = [c for c in cols if c not in units.columns]
    if missing:
        raise UnitsError(f"unit table lacks columns: {missing}")
    ids = [str(i) for i in units.index]
    if len(set(ids)) != len(ids):
        raise UnitsError("unit ids must be unique")
    records = []
    for uid, (_, row) in sorted(zip(ids, units[cols].iterrows()), key=lambda p: p[0]):
        records.append({"id": uid, "values": {c: _plain(row[c], uid, c) for c in cols}})
    return {"version": UNITS_VERSION, "columns": cols, "units": records}


def units_fingerprint(units: pd.DataFrame, columns: Sequence[str]) -> str:
    """SHA-256 of the canonical JSON of :func:`units_object` (``protocols.canonical``)."""
    # lazy: loads protocols.canonical (start-up time)
    from protocols.canonical import fingerprint

    return fingerprint(units_object(units, columns))


def design_object(design: AllocationDesign) -> dict[str, Any]:
    """The design object: every field of the design, defaults written out."""
    return design.to_dict()


def units_frame_from_object(obj: Any) -> pd.DataFrame:
    """Rebuild the unit table (indexed by id) from a units object, checking its form."""
    # lazy: loads pandas, numpy (start-up time)
    import pandas as pd

    if not isinstance(obj, dict) or obj.get("version") != UNITS_VERSION:
        raise UnitsError(f"not an {UNITS_VERSION} units object")
    cols, units = obj.get("columns"), obj.get("units")
    if not isinstance(cols, list) or not isinstance(units, list):
        raise UnitsError("units object needs 'columns' and 'units' lists")
    rows = []
    for u in units:
        if not isinstance(u, dict) or not isinstance(u.get("values"), dict):
            raise UnitsError("each unit needs an 'id' and a 'values' object")
        if sorted(u["values"]) != sorted(cols):
            raise UnitsError(f"unit {u.get('id')!r} does not have exactly the listed columns")
        rows.append({"__id": str(u["id"]), **u["values"]})
    frame = pd.DataFrame(rows, columns=["__id", *cols]).set_index("__id")
    frame.index.name = "id"
    return frame
