"""``rct design``: questions to ask before the trial starts (simulation-based power)."""

from __future__ import annotations

import click

from rct.cli.common import State, echo_json, json_option, pass_state


@click.group()
def design() -> None:
    """Design questions before the trial starts: simulation-based power."""


@design.command("power")
@click.option(
    "--protocol",
    "protocol_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Use this protocol file instead of the trial database's protocol.",
)
@click.option("--analysis", help="Analysis name (default: the primary analysis).")
@click.option("--method", help="Inference method (default: the analysis' first prespecified one).")
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
@click.option(
    "--alpha",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.05,
    show_default=True,
    help="Two-sided significance level.",
)
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
    from analysis.sap.power import power_simulation
    from protocols import load_protocol
    from rct.allocation_design import space_for_protocol
    from rct.cli.progress import progress_bar

    if sum(x is not None for x in (icc, cv, sd_between)) > 1:
        raise click.UsageError("give at most one of --icc, --cv and --sd-between")
    if protocol_path:
        protocol = load_protocol(protocol_path)
    else:
        from rct import protocols as store

        ws = state.workspace()
        with ws.session() as s:
            ws.read_as(s)
            protocol = store.current(s).protocol
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
