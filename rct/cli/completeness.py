"""``rct completeness``: what is received, amended, queried, overdue or not yet due."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from rct.cli.common import State, echo_json, json_option, pass_state

#: exit code of ``--fail-on-overdue`` when a return is overdue
OVERDUE_EXIT = 9


@click.command("completeness")
@click.option("--borough", metavar="CODE", default=None, help="Only this borough.")
@click.option("--indicator", metavar="CODE", default=None, help="Only this indicator.")
@click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="Judge deadlines as of this date (YYYY-MM-DD; default: today).",
)
@json_option
@click.option("--csv", "as_csv", is_flag=True, help="Print one CSV row per cell.")
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write a self-contained HTML heatmap to this file.",
)
@click.option(
    "--fail-on-overdue",
    is_flag=True,
    help=f"Exit with code {OVERDUE_EXIT} when any return is overdue (for schedulers).",
)
@pass_state
def completeness(
    state: State,
    borough: str | None,
    indicator: str | None,
    as_of: dt.datetime | None,
    as_json: bool,
    as_csv: bool,
    html_file: str | None,
    fail_on_overdue: bool,
) -> None:
    """Which returns are received, amended, queried, overdue or not yet due.

    Shows the borough x quarter x indicator matrix (overdue = nothing received and past
    the protocol's submission deadline; not yet due = nothing received, deadline not
    passed), with the legend of its symbols, totals per borough and per indicator, and
    the overdue returns with days overdue."""
    # lazy: loads sqlalchemy (start-up time)
    from rct.capture.completeness import completeness as compute
    from rct.capture.completeness_render import render_csv, render_html, render_terminal

    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    m = compute(
        state.workspace(),
        as_of=as_of.date() if as_of else None,
        borough=borough,
        indicator=indicator,
    )
    if html_file:
        Path(html_file).write_text(render_html(m), encoding="utf-8")
    if as_json:
        echo_json(m.to_dict())
    elif as_csv:
        click.echo(render_csv(m), nl=False)
    else:
        click.echo(render_terminal(m))
        if html_file:
            click.echo(f"\nWrote the heatmap to {html_file}")
    if fail_on_overdue and m.overdue():
        raise SystemExit(OVERDUE_EXIT)
