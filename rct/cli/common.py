"""Pieces every command shares: the context state, option bundles and output helpers."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from rct.workspace import Workspace

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class State:
    """What the top-level options said; opens the workspace on demand."""

    db_option: str | None
    user_option: str | None
    _ws: Any = field(default=None, repr=False)

    @property
    def url(self) -> str:
        from rct.config import database_url

        return database_url(self.db_option)

    @property
    def user(self) -> str:
        from rct.config import acting_user_name

        return acting_user_name(self.user_option)

    def workspace(self) -> Workspace:
        if self._ws is None:
            from rct.workspace import Workspace

            self._ws = Workspace(self.url, self.user)
            click.get_current_context().call_on_close(self._ws.close)
        return self._ws  # type: ignore[no-any-return]


pass_state = click.make_pass_decorator(State)


def json_option(f: F) -> F:
    """``--json``: print machine-readable JSON instead of text."""
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")(f)


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
