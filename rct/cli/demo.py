"""``rct demo``: run the whole trial flow on the shipped protocol in a fresh directory."""

from __future__ import annotations

import click


@click.command("demo")
@click.argument("directory", type=click.Path(file_okay=False), default="rct-demo")
def demo(directory: str) -> None:
    """Run the whole flow on the shipped protocol in DIRECTORY (new; default rct-demo).

    Uses its own SQLite database inside DIRECTORY and prints where each output went.
    """
    from pathlib import Path

    from rct.demo import run_demo

    run_demo(Path(directory), echo=click.echo)
