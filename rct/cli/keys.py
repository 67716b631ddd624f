"""``rct key``: make and show the acting user's Ed25519 signing key (docs/signatures.md)."""

from __future__ import annotations

import click

from rct.cli.common import State, echo_json, json_option, pass_state


@click.group()
def key() -> None:
    """Your signing key: every change you make is signed with it."""


@key.command("create")
@click.option(
    "--force",
    is_flag=True,
    help="Replace an existing key file (it must then be registered again by an admin).",
)
@json_option
@pass_state
def key_create(state: State, force: bool, as_json: bool) -> None:
    """Create the acting user's key pair (private key encrypted under your passphrase).

    Hand NAME.pub to an admin, who registers it with 'rct user add NAME --role ROLE
    --public-key NAME.pub'. The passphrase comes from RCT_KEY_PASSPHRASE or a prompt.
    """
    keys = state.keys()
    pub = keys.create(state.user, force=force)
    out = {
        "user": state.user,
        "private_key_file": str(keys.key_path(state.user)),
        "public_key_file": str(keys.pub_path(state.user)),
        "fingerprint": pub.fingerprint,
    }
    if as_json:
        echo_json(out)
        return
    click.echo(f"Created {out['private_key_file']} (private, mode 0600)")
    click.echo(f"Public key {out['public_key_file']}: give it to an admin to register")
    click.echo(f"Fingerprint {pub.fingerprint}")


@key.command("show")
@json_option
@pass_state
def key_show(state: State, as_json: bool) -> None:
    """Show the acting user's public key and fingerprint (no passphrase needed)."""
    # lazy: loads cryptography (start-up time)
    from rct.keys import public_key_line

    keys = state.keys()
    pub = keys.public_key(state.user)
    if as_json:
        echo_json({"user": pub.user, "public_key": pub.b64, "fingerprint": pub.fingerprint})
        return
    click.echo(public_key_line(pub))
    click.echo(f"Fingerprint {pub.fingerprint}")
