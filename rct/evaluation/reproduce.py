"""``rct reproduce DIR``: check an evaluator's bundle independently, item by item.

Nothing here reads a trial database: every check recomputes from the bundle's own files
with the toolkit's libraries, so an evaluator on another machine with a fresh install gets
the same verdict. Each check is PASS or FAIL with the reason; the bundle passes only if
every check does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from protocols import protocol_from_data
from rct.allocation.verify import Check, verify_allocation

if TYPE_CHECKING:
    from rct.evaluation.bundle_trust import Anchors

__all__ = ["reproduce", "steps", "Check", "CONCEALED", "concealed_check", "verdict"]

#: Name of the check that stands for the allocation checks a pre-reveal bundle cannot run.
CONCEALED = "allocation: arms concealed"
#: What a pre-reveal bundle cannot check, and why (printed with its verdict).
SKIPPED_BEFORE_REVEAL = (
    "the commitment, the scheme redrawn from the seed and the reveal event (they need the "
    "seed) and the analyses (they need the arms), both sealed until reveal"
)


def _load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _manifest(root: Path, checks: list[Check]) -> dict[str, Any] | None:
    # lazy: loads sqlalchemy, cryptography (start-up time)
    from rct.evaluation.bundle import BUNDLE_FORMAT, sha256_file

    path = root / "manifest.json"
    if _refuse_unsafe(root, None, checks):
        return None
    try:
        loaded = _load_json(path)
    except FileNotFoundError:
        checks.append(Check("manifest", False, f"{path} is missing: is this a bundle?"))
        return None
    except ValueError:
        loaded = None
    manifest: dict[str, Any] | None = loaded if isinstance(loaded, dict) else None
    files = manifest.get("files") if manifest is not None else None
    if manifest is None or not isinstance(files, dict) or manifest.get("format") != BUNDLE_FORMAT:
        checks.append(
            Check("manifest", False, f"{path} is not a {BUNDLE_FORMAT} manifest (altered?)")
        )
        return None
    if _refuse_unsafe(root, list(files), checks):
        return None
    present = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} - {"manifest.json"}
    for name in sorted(files):
        p = root / name
        if not p.is_file():
            checks.append(Check(f"file {name}", False, "listed in the manifest but missing"))
        elif (actual := sha256_file(p)) != files[name]:
            checks.append(
                Check(
                    f"file {name}",
                    False,
                    f"SHA-256 {actual[:16]}... differs from the manifest's {str(files[name])[:16]}... (altered)",
                )
            )
    for name in sorted(present - set(files)):
        checks.append(Check(f"file {name}", False, "not listed in the manifest (added)"))
    if not any(c.name.startswith("file ") for c in checks):
        checks.append(Check("manifest", True, f"{len(files)} files, every SHA-256 matches"))
    return manifest


def _refuse_unsafe(root: Path, names: list[object] | None, checks: list[Check]) -> bool:
    """FAIL (and stop) on symlinks in the bundle or manifest paths leading out of it,
    before any file they name is read (rct/evaluation/bundle_trust.py)."""
    # lazy: loads sqlalchemy (start-up time)
    from rct.evaluation.bundle_trust import unsafe_layout

    problems = unsafe_layout(root, names or [])
    if problems:
        checks.append(
            Check(
                "bundle layout",
                False,
                "refused before reading: "
                + "; ".join(problems[:3])
                + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""),
            )
        )
    return bool(problems)


def _guard(name: str, checks: list[Check], fn: Callable[[], None]) -> None:
    """Run one group of checks; a malformed file becomes a FAIL naming it, not a crash."""
    try:
        fn()
    except FileNotFoundError as exc:
        checks.append(Check(name, False, f"{Path(exc.filename or '').name or exc} is missing"))
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        checks.append(Check(name, False, f"cannot be checked: {type(exc).__name__}: {exc}"))
    except Exception as exc:  # noqa: BLE001 - library errors (protocol, allocation) are FAILs too
        checks.append(Check(name, False, f"{type(exc).__name__}: {exc}"))


#: Steps reported to the ``progress`` callback: the manifest, then each group of checks
#: (plus one per recomputed analysis, see :func:`steps`).
STEPS = 6


def steps(directory: Path) -> int:
    """How many times :func:`reproduce` will call ``progress`` for this bundle."""
    # lazy: loads rct.evaluation.reproduce_analyses (start-up time)
    from rct.evaluation.reproduce_analyses import analyses_in

    return STEPS + analyses_in(Path(directory) / "results" / "results.json")


def reproduce(
    directory: Path,
    *,
    tolerance: float = 1e-6,
    anchors: Anchors | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[Check]:
    """Every check of the bundle in ``directory``, in order.

    ``anchors`` are what the evaluator holds from outside the bundle (published
    checkpoints, commitment, genesis key fingerprint), checked against it after its audit
    chain.

    ``progress`` (if given) is called with 1 after the manifest and after each group of
    checks and after each recomputed analysis: :func:`steps` calls in all when every file
    is readable.
    """
    advance = progress or (lambda _n: None)
    # lazy: loads sqlalchemy (start-up time)
    from rct.audit import verify_events

    root = Path(directory)
    checks: list[Check] = []
    manifest = _manifest(root, checks)
    advance(1)
    if manifest is None:
        return checks
    state: dict[str, Any] = {}

    def audit() -> None:
        lines = (root / "audit" / "audit.jsonl").read_text(encoding="utf-8").splitlines()
        events = [json.loads(line) for line in lines if line.strip()]
        report = verify_events(events)
        checks.append(
            Check(
                "audit chain",
                report.ok,
                f"intact: {report.events} events, head {report.head[:16]}..."
                if report.ok
                else f"broken at event {report.broken_at}: {report.problem}",
            )
        )
        state["events"] = events
        _trust_checks(root, events, anchors, checks)

    def protocol() -> None:
        history = _load_json(root / "protocol" / "history.json")
        events = state.get("events", [])
        recorded = {
            _payload(e).get("fingerprint")
            for e in events
            if e["action"] in ("protocol.load", "protocol.lock", "protocol.amend")
        }
        bad = []
        for v in history:
            fp = protocol_from_data(
                v["canonical"], f"protocol version {v['version']}"
            ).fingerprint()
            if fp != v["fingerprint"]:
                bad.append(
                    f"version {v['version']} recomputes to {fp[:16]}..., recorded {v['fingerprint'][:16]}..."
                )
            elif fp not in recorded:
                bad.append(
                    f"version {v['version']} ({fp[:16]}...) has no load/lock/amend event in the audit trail"
                )
        current = protocol_from_data(
            _load_json(root / "protocol" / "current.json"), "protocol/current.json"
        )
        cfp = current.fingerprint()
        if cfp != manifest.get("protocol_fingerprint"):
            bad.append(
                f"protocol/current.json recomputes to {cfp[:16]}..., manifest says "
                f"{str(manifest.get('protocol_fingerprint'))[:16]}..."
            )
        checks.append(
            Check(
                "protocol fingerprint",
                not bad,
                f"{len(history)} version(s); current {cfp}" if not bad else "; ".join(bad),
            )
        )
        state["history"] = {v["version"]: protocol_from_data(v["canonical"]) for v in history}
        state["protocol"] = current

    def allocation() -> None:
        path = root / "allocation" / "certificate.json"
        if not path.exists():
            checks.append(Check("allocation", False, "no allocation certificate in the bundle"))
            return
        cert = _load_json(path)
        sealed_under = state["history"][cert["protocol_version"]]
        events = state.get("events", [])
        concealed = not cert.get("seed")
        for c in verify_allocation(cert, sealed_under, events):
            if c.name in ("audit chain",):
                continue  # checked above, once
            if concealed and c.name == "revealed seed":
                checks.append(concealed_check(cert, manifest, events))
                continue
            checks.append(Check(f"allocation: {c.name}", c.ok, c.detail))
        state["cert"] = cert

    def dataset() -> None:
        # lazy: loads sqlalchemy (start-up time)
        from rct.capture.export import snapshot_hash
        from rct.evaluation.reproduce_dataset import csv_copy_check

        rows = _load_json(root / "data" / "analysis_dataset.json")
        snap = snapshot_hash(rows)
        exported = [e for e in state.get("events", []) if e["action"] == "bundle.export"]
        audited = _payload(exported[-1]).get("snapshot_hash") if exported else None
        ok = snap == manifest.get("snapshot_hash") == audited
        checks.append(
            Check(
                "data snapshot",
                ok,
                f"{len(rows)} rows, snapshot {snap}"
                if ok
                else f"rows hash to {snap[:16]}..., manifest says {str(manifest.get('snapshot_hash'))[:16]}..., "
                f"audit trail says {str(audited)[:16]}...",
            )
        )
        state["rows"] = rows
        checks.append(csv_copy_check(root, rows if ok else None, snap))

    def analyses() -> None:
        path = root / "results" / "results.json"
        if not path.exists():
            checks.append(
                Check("analyses", True, "no analyses were run before this bundle was made")
            )
            return
        # lazy: loads rct.evaluation.reproduce_analyses (start-up time)
        from rct.evaluation.reproduce_analyses import recompute_results

        checks.extend(
            recompute_results(
                path,
                state["protocol"],
                state["rows"],
                state.get("cert"),
                state.get("events", []),
                tolerance,
                progress,
            )
        )

    for name, fn in (
        ("audit chain", audit),
        ("protocol fingerprint", protocol),
        ("allocation", allocation),
        ("data snapshot", dataset),
        ("analyses", analyses),
    ):
        if name == "allocation" and "history" not in state:
            pass
        elif name == "analyses" and ("rows" not in state or "protocol" not in state):
            checks.append(
                Check("analyses", False, "not recomputed: the protocol or dataset failed")
            )
        else:
            _guard(name, checks, fn)
        advance(1)
    return checks


def concealed_check(
    cert: dict[str, Any], manifest: dict[str, Any], events: list[dict[str, Any]]
) -> Check:
    """PASS for a legitimately pre-reveal bundle; FAIL when a revealed one is disguised.

    Legitimate means: the certificate carries neither seed nor arms, the manifest and the
    last ``bundle.export`` event both say "not revealed", no ``allocation.reveal`` event
    exists for this allocation, and its ``allocation.seal`` event carries the certificate's
    commitment. A bundle whose seed was stripped after reveal fails on the audit trail.
    """
    allocation = cert.get("allocation")
    problems = []
    if cert.get("arms"):
        problems.append("the certificate has arms but no seed")
    if manifest.get("revealed") is not False:
        problems.append("the manifest says the allocation was revealed")
    exports = [e for e in events if e["action"] == "bundle.export"]
    if exports and _payload(exports[-1]).get("revealed") is not False:
        problems.append("the audit trail's bundle.export event says the allocation was revealed")
    if any(
        e["action"] == "allocation.reveal" and _payload(e).get("allocation") == allocation
        for e in events
    ):
        problems.append("the audit trail records a reveal of this allocation")
    if not any(
        e["action"] == "allocation.seal"
        and _payload(e).get("allocation") == allocation
        and _payload(e).get("commitment") == cert.get("commitment")
        for e in events
    ):
        problems.append("no seal event in the audit trail carries this commitment")
    if problems:
        return Check(CONCEALED, False, "not a pre-reveal bundle: " + "; ".join(problems))
    return Check(
        CONCEALED,
        True,
        f"allocation #{allocation} is sealed (commitment {str(cert.get('commitment'))[:16]}..., "
        f"in the audit trail) and not yet revealed; skipped until reveal: {SKIPPED_BEFORE_REVEAL}",
    )


def verdict(checks: list[Check]) -> tuple[bool, str]:
    """(passed, the closing line): "PASS", "PASS (arms concealed)" or "FAIL", with counts."""
    passed = sum(c.ok for c in checks)
    ok = bool(checks) and passed == len(checks)
    counts = f"{passed} of {len(checks)} check{'s' if len(checks) != 1 else ''} passed"
    if not ok:
        return False, f"FAIL: {counts}"
    if any(c.name == CONCEALED for c in checks):
        return True, (
            f"PASS (arms concealed): {counts}; made before reveal, so skipped: "
            f"{SKIPPED_BEFORE_REVEAL}"
        )
    return True, f"PASS: {counts}"


def _payload(event: dict[str, Any]) -> dict[str, Any]:
    p = event.get("payload")
    return json.loads(p) if isinstance(p, str) else dict(p or {})


def _trust_checks(
    root: Path, events: list[dict[str, Any]], anchors: Anchors | None, checks: list[Check]
) -> None:
    """The bundle's own checkpoints and keys, then the evaluator's outside anchors."""
    # lazy: loads sqlalchemy (start-up time)
    from rct.evaluation.bundle_trust import anchor_checks, carried_checks

    checks.extend(carried_checks(root, events))
    if anchors:
        cert_path = root / "allocation" / "certificate.json"
        cert = _load_json(cert_path) if cert_path.is_file() else None
        checks.extend(
            anchor_checks(events, cert, anchors.checkpoints, anchors.commitment, anchors.genesis)
        )
