"""``rct init`` and ``rct user``: create the trial database and register its people."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from rct.cli.common import State, echo_json, json_option, pass_state, table
from rct.roles import ROLES

if TYPE_CHECKING:
    from rct.keys import PublicKey


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
    # lazy: loads sqlalchemy, cryptography (start-up time)
    from protocols import load_protocol, shipped_protocol_path
    from rct.initialise import initialise

    path = protocol_path or str(shipped_protocol_path())
    protocol = load_protocol(path)
    result = initialise(state.url, state.user, protocol, path, state.keys())
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
                "genesis_fingerprint": result.genesis_fingerprint,
                "created_key": result.created_key,
            }
        )
        return
    click.echo(f"Database: {state.url} ({'created' if result.created else 'up to date'})")
    if result.bootstrapped_admin:
        if result.created_key:
            click.echo(f"Created signing key {result.created_key}")
        click.echo(f"Registered {result.bootstrapped_admin} as the trial's first admin.")
        click.echo(
            f"Genesis key fingerprint {result.genesis_fingerprint} "
            "(record it in the trial master file)"
        )
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
    type=click.Choice(ROLES),
    help="The user's role.",
)
@click.option(
    "--borough",
    metavar="CODE",
    default=None,
    help="Data managers only: the borough (unit id, GSS code or name) they submit for.",
)
@click.option(
    "--public-key",
    "public_key",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="NAME.pub as 'rct key create' wrote it (default: NAME.pub in your key directory).",
)
@pass_state
def user_add(
    state: State, name: str, role: str, borough: str | None, public_key: str | None
) -> None:
    """Register NAME with a role and their public key (admins only; signed by you)."""
    # lazy: loads sqlalchemy (start-up time)
    from rct.users import add_user

    pub = _read_public_key(public_key)
    u = add_user(state.workspace(), name, role, borough, pub)
    click.echo(
        f"Registered {u.name} as {u.role}"
        + (f" for {u.borough}" if u.borough else "")
        + f", key fingerprint {_fingerprint(u.public_key)}."
    )


def _read_public_key(path: str | None) -> PublicKey | None:
    if path is None:
        return None

    # lazy: loads cryptography (start-up time)
    from rct.keys import parse_public_key

    return parse_public_key(Path(path).read_text(encoding="utf-8"))


def _fingerprint(b64: str | None) -> str:
    # lazy: loads cryptography (start-up time)
    from rct.keys import fingerprint

    return fingerprint(b64) if b64 else "(none)"


@user.command("role")
@click.argument("name")
@click.option(
    "--role",
    required=True,
    type=click.Choice(ROLES),
    help="The user's new role.",
)
@click.option("--borough", metavar="CODE", default=None, help="Data managers only: the borough.")
@pass_state
def user_role(state: State, name: str, role: str, borough: str | None) -> None:
    """Change NAME's role (admins only; a signed 'user.role' event)."""
    # lazy: loads sqlalchemy (start-up time)
    from rct.users import change_role

    u = change_role(state.workspace(), name, role, borough)
    click.echo(f"{u.name} is now {u.role}" + (f" for {u.borough}" if u.borough else "") + ".")


@user.command("key")
@click.argument("name")
@click.option(
    "--public-key",
    "public_key",
    type=click.Path(dir_okay=False, exists=True),
    required=True,
    help="NAME.pub as 'rct key create' wrote it.",
)
@pass_state
def user_key(state: State, name: str, public_key: str) -> None:
    """Register a new public key for NAME (admins only; signed by you)."""
    # lazy: loads sqlalchemy (start-up time)
    from rct.users import register_key

    pub = _read_public_key(public_key)
    assert pub is not None
    register_key(state.workspace(), name, pub)
    click.echo(f"Registered key {pub.fingerprint} for {name}.")


@user.command("list")
@json_option
@pass_state
def user_list(state: State, as_json: bool) -> None:
    """List registered users."""
    # lazy: loads sqlalchemy, cryptography (start-up time)
    from rct.services.users import user_records

    users = user_records(state.workspace())
    if as_json:
        echo_json([u.to_dict() for u in users])
        return
    click.echo(
        table(
            [
                [
                    u.name,
                    u.role,
                    u.borough or "",
                    u.created_at,
                    (u.key_fingerprint or "(no key)")[:16],
                ]
                for u in users
            ],
            ["name", "role", "borough", "registered", "key"],
        )
    )
