"""``rct bundle export`` and ``rct reproduce``: the evaluator's independent check."""

from __future__ import annotations

from pathlib import Path

import click

from rct.cli.common import State, echo_json, json_option, pass_state


@click.group()
def bundle() -> None:
    """Reproduction bundles for evaluators."""


@bundle.command("export")
@click.argument("directory", type=click.Path(file_okay=False))
@json_option
@pass_state
def export_cmd(state: State, directory: str, as_json: bool) -> None:
    """Write a reproduction bundle to DIRECTORY (new): protocol, allocation, audit, data, results."""
    # lazy: loads sqlalchemy, cryptography (start-up time)
    from rct.cli.progress import progress_bar
    from rct.evaluation.bundle import EXPORT_STEPS, export_bundle

    with progress_bar(EXPORT_STEPS, "Writing the bundle", as_json=as_json) as advance:
        result = export_bundle(state.workspace(), Path(directory), progress=advance)
    if as_json:
        echo_json(
            {
                "directory": str(result.directory),
                "files": result.files,
                "snapshot_hash": result.snapshot_hash,
                "revealed": result.revealed,
            }
        )
        return
    click.echo(
        f"Wrote bundle {result.directory} ({len(result.files)} files, snapshot "
        f"{result.snapshot_hash[:16]}...)"
        + ("" if result.revealed else "; allocation not yet revealed")
    )


@click.command("reproduce")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--tolerance",
    type=float,
    default=1e-6,
    show_default=True,
    help="Relative tolerance for recomputed numbers when the results JSON is not byte-identical.",
)
@click.option(
    "--explain",
    is_flag=True,
    help="Also print every intermediate value of the allocation, recomputed from the bundle's "
    "certificate alone, in the order of the worked example in docs/randomness.md.",
)
@click.option(
    "--checkpoint",
    "checkpoints",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="A checkpoint the trial published (registry, e-mail): the bundle must hold it.",
)
@click.option(
    "--commitment", default=None, help="The allocation commitment published at seal time."
)
@click.option(
    "--genesis",
    default=None,
    metavar="FINGERPRINT",
    help="The first admin's key fingerprint from the trial master file.",
)
@json_option
def reproduce_cmd(
    directory: str,
    tolerance: float,
    explain: bool,
    checkpoints: tuple[str, ...],
    commitment: str | None,
    genesis: str | None,
    as_json: bool,
) -> None:
    """Check a bundle independently: PASS or FAIL per item; exit 0 only if all pass.

    Needs no trial database: everything is recomputed from the bundle's files. Give what
    you hold from outside the bundle (--checkpoint, --commitment, --genesis): without it a
    bundle can only show that its files agree with each other.
    """
    # lazy: loads sqlalchemy, cryptography (start-up time)
    from rct.checkpoints import load_checkpoint
    from rct.cli.progress import progress_bar
    from rct.evaluation.bundle_trust import Anchors
    from rct.evaluation.reproduce import CONCEALED, reproduce, steps, verdict

    anchors = Anchors(tuple(load_checkpoint(Path(c)) for c in checkpoints), commitment, genesis)
    with progress_bar(steps(Path(directory)), "Checking the bundle", as_json=as_json) as advance:
        checks = reproduce(Path(directory), tolerance=tolerance, anchors=anchors, progress=advance)
    ok, summary = verdict(checks)
    explained = None
    if explain:
        # lazy: loads rct.allocation.verify (start-up time)
        from rct.allocation.verify import explain_bundle

        explained = explain_bundle(Path(directory))
    if as_json:
        extra = {"explain": [s.to_dict() for s in explained]} if explained is not None else {}
        echo_json(
            {
                "ok": ok,
                "arms_concealed": ok and any(c.name == CONCEALED for c in checks),
                "verdict": summary,
                "checks": [c.to_dict() for c in checks],
                **extra,
            }
        )
    else:
        if explained is not None:
            # lazy: loads numpy (start-up time)
            from allocation.explain import render_steps

            click.echo("Allocation, step by step (docs/randomness.md, worked example order)")
            click.echo(render_steps(explained) + "\n")
        for c in checks:
            click.echo(f"{'PASS' if c.ok else 'FAIL'}  {c.name}: {c.detail}")
        if not anchors:
            click.echo(
                "Note: no --checkpoint, --commitment or --genesis given: this shows the bundle "
                "agrees with itself, not that it is the trial's own record."
            )
        click.echo(f"\n{summary}")
    if not ok:
        raise SystemExit(8)
