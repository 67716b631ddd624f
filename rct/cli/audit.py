"""``rct audit``: read, verify and export the hash-chained audit trail."""

from __future__ import annotations

import click

from rct.cli.common import State, echo_json, json_option, pass_state, table


@click.group()
def audit() -> None:
    """The append-only, hash-chained audit trail."""


@audit.command("log")
@click.option("--limit", type=int, default=None, help="Show only the last N events.")
@click.option("--action", default=None, help="Only events whose action starts with this.")
@json_option
@pass_state
def log(state: State, limit: int | None, action: str | None, as_json: bool) -> None:
    """List audit events, oldest first."""
    from rct.audit import event_record, iter_events

    ws = state.workspace()
    with ws.session() as s:
        ws.read_as(s)
        events = [
            event_record(e) for e in iter_events(s) if action is None or e.action.startswith(action)
        ]
    if limit is not None:
        events = events[-limit:]
    if as_json:
        echo_json(events)
        return
    click.echo(
        table(
            [
                [
                    str(e["seq"]),
                    e["occurred_at"][:19],
                    e["actor"],
                    e["role"],
                    e["action"],
                    e["entity"],
                    e["reason"][:40],
                ]
                for e in events
            ],
            ["seq", "time (UTC)", "actor", "role", "action", "entity", "reason"],
        )
    )


@audit.command("verify")
@json_option
@pass_state
def verify(state: State, as_json: bool) -> None:
    """Recompute the hash chain; exit 0 when intact, else name the first broken link."""
    from rct.audit import event_record, iter_events, verify_events
    from rct.errors import AuditChainBroken

    ws = state.workspace()
    with ws.session() as s:
        ws.read_public(s)  # anyone who can open the trial may verify it
        report = verify_events(event_record(e) for e in iter_events(s))
    if as_json:
        echo_json(report.to_dict())
        if not report.ok:
            raise SystemExit(AuditChainBroken.exit_code)
        return
    if not report.ok:
        raise AuditChainBroken(f"audit chain BROKEN at event {report.broken_at}: {report.problem}")
    click.echo(f"Audit chain intact: {report.events} events, head {report.head}")


@audit.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv"]),
    default="jsonl",
    show_default=True,
    help="Output format.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default="-",
    help="Output file (default: standard output).",
)
@pass_state
def export(state: State, fmt: str, output: str) -> None:
    """Export every audit event (JSON Lines keep payloads exact; CSV for spreadsheets)."""
    from rct.audit_export import write_events

    ws = state.workspace()
    with ws.session() as s:
        ws.read_as(s)
        n = write_events(s, fmt, output)
    if output != "-":
        click.echo(f"Wrote {n} events to {output}", err=True)
