"""The allocation record and its certificate as typed, read-only records.

:class:`AllocationRecordView` is one stored allocation as the services hand it out;
:class:`AllocationCertificate` adds the audit trail's latest signed checkpoint. Their
``to_dict()`` is the plain data written to the certificate JSON and the bundle's
``allocation/certificate.json`` (same keys, same order, same values as before these types
existed), and ``from_dict`` reads back what ``to_dict`` wrote. No database code here: a
bundle's reproduction imports this module without SQLAlchemy. Verification
(:mod:`rct.allocation.verify`) and the Markdown certificate work from that plain data, so
the same code judges a live record and an evaluator's bundle file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["AllocationStatus", "AllocationRecordView", "AllocationCertificate"]


class AllocationStatus(StrEnum):
    """Where an allocation record stands (equal to the status string stored with it)."""

    SEALED = "sealed"
    REVEALED = "revealed"
    VOID = "void"


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True)
class AllocationRecordView:
    """One allocation record: the allocation certificate's content.

    Before reveal it holds no seed, scheme index or arms. It carries every input of the
    specification: the units object as committed (``units``) and the design object
    (``design``). ``envelope`` is None where the sealed envelope is withheld (every
    reader but the statistician before reveal, every bundle before reveal); the key is
    then left out of :meth:`to_dict`.
    """

    units: Any
    design_fingerprint: str | None
    allocation: int
    status: AllocationStatus
    replaces: int | None
    protocol_version: int
    protocol_fingerprint: str
    units_fingerprint: str
    space_fingerprint: str
    design: Mapping[str, Any]
    algorithm: Mapping[str, Any]
    commitment: str
    envelope: Mapping[str, Any] | None
    sealed_at: str
    sealed_by: str
    revealed_at: str | None = None
    revealed_by: str | None = None
    seed: str | None = None
    scheme_index: int | None = None
    arms: Mapping[str, str] | None = None
    voided_at: str | None = None
    voided_by: str | None = None
    void_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The record as plain data, in the key order the certificate JSON has always had."""
        out: dict[str, Any] = {
            "units": self.units,
            "design_fingerprint": self.design_fingerprint,
            "allocation": self.allocation,
            "status": str(self.status),
            "replaces": self.replaces,
            "protocol_version": self.protocol_version,
            "protocol_fingerprint": self.protocol_fingerprint,
            "units_fingerprint": self.units_fingerprint,
            "space_fingerprint": self.space_fingerprint,
            "design": dict(self.design),
            "algorithm": dict(self.algorithm),
            "commitment": self.commitment,
        }
        if self.envelope is not None:
            out["envelope"] = dict(self.envelope)
        out.update(
            {
                "sealed_at": self.sealed_at,
                "sealed_by": self.sealed_by,
                "revealed_at": self.revealed_at,
                "revealed_by": self.revealed_by,
                "seed": self.seed,
                "scheme_index": self.scheme_index,
                "arms": None if self.arms is None else dict(self.arms),
                "voided_at": self.voided_at,
                "voided_by": self.voided_by,
                "void_reason": self.void_reason,
            }
        )
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AllocationRecordView:
        """The record :meth:`to_dict` wrote (KeyError or ValueError for anything else)."""
        envelope = d.get("envelope")
        arms = d["arms"]
        return cls(
            units=d["units"],
            design_fingerprint=_optional_str(d["design_fingerprint"]),
            allocation=int(d["allocation"]),
            status=AllocationStatus(d["status"]),
            replaces=_optional_int(d["replaces"]),
            protocol_version=int(d["protocol_version"]),
            protocol_fingerprint=str(d["protocol_fingerprint"]),
            units_fingerprint=str(d["units_fingerprint"]),
            space_fingerprint=str(d["space_fingerprint"]),
            design=dict(d["design"]),
            algorithm=dict(d["algorithm"]),
            commitment=str(d["commitment"]),
            envelope=None if envelope is None else dict(envelope),
            sealed_at=str(d["sealed_at"]),
            sealed_by=str(d["sealed_by"]),
            revealed_at=_optional_str(d["revealed_at"]),
            revealed_by=_optional_str(d["revealed_by"]),
            seed=_optional_str(d["seed"]),
            scheme_index=_optional_int(d["scheme_index"]),
            arms=None if arms is None else {str(u): str(a) for u, a in arms.items()},
            voided_at=_optional_str(d["voided_at"]),
            voided_by=_optional_str(d["voided_by"]),
            void_reason=_optional_str(d["void_reason"]),
        )

    @property
    def revealed(self) -> bool:
        """Whether the record carries the revealed arms."""
        return bool(self.arms)


@dataclass(frozen=True)
class AllocationCertificate:
    """An allocation record with the audit trail's latest signed checkpoint (``checkpoint``,
    None if none was written yet), to compare with the one the trial published."""

    record: AllocationRecordView
    checkpoint: Mapping[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        """The certificate JSON's data: the record's keys, then ``checkpoint``."""
        return {
            **self.record.to_dict(),
            "checkpoint": None if self.checkpoint is None else dict(self.checkpoint),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AllocationCertificate:
        """The certificate :meth:`to_dict` wrote."""
        checkpoint = d["checkpoint"]
        return cls(
            record=AllocationRecordView.from_dict(
                {k: v for k, v in d.items() if k != "checkpoint"}
            ),
            checkpoint=None if checkpoint is None else dict(checkpoint),
        )
