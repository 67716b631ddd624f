"""``rct design``: questions to ask before the trial starts (power, operating characteristics).

Both commands are views of one simulation engine (:mod:`analysis.sap.operating`), run on
all cores (``--workers``) or on a Dask cluster (``--scheduler``), with identical results
for any number of workers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from rct.cli.common import State, echo_json, json_option, pass_state


@click.group()
def design() -> None:
    """Design questions before the trial starts: power and the SAP's operating characteristics."""


#: ``--alpha``, the same for every simulation command.
alpha_option = click.option(
    "--alpha",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.05,
    show_default=True,
    help="Two-sided significance level.",
)


def workers_options(f: Any) -> Any:
    """``--workers`` and ``--scheduler``: where the simulations run."""
    f = click.option(
        "--scheduler",
        metavar="ADDRESS",
        help="Run the simulations on this Dask distributed scheduler (e.g. tcp://host:8786) "
        "instead of local processes; needs pip install 'rct[distributed]'.",
    )(f)
    return click.option(
        "--workers",
        type=click.IntRange(min=1),
        help="Local worker processes (default: all cores). Results are identical for any number.",
    )(f)


def load_design_protocol(state: State, protocol_path: str | None) -> Any:
    """The candidate protocol file, or the trial's current (locked) protocol."""
    # lazy: loads protocols (start-up time)
    from protocols import load_protocol

    if protocol_path:
        return load_protocol(protocol_path)
    # lazy: loads sqlalchemy (start-up time)
    from rct.services.protocol import current_protocol

    return current_protocol(state.workspace()).protocol


@design.command("power")
@click.option(
    "--protocol",
    "protocol_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Use this protocol file instead of the trial database's protocol.",
)
@click.option("--analysis", help="Analysis name (default: the primary analysis).")
@click.option("--method", help="Inference method (default: the analysis' primary inference).")
@click.option(
    "--base-rate",
    type=click.FloatRange(min=0, min_open=True),
    help="Control rate per 10,000 children per quarter (default: typical for the outcome).",
)
@click.option(
    "--rate-ratio",
    type=click.FloatRange(min=0, min_open=True),
    help="True rate ratio, intervention vs control (default: plausible for the outcome).",
)
@click.option(
    "--icc",
    type=click.FloatRange(0, 1, max_open=True),
    help="Latent-scale ICC of the Poisson model.",
)
@click.option(
    "--cv",
    type=click.FloatRange(min=0),
    help="Between-cluster coefficient of variation of the true rates.",
)
@click.option(
    "--sd-between",
    type=click.FloatRange(min=0),
    help="Between-cluster SD of the log rate (default 0.25).",
)
@click.option(
    "--sd-trend",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help=(
        "Between-cluster SD of the clusters' own linear trends, log scale per quarter "
        "(e.g. 0.02). With 0 every borough's baseline is a perfect control and mixed-model "
        "power is optimistic."
    ),
)
@click.option(
    "--baseline-quarters",
    type=click.IntRange(min=1),
    help="Number of baseline quarters (default: the protocol's).",
)
@click.option(
    "--follow-up-quarters",
    type=click.IntRange(min=1),
    help="Number of follow-up quarters (default: the protocol's).",
)
@click.option(
    "--simulations",
    type=click.IntRange(min=1),
    default=200,
    show_default=True,
    help="Number of simulated trials (a mixed-model fit takes about half a second).",
)
@click.option("--seed", type=int, default=1, show_default=True, help="Simulation seed.")
@alpha_option
@workers_options
@json_option
@pass_state
def power(
    state: State,
    protocol_path: str | None,
    analysis: str | None,
    method: str | None,
    base_rate: float | None,
    rate_ratio: float | None,
    icc: float | None,
    cv: float | None,
    sd_between: float | None,
    sd_trend: float,
    baseline_quarters: int | None,
    follow_up_quarters: int | None,
    simulations: int,
    seed: int,
    alpha: float,
    workers: int | None,
    scheduler: str | None,
    as_json: bool,
) -> None:
    """Estimate by simulation the power of the prespecified primary analysis.

    Each simulated trial draws an allocation from the protocol's admissible scheme space,
    simulates quarterly counts (Poisson-lognormal, between-cluster variation as given,
    and, with --sd-trend, a linear trend of its own for each cluster) and fits the analysis
    exactly as 'rct analyse run' does. Prints the power with its Monte Carlo standard
    error, plainly. Without cluster-specific trends the simulation lets each borough's
    baseline predict its follow-up perfectly up to noise, which flatters analyses that
    compare a borough with its own baseline: try --sd-trend 0.02 as well.
    """
    # lazy: loads pandas, numpy, scipy (start-up time)
    from analysis.sap.power import power_simulation
    from rct.allocation.design import space_for_protocol
    from rct.cli.progress import progress_bar

    if sum(x is not None for x in (icc, cv, sd_between)) > 1:
        raise click.UsageError("give at most one of --icc, --cv and --sd-between")
    protocol = load_design_protocol(state, protocol_path)
    space = space_for_protocol(protocol)
    with progress_bar(simulations, "Simulating trials", as_json=as_json) as advance:
        result = power_simulation(
            protocol,
            analysis=analysis,
            method=method,
            base_rate=base_rate,
            rate_ratio=rate_ratio,
            sd_between=sd_between,
            cv=cv,
            icc=icc,
            sd_trend=sd_trend,
            baseline_quarters=baseline_quarters,
            follow_up_quarters=follow_up_quarters,
            simulations=simulations,
            seed=seed,
            alpha=alpha,
            schemes=space.schemes.astype("int64"),
            scheme_units=space.unit_ids,
            progress=advance,
            workers=workers,
            scheduler=scheduler,
        )
    if as_json:
        echo_json(result.to_dict())
        return
    click.echo(result.message)
    click.echo(
        f"Base rate {result.base_rate:g} per 10,000 per quarter; between-cluster SD "
        f"{result.sd_between:.3g} (latent ICC {result.icc:.3g}); trend SD "
        f"{result.sd_trend:.3g} per quarter; {result.fitted} of "
        f"{result.simulations} simulated trials analysed; {result.schemes} admissible schemes; "
        f"seed {result.seed}."
    )


