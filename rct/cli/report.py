"""``rct report``: the trial report as one self-contained HTML page."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from rct.cli.common import State, pass_state


@click.command("report")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False),
    default="trial-report.html",
    show_default=True,
    help="HTML file to write.",
)
@click.option(
    "--as-of",
    "as_of",
    default=None,
    metavar="YYYY-MM-DD",
    help="Date for overdue returns (default: today).",
)
@click.option(
    "--design-check",
    "design_check",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE",
    help="Results of 'rct design check -o FILE': adds the SAP's operating characteristics.",
)
@pass_state
def report(state: State, out: str, as_of: str | None, design_check: str | None) -> None:
    """Write the trial report: flow, randomisation, baseline, completeness, rates, effects, ICCs, provenance.

    Before the allocation is revealed the report carries no arm information.
    """
    # lazy: loads sqlalchemy, cryptography (start-up time)
    from rct.errors import InputError
    from rct.report.gather import gather_report
    from rct.report.html import render_report

    try:
        day = dt.date.fromisoformat(as_of) if as_of else None
    except ValueError:
        raise InputError(f"--as-of {as_of!r} is not a date written YYYY-MM-DD") from None
    operating = None
    if design_check:
        # lazy: loads rct.report.operating (start-up time)
        from rct.report.operating import load_design_check

        operating = load_design_check(design_check)
    data = gather_report(state.workspace(), as_of=day)
    data.operating = operating
    Path(out).write_text(render_report(data), encoding="utf-8")
    click.echo(
        f"Wrote the trial report to {out}"
        + ("" if data.arms else " (arms concealed: allocation not revealed)")
    )
