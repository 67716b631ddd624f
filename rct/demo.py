"""``rct demo``: the whole trial flow on the shipped protocol, in a fresh directory.

Each step is a plain function over the library and services, run in order with its output
location printed, so the demo doubles as an executable walk-through of a real trial.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rct.errors import InputError

__all__ = ["DemoContext", "STEPS", "run_demo"]

ADMIN, STATISTICIAN, EVALUATOR = "demo-admin", "demo-statistician", "demo-evaluator"


@dataclass
class DemoContext:
    """Where the demo works and what it has produced so far."""

    directory: Path
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"sqlite:///{self.directory / 'rct.db'}"


def _init(ctx: DemoContext) -> str:
    from protocols import load_protocol, shipped_protocol_path
    from rct.initialise import initialise
    from rct.users import add_user
    from rct.workspace import Workspace

    path = shipped_protocol_path()
    result = initialise(ctx.url, ADMIN, load_protocol(path), str(path))
    ws = Workspace(ctx.url, ADMIN)
    try:
        add_user(ws, STATISTICIAN, "statistician")
        add_user(ws, EVALUATOR, "evaluator")
    finally:
        ws.close()
    ctx.outputs["database"] = str(ctx.directory / "rct.db")
    return (f"trial database with protocol {result.protocol.protocol.trial.id} "
            f"(fingerprint {result.protocol.fingerprint[:16]}...), users {ADMIN}, "
            f"{STATISTICIAN}, {EVALUATOR}")


def _lock(ctx: DemoContext) -> str:
    from rct import protocols as store
    from rct.workspace import Workspace

    ws = Workspace(ctx.url, STATISTICIAN)
    try:
        sp = store.lock(ws)
    finally:
        ws.close()
    return f"protocol version {sp.version} locked by {STATISTICIAN}"


def _verify_audit(ctx: DemoContext) -> str:
    from rct.audit import event_record, iter_events, verify_events
    from rct.audit_export import write_events
    from rct.workspace import Workspace

    ws = Workspace(ctx.url, EVALUATOR)
    out = ctx.directory / "audit.jsonl"
    try:
        with ws.session() as s:
            report = verify_events(event_record(e) for e in iter_events(s))
            write_events(s, "jsonl", str(out))
    finally:
        ws.close()
    if not report.ok:
        raise InputError(f"demo audit chain broken: {report.problem}")
    ctx.outputs["audit trail"] = str(out)
    return f"audit chain intact ({report.events} events), exported to {out.name}"


STEPS: list[tuple[str, Callable[[DemoContext], str]]] = [
    ("init", _init),
    ("lock protocol", _lock),
    ("verify audit trail", _verify_audit),
]


def run_demo(directory: Path, echo: Callable[[str], None] = print) -> DemoContext:
    """Run every step in ``directory`` (which must be new or empty)."""
    directory = directory.resolve()
    if directory.exists() and any(directory.iterdir()):
        raise InputError(f"{directory} is not empty; give the demo a new directory")
    directory.mkdir(parents=True, exist_ok=True)
    ctx = DemoContext(directory)
    for i, (name, step) in enumerate(STEPS, 1):
        echo(f"[{i}/{len(STEPS)}] {name}: {step(ctx)}")
    echo("\nOutputs:")
    for what, where in ctx.outputs.items():
        echo(f"  {what:<22} {where}")
    return ctx
