"""``rct init`` and ``rct user``: create the trial database and register its people."""

from __future__ import annotations

import click

from rct.cli.common import State, echo_json, json_option, pass_state, table


@click.command("init")
@click.option(
    "--protocol",
    "protocol_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Protocol TOML file to load (default: the shipped Safe & Together protocol).",
)
@json_option
@pass_state
def init_cmd(state: State, protocol_path: str | None, as_json: bool) -> None:
    """Create or upgrade the trial database and load the protocol.

    On an empty database the acting user is registered as its first admin. Loading a
    protocol that differs from a locked one is refused: use 'rct protocol amend'.
    """
    from protocols import load_protocol, shipped_protocol_path
    from rct.initialise import initialise

    path = protocol_path or str(shipped_protocol_path())
    protocol = load_protocol(path)
    result = initialise(state.url, state.user, protocol, path)
    p = result.protocol
    if as_json:
        echo_json(
            {
                "database": state.url,
                "created": result.created,
                "admin": result.bootstrapped_admin,
                "protocol_version": p.version,
                "protocol_status": p.status,
                "fingerprint": p.fingerprint,
                "protocol_changed": result.protocol_changed,
            }
        )
        return
    click.echo(f"Database: {state.url} ({'created' if result.created else 'up to date'})")
    if result.bootstrapped_admin:
        click.echo(f"Registered {result.bootstrapped_admin} as the trial's first admin.")
    verb = "Loaded" if result.protocol_changed else "Unchanged:"
    click.echo(
        f"{verb} protocol {p.protocol.trial.id} v{p.version} ({p.status}), "
        f"fingerprint {p.fingerprint}"
    )


@click.group()
def user() -> None:
    """Register users and their roles."""


@user.command("add")
@click.argument("name")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["statistician", "data-manager", "evaluator", "admin"]),
    help="The user's role.",
)
@click.option(
    "--borough",
    metavar="CODE",
    default=None,
    help="Data managers only: the borough (unit id, GSS code or name) they submit for.",
)
@pass_state
def user_add(state: State, name: str, role: str, borough: str | None) -> None:
    """Register NAME with a role (admins only)."""
    from rct.users import add_user

    u = add_user(state.workspace(), name, role, borough)
    click.echo(
        f"Registered {u.name} as {u.role}" + (f" for {u.borough}" if u.borough else "") + "."
    )


@user.command("list")
@json_option
@pass_state
def user_list(state: State, as_json: bool) -> None:
    """List registered users."""
    from rct.users import list_users

    ws = state.workspace()
    with ws.session() as s:
        ws.read_as(s)
        users = [
            {
                "name": u.name,
                "role": u.role,
                "borough": u.borough,
                "active": u.active,
                "created_at": u.created_at,
            }
            for u in list_users(s)
        ]
    if as_json:
        echo_json(users)
        return
    click.echo(
        table(
            [[u["name"], u["role"], u["borough"] or "", u["created_at"]] for u in users],
            ["name", "role", "borough", "registered"],
        )
    )
