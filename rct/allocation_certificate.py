"""The allocation certificate as Markdown, for the trial master file."""

from __future__ import annotations

from typing import Any

__all__ = ["render_certificate"]


def render_certificate(cert: dict[str, Any], checks: list[Any]) -> str:
    """Render an allocation record (``record_dict``) and its verification checks."""
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
    import json

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
    return "\n".join(lines)
