"""``rct audit verify`` as a service: chain, signatures, users table and checkpoints at once.

The hash chain and signatures are checked by :func:`rct.audit.verify_events`; this adds what
only the live database has (the ``users`` table, which must match what signed events
registered, and the stored indicator values, which must match what each signed import or
amendment sealed: :mod:`rct.capture.cells_seal`) and what only the verifier holds from
outside (published checkpoints).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rct.audit import ChainReport, iter_raw_records, verify_events
from rct.audit_signatures import users_table_problems
from rct.capture.cells_seal import stored_cells_problems
from rct.checkpoints import check_checkpoint, load_checkpoint, tracking
from rct.db.models import User

__all__ = ["TrailVerdict", "verify_trail", "verify_records"]


@dataclass(frozen=True)
class TrailVerdict:
    """The chain report plus problems found in the users table and against checkpoints."""

    chain: ChainReport
    problems: list[str] = field(default_factory=list)
    checkpoints_checked: int = 0

    @property
    def ok(self) -> bool:
        return self.chain.ok and not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.chain.to_dict(),
            "ok": self.ok,
            "problems": ([self.chain.problem] if not self.chain.ok else []) + self.problems,
            "checkpoints_checked": self.checkpoints_checked,
        }


def verify_records(
    events: Iterator[dict[str, Any]] | Sequence[dict[str, Any]],
    checkpoints: Sequence[dict[str, Any]] = (),
) -> tuple[ChainReport, list[str]]:
    """Verify event records and check each checkpoint document against them."""
    seen: dict[int, str] = {}
    report = verify_events(tracking(events, {int(c["seq"]) for c in checkpoints}, seen))
    problems: list[str] = []
    if report.ok:
        for doc in checkpoints:
            problem = check_checkpoint(doc, seen, report.events, report.registry)
            if problem:
                problems.append(problem)
    return report, problems


def _user_rows(session: Session) -> list[dict[str, Any]]:
    return [
        {"name": u.name, "role": u.role, "borough": u.borough, "public_key": u.public_key}
        for u in session.scalars(select(User))
    ]


def verify_trail(session: Session, checkpoint_files: Sequence[Path] = ()) -> TrailVerdict:
    """Verify the live trail in ``session`` against ``checkpoint_files``."""
    docs = [load_checkpoint(p) for p in checkpoint_files]
    report, problems = verify_records(iter_raw_records(session), docs)
    if report.ok and report.registry is not None:
        problems = users_table_problems(report.registry, _user_rows(session)) + problems
        problems += stored_cells_problems(session).problems
    return TrailVerdict(report, problems, len(docs))
