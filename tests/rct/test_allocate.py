"""Sealed allocation workflow: seal, conceal, reveal, verify, void; one live allocation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from protocols import Protocol, load_protocol, shipped_protocol_path
from rct.allocation import sealing
from rct.allocation.verify import Check, verify_allocation
from rct.audit import event_record, iter_events
from rct.errors import InputError, PermissionDenied, ProtocolStateError
from rct.workspace import Workspace
from tests.rct.helpers import raw_connection, run_cli

WS = Callable[[str], Workspace]
PASS = "correct horse battery staple"


def seal(ws: Workspace, tmp_path: Path, name: str = "env.json") -> sealing.SealResult:
    return sealing.seal(ws, PASS, tmp_path / name)


def everything_readable(url: str, tmp_path: Path) -> str:
    """Every table's rows and every exported file, as one text to search."""
    parts = []
    with raw_connection(url) as conn:
        for table in ("allocations", "audit_events", "protocol_versions", "users"):
            parts += [
                json.dumps([str(v) for v in row])
                for row in conn.execute(text(f"SELECT * FROM {table}"))
            ]
    parts += [p.read_text() for p in tmp_path.glob("*.json")]
    return "\n".join(parts)


def test_seal_needs_a_statistician(workspace_as: WS, tmp_path: Path) -> None:
    with pytest.raises(PermissionDenied) as refused:
        seal(workspace_as("ann"), tmp_path)
    assert refused.value.code == "role-not-permitted"
    assert not (tmp_path / "env.json").exists()


def test_nothing_distinguishes_the_arms_before_reveal(
    workspace_as: WS, trial_url: str, tmp_path: Path
) -> None:
    ws = workspace_as("sam")
    result = seal(ws, tmp_path)
    before = everything_readable(trial_url, tmp_path)
    row = sealing.reveal(ws, PASS)
    assert row.seed_hex and row.seed_hex not in before
    squeezed = before.replace(" ", "")
    for unit, arm in json.loads(row.arms or "{}").items():
        assert f'"{unit}":"{arm}"' not in squeezed and f'\\"{unit}\\":\\"{arm}\\"' not in squeezed
    with ws.session() as s:
        seal_events = [event_record(e) for e in iter_events(s) if e.action == "allocation.seal"]
    assert (
        seal_events
        and "arms" not in seal_events[0]["payload"]
        and "seed" not in seal_events[0]["payload"]
    )
    assert result.commitment == row.commitment


def test_reveal_recomputes_the_allocation_and_verify_passes(
    workspace_as: WS, tmp_path: Path
) -> None:
    ws = workspace_as("sam")
    seal(ws, tmp_path)
    row = sealing.reveal(ws, PASS)
    arms = json.loads(row.arms or "{}")
    assert sorted(arms.values()).count("intervention") == 3 and len(arms) == 7
    checks = _verify(ws)
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]


def _verify(
    ws: Workspace,
    cert_change: Callable[[dict[str, Any]], None] | None = None,
    protocol: Protocol | None = None,
) -> list[Check]:
    with ws.session() as s:
        row = sealing.live(s)
        assert row is not None
        cert = sealing.record_dict(row)
        events = [event_record(e) for e in iter_events(s)]
    if cert_change:
        cert_change(cert)
    return verify_allocation(cert, protocol or load_protocol(shipped_protocol_path()), events)


def test_wrong_passphrase_is_refused_and_recorded(workspace_as: WS, tmp_path: Path) -> None:
    ws = workspace_as("sam")
    seal(ws, tmp_path)
    with pytest.raises(InputError, match="does not open"):
        sealing.reveal(ws, "not the passphrase at all")
    with ws.session() as s:
        assert sealing.live(s).status == "sealed"  # type: ignore[union-attr]
        assert [e.action for e in iter_events(s)][-1] == "allocation.reveal-failed"


