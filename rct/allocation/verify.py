"""Independent verification of a revealed allocation, from plain records.

Takes the allocation certificate as plain data (an
:class:`~rct.allocation.records.AllocationRecordView`'s ``to_dict()``, or a bundle's
``allocation/certificate.json``), the
protocol version it was sealed under and the audit events, and recomputes everything:
so ``rct allocate verify`` on the live database and ``rct reproduce`` on an evaluator's
bundle run the same checks. Each check says PASS or exactly why it FAILs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from allocation import AllocationError, CommitmentError, commitment
from allocation.commitment import COMMITMENT_V1
from protocols import Protocol
from protocols.canonical import fingerprint
from rct.allocation.design import committed_inputs, space_for_protocol
from rct.allocation.records import AllocationRecordView
from rct.errors import RctError

__all__ = ["Check", "ExplainError", "verify_allocation", "explain_certificate", "explain_bundle"]


class ExplainError(RctError):
    """The certificate's inputs cannot be recomputed step by step."""

    exit_code = 8
    code = "explain-failed"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.name, "ok": self.ok, "detail": self.detail}


def verify_allocation(
    cert: Mapping[str, Any], protocol: Protocol, audit_events: Iterable[dict[str, Any]]
) -> list[Check]:
    """Recompute a revealed allocation and compare it with the certificate and audit trail."""
    # rct.audit loads SQLAlchemy, which a bundle's reproduction does not otherwise need
    # lazy: loads sqlalchemy (start-up time)
    from rct.audit import verify_events

    events = list(audit_events)
    checks: list[Check] = []

    def add(name: str, ok: bool, good: str, bad: str) -> None:
        checks.append(Check(name, ok, good if ok else bad))

    chain = verify_events(events)
    add(
        "audit chain",
        chain.ok,
        f"intact ({chain.events} events)",
        f"broken at event {chain.broken_at}: {chain.problem}",
    )
    pfp = protocol.fingerprint()
    add(
        "protocol fingerprint",
        pfp == cert["protocol_fingerprint"],
        pfp,
        f"protocol recomputes to {pfp}, certificate says {cert['protocol_fingerprint']}",
    )
    version = str((cert.get("algorithm") or {}).get("commitment", COMMITMENT_V1))
    try:
        inputs = committed_inputs(protocol, version)
    except CommitmentError as exc:
        checks.append(Check("commitment", False, str(exc)))
        return checks
    ufp = inputs["units_fingerprint"]
    add(
        "unit table fingerprint",
        ufp == cert["units_fingerprint"],
        f"{ufp} ({version} units object)",
        f"unit table recomputes to {ufp}, certificate says {cert['units_fingerprint']}",
    )
    if "units" in cert:
        add(
            "units object",
            cert["units"] == inputs["units"] and fingerprint(cert["units"]) == ufp,
            "the certificate's units object is the protocol's and hashes to its fingerprint",
            "the certificate's units object differs from the one the protocol gives",
        )
    dfp = inputs["design_fingerprint"]
    if "design" in cert:
        add(
            "design object",
            cert["design"] == inputs["design"],
            "the certificate's design object is the protocol's"
            + (f" (fingerprint {dfp})" if dfp else ""),
            "the certificate's design object differs from the one the protocol gives",
        )
    seed_hex = cert.get("seed")
    if not seed_hex:
        checks.append(Check("revealed seed", False, "the allocation has not been revealed"))
        return checks
    try:
        seed = bytes.fromhex(seed_hex)
        com = commitment(
            seed,
            cert["protocol_fingerprint"],
            cert["units_fingerprint"],
            fingerprint(cert["design"]) if dfp is not None and "design" in cert else dfp,
            version=version,
        )
    except (ValueError, CommitmentError) as exc:
        checks.append(Check("commitment", False, f"the revealed seed is malformed: {exc}"))
        return checks
    add(
        "commitment",
        com == cert["commitment"],
        f"{version}: seed, protocol, units" + (" and design" if dfp else "") + f" give {com}",
        f"{version}: seed, protocol, units"
        + (" and design" if dfp else "")
        + f" give {com}, but the published commitment is {cert['commitment']}",
    )
    space = space_for_protocol(protocol)
    sfp = space.fingerprint()
    add(
        "scheme space",
        sfp == cert["space_fingerprint"],
        f"{space.admissible} admissible schemes of {space.total}, fingerprint {sfp[:16]}...",
        f"rebuilt space has fingerprint {sfp}, certificate says {cert['space_fingerprint']}",
    )
    drawn = space.draw(seed)
    same = drawn.arms == cert.get("arms") and drawn.index == cert.get("scheme_index")
    differing = sorted(u for u in drawn.arms if (cert.get("arms") or {}).get(u) != drawn.arms[u])
    add(
        "allocation",
        same,
        f"scheme #{drawn.index} recomputed from the seed matches",
        f"recomputed scheme #{drawn.index} differs from the recorded #{cert.get('scheme_index')}"
        + (f" for units {', '.join(differing)}" if differing else ""),
    )
    seals = [
        e
        for e in events
        if e["action"] == "allocation.seal" and _payload(e).get("allocation") == cert["allocation"]
    ]
    add(
        "audit: seal",
        bool(seals) and _payload(seals[0]).get("commitment") == cert["commitment"],
        f"sealed at event {seals[0]['seq'] if seals else '?'} with the same commitment",
        "no seal event in the audit trail carries this commitment",
    )
    reveals = [
        e
        for e in events
        if e["action"] == "allocation.reveal"
        and _payload(e).get("allocation") == cert["allocation"]
    ]
    ok = (
        bool(reveals)
        and _payload(reveals[0]).get("seed") == seed_hex
        and _payload(reveals[0]).get("arms") == drawn.arms
    )
    add(
        "audit: reveal",
        ok,
        f"revealed at event {reveals[0]['seq'] if reveals else '?'} with the same seed and arms",
        "no reveal event in the audit trail carries this seed and these arms",
    )
    if seals and reveals:
        add(
            "audit: order",
            seals[0]["seq"] < reveals[0]["seq"],
            "sealed before revealed",
            "the reveal event comes before the seal event",
        )
    return checks


