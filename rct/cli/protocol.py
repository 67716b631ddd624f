"""``rct protocol``: show, validate, lock, amend and fingerprint the trial protocol."""

from __future__ import annotations

import click

from protocols.errors import CodedWarning, warning_text
from rct.cli.common import State, echo_json, json_option, pass_state, table


@click.group()
def protocol() -> None:
    """The trial protocol and its statistical analysis plan."""


@protocol.command("validate")
@click.argument("path", type=click.Path(dir_okay=False))
@json_option
def validate(path: str, as_json: bool) -> None:
    """Check a protocol file and report every problem at once."""
    # lazy: loads protocols (start-up time)
    from protocols import ProtocolValidationError, load_protocol

    try:
        p = load_protocol(path)
    except ProtocolValidationError as exc:
        if as_json:
            echo_json(
                {
                    "valid": False,
                    "code": exc.code,
                    "problems": [
                        {"location": x.location, "message": x.message} for x in exc.problems
                    ],
                }
            )
            raise SystemExit(2) from None
        raise
    if as_json:
        echo_json({"valid": True, "fingerprint": p.fingerprint()})
    else:
        click.echo(
            f"{path}: valid ({len(p.units)} units, {len(p.indicators)} indicators, "
            f"{len(p.analyses)} analyses); fingerprint {p.fingerprint()}"
        )


@protocol.command("fingerprint")
@click.argument("path", type=click.Path(dir_okay=False), required=False)
@pass_state
def fingerprint_cmd(state: State, path: str | None) -> None:
    """Print the fingerprint of PATH, or of the trial's current protocol."""
    if path:
        # lazy: loads protocols (start-up time)
        from protocols import load_protocol

        click.echo(load_protocol(path).fingerprint())
        return
    # lazy: loads sqlalchemy (start-up time)
    from rct.services.protocol import current_protocol

    click.echo(current_protocol(state.workspace()).fingerprint)


@protocol.command("show")
@json_option
@pass_state
def show(state: State, as_json: bool) -> None:
    """Show the current protocol: status, fingerprint, units, indicators, analyses."""
    # lazy: loads sqlalchemy (start-up time)
    from rct.services.protocol import current_protocol

    sp = current_protocol(state.workspace(), public=True)
    p = sp.protocol
    if as_json:
        echo_json(
            {
                "version": sp.version,
                "status": sp.status,
                "fingerprint": sp.fingerprint,
                "locked_at": sp.locked_at,
                "locked_by": sp.locked_by,
                "protocol": p.canonical(),
            }
        )
        return
    click.echo(f"{p.trial.title}\n  trial {p.trial.id}, protocol version {p.trial.version}")
    click.echo(
        f"  stored version {sp.version}: {sp.status.upper()}"
        + (f" by {sp.locked_by} at {sp.locked_at}" if sp.locked else "")
    )
    click.echo(f"  fingerprint {sp.fingerprint}\n")
    click.echo("Arms: " + ", ".join(f"{a.code} ({a.label})" for a in p.arms))
    sizes = ", ".join(f"{k} {v}" for k, v in p.allocation.arm_sizes.items())
    click.echo(f"Allocation: {p.allocation.method} ({sizes})")
    sch = p.schedule
    click.echo(
        f"Schedule: baseline {sch.baseline_start}..{sch.baseline_end}, follow-up "
        f"{sch.follow_up_start}..{sch.follow_up_end}, go-live {sch.go_live}, returns due "
        f"{sch.submission_deadline_days} days after quarter end\n"
    )
    covs = sorted({k for u in p.units for k in u.covariates})
    rows = [
        [
            u.id,
            u.name,
            u.gss_code,
            u.stratum,
            *[
                str(u.covariates.get(c, "")) + ("*" if c in u.illustrative_covariates else "")
                for c in covs
            ],
        ]
        for u in sorted(p.units, key=lambda u: u.id)
    ]
    click.echo(table(rows, ["unit", "name", "gss", "stratum", *covs]))
    if any(u.illustrative_covariates for u in p.units):
        click.echo("  * illustrative value, not a public fact")
    click.echo("\nIndicators:")
    for i in p.indicators:
        click.echo(f"  {i.code:<30} {i.label}")
    click.echo("\nPrespecified analyses:")
    for a in p.analyses:
        click.echo(
            f"  [{a.role:<11}] {a.name:<40} {a.family}, {a.outcome}; {', '.join(a.inference)}"
        )


@protocol.command("lock")
@click.option(
    "--accept-illustrative",
    is_flag=True,
    help="Lock even though covariate values are marked illustrative (recorded in the audit).",
)
@pass_state
def lock_cmd(state: State, accept_illustrative: bool) -> None:
    """Lock the current protocol (statisticians only).

    Covariate values the protocol marks illustrative are placeholders to be replaced by the
    trial's confirmed values before locking: the command names them and refuses, unless
    --accept-illustrative says to lock them as they are.
    """
    # lazy: loads sqlalchemy (start-up time)
    from rct import protocols as store
    from rct.errors import ProtocolStateError
    from rct.services.protocol import illustrative_before_lock

    ws = state.workspace()
    # Only someone who may lock is warned; anyone else is refused (and the refusal
    # recorded) by the service below.
    marked = illustrative_before_lock(ws)
    if marked:
        shown = ", ".join(marked[:4]) + (f" and {len(marked) - 4} more" if len(marked) > 4 else "")
        warning = CodedWarning(
            "covariates-illustrative",
            f"{len(marked)} covariate values are marked illustrative ({shown}); "
            "the protocol says they must be replaced by confirmed values before locking.",
        )
        click.echo(f"Warning: {warning_text(warning)}", err=True)
        if not accept_illustrative:
            raise ProtocolStateError(
                "not locked: replace the illustrative covariate values and load the file with "
                "'rct init --protocol FILE', or lock them as they are with --accept-illustrative",
                code="illustrative-covariates",
            )
    sp = store.lock(ws, accepted_illustrative=marked if accept_illustrative else ())
    click.echo(f"Locked protocol version {sp.version}, fingerprint {sp.fingerprint}")


@protocol.command("amend")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--reason", required=True, help="Why the locked protocol changes (recorded).")
@pass_state
def amend_cmd(state: State, path: str, reason: str) -> None:
    """Record a new locked version of the protocol from PATH, with a reason."""
    # lazy: loads sqlalchemy (start-up time)
    from protocols import load_protocol
    from rct import protocols as store

    sp = store.amend(state.workspace(), load_protocol(path), path, reason)
    click.echo(f"Amended: protocol version {sp.version}, fingerprint {sp.fingerprint}")


@protocol.command("history")
@json_option
@pass_state
def history_cmd(state: State, as_json: bool) -> None:
    """Every stored version of the protocol, oldest first."""
    # lazy: loads sqlalchemy (start-up time)
    from rct.services.protocol import protocol_history

    versions = protocol_history(state.workspace())
    if as_json:
        echo_json([v.to_dict() for v in versions])
        return
    click.echo(
        table(
            [
                [
                    str(v.version),
                    v.status,
                    v.fingerprint[:16],
                    v.created_at,
                    v.created_by,
                    v.reason,
                ]
                for v in versions
            ],
            ["version", "status", "fingerprint", "created", "by", "reason"],
        )
    )
