"""Every command has help text, and the CLI reference in docs/ matches --help."""

from __future__ import annotations

from pathlib import Path

import pytest

from rct.cli import cli
from tools.cli_reference import all_commands, help_context, render_reference

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "path", [p for p, _ in all_commands(cli)], ids=lambda p: " ".join(p) or "rct"
)
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    cmd = dict(all_commands(cli))[path]
    assert (cmd.help or "").strip(), f"rct {' '.join(path)} has no help text"
    assert cmd.get_help(help_context(cli, path))


def test_cli_reference_is_in_step_with_help() -> None:
    doc = (ROOT / "docs" / "cli-reference.md").read_text(encoding="utf-8")
    assert doc == render_reference(cli), (
        "docs/cli-reference.md is out of date: run 'python -m tools.cli_reference'"
    )
