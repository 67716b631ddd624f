"""``rct data``: templates, checking, importing and amending returns, history, queries,
export and the demonstration data. A thin layer over :mod:`rct.capture`."""

from __future__ import annotations

from typing import Any

import click

from protocols.errors import warning_text
from rct.cli.common import State, echo_json, json_option, pass_state, table


class QuarterType(click.ParamType):  # type: ignore[type-arg]  # generic only in click>=8.2
    """A calendar quarter written ``YYYY-Qn``."""

    name = "YYYY-Qn"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        # lazy: loads protocols.quarters (start-up time)
        from protocols.quarters import Quarter, QuarterError

        try:
            return str(Quarter.parse(str(value)))
        except QuarterError as exc:
            self.fail(str(exc), param, ctx)


QUARTER = QuarterType()


def _rejected(exc: Any, as_json: bool) -> None:
    """Show every problem of a rejected file, then exit with the error's code."""
    report = exc.report
    if as_json:
        echo_json({**report.to_dict(), "stored": False, "message": str(exc), "code": exc.code})
    else:
        click.echo(
            f"Error: {report.source}: rejected, nothing was stored; "
            f"{len(report.problems)} problem{'s' if len(report.problems) != 1 else ''}: "
            f"[{exc.code}]",
            err=True,
        )
        shown = report.problems[:200]
        for p in shown:
            click.echo(f"  {p.describe()}", err=True)
        if len(report.problems) > len(shown):
            click.echo(
                f"  ... and {len(report.problems) - len(shown)} more (use --json for all)", err=True
            )
    raise SystemExit(exc.exit_code)


def _show(result: Any, as_json: bool) -> None:
    if as_json:
        echo_json(result.to_dict())
        return
    for w in result.report.warnings:
        click.echo(f"Warning: {warning_text(w)}", err=True)
    click.echo(result.message)


@click.group()
def data() -> None:
    """Quarterly indicator returns and child-level records: submit, correct, query, export."""


@data.command("template")
@click.option(
    "--borough",
    metavar="CODE",
    default=None,
    help="Borough (GSS code, unit id or name); data managers default to their own.",
)
@click.option("--period", type=QUARTER, required=True, help="Quarter of the return, e.g. 2026-Q3.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="File to write (.xlsx or .csv; default: return_BOROUGH_PERIOD.csv).",
)
@click.option("--force", is_flag=True, help="Overwrite the file if it exists.")
@pass_state
def template_cmd(
    state: State, borough: str | None, period: str, output: str | None, force: bool
) -> None:
    """Write a blank return pre-filled with the borough, period and indicators.

    An existing file (perhaps a return already filled in) is never overwritten silently:
    the command refuses unless --force is given.
    """
    # lazy: loads sqlalchemy (start-up time)
    from rct.services.capture import write_return_template

    written = write_return_template(state.workspace(), borough, period, output, force=force)
    click.echo(
        f"Wrote {written.path}: {written.indicators} indicators for {written.unit_name} "
        f"{written.period}; "
        "fill in the value column (leave a figure you do not have blank, never 0)."
    )


def _submit_options(f: Any) -> Any:
    f = click.option(
        "--allow-blank",
        is_flag=True,
        help="Accept blank values as 'not supplied' (they stay missing) instead of reporting them.",
    )(f)
    f = click.option(
        "--children",
        is_flag=True,
        help="The file holds pseudonymised child-level records, not a return.",
    )(f)
    return json_option(f)


@data.command("check")
@click.argument("file", type=click.Path(dir_okay=False))
@_submit_options
@pass_state
def check(state: State, file: str, allow_blank: bool, children: bool, as_json: bool) -> None:
    """Validate FILE without storing anything; list every problem."""
    # lazy: loads rct.capture.errors (start-up time)
    from rct.capture.errors import SubmissionRejected

    ws = state.workspace()
    try:
        if children:
            # lazy: loads pandas, numpy, sqlalchemy (start-up time)
            from rct.capture.children_store import check_children

            result = check_children(ws, file)
        else:
            # lazy: loads numpy, sqlalchemy (start-up time)
            from rct.capture.submit import check_return

            result = check_return(ws, file, allow_blank=allow_blank)
    except SubmissionRejected as exc:
        _rejected(exc, as_json)
    _show(result, as_json)


