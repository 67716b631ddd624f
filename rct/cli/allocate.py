"""``rct allocate``: plan, seal, reveal, verify, show, void, export and certify the allocation."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from rct.cli.common import State, echo_json, json_option, pass_state, table

if TYPE_CHECKING:
    from rct.allocation.records import AllocationRecordView


@click.group()
def allocate() -> None:
    """Design, seal, reveal and verify the allocation of the clusters."""


def _key_values(text: str | None, what: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for part in filter(None, (text or "").split(",")):
        key, sep, value = part.partition("=")
        try:
            if not sep:
                raise ValueError
            out[key.strip()] = float(value)
        except ValueError:
            raise click.BadParameter(f"{part!r} is not NAME=NUMBER", param_hint=what) from None
    return out


def _key_texts(text: str | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in filter(None, (text or "").split(",")):
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise click.BadParameter(f"{part!r} is not NAME=CONSTRAINT", param_hint=what)
        out[key.strip()] = value.strip()
    return out


def _names(text: str | None) -> tuple[str, ...]:
    return tuple(x.strip() for x in (text or "").split(",") if x.strip())


@allocate.command("plan")
@click.option(
    "--units",
    "units_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Explore a design on a units file (CSV or .xlsx) instead of the protocol's.",
)
@click.option("--id-column", default="id", show_default=True, help="Units file: cluster id column.")
@click.option("--covariates", help="Units file: comma-separated covariate columns.")
@click.option("--categorical", help="Units file: which of the covariates are categorical.")
@click.option("--strata", help="Units file: stratum column (exact balance within strata).")
@click.option(
    "--n-intervention", type=int, help="Units file: number of clusters in the intervention arm."
)
@click.option(
    "--metric",
    type=click.Choice(["l2", "l1"]),
    default="l2",
    show_default=True,
    help="Units file: balance metric.",
)
@click.option("--weights", help="Units file: covariate weights, e.g. pop=2,rate=1.")
@click.option(
    "--cutoff-quantile", type=float, help="Units file: keep this fraction of best-balanced schemes."
)
@click.option(
    "--cutoff-schemes", type=int, help="Units file: keep this number of best-balanced schemes."
)
@click.option(
    "--max-difference",
    help="Units file: per-covariate limits on |standardised difference|, e.g. pop=0.5.",
)
@click.option(
    "--constraints",
    help="Units file: cvcrand cvrcov constraints on raw covariates, e.g. pop=mf0.2,rural=s1.",
)
@click.option(
    "--exact",
    is_flag=True,
    help="Enumerate and score every scheme even above the design's max_enumerate (C(30,15) "
    "= 155,117,520 takes under a minute), instead of sampling sample_size of them. A preview: "
    "sealing still follows the protocol's design.",
)
@json_option
@click.pass_obj
def plan(
    state: State,
    units_file: str | None,
    id_column: str,
    covariates: str | None,
    categorical: str | None,
    strata: str | None,
    n_intervention: int | None,
    metric: str,
    weights: str | None,
    cutoff_quantile: float | None,
    cutoff_schemes: int | None,
    max_difference: str | None,
    constraints: str | None,
    exact: bool,
    as_json: bool,
) -> None:
    """Show the randomisation diagnostics before anyone seals.

    Without --units: the protocol's allocation specification on its units. With --units:
    any design on any units file, to explore before writing it into the protocol.
    """
    # lazy: loads pandas, numpy (start-up time)
    from allocation import AllocationDesign, build_scheme_space, diagnose

    if units_file:
        # lazy: loads rct.units_file (start-up time)
        from rct.units_file import read_units

        if n_intervention is None:
            raise click.UsageError("--n-intervention is required with --units")
        units = read_units(Path(units_file), id_column)
        design = AllocationDesign(
            n_treated=n_intervention,
            strata=strata,
            covariates=_names(covariates),
            categorical=_names(categorical),
            metric=metric,  # type: ignore[arg-type]
            weights=_key_values(weights, "--weights"),
            cutoff_quantile=cutoff_quantile,
            cutoff_schemes=cutoff_schemes,
            max_abs_std_diff=_key_values(max_difference, "--max-difference"),
            constraints=_key_texts(constraints, "--constraints"),
        )
        source = units_file
    else:
        # lazy: loads sqlalchemy (start-up time)
        from rct.allocation.design import design_from_protocol, units_frame
        from rct.services.protocol import current_protocol

        protocol = current_protocol(state.workspace()).protocol
        units, design = units_frame(protocol), design_from_protocol(protocol)
        source = f"protocol {protocol.trial.id} ({protocol.allocation.method})"
    if exact:
        design = dataclasses.replace(design, max_enumerate=2**62)
    space = build_scheme_space(units, design)
    diag = diagnose(space, units, design)
    if as_json:
        echo_json({"source": source, **diag.to_dict()})
        return
    click.echo(f"Design: {source}\n")
    click.echo(diag.summary())


def _passphrase(confirm: bool) -> str:
    env = os.environ.get("RCT_PASSPHRASE")
    if env:
        return env
    if not sys.stdin.isatty():
        raise click.UsageError(
            "no passphrase: set RCT_PASSPHRASE or run in a terminal to be prompted"
        )
    return str(click.prompt("Envelope passphrase", hide_input=True, confirmation_prompt=confirm))


@allocate.command("seal")
@click.option(
    "--envelope",
    "envelope_path",
    type=click.Path(dir_okay=False),
    default="allocation-envelope.json",
    show_default=True,
    help="Where to write the sealed envelope (keep it with the trial master file).",
)
@json_option
@pass_state
def seal_cmd(state: State, envelope_path: str, as_json: bool) -> None:
    """Seal the allocation (statisticians; protocol locked).

    Draws the seed from the operating system, stores its commitment and the envelope (the
    seed encrypted under your passphrase: prompted, or RCT_PASSPHRASE), writes a signed
    checkpoint, and prints for publication the commitment with the audit trail's head at
    seal. Nothing readable tells the arms apart until reveal.
    """
    # lazy: loads sqlalchemy (start-up time)
    from rct.allocation.certificate import publication_text
    from rct.allocation.sealing import seal

    ws = state.workspace()
    result = seal(ws, _passphrase(confirm=True), Path(envelope_path))
    checkpoint = ws.last_checkpoint
    if as_json:
        echo_json(
            {
                "allocation": result.id,
                "commitment": result.commitment,
                "head_seq": result.head_seq,
                "head": result.head,
                "checkpoint": str(checkpoint.path) if checkpoint and checkpoint.path else None,
                "envelope": str(result.envelope_path),
                "admissible": result.admissible,
                "replaces": result.replaces_id,
            }
        )
        return
    if result.replaces_id:
        click.echo(f"RE-SEAL after void of allocation #{result.replaces_id}.")
    click.echo(f"Sealed allocation #{result.id} over {result.admissible} admissible schemes.")
    click.echo(f"Envelope written to {result.envelope_path}")
    click.echo(publication_text(result, checkpoint))


@allocate.command("reveal")
@json_option
@pass_state
def reveal_cmd(state: State, as_json: bool) -> None:
    """Open the envelope (passphrase prompted, or RCT_PASSPHRASE), check and record the allocation."""
    # lazy: loads sqlalchemy (start-up time)
    from rct.allocation.sealing import certificate, reveal

    ws = state.workspace()
    row = reveal(ws, _passphrase(confirm=False))
    cert = certificate(ws)
    if as_json:
        echo_json(cert.to_dict())
        return
    click.echo(f"Revealed allocation #{row.id} (scheme #{row.scheme_index}); commitment checked.")
    _print_arms(cert.record.arms or {})


def _print_arms(arms: Mapping[str, str]) -> None:
    click.echo(
        table(
            [[u, a] for u, a in sorted(arms.items(), key=lambda x: (x[1], x[0]))], ["unit", "arm"]
        )
    )


@allocate.command("verify")
@click.option(
    "--explain",
    is_flag=True,
    help="Also print every intermediate value (units object, fingerprints, scores, cutoff, "
    "admissible schemes, draw) in the order of the worked example in docs/randomness.md.",
)
@json_option
@pass_state
def verify_cmd(state: State, explain: bool, as_json: bool) -> None:
    """Recompute the allocation from the revealed seed and locked protocol: PASS or FAIL."""
    # lazy: loads sqlalchemy (start-up time)
    from rct.allocation.sealing import verify_current

    checks, record = verify_current(state.workspace())
    ok = all(c.ok for c in checks)
    steps = _explain(record) if explain else None
    if as_json:
        echo_json(
            {
                "allocation": record.allocation,
                "ok": ok,
                "checks": [c.to_dict() for c in checks],
                **({"explain": [s.to_dict() for s in steps]} if steps is not None else {}),
            }
        )
    else:
        if steps is not None:
            # lazy: loads numpy (start-up time)
            from allocation.explain import render_steps

            click.echo("Intermediate values (docs/randomness.md, worked example order)")
            click.echo(render_steps(steps) + "\n")
        for c in checks:
            click.echo(f"{'PASS' if c.ok else 'FAIL'}  {c.name}: {c.detail}")
        click.echo(f"\n{'PASS' if ok else 'FAIL'}: allocation #{record.allocation}")
    if not ok:
        raise SystemExit(8)


def _explain(record: AllocationRecordView) -> list[Any]:
    # lazy: loads rct.allocation.verify (start-up time)
    from rct.allocation.verify import explain_certificate

    return explain_certificate(record)


@allocate.command("show")
@json_option
@pass_state
def show_cmd(state: State, as_json: bool) -> None:
    """Show the live allocation: status, commitment and, once revealed, the arms."""
    # lazy: loads sqlalchemy (start-up time)
    from rct.allocation.sealing import certificate

    cert = certificate(state.workspace())
    if as_json:
        echo_json(cert.to_dict())
        return
    r = cert.record
    click.echo(
        f"Allocation #{r.allocation}: {r.status.upper()}"
        + (f" (re-seal after void of #{r.replaces})" if r.replaces else "")
    )
    click.echo(f"  sealed by {r.sealed_by} at {r.sealed_at}")
    click.echo(f"  commitment {r.commitment}")
    if r.status == "void":
        click.echo(f"  voided by {r.voided_by} at {r.voided_at}: {r.void_reason}")
    if r.arms:
        click.echo(f"  revealed by {r.revealed_by} at {r.revealed_at}\n")
        _print_arms(r.arms)
    else:
        click.echo("  arms: concealed until reveal")


@allocate.command("export")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    required=True,
    help="CSV file for the allocation list.",
)
@pass_state
def export_cmd(state: State, output: str) -> None:
    """Write the revealed allocation list (unit, name, GSS code, arm) as CSV."""
    # lazy: loads sqlalchemy (start-up time)
    from rct.services.allocation import export_allocation_list

    n = export_allocation_list(state.workspace(), output)
    click.echo(f"Wrote {n} units to {output}")


@allocate.command("certificate")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the certificate (Markdown, or JSON if the name ends .json).",
)
@pass_state
def certificate_cmd(state: State, output: str | None) -> None:
    """The allocation certificate for the trial master file: commitment, versions, fingerprints, times, actors."""
    # lazy: loads sqlalchemy (start-up time)
    from rct.allocation.certificate import render_certificate
    from rct.allocation.sealing import certificate, verify_current

    ws = state.workspace()
    cert = certificate(ws)
    checks = verify_current(ws)[0] if cert.record.seed else []
    text = (
        json.dumps(
            {**cert.to_dict(), "verification": [c.to_dict() for c in checks]},
            indent=2,
            sort_keys=True,
        )
        if output and output.endswith(".json")
        else render_certificate(cert, checks)
    )
    if output:
        Path(output).write_text(text + "\n", encoding="utf-8")
        click.echo(f"Wrote the allocation certificate to {output}")
    else:
        click.echo(text)


@allocate.command("void")
@click.option("--reason", required=True, help="Why the live allocation is voided (recorded).")
@pass_state
def void_cmd(state: State, reason: str) -> None:
    """Void the live allocation (statisticians); the record is kept and a new seal is marked as such."""
    # lazy: loads sqlalchemy (start-up time)
    from rct.allocation.sealing import void

    row = void(state.workspace(), reason)
    click.echo(f"Voided allocation #{row.id}: {reason}")
