"""Commitment to a seed before reveal, the seed itself, and the unit-table fingerprint.

Sealing publishes ``commitment(seed, protocol_fingerprint, units_fingerprint)`` while the
seed stays encrypted (docs/architecture.md, decision 5). After reveal anyone recomputes it from the
revealed seed and checks it. The message hashed, byte for byte (``docs/randomness.md``)::

    b"rct-commitment-v1" || 0x00 || seed (32 bytes)
        || protocol fingerprint (64 lower-case hex, ASCII)
        || units fingerprint (64 lower-case hex, ASCII)

Every field has a fixed length, so no two inputs share a message. SHA-256 of a 256-bit
random seed reveals nothing usable about the seed.
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

__all__ = [
    "COMMITMENT_VERSION",
    "UNITS_VERSION",
    "commitment",
    "verify_commitment",
    "new_seed",
    "units_fingerprint",
]

COMMITMENT_VERSION = "rct-commitment-v1"
UNITS_VERSION = "rct-units-v1"
_HEX64 = re.compile(r"[0-9a-f]{64}")


def new_seed() -> bytes:
    """A fresh 32-byte seed from the operating system's CSPRNG (:func:`secrets.token_bytes`)."""
    return secrets.token_bytes(SEED_BYTES)


def _check_fp(value: str, what: str) -> bytes:
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise CommitmentError(f"{what} must be 64 lower-case hex characters (a SHA-256)")
    return value.encode("ascii")


def commitment(seed: bytes, protocol_fingerprint: str, units_fingerprint: str) -> str:
    """SHA-256 (hex) binding a seed to a protocol and a unit table.

    Parameters
    ----------
    seed : bytes
        The 32-byte allocation seed.
    protocol_fingerprint, units_fingerprint : str
        SHA-256 hex fingerprints (lower case).
    """
    if not isinstance(seed, (bytes, bytearray)) or len(seed) != SEED_BYTES:
        raise CommitmentError(f"seed must be exactly {SEED_BYTES} bytes")
    msg = (
        COMMITMENT_VERSION.encode("ascii")
        + b"\x00"
        + bytes(seed)
        + _check_fp(protocol_fingerprint, "protocol fingerprint")
        + _check_fp(units_fingerprint, "units fingerprint")
    )
    return hashlib.sha256(msg).hexdigest()


def verify_commitment(
    expected: str, seed: bytes, protocol_fingerprint: str, units_fingerprint: str
) -> None:
    """Raise :class:`CommitmentError` unless the inputs reproduce ``expected``."""
    actual = commitment(seed, protocol_fingerprint, units_fingerprint)
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


def units_fingerprint(units: pd.DataFrame, columns: Sequence[str]) -> str:
    """Fingerprint of a unit table's ids and chosen columns, independent of row order.

    The canonical value is ``{"version": "rct-units-v1", "columns": sorted(columns),
    "units": [{"id": id, "values": {column: value}} ...]}`` with units sorted by id (as
    strings), fingerprinted by :func:`protocols.canonical.fingerprint`.
    """
    from protocols.canonical import fingerprint

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
    return fingerprint({"version": UNITS_VERSION, "columns": cols, "units": records})
