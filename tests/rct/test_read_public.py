"""Read-only commands for anyone who can open the trial, and a demo that says who it made.

Completeness, allocation and audit verification, the protocol and the arms-free report are
public within the trial: an unregistered name reads them; it still may not change anything.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.rct.helpers import run_cli
from tests.rct.trial_helpers import populated_trial


@pytest.fixture
def revealed_trial(trial_url: str, tmp_path: Path) -> str:
    populated_trial(trial_url, reveal=True, tmp_dir=tmp_path)
    return trial_url


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["completeness"], "Completeness as of"),
        (["allocate", "verify"], "PASS: allocation"),
        (["audit", "verify"], "Audit chain intact"),
        (["protocol", "show"], "safe-and-together-london-rct"),
    ],
    ids=["completeness", "allocate verify", "audit verify", "protocol show"],
)
def test_an_unregistered_reader_runs_the_public_read_only_commands(
    revealed_trial: str, capsys: pytest.CaptureFixture[str], args: list[str], says: str
) -> None:
    run = run_cli(capsys, "--db", revealed_trial, "--as", "outsider", *args)
    assert run.code == 0, run.err
    assert says in run.out


def test_an_unregistered_reader_gets_the_arms_free_report_only(revealed_trial: str) -> None:
    from rct.report.gather import gather_report
    from rct.workspace import Workspace

    outsider = Workspace(revealed_trial, "outsider")
    statistician = Workspace(revealed_trial, "sam")
    try:
        public = gather_report(outsider)
        full = gather_report(statistician)
    finally:
        outsider.close()
        statistician.close()
    assert full.arms and public.arms is None
    assert public.allocation is not None and "seed" not in public.allocation
    assert "arms" not in public.allocation and public.effects == [] and public.baseline is None
    assert public.completeness_totals == full.completeness_totals


def test_an_unregistered_name_still_may_not_change_anything(
    trial_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_cli(
        capsys, "--db", trial_url, "--as", "outsider", "user", "add", "x", "--role", "evaluator"
    )
    assert run.code == 5 and "not registered" in run.err


def test_demo_prints_its_seed_and_the_users_it_made(tmp_path: Path) -> None:
    from rct.demo import STEPS, DemoContext, echo_users

    ctx = DemoContext(tmp_path, seed=7)
    STEPS[0][1](ctx)
    lines: list[str] = []
    echo_users(ctx, lines.append)
    text = "\n".join(lines)
    for name, role in (
        ("demo-admin", "admin"),
        ("demo-statistician", "statistician"),
        ("demo-evaluator", "evaluator"),
        ("dm-camden", "data-manager (camden)"),
    ):
        assert any(line.split() and line.split()[0] == name and role in line for line in lines), (
            name,
            text,
        )
    assert f"--db sqlite:///{tmp_path / 'rct.db'} --as demo-evaluator" in text


def test_any_registered_demo_user_lists_the_users(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rct.demo import STEPS, DemoContext

    STEPS[0][1](DemoContext(tmp_path))
    url = f"sqlite:///{tmp_path / 'rct.db'}"
    for user in ("demo-evaluator", "dm-camden"):
        run = run_cli(capsys, "--db", url, "--as", user, "user", "list")
        assert run.code == 0, run.err
        assert "demo-statistician" in run.out


def _allocate(directory: Path, seed: int) -> tuple[str, dict[str, str]]:
    from rct.demo import STEPS, DemoContext

    directory.mkdir()
    ctx = DemoContext(directory, seed=seed)
    steps = dict(STEPS)
    for name in ("init and lock protocol", "baseline returns", "seal allocation"):
        steps[name](ctx)
    steps["reveal allocation"](ctx)
    commitment = (directory / "allocation-envelope.json").read_text()
    return commitment, ctx.facts["arms"]


def test_the_same_demo_seed_gives_the_same_allocation(tmp_path: Path) -> None:
    import json

    one, arms_one = _allocate(tmp_path / "a", 11)
    two, arms_two = _allocate(tmp_path / "b", 11)
    three, _ = _allocate(tmp_path / "c", 12)
    com = [json.loads(x)["commitment"] for x in (one, two, three)]
    assert com[0] == com[1] and arms_one == arms_two
    assert com[2] != com[0]


def test_demo_takes_and_prints_a_seed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import rct.demo

    assert "--seed" in run_cli(capsys, "demo", "--help").out
    monkeypatch.setattr(rct.demo, "STEPS", [])  # the seed is printed before any step runs
    run = run_cli(capsys, "demo", str(tmp_path / "d"), "--seed", "5")
    assert run.code == 0, run.err
    assert run.out.startswith("Demo seed 5: 'rct demo --seed 5' gives the same")
