"""Write docs/cli-reference.md from the commands' own --help (a test keeps them in step).

Run ``python -m tools.cli_reference`` after changing a command.
"""

from __future__ import annotations

from pathlib import Path

import click

HEADER = """# CLI reference

Generated from `rct --help` by `python -m tools.cli_reference`; a test fails when this
page and the commands disagree. Global options (`--db URL`, `--as NAME`) go before the
command: `rct --db postgresql://... --as sam protocol lock`.
"""


def all_commands(
    group: click.Command, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], click.Command]]:
    """Every command under ``group`` with its path, depth first, sorted by name."""
    out = [(path, group)]
    if isinstance(group, click.Group):
        ctx = click.Context(group)
        for name in group.list_commands(ctx):
            sub = group.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                out.extend(all_commands(sub, (*path, name)))
    return out


def help_context(root: click.Command, path: tuple[str, ...]) -> click.Context:
    """The context a real invocation of ``rct PATH --help`` would have (same settings)."""
    ctx = click.Context(
        root, info_name="rct", terminal_width=100, max_content_width=100, **root.context_settings
    )
    cmd = root
    for name in path:
        assert isinstance(cmd, click.Group)
        sub = cmd.get_command(ctx, name)
        assert sub is not None
        ctx = click.Context(sub, info_name=name, parent=ctx, **sub.context_settings)
        cmd = sub
    return ctx


def render_reference(root: click.Command) -> str:
    parts = [HEADER]
    for path, cmd in all_commands(root):
        name = " ".join(("rct", *path))
        parts.append(f"## `{name}`\n\n```text\n{cmd.get_help(help_context(root, path))}\n```\n")
    return "\n".join(parts)


def main() -> None:
    from rct.cli import cli

    target = Path(__file__).resolve().parents[1] / "docs" / "cli-reference.md"
    target.write_text(render_reference(cli), encoding="utf-8")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
