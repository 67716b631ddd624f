"""Evaluator bundles reproduce independently; any tampering is caught and named."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from rct.evaluation.bundle import export_bundle
from rct.evaluation.reproduce import reproduce
from rct.workspace import Workspace
from tests.rct.helpers import run_cli
from tests.rct.trial_helpers import populated_trial


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One revealed SQLite trial with data, exported once for the tampering tests."""
    from protocols import load_protocol, shipped_protocol_path
    from rct import protocols as store
    from rct.initialise import initialise
    from rct.users import add_user

    root = tmp_path_factory.mktemp("trial")
    url = f"sqlite:///{root / 'rct.db'}"
    path = shipped_protocol_path()
    initialise(url, "ann", load_protocol(path), str(path))
    ws = Workspace(url, "ann")
    add_user(ws, "sam", "statistician")
    add_user(ws, "eve", "evaluator")
    ws.close()
    ws = Workspace(url, "sam")
    store.lock(ws)
    ws.close()
    populated_trial(url, tmp_dir=root)
    ws = Workspace(url, "eve")
    out = root / "bundle"
    export_bundle(ws, out)
    ws.close()
    return out


def failures(directory: Path) -> list[str]:
    return [f"{c.name}: {c.detail}" for c in reproduce(directory) if not c.ok]