def explain_certificate(cert: AllocationRecordView | Mapping[str, Any]) -> list[Any]:
    """Every intermediate value of the allocation, recomputed from the certificate alone
    (units object, design object, protocol fingerprint, algorithm label, revealed seed), in
    the order of the worked example in ``docs/randomness.md``. ``cert`` is a record or a
    certificate's plain data (a bundle's file)."""
    # lazy: the explanation loads numpy and the scheme-space code (start-up time)
    from allocation.explain import explain_allocation

    if isinstance(cert, AllocationRecordView):
        cert = cert.to_dict()
    if "units" not in cert or "design" not in cert:
        raise ExplainError(
            "the certificate does not carry the units and design objects; "
            "export it again with this version of rct"
        )
    seed_hex = cert.get("seed")
    try:
        return explain_allocation(
            cert["units"],
            cert["design"],
            cert["protocol_fingerprint"],
            version=str((cert.get("algorithm") or {}).get("commitment", COMMITMENT_V1)),
            seed=bytes.fromhex(seed_hex) if seed_hex else None,
        )
    except (AllocationError, ValueError, KeyError, TypeError) as exc:
        raise ExplainError(f"cannot recompute from the certificate: {exc}") from None


def explain_bundle(directory: Path) -> list[Any]:
    """:func:`explain_certificate` on a bundle's ``allocation/certificate.json``."""
    path = Path(directory) / "allocation" / "certificate.json"
    try:
        cert = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExplainError(f"{path} is missing: the bundle has no allocation to explain") from None
    except ValueError:
        raise ExplainError(f"{path} is not valid JSON (altered?)") from None
    if not isinstance(cert, dict):
        raise ExplainError(f"{path} is not an allocation certificate")
    return explain_certificate(cert)


def _payload(event: dict[str, Any]) -> dict[str, Any]:
    p = event.get("payload")
    return json.loads(p) if isinstance(p, str) else dict(p or {})
