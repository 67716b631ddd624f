"""``rct bundle export``: everything an evaluator needs to reproduce the trial's numbers.

The bundle is a directory of plain files and a ``manifest.json`` listing each file's
SHA-256 and the software versions that produced it. It never holds anything that would
break concealment: before reveal the allocation certificate has no seed and no arms, and
the dataset's ``arm`` column is empty. Layout (format ``rct-bundle-v1``)::

    manifest.json
    README.md
    protocol/current.json        canonical form of the protocol the analyses use
    protocol/history.json        every stored version, with status, times, actors, reasons
    allocation/certificate.json  the allocation record (commitment, fingerprints, seed once revealed)
    audit/audit.jsonl            the whole audit trail, exactly as hashed
    audit/checkpoints.json       every signed checkpoint of the trail, the latest last
    audit/keys.json              every user's registered public key
    data/analysis_dataset.json   the analysis dataset rows (exact; the snapshot hash is over these)
    data/analysis_dataset.csv    the same rows for spreadsheets and R
    results/results.json         the stored results of the prespecified analyses (if run)
    results/results.md           their Markdown summary

Everything is written to a temporary directory next to the target and moved into place
only when complete, so a failure never leaves a half-written bundle.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import Any

from rct import protocols as protocol_store
from rct.allocation import sealing
from rct.analyses import latest_stored
from rct.audit import event_record, iter_events, utc_now
from rct.capture.cells_seal import stored_cells_problems
from rct.checkpoints import describe
from rct.errors import AuditChainBroken, InputError, PermissionDenied
from rct.evaluation.bundle_trust import CHECKPOINTS_FILE, trust_files
from rct.leftovers import sweep
from rct.workspace import Workspace

__all__ = [
    "BUNDLE_FORMAT",
    "EXPORT_STEPS",
    "BundleResult",
    "export_bundle",
    "software_versions",
    "sha256_file",
]

BUNDLE_FORMAT = "rct-bundle-v1"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def software_versions() -> dict[str, str]:
    """Versions of the packages whose behaviour the numbers depend on."""
    out = {"python": platform.python_version()}
    for name in (
        "rct",
        "numpy",
        "scipy",
        "pandas",
        "patsy",
        "sqlalchemy",
        "cryptography",
    ):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


@dataclass(frozen=True)
class BundleResult:
    directory: Path
    files: dict[str, str]
    snapshot_hash: str
    revealed: bool


def _dump(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )


README = """# Reproduction bundle: {trial_id}

Made by `rct bundle export` at {created_at} by {created_by}. To check it independently,
install the toolkit on your own machine and run

    rct reproduce {dirname}

which verifies every file's SHA-256 against `manifest.json`, the audit trail's hash chain,
the protocol fingerprints, both copies of the dataset (JSON and CSV) against the snapshot
hash in the audit trail, the allocation commitment against the revealed seed, the
allocation recomputed from seed, protocol and units, and every prespecified analysis
recomputed from `data/analysis_dataset.json`, printing PASS or FAIL per item. A bundle
made before reveal passes as "PASS (arms concealed)": the checks that need the seed or
the arms are skipped, and it says so.

A bundle's files only show that they agree with each other. Check it against what the
trial published outside it (the commitment, the signed checkpoints, the genesis key):

    rct reproduce {dirname} --checkpoint PUBLISHED.json --commitment HEX --genesis FINGERPRINT