@pytest.mark.parametrize("what", ["seed", "arms", "commitment", "units", "protocol"])
def test_any_change_makes_verification_fail(workspace_as: WS, tmp_path: Path, what: str) -> None:
    ws = workspace_as("sam")
    seal(ws, tmp_path)
    sealing.reveal(ws, PASS)
    protocol = None

    def change(cert: dict[str, Any]) -> None:
        if what == "seed":
            cert["seed"] = ("0" if cert["seed"][0] != "0" else "1") + cert["seed"][1:]
        elif what == "arms":
            a = cert["arms"]
            i, c = (
                next(u for u in a if a[u] == "intervention"),
                next(u for u in a if a[u] == "control"),
            )
            a[i], a[c] = "control", "intervention"
        elif what == "commitment":
            cert["commitment"] = "0" * 64

    if what in ("units", "protocol"):
        text_ = shipped_protocol_path().read_text()
        text_ = (
            text_.replace("child_population = 43000", "child_population = 43001")
            if what == "units"
            else text_.replace('version = "0.1-illustrative"', 'version = "0.1b"')
        )
        from protocols import loads_protocol

        protocol = loads_protocol(text_)
    failed = [c.name for c in _verify(ws, change, protocol) if not c.ok]
    assert failed, f"changing {what} went unnoticed"


def test_one_live_allocation_and_reseal_after_void_is_marked(
    workspace_as: WS, tmp_path: Path
) -> None:
    ws = workspace_as("sam")
    first = seal(ws, tmp_path, "a.json")
    with pytest.raises(sealing.AllocationStateError, match="one live allocation"):
        seal(ws, tmp_path, "b.json")
    assert not (tmp_path / "b.json").exists()
    with pytest.raises(InputError):
        sealing.void(ws, "  ")
    sealing.void(ws, "sealed before the final unit table was agreed")
    second = seal(ws, tmp_path, "c.json")
    assert second.replaces_id == first.id
    with ws.session() as s:
        assert sealing.record_dict(sealing.live(s))["replaces"] == first.id  # type: ignore[arg-type]


def test_amendment_may_not_change_units_once_sealed(workspace_as: WS, tmp_path: Path) -> None:
    from protocols import loads_protocol
    from rct import protocols as store

    ws = workspace_as("sam")
    seal(ws, tmp_path)
    changed = loads_protocol(
        shipped_protocol_path()
        .read_text()
        .replace("child_population = 43000", "child_population = 44000")
    )
    with pytest.raises(ProtocolStateError) as refused:
        store.amend(ws, changed, "p2.toml", "new population estimates")
    assert refused.value.code == "allocation-fixed"
    harmless = loads_protocol(
        shipped_protocol_path()
        .read_text()
        .replace("submission_deadline_days = 45", "submission_deadline_days = 50")
    )
    assert store.amend(ws, harmless, "p3.toml", "deadline").version == 2


SEALER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from rct.allocation import sealing
    from rct.workspace import Workspace
    url, out, go = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    ws = Workspace(url, "sam")
    while not go.exists():
        pass
    try:
        sealing.seal(ws, "correct horse battery staple", out)
        print("SEALED")
    except sealing.AllocationStateError as exc:
        print("REFUSED", exc)
