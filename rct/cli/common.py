"""Pieces every command shares: the context state, option bundles and output helpers."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from rct.keys import KeyStore
    from rct.workspace import Workspace

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class State:
    """What the top-level options said; opens the workspace on demand."""

    db_option: str | None
    user_option: str | None
    key_dir: str | None = None
    _ws: Any = field(default=None, repr=False)

    @property
    def url(self) -> str:
        # lazy: loads rct.config (start-up time)
        from rct.config import database_url

        return database_url(self.db_option)

    @property
    def user(self) -> str:
        # lazy: loads rct.config (start-up time)
        from rct.config import acting_user_name

        return acting_user_name(self.user_option)

    def keys(self) -> KeyStore:
        """The acting user's key directory; the passphrase from RCT_KEY_PASSPHRASE or a prompt."""
        # lazy: loads cryptography (start-up time)
        from rct.keys import KeyStore

        return KeyStore(Path(self.key_dir) if self.key_dir else None, prompt_passphrase)

    def workspace(self) -> Workspace:
        if self._ws is None:
            # lazy: loads sqlalchemy (start-up time)
            from rct.workspace import Workspace

            # a name from --as/RCT_USER is a claim a mapped database login refuses; the
            # login-name default gives way to the mapping (docs/database-roles.md)
            claimed = self.user_option is not None
            self._ws = Workspace(self.url, self.user, keys=self.keys(), claimed=claimed)
            click.get_current_context().call_on_close(self._close)
        return self._ws  # type: ignore[no-any-return]

    def _close(self) -> None:
        if self._ws.last_checkpoint is not None:
            click.echo(self._ws.last_checkpoint.line(), err=True)
        self._ws.close()


pass_state = click.make_pass_decorator(State)


def prompt_passphrase(user: str) -> str:
    """``RCT_KEY_PASSPHRASE`` if set, else ask at the terminal (refused off a terminal)."""
    # lazy: loads rct.errors (start-up time)
    from rct.errors import MissingKey

    value = os.environ.get("RCT_KEY_PASSPHRASE")
    if value:
        return value
    if not sys.stdin.isatty():
        raise MissingKey(
            f"no passphrase for {user}'s key: set RCT_KEY_PASSPHRASE or run at a terminal",
            code="no-passphrase",
        )
    return str(click.prompt(f"Passphrase for {user}'s key", hide_input=True))


#: Set when a command was given ``--json``: an error is then also printed as JSON on
#: standard output (rct.cli.main), so a script reading the JSON gets the code too.
json_requested = False


def _remember_json(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    global json_requested
    json_requested = json_requested or bool(value)
    return value


def json_option(f: F) -> F:
    """``--json``: print machine-readable JSON instead of text."""
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        callback=_remember_json,
        help="Print machine-readable JSON.",
    )(f)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=str))


def table(rows: list[list[str]], headers: list[str]) -> str:
    """A plain text table with columns padded to their widest cell."""
    cells = [headers, *rows]
    widths = [max(len(str(r[i])) for r in cells) for i in range(len(headers))]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(headers, widths)).rstrip(),
        "  ".join("-" * w for w in widths),
    ]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)