@data.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@_submit_options
@pass_state
def import_cmd(state: State, file: str, allow_blank: bool, children: bool, as_json: bool) -> None:
    """Validate and store FILE, whole or not at all.

    Re-importing an identical file changes nothing; a file that would change stored values
    is refused: use 'rct data amend FILE --reason TEXT'.
    """
    # lazy: loads rct.capture.errors (start-up time)
    from rct.capture.errors import SubmissionRejected

    ws = state.workspace()
    try:
        if children:
            # lazy: loads pandas, numpy, sqlalchemy (start-up time)
            from rct.capture.children_store import submit_children
            from rct.cli.progress import progress_to_total

            with progress_to_total("Storing records", as_json=as_json) as step:
                result = submit_children(ws, file, progress=step)
        else:
            # lazy: loads numpy, sqlalchemy (start-up time)
            from rct.capture.submit import submit_return

            result = submit_return(ws, file, allow_blank=allow_blank)
    except SubmissionRejected as exc:
        _rejected(exc, as_json)
    _show(result, as_json)


@data.command("amend")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--reason", required=True, help="Why the stored values are corrected.")
@click.option(
    "--allow-blank",
    is_flag=True,
    help="Accept blank values as 'not supplied' (stored values stay as they are).",
)
@json_option
@pass_state
def amend(state: State, file: str, reason: str, allow_blank: bool, as_json: bool) -> None:
    """Store corrected values from FILE as new versions; earlier versions stay readable."""
    # lazy: loads numpy, sqlalchemy (start-up time)
    from rct.capture.errors import SubmissionRejected
    from rct.capture.submit import submit_return

    try:
        result = submit_return(state.workspace(), file, reason=reason, allow_blank=allow_blank)
    except SubmissionRejected as exc:
        _rejected(exc, as_json)
    _show(result, as_json)


@data.command("history")
@click.option("--borough", metavar="CODE", default=None, help="Only this borough.")
@click.option("--period", type=QUARTER, default=None, help="Only this quarter.")
@click.option("--indicator", metavar="CODE", default=None, help="Only this indicator.")
@json_option
@pass_state
def history(
    state: State, borough: str | None, period: str | None, indicator: str | None, as_json: bool
) -> None:
    """Every stored version of the matching cells, with who, when, file and reason."""
    # lazy: loads sqlalchemy (start-up time)
    from rct.services.capture import value_history

    rows = value_history(state.workspace(), borough=borough, period=period, indicator=indicator)
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("No stored values match.")
        return
    # lazy: loads rct.capture.returns (start-up time)
    from rct.capture.returns import format_value

    click.echo(
        table(
            [
                [
                    r["borough"],
                    r["period"],
                    r["indicator"],
                    str(r["version"]),
                    format_value(r["value"]),
                    r["recorded_at"][:19],
                    r["recorded_by"],
                    f"#{r['submission']} {r['kind']}",
                    r["reason"][:40],
                ]
                for r in rows
            ],
            [
                "borough",
                "period",
                "indicator",
                "v",
                "value",
                "recorded (UTC)",
                "by",
                "submission",
                "reason",
            ],
        )
    )


@data.group("queries", invoke_without_command=True)
@click.option("--borough", metavar="CODE", default=None, help="Only this borough.")
@click.option(
    "--status",
    type=click.Choice(["open", "answered", "closed"]),
    default=None,
    help="Only queries in this status.",
)
@json_option
@click.pass_context
def queries(ctx: click.Context, borough: str | None, status: str | None, as_json: bool) -> None:
    """List data-quality queries; answer, close or raise them with the sub-commands."""
    if ctx.invoked_subcommand is not None:
        return
    # lazy: loads numpy, sqlalchemy (start-up time)
    from rct.capture.queries import list_queries

    state = ctx.find_object(State)
    assert state is not None
    rows = list_queries(state.workspace(), borough=borough, status=status)
    if as_json:
        echo_json([q.to_dict() for q in rows])
        return
    if not rows:
        click.echo("No queries match.")
        return
    click.echo(
        table(
            [
                [str(q.id), q.status, q.borough, q.period, q.indicator, q.rule, q.message[:70]]
                for q in rows
            ],
            ["id", "status", "borough", "period", "indicator", "rule", "message"],
        )
    )


def _query_step(state: State, fn: str, query_id: int, text: str, as_json: bool) -> None:
    # lazy: loads numpy, sqlalchemy (start-up time)
    from rct.capture import queries as q

    rec = getattr(q, fn)(state.workspace(), query_id, text)
    if as_json:
        echo_json(rec.to_dict())
    else:
        click.echo(f"Query {rec.id} is now {rec.status}.")