It carries the trial's signed checkpoints (`audit/checkpoints.json`) and public keys
(`audit/keys.json`). Latest checkpoint: {latest}.
"""


#: Steps reported to ``export_bundle``'s ``progress``: gather, write the files, hash them.
EXPORT_STEPS = 3


def export_bundle(
    ws: Workspace, directory: Path, *, progress: Callable[[int], None] | None = None
) -> BundleResult:
    """Write the bundle to ``directory`` (which must not exist yet).

    ``progress`` (if given) is called with 1 after each of :data:`EXPORT_STEPS` steps.
    """
    advance = progress or (lambda _n: None)
    # lazy: loads rct.capture.dataset, rct.capture.export (start-up time)
    from rct.capture.dataset import open_query_counts
    from rct.capture.export import dataset_rows, snapshot_hash, write_dataset
    from rct.capture.values import current_cells

    directory = Path(directory)
    if directory.exists():
        raise InputError(f"{directory} already exists; give a new directory for the bundle")
    parent = directory.parent.resolve()
    sweep(parent, r"\.bundle-(?P<pid>[0-9]+)-.*")  # left by a bundle export killed half-way
    work = Path(tempfile.mkdtemp(prefix=f".bundle-{os.getpid()}-", dir=parent))
    try:
        with ws.change("read", "bundle") as record:
            s = record.session
            if record.actor.role == "data-manager":
                raise PermissionDenied(
                    "a bundle holds every borough's data; data managers "
                    "export their own borough with 'rct data export'",
                    code="wrong-borough",
                )
            tampered = stored_cells_problems(s).problems
            if tampered:  # a bundle must not carry values no signed import stored
                raise AuditChainBroken(
                    f"{tampered[0]}; run 'rct audit verify' and restore the database "
                    "before exporting a bundle"
                )
            history = protocol_store.history(s)
            current = protocol_store.current_locked(s)
            row = sealing.live(s) or sealing.latest(s)
            cert = sealing.allocation_record(row) if row is not None else None
            if cert is not None and not cert.arms:
                cert = replace(cert, envelope=None)  # before reveal no bundle carries it
            trust = trust_files(s)
            arms = sealing.revealed_arms(s)
            rows = dataset_rows(current.protocol, current_cells(s), open_query_counts(s), arms)
            snap = snapshot_hash(rows)
            results = latest_stored(s)
            record(
                "bundle.export",
                "bundle",
                {
                    "snapshot_hash": snap,
                    "protocol_fingerprint": current.fingerprint,
                    "revealed": arms is not None,
                    "results_sha256": None if results is None else results.results_sha256,
                },
            )
            s.flush()
            # payloads stay the exact canonical text that was hashed
            events = [{**event_record(e), "payload": e.payload} for e in iter_events(s)]
            actor = record.actor.name
        advance(1)
        created = utc_now()
        _dump(work / "protocol" / "current.json", current.protocol.canonical())
        _dump(
            work / "protocol" / "history.json",
            [
                {
                    "version": v.version,
                    "status": v.status,
                    "fingerprint": v.fingerprint,
                    "created_at": v.created_at,
                    "created_by": v.created_by,
                    "locked_at": v.locked_at,
                    "locked_by": v.locked_by,
                    "reason": v.reason,
                    "canonical": v.protocol.canonical(),
                }
                for v in history
            ],
        )
        if cert is not None:
            _dump(work / "allocation" / "certificate.json", cert.to_dict())
        (work / "audit").mkdir()
        with open(work / "audit" / "audit.jsonl", "w", encoding="utf-8") as fh:
            for e in events:
                fh.write(json.dumps(e, ensure_ascii=False, sort_keys=True) + "\n")
        for name, data in trust.items():
            _dump(work / name, data)
        _dump(work / "data" / "analysis_dataset.json", rows)
        write_dataset(rows, work / "data" / "analysis_dataset.csv", "csv")
        if results is not None:
            (work / "results").mkdir()
            (work / "results" / "results.json").write_text(results.results_json, encoding="utf-8")
            (work / "results" / "results.md").write_text(results.markdown, encoding="utf-8")
        (work / "README.md").write_text(
            README.format(
                trial_id=current.protocol.trial.id,
                created_at=created,
                created_by=actor,
                dirname=directory.name,
                latest=describe(trust[CHECKPOINTS_FILE][-1])
                if trust[CHECKPOINTS_FILE]
                else "none written yet",
            ),
            encoding="utf-8",
        )
        advance(1)
        files = {
            str(p.relative_to(work)): sha256_file(p) for p in sorted(work.rglob("*")) if p.is_file()
        }
        _dump(
            work / "manifest.json",
            {
                "format": BUNDLE_FORMAT,
                "trial_id": current.protocol.trial.id,
                "created_at": created,
                "created_by": actor,
                "software": software_versions(),
                "snapshot_hash": snap,
                "protocol_fingerprint": current.fingerprint,
                "revealed": arms is not None,
                "files": files,
            },
        )
        work.rename(directory)
        advance(1)
        return BundleResult(directory, files, snap, arms is not None)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
