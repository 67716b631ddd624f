"""``rct audit``: read, verify and export the hash-chained audit trail."""

from __future__ import annotations

from pathlib import Path

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
    """List audit events, oldest first (data managers: their own borough's data events)."""
    # lazy: loads sqlalchemy, cryptography (start-up time)
    from rct.services.audit import audit_log

    events = audit_log(state.workspace(), action=action, limit=limit)
    if as_json:
        echo_json([e.to_dict() for e in events])
        return
    click.echo(
        table(
            [
                [
                    str(e.seq),
                    e.occurred_at[:19],
                    e.actor,
                    e.role,
                    e.action,
                    e.entity,
                    e.reason[:40],
                ]
                for e in events
            ],
            ["seq", "time (UTC)", "actor", "role", "action", "entity", "reason"],
        )
    )


@audit.command("verify")
@click.option(
    "--checkpoint",
    "checkpoints",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="A published checkpoint file to check the trail against (repeatable).",
)
@json_option
@pass_state
def verify(state: State, checkpoints: tuple[str, ...], as_json: bool) -> None:
    """Recompute the hash chain and check every signature, the users table and the given
    checkpoints; exit 0 when all hold, else name the first problem (exit 7)."""
    # lazy: loads sqlalchemy, cryptography (start-up time)
    from rct.errors import AuditChainBroken
    from rct.services.audit import verify_audit

    verdict = verify_audit(state.workspace(), [Path(c) for c in checkpoints])
    report = verdict.chain
    if as_json:
        echo_json(verdict.to_dict())
        if not verdict.ok:
            raise SystemExit(AuditChainBroken.exit_code)
        return
    if not report.ok:
        raise AuditChainBroken(f"audit chain BROKEN at event {report.broken_at}: {report.problem}")
    if verdict.problems:
        raise AuditChainBroken(
            "audit trail FAILS verification: "
            + verdict.problems[0]
            + (f" (and {len(verdict.problems) - 1} more)" if len(verdict.problems) > 1 else "")
        )
    click.echo(f"Audit chain intact: {report.events} events, head {report.head}")
    if report.signing_from is not None:
        click.echo(
            f"Signatures valid from event {report.signing_from}; genesis key fingerprint "
            f"{report.genesis_fingerprint}"
        )
    else:
        click.echo("No event is signed: an admin runs 'rct audit start-signing' once")
    if report.unsigned_before:
        click.echo(
            f"{report.unsigned_before} unsigned events before signing began "
            "(written before signed events existed; not tampering)"
        )
    if report.unsigned_refusals:
        click.echo(f"{report.unsigned_refusals} unsigned refusals (people without a usable key)")
    if verdict.checkpoints_checked:
        click.echo(f"{verdict.checkpoints_checked} checkpoint(s) hold: no event removed or changed")


@audit.command("checkpoint")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="File to write (default: checkpoints/checkpoint-SEQ.json beside an SQLite "
    "database, or RCT_CHECKPOINT_DIR).",
)
@json_option
@pass_state
def checkpoint(state: State, output: str | None, as_json: bool) -> None:
    """Sign the trail's current head and write it to a file for publication."""
    # lazy: loads sqlalchemy, cryptography (start-up time)
    from rct.checkpoints import record_checkpoint

    cp = record_checkpoint(state.workspace(), Path(output) if output else None)
    if as_json:
        echo_json({**cp.document, "file": str(cp.path)})
        return
    click.echo(cp.line())
    click.echo("Publish this file (registry entry, e-mail to evaluators, trial master file).")


@audit.command("start-signing")
@pass_state
def start_signing_cmd(state: State) -> None:
    """Begin signing in a trial created before signed events (admins, once).

    Registers your key in a signed 'audit.signing-start' event; events before it verify
    as 'unsigned, before signing began'. Then register each user's key with 'rct user key'.
    """
    # lazy: loads sqlalchemy (start-up time)
    from rct.users import start_signing

    fp = start_signing(state.workspace())
    click.echo(
        f"Signing begins now; your key fingerprint {fp} (record it in the trial master file)"
    )


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
    """Export every audit event (JSON Lines keep payloads exact; CSV for spreadsheets).

    Data managers get their own borough's data events only (and the trial-level ones)."""
    # lazy: loads sqlalchemy, cryptography (start-up time)
    from rct.services.audit import export_audit

    n = export_audit(state.workspace(), fmt, output)
    if output != "-":
        click.echo(f"Wrote {n} events to {output}", err=True)