#: Exit code of ``design check`` when a method's type I error exceeds nominal (README table).
EXIT_ANTI_CONSERVATIVE = 8


@design.command("check")
@click.option(
    "--protocol",
    "protocol_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Check this candidate protocol file instead of the trial database's protocol.",
)
@click.option(
    "--analysis",
    "analyses",
    multiple=True,
    help="Check only this analysis (repeatable; default: every analysis of the SAP).",
)
@click.option(
    "--method",
    "methods",
    multiple=True,
    help="Check only this inference method of the chosen analyses, or only ANALYSIS/METHOD "
    "(repeatable).",
)
@click.option(
    "--scenario",
    "scenarios",
    multiple=True,
    help="Only this drift setting of the default grid (repeatable): reference, high-icc, "
    "trend, strong-trend, borough-period, borough-post, overdispersion, missing-returns. "
    "Each runs under the null and under the target effect.",
)
@click.option(
    "--simulations",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Simulated trials per scenario (1000 give a type I error to about +-0.7%).",
)
@click.option("--seed", type=int, default=1, show_default=True, help="Master simulation seed.")
@alpha_option
@click.option(
    "--sd-between",
    type=click.FloatRange(min=0),
    default=0.25,
    show_default=True,
    help="Between-borough SD of the log rate in the reference scenario.",
)
@click.option(
    "--checkpoint",
    type=click.Path(dir_okay=False),
    help="File of finished simulations, from which an interrupted run resumes (default: "
    "design-check-<run key>.jsonl in the current directory, one per protocol, analyses, "
    "methods and seed).",
)
@click.option("--no-checkpoint", is_flag=True, help="Keep no checkpoint file.")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False),
    help="Also write the results JSON here (the trial report can plot it).",
)
@workers_options
@json_option
@pass_state
def check(
    state: State,
    protocol_path: str | None,
    analyses: tuple[str, ...],
    methods: tuple[str, ...],
    scenarios: tuple[str, ...],
    simulations: int,
    seed: int,
    alpha: float,
    sd_between: float,
    checkpoint: str | None,
    no_checkpoint: bool,
    output: str | None,
    workers: int | None,
    scheduler: str | None,
    as_json: bool,
) -> None:
    """Operating characteristics of the SAP: type I error, power, coverage and bias.

    Simulates the trial under a grid of scenarios (no drift, a high ICC, borough trends,
    borough x quarter and borough x phase variation, overdispersion, missing returns as
    in the partnership data), each under the null and the target effect, with allocations
    drawn from the protocol's admissible scheme space, and runs every prespecified
    analysis and inference method exactly as 'rct analyse run' does. Failed fits and
    warnings are counted, never dropped.

    A method whose type I error exceeds alpha by more than two Monte Carlo standard
    errors is flagged, and the command then exits with code 8 (after printing everything).
    Interrupt it at any time: a rerun of the same command skips the simulations already in
    the checkpoint file.
    """
    # lazy: loads pandas, numpy, scipy (start-up time)
    from analysis.sap.characteristics import characteristics
    from analysis.sap.operating import OperatingPlan, run_key, run_simulations
    from analysis.sap.results import results_json
    from analysis.sap.scenarios import default_grid
    from analysis.sap.simulate import SimulationSettings
    from rct.allocation.design import space_for_protocol
    from rct.cli.progress import progress_bar
    from rct.design_check import Checkpoint

    protocol = load_design_protocol(state, protocol_path)
    selection = _selection(protocol, analyses, methods)
    grid = default_grid(SimulationSettings(sd_between=sd_between), names=scenarios or None)
    space = space_for_protocol(protocol)
    plan = OperatingPlan.build(
        protocol,
        grid,
        space.schemes.astype("int64"),
        space.unit_ids,
        selection=selection,
        seed=seed,
    )
    key = run_key(plan)
    checkpoint = checkpoint or f"design-check-{key[:12]}.jsonl"
    store = None if no_checkpoint else Checkpoint(checkpoint, key)
    total = len(grid) * simulations
    try:
        with progress_bar(total, "Simulating trials", as_json=as_json) as advance:
            records = run_simulations(
                plan,
                simulations,
                workers=workers,
                scheduler=scheduler,
                done=store.records if store else None,
                on_record=store.append if store else None,
                progress=advance,
            )
    except KeyboardInterrupt:
        if store is not None:
            click.echo(
                f"Interrupted: {len(store.records)} finished simulations are kept in "
                f"{checkpoint}; run the same command again to resume.",
                err=True,
            )
        raise click.Abort() from None
    finally:
        if store is not None:
            store.close()
    result = characteristics(plan, records, alpha=alpha, run_key=key)
    data = {"trial": protocol.trial.id, "protocol_fingerprint": protocol.fingerprint()}
    data.update(result.to_dict())
    text = results_json(data)  # deterministic: sorted keys, 10 significant digits
    if output:
        Path(output).write_text(text, encoding="utf-8")
    if as_json:
        click.echo(text, nl=False)
    else:
        # lazy: loads pandas, numpy, scipy (start-up time)
        from rct.cli.design_view import render_check

        click.echo(render_check(result))
    if result.flagged:
        if not as_json:
            click.echo(
                f"{len({(r.analysis, r.method) for r in result.flagged})} method(s) flagged: "
                f"exit code {EXIT_ANTI_CONSERVATIVE}.",
                err=True,
            )
        raise SystemExit(EXIT_ANTI_CONSERVATIVE)


def _selection(
    protocol: Any, analyses: tuple[str, ...], methods: tuple[str, ...]
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    names = {a.name for a in protocol.analyses}
    unknown = [a for a in analyses if a not in names]
    if unknown:
        raise click.UsageError(
            f"the protocol has no analysis {', '.join(unknown)} (it has {', '.join(sorted(names))})"
        )
    out = []
    for a in protocol.analyses:
        if analyses and a.name not in analyses:
            continue
        chosen = tuple(
            m for m in a.inference if not methods or m in methods or f"{a.name}/{m}" in methods
        )
        if chosen:
            out.append((a.name, chosen))
    if not out:
        raise click.UsageError("no prespecified analysis x method matches --analysis/--method")
    return tuple(out)
