"""The allocation certificate as Markdown, and the text to publish at seal time.

Both carry an anchor of the audit trail (docs/checkpoints.md): the publication the seal's
head (sequence number and hash of the seal event), the certificate the latest signed
checkpoint, so that a reader holding either can later prove with ``rct audit verify
--checkpoint`` or ``rct reproduce --checkpoint`` that nothing recorded up to it was removed
or rewritten.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rct.allocation.records import AllocationCertificate, AllocationRecordView

if TYPE_CHECKING:
    from rct.allocation.sealing import SealResult
    from rct.checkpoints import Checkpoint

__all__ = ["publication_text", "render_certificate"]


def publication_text(result: SealResult, checkpoint: Checkpoint | None) -> str:
    """What the statistician publishes at seal time (trial registration entry, e-mail to the
    evaluators, trial master file): the commitment, the audit head at seal and the signed
    checkpoint file written with it."""
    lines = [
        "Publish (trial registration, e-mail to the evaluators, trial master file):",
        f"  commitment:          {result.commitment}",
        f"  audit head at seal:  event {result.head_seq}, hash {result.head}",
    ]
    if checkpoint is not None and checkpoint.path is not None:
        lines.append(f"  signed checkpoint:   {checkpoint.path}")
    return "\n".join(lines)


def _checkpoint_section(doc: dict[str, Any] | None) -> list[str]:
    if doc is None:
        return ["", "## Audit checkpoint", "", "No signed checkpoint of the audit trail yet."]
    # lazy: loads sqlalchemy, cryptography (start-up time)
    from rct.checkpoints import describe

    return [
        "",
        "## Audit checkpoint",
        "",
        f"Latest signed checkpoint of the audit trail: {describe(doc)}. Compare it with the "
        "checkpoints the trial published; saved as a file, the JSON below is checked by "
        "`rct audit verify --checkpoint FILE` and `rct reproduce BUNDLE --checkpoint FILE`.",
        "",
        "```json",
        json.dumps(doc, indent=2, sort_keys=True),
        "```",
    ]


def render_certificate(
    cert: AllocationCertificate | AllocationRecordView | Mapping[str, Any], checks: list[Any]
) -> str:
    """Render an allocation certificate or record (or a certificate's plain data, as its
    JSON holds it) and its verification checks."""
    if isinstance(cert, AllocationCertificate | AllocationRecordView):
        cert = cert.to_dict()
    lines = [
        f"# Allocation certificate: allocation #{cert['allocation']}",
        "",
        f"Status: **{cert['status']}**"
        + (
            f" (re-seal after void of allocation #{cert['replaces']})"
            if cert.get("replaces")
            else ""
        ),
        "",
        "| item | value |",
        "| --- | --- |",
        f"| commitment | `{cert['commitment']}` |",
        f"| protocol version | {cert['protocol_version']} |",
        f"| protocol fingerprint | `{cert['protocol_fingerprint']}` |",
        f"| unit table fingerprint | `{cert['units_fingerprint']}` |",
        f"| design fingerprint | `{cert['design_fingerprint']}` |"
        if cert.get("design_fingerprint")
        else "",
        f"| scheme space fingerprint | `{cert['space_fingerprint']}` |",
        f"| sealed | {cert['sealed_at']} by {cert['sealed_by']} |",
        f"| revealed | {cert['revealed_at'] or 'not yet'}"
        + (f" by {cert['revealed_by']}" if cert.get("revealed_by") else "")
        + " |",
        f"| seed | `{cert['seed']}` |" if cert.get("seed") else "| seed | concealed until reveal |",
        f"| scheme index | {cert['scheme_index']} |"
        if cert.get("scheme_index") is not None
        else "",
    ]
    if cert.get("voided_at"):
        lines.append(
            f"| voided | {cert['voided_at']} by {cert['voided_by']}: {cert['void_reason']} |"
        )
    lines = [x for x in lines if x]
    lines += ["", "## Algorithms", ""]
    lines += [f"- {k}: `{v}`" for k, v in sorted(cert["algorithm"].items())]
    lines += ["", "## Design", "", "```json"]
    lines += [json.dumps(cert["design"], indent=2, sort_keys=True), "```"]
    if cert.get("units") is not None:
        lines += [
            "",
            "## Units object (as committed)",
            "",
            "Recompute every value from this object, the design above and the revealed seed "
            "with `docs/randomness.md` (`rct allocate verify --explain` shows each step).",
            "",
            "```json",
            json.dumps(cert["units"], indent=2, sort_keys=True, ensure_ascii=False),
            "```",
        ]
    if cert.get("arms"):
        lines += ["", "## Allocation", "", "| unit | arm |", "| --- | --- |"]
        lines += [f"| {u} | {a} |" for u, a in sorted(cert["arms"].items())]
    if checks:
        lines += ["", "## Verification", ""]
        lines += [f"- {'PASS' if c.ok else 'FAIL'} {c.name}: {c.detail}" for c in checks]
    if "checkpoint" in cert:
        lines += _checkpoint_section(cert["checkpoint"])
    return "\n".join(lines)
