"""``rct analyse``: run the locked SAP, show stored results, fit one model, emit R code."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from analysis.errors import AnalysisError
from analysis.families import FAMILIES, family_info
from rct.cli.common import State, echo_json, json_option, pass_state

if TYPE_CHECKING:  # analysis.sap loads the model engines (start-up time)
    from analysis.sap.results import SapResults
    from rct.analyses import StoredResults

DF_CHOICES = ("between-within", "satterthwaite", "kenward-roger", "normal")
FAMILY_CHOICES = tuple(name for name, f in FAMILIES.items() if f.protocol)


@click.group()
def analyse() -> None:
    """Run the prespecified analyses and cross-check them (fit one model, R script)."""


def _method_lines(results: SapResults) -> list[str]:
    # lazy: loads pandas, numpy, scipy (start-up time)
    from analysis.coded_warnings import warning_text
    from analysis.sap.summary import icc_line, method_line, primary_first

    out = []
    for a in results.analyses:
        label = "  [POST HOC]" if a.post_hoc else ""
        out.append(f"{a.role}: {a.name} ({a.outcome}){label}")
        if a.post_hoc:
            out.append(f"  post hoc: {a.post_hoc_reason}")
        if a.error:
            out.append(f"  FAILED: {a.error}")
            continue
        out.append(f"  {a.clusters} clusters, {a.observations} observations")
        several = len(a.methods) > 1
        out += [
            f"  {('PRIMARY INFERENCE: ' if lead else 'supportive: ') if several else ''}"
            f"{method_line(m)}"
            for lead, m in primary_first(a)
        ]
        out.append(f"  {icc_line(a.icc)}")
        for m in a.methods:
            out += [f"  warning ({m.method}): {warning_text(w)}" for w in m.warnings]
    return out


def _print_results(stored: StoredResults, as_json: bool) -> None:
    if as_json:
        echo_json({**stored.meta(), "results": stored.data})
        return
    click.echo(
        f"Results #{stored.id} ({stored.created_at} by {stored.created_by}): protocol "
        f"v{stored.protocol_version}, data snapshot {stored.snapshot_hash[:16]}, results "
        f"SHA-256 {stored.results_sha256}"
    )
    for line in _method_lines(stored.results):
        click.echo(line)


@analyse.command("run")
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Also write results.json and results.md into this directory.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Processes fitting analyses at once (default: all cores). Results are identical "
    "for any number.",
)
@json_option
@pass_state
def run_cmd(state: State, out_dir: str | None, workers: int | None, as_json: bool) -> None:
    """Run every analysis of the locked SAP on the current data snapshot and store the results.

    Needs the statistician role, a locked protocol and a revealed allocation. The results
    record the protocol fingerprint, the data snapshot hash, the allocation commitment and
    the package versions; analyses added to the SAP after data were first visible are
    labelled post hoc.
    """
    # lazy: loads pandas, numpy, scipy, sqlalchemy (start-up time)
    from rct import analyses
    from rct.cli.progress import progress_bar
    from rct.services.protocol import analysis_count

    ws = state.workspace()
    n = analysis_count(ws)
    # The bar (elapsed and time left; silent under --json or off a terminal) starts with
    # the first finished analysis, so a refusal prints only its message.
    with ExitStack() as stack:
        advance: list[Callable[[int], None]] = []

        def tick(name: str) -> None:
            if not advance:
                bar = progress_bar(n, "Running the SAP", as_json=as_json)
                advance.append(stack.enter_context(bar))
            advance[0](1)

        stored = analyses.run(ws, progress=tick, workers=workers or os.cpu_count() or 1)
    if out_dir:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(stored.results_json, encoding="utf-8")
        (out / "results.md").write_text(stored.markdown, encoding="utf-8")
    _print_results(stored, as_json)
    if out_dir and not as_json:
        click.echo(f"Wrote {Path(out_dir) / 'results.json'} and {Path(out_dir) / 'results.md'}")


@analyse.command("show")
@click.option("--markdown", is_flag=True, help="Print the Markdown summary.")
@json_option
@pass_state
def show_cmd(state: State, markdown: bool, as_json: bool) -> None:
    """Print the latest stored results (every role may read them)."""
    # lazy: loads pandas, numpy, scipy, sqlalchemy (start-up time)
    from rct import analyses

    stored = analyses.latest(state.workspace())
    if markdown and not as_json:
        click.echo(stored.markdown, nl=False)
        return
    _print_results(stored, as_json)


@analyse.command("fit")
@click.argument("data", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--formula", required=True, help="Fixed effects, e.g. 'value ~ treatment + C(period)'."
)
@click.option("--group", required=True, metavar="COL", help="Cluster column (random intercept).")
@click.option(
    "--family",
    type=click.Choice(FAMILY_CHOICES),
    default="gaussian",
    show_default=True,
    help="Model family (log link for counts, logit for binomial).",
)
@click.option("--offset", metavar="COL", help="Column added to the linear predictor as is.")
@click.option(
    "--exposure", metavar="COL", help="Column whose log is the offset (e.g. denominator)."
)
@click.option(
    "--nagq",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Adaptive Gauss-Hermite points for poisson/binomial (1 = Laplace).",
)
@click.option(
    "--df",
    "df_method",
    type=click.Choice(DF_CHOICES),
    default="between-within",
    show_default=True,
    help="Degrees of freedom (Satterthwaite, Kenward-Roger: gaussian).",
)
@json_option
def fit_cmd(
    data: str,
    formula: str,
    group: str,
    family: str,
    offset: str | None,
    exposure: str | None,
    nagq: int,
    df_method: str,
    as_json: bool,
) -> None:
    """Fit one mixed model on any CSV file, to explore and cross-check.

    Gaussian models are fitted by REML (analysis.lmm), the others by maximum likelihood
    (analysis.glmm). Rows with a missing value in a column the model uses are left out.
    """
    # lazy: loads pandas, numpy, scipy (start-up time)
    import pandas as pd

    from analysis.sap.results import stable

    try:
        frame = pd.read_csv(data)
    except (OSError, ValueError) as exc:
        # lazy: loads rct.errors (start-up time)
        from rct.errors import RctError

        raise RctError(f"cannot read {data}: {exc}", code="unreadable-data") from None
    names = set(re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", formula)) | {group, offset, exposure}
    used = [c for c in frame.columns if c in names]
    before = len(frame)
    frame = frame.dropna(subset=used)
    fit = _fit(frame, formula, group, family, offset, exposure, nagq, df_method)
    if as_json:
        echo_json(stable({**fit.to_dict(), "rows_left_out": before - len(frame)}))
        return
    click.echo(fit.summary)
    if before > len(frame):
        click.echo(f"({before - len(frame)} rows with missing values left out)")


def _fit(
    frame: Any,
    formula: str,
    group: str,
    family: str,
    offset: str | None,
    exposure: str | None,
    nagq: int,
    df_method: str,
) -> Any:
    # lazy: loads pandas, numpy, scipy (start-up time)
    from analysis.sap.methods import fit_mixed_model
    from rct.errors import InputError, RctError

    if family_info(family).mixed_model == "lmm":
        if offset or exposure:
            raise click.UsageError("--offset/--exposure apply to count and binomial models")
    elif df_method not in family_info(family).df_methods:
        allowed = family_info(family).df_methods
        users = [n for n, f in FAMILIES.items() if f.protocol and df_method in f.df_methods]
        raise click.UsageError(
            f"--df {df_method} applies to {' and '.join(users)} models; for {family} "
            f"use {' or '.join(m for m in allowed if m in DF_CHOICES)}"
        )
    try:
        return fit_mixed_model(
            frame,
            formula,
            group,
            family=family,
            df_method=df_method,
            offset=offset,
            exposure=exposure,
            nagq=nagq,
        )
    except AnalysisError as exc:
        if isinstance(exc, ValueError):  # data or model specification: bad input (exit 2)
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise InputError(f"cannot fit {formula!r}: {first}") from None
        raise RctError(str(exc), code="fit-failed") from None
    except Exception as exc:  # noqa: BLE001 - patsy and pandas errors on a user's formula
        if type(exc).__name__ == "PatsyError" or isinstance(exc, KeyError | ValueError):
            # An unknown column or a formula patsy cannot read: bad input (exit 2).
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise InputError(f"cannot fit {formula!r}: {first}") from None
        raise


@analyse.command("emit-r")
@click.option(
    "-o",
    "--output",
    "path",
    type=click.Path(dir_okay=False),
    help="Write the script here (default: standard output).",
)
@pass_state
def emit_r_cmd(state: State, path: str | None) -> None:
    """Write an R script that refits the prespecified mixed models with lme4/lmerTest/glmmTMB.

    Run it on the dataset 'rct data export' writes:
    Rscript sap.R export/analysis_dataset.csv results_r.csv
    """
    # lazy: loads pandas, numpy, scipy, sqlalchemy (start-up time)
    from analysis.sap.emit_r import r_script
    from rct.services.protocol import current_protocol

    sp = current_protocol(state.workspace())
    text = r_script(sp.protocol, fingerprint=sp.fingerprint)
    if path:
        Path(path).write_text(text, encoding="utf-8")
        click.echo(f"Wrote {path} (protocol v{sp.version}, {sp.status})")
    else:
        sys.stdout.write(text)
