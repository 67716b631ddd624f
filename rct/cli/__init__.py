"""The ``rct`` command line: a thin click layer over the service modules.

Sub-command groups live in their own modules and are imported only when used, so that
``rct --help`` starts fast. Errors from the library and services become one clear line on
standard error and a non-zero exit code (see :func:`main`); users never see a traceback
for a mistake they made.
"""

from __future__ import annotations

import importlib
import importlib.util
import io
import json
import sys
from typing import Any

import click

from rct import __version__

__all__ = ["cli", "main"]

#: command name -> "module:attribute", loaded on first use.
COMMANDS = {
    "init": "rct.cli.workspace:init_cmd",
    "protocol": "rct.cli.protocol:protocol",
    "user": "rct.cli.workspace:user",
    "key": "rct.cli.keys:key",
    "audit": "rct.cli.audit:audit",
    "data": "rct.cli.data:data",
    "completeness": "rct.cli.completeness:completeness",
    "allocate": "rct.cli.allocate:allocate",
    "demo": "rct.cli.demo:demo",
    "bundle": "rct.cli.bundle:bundle",
    "reproduce": "rct.cli.bundle:reproduce_cmd",
    "report": "rct.cli.report:report",
    "analyse": "rct.cli.analyse:analyse",
    "design": "rct.cli.design:design",
    "db": "rct.cli.db:db",
}


class LazyGroup(click.Group):
    """A group whose sub-commands are imported when first needed."""

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy:
            module, attr = self.lazy[name].split(":")
            return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rct")
@click.option(
    "--db",
    "db",
    metavar="URL",
    envvar="RCT_DATABASE_URL",
    help="Trial database URL (default: SQLite file rct.db here). Env: RCT_DATABASE_URL.",
)
@click.option(
    "--as",
    "user",
    metavar="NAME",
    envvar="RCT_USER",
    help="Act as this registered user, signing with their key (default: your login "
    "name). Env: RCT_USER.",
)
@click.option(
    "--key-dir",
    metavar="DIR",
    envvar="RCT_KEY_DIR",
    help="Directory of your signing key (default: rct/keys in your config dir). Env: RCT_KEY_DIR.",
)
@click.pass_context
def cli(ctx: click.Context, db: str | None, user: str | None, key_dir: str | None) -> None:
    """Run a cluster randomised trial from locked protocol to reproducible result.

    Commands take the form 'rct NOUN VERB'; every command has --help.
    """
    # lazy: loads rct.cli.common (start-up time)
    from rct.cli.common import State

    ctx.obj = State(db_option=db, user_option=user, key_dir=key_dir)


def _user_error_types() -> tuple[type[BaseException], ...]:
    # lazy: loads protocols.errors, rct.errors (start-up time)
    from protocols.errors import ProtocolError
    from rct.errors import RctError

    types: list[type[BaseException]] = [RctError, ProtocolError]
    for module, name in (
        ("allocation.errors", "AllocationError"),
        ("analysis.errors", "AnalysisError"),
    ):
        if module in sys.modules or importlib.util.find_spec(module) is not None:
            try:
                types.append(getattr(importlib.import_module(module), name))
            except (ImportError, AttributeError):
                pass
    return tuple(types)


def exit_code(exc: BaseException) -> int:
    """The README's exit code for a user error from the application or a library package.

    Application errors carry their own ``exit_code``; the library packages know nothing of
    the CLI, so their errors are sorted here: a protocol file that does not exist is not
    found (4), any other protocol problem and any analysis error about the data or the
    model asked for is bad input (2).
    """
    code = getattr(exc, "exit_code", None)
    if isinstance(code, int):
        return code
    # lazy: loads protocols.errors (start-up time)
    from protocols.errors import ProtocolError, ProtocolFileNotFound

    if isinstance(exc, ProtocolFileNotFound):
        return 4
    if isinstance(exc, ProtocolError):
        return 2
    if isinstance(exc, ValueError):  # analysis/allocation errors about the input given
        return 2
    return 1


def _driver_error(exc: BaseException) -> BaseException | None:
    """A database driver error that escaped the services, as an application error."""
    if "sqlalchemy" not in sys.modules:
        return None
    # lazy: loads sqlalchemy (start-up time)
    from sqlalchemy.exc import OperationalError, ProgrammingError

    if isinstance(exc, OperationalError | ProgrammingError):
        # lazy: loads rct.db.errors (start-up time)
        from rct.db.errors import from_driver_error

        return from_driver_error(exc)
    return None


#: The codes of click's own errors (a command line click cannot parse, a value its
#: parameter type refuses, anything else click reports); docs/error-codes.md.
USAGE_CODE = "usage"
CLICK_CODE = "cli-error"


def error_code(exc: BaseException) -> str:
    """The stable code of a user error (docs/error-codes.md)."""
    if isinstance(exc, click.ClickException):
        return USAGE_CODE if isinstance(exc, click.UsageError) else CLICK_CODE
    return str(getattr(exc, "code", CLICK_CODE))


def error_line(exc: BaseException) -> str:
    """``Error: MESSAGE [code]``: the code ends the first line of the message."""
    first, *rest = (str(exc) or type(exc).__name__).split("\n")
    return "\n".join([f"Error: {first} [{error_code(exc)}]", *rest])


def _report(exc: BaseException, code: int, message: str) -> None:
    """After ``--json``, print the error as JSON on standard output too (the line stays)."""
    common = sys.modules.get("rct.cli.common")
    if common is not None and getattr(common, "json_requested", False):
        error = {"code": error_code(exc), "exit_code": code, "message": message}
        click.echo(json.dumps({"error": error}, indent=2, sort_keys=True, ensure_ascii=False))


def _show_click_error(exc: click.ClickException) -> None:
    buffer = io.StringIO()
    exc.show(file=buffer)
    lines = buffer.getvalue().rstrip("\n").split("\n")
    last = max(i for i, line in enumerate(lines) if line.startswith("Error: ") or i == 0)
    lines[last] += f" [{error_code(exc)}]"
    click.echo("\n".join(lines), err=True)
    _report(exc, exc.exit_code, exc.format_message())


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``rct`` console script."""
    common = sys.modules.get("rct.cli.common")
    if common is not None:  # a previous in-process call (tests) may have set it
        setattr(common, "json_requested", False)  # noqa: B010 - a module found at run time
    try:
        rv = cli.main(args=argv, prog_name="rct", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        _show_click_error(exc)
        sys.exit(exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - sorted into user errors and bugs below
        error = _driver_error(exc) or exc
        if isinstance(error, _user_error_types()):
            code = exit_code(error)
            click.echo(error_line(error), err=True)
            _report(error, code, str(error))
            sys.exit(code)
        raise
    sys.exit(rv if isinstance(rv, int) else 0)