def copy(bundle: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(bundle, target)
    return target


def test_bundle_reproduces_in_a_fresh_directory(bundle_dir: Path, tmp_path: Path) -> None:
    assert failures(copy(bundle_dir, tmp_path)) == []


def test_bundle_export_works_on_both_backends(trial_url: str, tmp_path: Path) -> None:
    populated_trial(trial_url, tmp_dir=tmp_path)
    ws = Workspace(trial_url, "sam")
    result = export_bundle(ws, tmp_path / "b")
    ws.close()
    assert result.revealed and failures(tmp_path / "b") == []


def test_bundle_before_reveal_carries_no_arms(trial_url: str, tmp_path: Path) -> None:
    populated_trial(trial_url, reveal=False, tmp_dir=tmp_path)
    ws = Workspace(trial_url, "sam")
    export_bundle(ws, tmp_path / "b")
    ws.close()
    cert = json.loads((tmp_path / "b" / "allocation" / "certificate.json").read_text())
    assert cert["seed"] is None and cert["arms"] is None
    rows = json.loads((tmp_path / "b" / "data" / "analysis_dataset.json").read_text())
    assert {r["arm"] for r in rows} == {""}


def test_data_managers_cannot_export_a_bundle(
    workspace_as: Callable[[str], Workspace], tmp_path: Path
) -> None:
    from rct.errors import PermissionDenied
    from rct.users import add_user

    add_user(workspace_as("ann"), "dee", "data-manager", "camden")
    with pytest.raises(PermissionDenied) as refused:
        export_bundle(workspace_as("dee"), tmp_path / "b")
    assert refused.value.code == "wrong-borough"
    assert not (tmp_path / "b").exists()


def _files(bundle: Path) -> list[str]:
    return sorted(str(p.relative_to(bundle)) for p in bundle.rglob("*") if p.is_file())


@pytest.mark.parametrize("position", ["start", "middle", "end"])
def test_changing_any_byte_of_any_file_fails_and_names_it(
    bundle_dir: Path, tmp_path: Path, position: str
) -> None:
    for name in _files(bundle_dir):
        target = tmp_path / f"{name.replace('/', '_')}-{position}"
        shutil.copytree(bundle_dir, target)
        path = target / name
        data = bytearray(path.read_bytes())
        i = {"start": 0, "middle": len(data) // 2, "end": len(data) - 2}[position]
        data[i] = (data[i] + 1) % 256
        path.write_bytes(bytes(data))
        found = failures(target)
        assert found, f"changing byte {i} of {name} went unnoticed"
        assert any(name in f or (name == "manifest.json" and "manifest" in f) for f in found), found


def test_removing_a_file_fails_and_names_it(bundle_dir: Path, tmp_path: Path) -> None:
    for name in _files(bundle_dir):
        target = tmp_path / name.replace("/", "_")
        shutil.copytree(bundle_dir, target)
        (target / name).unlink()
        found = failures(target)
        assert found and any(name in f or "manifest" in f for f in found), (name, found)


def test_reordered_audit_events_fail_even_with_a_forged_manifest(
    bundle_dir: Path, tmp_path: Path
) -> None:
    from rct.evaluation.bundle import sha256_file

    target = copy(bundle_dir, tmp_path)
    audit = target / "audit" / "audit.jsonl"
    lines = audit.read_text().splitlines()
    lines[2], lines[3] = lines[3], lines[2]
    audit.write_text("\n".join(lines) + "\n")
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["files"]["audit/audit.jsonl"] = sha256_file(audit)  # a careful forger
    (target / "manifest.json").write_text(json.dumps(manifest))
    found = failures(target)
    assert any(f.startswith("audit chain: broken at event 3") for f in found), found


def test_forged_dataset_with_forged_manifest_is_caught_by_the_audit_trail(
    bundle_dir: Path, tmp_path: Path
) -> None:
    from rct.evaluation.bundle import sha256_file

    target = copy(bundle_dir, tmp_path)
    path = target / "data" / "analysis_dataset.json"
    rows = json.loads(path.read_text())
    row = next(r for r in rows if r["value"] is not None)
    row["value"] += 1
    path.write_text(json.dumps(rows))
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["files"]["data/analysis_dataset.json"] = sha256_file(path)
    (target / "manifest.json").write_text(json.dumps(manifest))
    assert any(f.startswith("data snapshot") for f in failures(target))


def test_reproduce_cli_exit_codes(
    bundle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = copy(bundle_dir, tmp_path)
    ok = run_cli(capsys, "reproduce", str(target))
    assert ok.code == 0 and ok.out.strip().endswith("checks passed")
    (target / "README.md").write_text("changed")
    bad = run_cli(capsys, "reproduce", str(target), "--json")
    assert bad.code == 8 and not json.loads(bad.out)["ok"]
    missing = run_cli(capsys, "reproduce", str(tmp_path / "nowhere"))
    assert missing.code == 2


def _forge(target: Path, name: str) -> None:
    """Recompute ``name``'s manifest line, as a careful forger would."""
    from rct.evaluation.bundle import sha256_file

    manifest = json.loads((target / "manifest.json").read_text())
    manifest["files"][name] = sha256_file(target / name)
    (target / "manifest.json").write_text(json.dumps(manifest))


def test_changed_csv_with_a_recomputed_manifest_line_fails_precisely(
    bundle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = copy(bundle_dir, tmp_path)
    path = target / "data" / "analysis_dataset.csv"
    lines = path.read_text().splitlines(keepends=True)
    header = lines[0].rstrip("\n").split(",")
    col = header.index("value")
    n, cells = next(
        (n, line.rstrip("\n").split(","))
        for n, line in enumerate(lines)
        if n and line.split(",")[col]
    )
    cells[col] = str(int(cells[col]) + 1)
    lines[n] = ",".join(cells) + "\n"
    path.write_text("".join(lines))
    _forge(target, "data/analysis_dataset.csv")
    found = failures(target)
    assert found == [
        f"data snapshot: CSV copy: data/analysis_dataset.csv differs from the rows with the "
        f"audited snapshot {json.loads((target / 'manifest.json').read_text())['snapshot_hash'][:16]}"
        f"...: line {n + 1} ({cells[0]} {cells[3]} {cells[5]}), column value: "
        f"'{cells[col]}' where the snapshot's rows give '{int(cells[col]) - 1}'"
    ], found
    r = run_cli(capsys, "reproduce", str(target))
    assert r.code == 8 and "FAIL  data snapshot: CSV copy" in r.out


def test_csv_with_a_dropped_row_fails_even_with_a_forged_manifest(
    bundle_dir: Path, tmp_path: Path
) -> None:
    target = copy(bundle_dir, tmp_path)
    path = target / "data" / "analysis_dataset.csv"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]))
    _forge(target, "data/analysis_dataset.csv")
    found = failures(target)
    assert len(found) == 1 and found[0].startswith("data snapshot: CSV copy"), found
    assert f"{len(lines) - 2} data rows where the snapshot has {len(lines) - 1}" in found[0]


def test_both_copies_of_the_dataset_are_checked_on_an_intact_bundle(bundle_dir: Path) -> None:
    names = [c.name for c in reproduce(bundle_dir) if c.ok]
    assert "data snapshot" in names and "data snapshot: CSV copy" in names


def test_pre_reveal_bundle_reproduces_as_pass_with_arms_concealed(
    trial_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    populated_trial(trial_url, reveal=False, tmp_dir=tmp_path)
    ws = Workspace(trial_url, "sam")
    export_bundle(ws, tmp_path / "b")
    ws.close()
    r = run_cli(capsys, "reproduce", str(tmp_path / "b"))
    assert r.code == 0, r.out
    last = r.out.strip().splitlines()[-1]
    assert last.startswith("PASS (arms concealed): ") and "made before reveal, so skipped" in last
    assert "need the seed" in last and "need the arms" in last and "FAIL" not in r.out
    assert "PASS  allocation: arms concealed: allocation #1 is sealed" in r.out
    data = json.loads(run_cli(capsys, "reproduce", str(tmp_path / "b"), "--json").out)
    assert data["ok"] and data["arms_concealed"]


def test_a_revealed_bundle_with_its_seed_stripped_fails(bundle_dir: Path, tmp_path: Path) -> None:
    target = copy(bundle_dir, tmp_path)
    path = target / "allocation" / "certificate.json"
    cert = json.loads(path.read_text())
    cert["seed"] = cert["arms"] = None
    path.write_text(json.dumps(cert))
    _forge(target, "allocation/certificate.json")
    found = [f for f in failures(target) if f.startswith("allocation: arms concealed")]
    assert found and "the audit trail records a reveal of this allocation" in found[0], found
    assert "the manifest says the allocation was revealed" in found[0]


def test_reproduce_and_export_report_progress_step_by_step(
    bundle_dir: Path, trial_url: str, tmp_path: Path
) -> None:
    from rct.evaluation.bundle import EXPORT_STEPS
    from rct.evaluation.reproduce import steps

    ticks: list[int] = []
    reproduce(bundle_dir, progress=ticks.append)
    assert ticks == [1] * steps(bundle_dir) and steps(bundle_dir) == 6  # no analyses run
    populated_trial(trial_url, tmp_dir=tmp_path)
    ws = Workspace(trial_url, "sam")
    ticks.clear()
    export_bundle(ws, tmp_path / "b", progress=ticks.append)
    ws.close()
    assert ticks == [1] * EXPORT_STEPS


def test_recomputed_analyses_tick_once_each_when_finished() -> None:
    from rct.evaluation.reproduce_analyses import _finished

    ticks: list[int] = []
    started: list[str] = []
    on_start = _finished(ticks.append, started)
    for name in ("primary", "secondary", "sensitivity"):
        on_start(name)
    assert ticks == [1, 1] and started == ["primary", "secondary", "sensitivity"]