@queries.command("answer")
@click.argument("query_id", type=int)
@click.option("--text", required=True, help="The answer (e.g. 'confirmed: new intake team').")
@json_option
@pass_state
def answer(state: State, query_id: int, text: str, as_json: bool) -> None:
    """Answer query QUERY_ID (the borough's data manager, or a statistician)."""
    _query_step(state, "answer", query_id, text, as_json)


@queries.command("close")
@click.argument("query_id", type=int)
@click.option("--text", required=True, help="Why the query is closed.")
@json_option
@pass_state
def close(state: State, query_id: int, text: str, as_json: bool) -> None:
    """Close query QUERY_ID (statisticians and admins)."""
    _query_step(state, "close", query_id, text, as_json)


@queries.command("raise")
@click.option("--borough", metavar="CODE", required=True, help="Borough of the cell.")
@click.option("--period", type=QUARTER, required=True, help="Quarter of the cell.")
@click.option("--indicator", metavar="CODE", required=True, help="Indicator of the cell.")
@click.option("--text", required=True, help="The question for the borough.")
@pass_state
def raise_cmd(state: State, borough: str, period: str, indicator: str, text: str) -> None:
    """Raise a query by hand on one cell (statisticians and admins)."""
    # lazy: loads numpy, sqlalchemy (start-up time)
    from rct.capture.queries import raise_query

    qid = raise_query(state.workspace(), borough, period, indicator, text)
    click.echo(f"Raised query {qid}.")


@data.command("export")
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(file_okay=False),
    default="export",
    show_default=True,
    help="Directory to write the dataset and manifest into.",
)
@click.option(
    "--format",
    "formats",
    type=click.Choice(["csv", "parquet", "dta", "xlsx"]),
    multiple=True,
    help="Format(s) to write (repeatable; default: every format this installation can write).",
)
@json_option
@pass_state
def export(state: State, out_dir: str, formats: tuple[str, ...], as_json: bool) -> None:
    """Write the analysis dataset (borough x quarter x indicator) with its manifest.

    The arm column stays empty until the allocation is revealed.
    """
    # lazy: loads sqlalchemy (start-up time)
    from rct.capture.dataset import export_trial
    from rct.capture.export import available_formats

    result = export_trial(state.workspace(), out_dir, formats or available_formats())
    if as_json:
        echo_json(
            {
                "files": result.files,
                "manifest": result.manifest,
                "snapshot_hash": result.snapshot_hash,
                "rows": result.rows,
            }
        )
        return
    click.echo(
        f"Wrote {result.rows} rows to {', '.join(sorted(result.files))} in {out_dir}; "
        f"manifest {result.manifest}; snapshot {result.snapshot_hash}"
    )


@data.command("load-example")
@json_option
@pass_state
def load_example_cmd(state: State, as_json: bool) -> None:
    """Load the published 2023-2025 partnership indicators into a demonstration trial.

    On an empty database this creates the demonstration trial (six partnership boroughs,
    2023-Q3 to 2025-Q1) with you as its admin. Blank published cells stay missing.
    """
    # lazy: loads numpy, sqlalchemy, cryptography (start-up time)
    from rct.capture.example import load_example

    loaded = load_example(state.url, state.user, state.keys())
    if as_json:
        echo_json({"created_trial": loaded.created_trial, **loaded.result.to_dict()})
        return
    if loaded.created_trial:
        click.echo(f"Created the demonstration trial in {state.url} with {state.user} as admin.")
    click.echo(loaded.result.message)
    click.echo("See the gaps with: rct completeness --as-of 2025-09-30")


@data.command("settings")
@click.option(
    "--child-records",
    type=click.Choice(["on", "off"]),
    default=None,
    help="Collect pseudonymised child-level records in this trial, or stop.",
)
@click.option("--reason", default="", help="Why the setting changes (required to change it).")
@pass_state
def settings(state: State, child_records: str | None, reason: str) -> None:
    """Show or change the data-capture settings (statisticians and admins change them)."""
    # lazy: loads sqlalchemy (start-up time)
    from rct.capture.settings import set_child_records
    from rct.services.capture import child_records_on

    ws = state.workspace()
    if child_records is not None:
        changed = set_child_records(ws, child_records == "on", reason)
        click.echo("Changed." if changed else "Unchanged.")
    on = child_records_on(ws)
    click.echo(f"child-level records: {'on' if on else 'off'}")
