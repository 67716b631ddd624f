"""``rct demo``: run the whole trial flow on the shipped protocol in a fresh directory."""

from __future__ import annotations

from pathlib import Path

import click

from rct.demo import SIMULATION_SEED, run_demo


@click.command("demo")
@click.argument("directory", type=click.Path(file_okay=False), default="rct-demo")
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=SIMULATION_SEED,
    show_default=True,
    help="Seed of the simulated returns and of the demo's allocation: the same seed gives "
    "the same numbers.",
)
def demo(directory: str, seed: int) -> None:
    """Run the whole flow on the shipped protocol in DIRECTORY (new; default rct-demo).

    Uses its own SQLite database inside DIRECTORY, prints its seed, where each output went
    and the users it registered (act as one with --db sqlite:///DIRECTORY/rct.db --as NAME).
    """
    run_demo(Path(directory), echo=click.echo, seed=seed)
