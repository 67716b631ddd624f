"""Bundles that prove themselves (issue #12 item 4).

A bundle's own files only show that they agree with each other: whoever rewrote one could
recompute the chain and the manifest too. What an evaluator holds from *outside* the
bundle decides: the commitment published at seal time, the checkpoints the trial
published (registry entry, e-mail, trial master file), the genesis key fingerprint. This
module checks a bundle against them, checks the checkpoints and public keys the bundle
carries, and refuses bundle layouts that would make ``rct reproduce`` read files outside
the bundle (absolute or ``..`` paths, symlinks) before anything is read.
"""

from __future__ import annotations

import json
import os
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rct.allocation.verify import Check

__all__ = [
    "Anchors",
    "CHECKPOINTS_FILE",
    "trust_files",
    "KEYS_FILE",
    "anchor_checks",
    "carried_checks",
    "unsafe_layout",
]

CHECKPOINTS_FILE = "audit/checkpoints.json"
KEYS_FILE = "audit/keys.json"


@dataclass(frozen=True)
class Anchors:
    """What the evaluator holds from outside the bundle (all optional)."""

    checkpoints: tuple[dict[str, Any], ...] = ()
    commitment: str | None = None
    genesis: str | None = None

    def __bool__(self) -> bool:
        return bool(self.checkpoints or self.commitment or self.genesis)


def trust_files(session: Session) -> dict[str, Any]:
    """What a bundle carries so that it can be checked against outside anchors: every
    signed checkpoint kept in the database and every user's registered public key."""
    # lazy: loads cryptography (start-up time)
    from rct.checkpoints import stored_checkpoints
    from rct.db.models import User

    keys = [
        {"name": u.name, "role": u.role, "borough": u.borough, "public_key": u.public_key}
        for u in session.scalars(select(User).order_by(User.name))
    ]
    return {CHECKPOINTS_FILE: stored_checkpoints(session), KEYS_FILE: keys}


def unsafe_layout(root: Path, names: Sequence[object]) -> list[str]:
    """Why ``root`` with manifest entries ``names`` must not be read ([] when safe).

    Entries must be relative POSIX paths, already normalised, inside the bundle; no file or
    directory in the bundle may be a symlink (it could point anywhere).
    """
    problems = []
    for name in names:
        if not isinstance(name, str) or not name:
            problems.append(f"manifest entry {name!r} is not a file name")
            continue
        if name.startswith("/") or "\\" in name or (len(name) > 1 and name[1] == ":"):
            problems.append(f"manifest entry {name!r} is an absolute path")
        elif name != posixpath.normpath(name) or ".." in name.split("/") or name == ".":
            problems.append(f"manifest entry {name!r} is not a normalised path inside the bundle")
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for entry in (*dirnames, *filenames):
            path = Path(dirpath) / entry
            if path.is_symlink():
                problems.append(f"{path.relative_to(root)} is a symlink (to {os.readlink(path)})")
    return problems


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def carried_checks(root: Path, events: list[dict[str, Any]]) -> list[Check]:
    """The checkpoints and public keys the bundle carries, against its own audit trail."""
    # lazy: loads cryptography (start-up time)
    from rct.audit_checks import verify_records

    checks = []
    report, problems = verify_records(events, [])
    registry = report.registry
    keys_path = root / KEYS_FILE
    if keys_path.is_file() and registry is not None:
        listed = {k["name"]: k.get("public_key") for k in _load(keys_path)}
        chain = {n: u.public_key for n, u in registry.users.items()}
        checks.append(
            Check(
                "public keys",
                listed == chain,
                f"{len(listed)} users' keys, as the signed chain registered them; genesis key "
                f"{report.genesis_fingerprint}"
                if listed == chain
                else "audit/keys.json differs from the keys the signed chain registered",
            )
        )
    cp_path = root / CHECKPOINTS_FILE
    if cp_path.is_file():
        docs = _load(cp_path)
        _, problems = verify_records(events, docs)
        checks.append(
            Check(
                "bundled checkpoints",
                not problems,
                f"{len(docs)} signed checkpoint(s) hold" if not problems else problems[0],
            )
        )
    return checks


def anchor_checks(
    events: list[dict[str, Any]],
    cert: dict[str, Any] | None,
    checkpoints: Sequence[dict[str, Any]] = (),
    commitment: str | None = None,
    genesis: str | None = None,
) -> list[Check]:
    """The bundle against what the evaluator holds from outside it."""
    # lazy: loads cryptography (start-up time)
    from rct.audit_checks import verify_records

    checks = []
    report, problems = verify_records(events, checkpoints)
    for doc in checkpoints:
        mine = [p for p in problems if p.startswith(f"checkpoint at event {doc['seq']}")]
        checks.append(
            Check(
                f"published checkpoint (event {doc['seq']})",
                report.ok and not mine,
                f"event {doc['seq']} has the published head {doc['head'][:16]}..."
                if report.ok and not mine
                else (mine[0] if mine else f"the bundle's audit chain fails: {report.problem}"),
            )
        )
    if commitment is not None:
        have = (cert or {}).get("commitment")
        checks.append(
            Check(
                "published commitment",
                have == commitment.strip().lower(),
                f"the bundle's allocation has the published commitment {commitment[:16]}..."
                if have == commitment.strip().lower()
                else f"the bundle's allocation commitment {str(have)[:16]}... is not the "
                f"published {commitment[:16]}...",
            )
        )
    if genesis is not None:
        fp = report.genesis_fingerprint
        checks.append(
            Check(
                "genesis key",
                fp == genesis.strip().lower(),
                f"the chain starts with the published admin key {genesis[:16]}..."
                if fp == genesis.strip().lower()
                else f"the chain's genesis key {str(fp)[:16]}... is not the published "
                f"{genesis[:16]}...",
            )
        )
    return checks
