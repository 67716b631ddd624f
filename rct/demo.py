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


DEMO_PASSPHRASE = "demo passphrase: never use for a real trial"


def _plan(ctx: DemoContext) -> str:
    import json

    from allocation import diagnose
    from rct import protocols as store
    from rct.allocation_design import design_from_protocol, units_frame
    from rct.workspace import Workspace

    ws = Workspace(ctx.url, STATISTICIAN)
    try:
        with ws.session() as s:
            protocol = store.current_locked(s).protocol
    finally:
        ws.close()
    from allocation import build_scheme_space

    units, design = units_frame(protocol), design_from_protocol(protocol)
    diag = diagnose(build_scheme_space(units, design), units, design)
    out = ctx.directory / "allocation-plan.json"
    out.write_text(json.dumps(diag.to_dict(), indent=2, sort_keys=True), encoding="utf-8")
    ctx.outputs["randomisation plan"] = str(out)
    warn = f"; {len(diag.warnings)} warning(s)" if diag.warnings else "; no warnings"
    return (f"{diag.admissible} of {diag.total} schemes admissible, smallest attainable "
            f"p = {diag.min_p_value:.3f}{warn}")


def _seal(ctx: DemoContext) -> str:
    from rct.allocations import seal
    from rct.workspace import Workspace

    ws = Workspace(ctx.url, STATISTICIAN)
    try:
        result = seal(ws, DEMO_PASSPHRASE, ctx.directory / "allocation-envelope.json")
    finally:
        ws.close()
    ctx.outputs["sealed envelope"] = str(result.envelope_path)
    return f"allocation #{result.id} sealed; commitment {result.commitment[:16]}..."


def _reveal(ctx: DemoContext) -> str:
    import json

    from rct.allocations import reveal
    from rct.workspace import Workspace

    ws = Workspace(ctx.url, STATISTICIAN)
    try:
        row = reveal(ws, DEMO_PASSPHRASE)
    finally:
        ws.close()
    arms = json.loads(row.arms or "{}")
    treated = sorted(u for u, a in arms.items() if a == "intervention")
    return f"commitment checked; intervention: {', '.join(treated)}"


def _verify_allocation(ctx: DemoContext) -> str:
    from rct import allocations
    from rct import protocols as store
    from rct.allocation_certificate import render_certificate
    from rct.allocation_verify import verify_allocation
    from rct.audit import event_record, iter_events
    from rct.workspace import Workspace

    ws = Workspace(ctx.url, EVALUATOR)
    try:
        with ws.session() as s:
            row = allocations.live(s)
            assert row is not None
            cert = allocations.record_dict(row)
            protocol = next(p for p in store.history(s) if p.version == row.protocol_version)
            events = [event_record(e) for e in iter_events(s)]
    finally:
        ws.close()
    checks = verify_allocation(cert, protocol.protocol, events)
    out = ctx.directory / "allocation-certificate.md"
    out.write_text(render_certificate(cert, checks) + "\n", encoding="utf-8")
    ctx.outputs["allocation certificate"] = str(out)
    failed = [c.name for c in checks if not c.ok]
    if failed:
        raise InputError(f"demo allocation failed verification: {', '.join(failed)}")
    return f"PASS ({len(checks)} checks, as the evaluator)"


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
    ("randomisation diagnostics", _plan),
    ("seal allocation", _seal),
    ("reveal allocation", _reveal),
    ("verify allocation", _verify_allocation),
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