""")


@pytest.mark.slow
def test_two_statisticians_sealing_at_once_cannot_both_succeed(
    trial_url: str, tmp_path: Path
) -> None:
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SEALER, trial_url, str(tmp_path / f"e{i}.json"), str(go)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    import time

    time.sleep(2.0)
    go.touch()
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    results = [o[0].split()[0] for o in outs]
    assert results.count("SEALED") == 1 and results.count("REFUSED") == 2
    assert len(list(tmp_path.glob("e*.json"))) == 1


def test_cli_round_trip_with_env_passphrase(
    trial_url: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RCT_PASSPHRASE", PASS)
    db = ["--db", trial_url, "--as", "sam"]
    plan = run_cli(capsys, *db, "allocate", "plan", "--json")
    assert plan.code == 0, plan.err
    data = json.loads(plan.out)
    assert (data["total"], data["admissible"]) == (35, 26)
    assert data["min_p_value"] == pytest.approx(1 / 26)
    r = run_cli(capsys, *db, "allocate", "seal", "--envelope", str(tmp_path / "env.json"), "--json")
    assert r.code == 0, r.err
    shown = json.loads(run_cli(capsys, *db, "allocate", "show", "--json").out)
    assert shown["arms"] is None and shown["seed"] is None
    assert run_cli(capsys, *db, "allocate", "export", "-o", str(tmp_path / "x.csv")).code == 6
    assert run_cli(capsys, *db, "allocate", "reveal").code == 0
    v = run_cli(capsys, *db, "allocate", "verify", "--json")
    assert v.code == 0 and json.loads(v.out)["ok"]
    assert run_cli(capsys, *db, "allocate", "export", "-o", str(tmp_path / "list.csv")).code == 0
    assert len((tmp_path / "list.csv").read_text().splitlines()) == 8
    cert = run_cli(capsys, *db, "allocate", "certificate", "-o", str(tmp_path / "cert.md"))
    assert cert.code == 0 and "PASS allocation" in (tmp_path / "cert.md").read_text()


def test_plan_on_a_units_file_warns_when_over_constrained(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    f = tmp_path / "units.csv"
    f.write_text(
        "borough;pop;rate\n"
        + "\n".join(f"b{i};{1000 + 37 * i * i};{(i * 7) % 5}" for i in range(7))
    )
    r = run_cli(
        capsys,
        "allocate",
        "plan",
        "--units",
        str(f),
        "--id-column",
        "borough",
        "--covariates",
        "pop,rate",
        "--n-intervention",
        "3",
        "--cutoff-schemes",
        "10",
        "--json",
    )
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["admissible"] == 10 and data["min_p_value"] == pytest.approx(0.1)
    assert "space-too-small" in {w["code"] for w in data["warnings"]}


def test_plan_units_file_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    f = tmp_path / "units.csv"
    f.write_text("id,pop\na,1\nb,2\n")
    r = run_cli(
        capsys,
        "allocate",
        "plan",
        "--units",
        str(f),
        "--id-column",
        "borough",
        "--n-intervention",
        "1",
    )
    assert r.code == 2 and "no column 'borough'" in r.err and "Traceback" not in r.err


def test_export_fills_the_arm_column_only_after_reveal(workspace_as: WS, tmp_path: Path) -> None:
    from rct.capture.dataset import export_trial

    ws = workspace_as("sam")
    seal(ws, tmp_path)
    before = export_trial(ws, tmp_path / "before", ["csv"])
    assert json.loads(Path(before.manifest).read_text())["arms_revealed"] is False
    sealing.reveal(ws, PASS)
    after = export_trial(ws, tmp_path / "after", ["csv"])
    lines = (tmp_path / "after" / "analysis_dataset.csv").read_text().splitlines()
    header = lines[0].split(",")
    arms = {line.split(",")[header.index("arm")] for line in lines[1:]}
    assert arms == {"intervention", "control"}
    assert before.snapshot_hash != after.snapshot_hash


def test_plan_on_a_units_file_applies_cvrcov_constraints(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    f = tmp_path / "units.csv"
    f.write_text("id,pop,rural\na,100,1\nb,220,0\nc,130,1\nd,400,0\ne,90,1\nf,310,0\ng,150,1\n")
    base = [
        "allocate",
        "plan",
        "--units",
        str(f),
        "--covariates",
        "pop,rural",
        "--n-intervention",
        "3",
        "--json",
    ]
    free = json.loads(run_cli(capsys, *base).out)
    constrained = json.loads(run_cli(capsys, *base, "--constraints", "pop=mf0.3,rural=s1").out)
    assert free["admissible"] == 35 and 0 < constrained["admissible"] < 35
    bad = run_cli(capsys, *base, "--constraints", "pop")
    assert bad.code == 2 and "NAME=CONSTRAINT" in bad.err


def test_plan_exact_enumerates_a_space_above_max_enumerate(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    f = tmp_path / "units.csv"
    f.write_text(
        "id,pop,rate\n"
        + "\n".join(f"u{i:02d},{1000 + 37 * i * i},{(i * 7) % 5}" for i in range(26))
    )
    base = ["allocate", "plan", "--units", str(f), "--covariates", "pop,rate"]
    base += ["--n-intervention", "13", "--cutoff-schemes", "1000", "--json"]
    sampled = json.loads(run_cli(capsys, *base).out)
    exact = run_cli(capsys, *base, "--exact")
    assert exact.code == 0, exact.err
    full = json.loads(exact.out)
    assert sampled["sampled"] and sampled["evaluated"] == 50_000
    assert not full["sampled"] and full["evaluated"] == full["total"] == 10_400_600
    assert full["admissible"] == 1000
    # the best of every scheme is at least as good as the best of a sample
    assert full["score_summary"]["min"] <= sampled["score_summary"]["min"]
