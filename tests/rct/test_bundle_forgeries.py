"""Every bundle forgery of issue #12's "Why" fails ``rct reproduce`` given what the trial
published (done-when list: "every bundle forgery above fails reproduce given the published
checkpoint").

The forger edits the bundle's files and then does what a careful forger does: recomputes
the hash chain (re-signing every event with keys of their own where the edit touches the
trail) and the manifest. The evaluator holds, from outside the bundle, the checkpoint
published after the analysis run, the commitment published at seal time and the genesis
key fingerprint.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rct.checkpoints import load_checkpoint
from rct.evaluation.bundle import export_bundle
from rct.evaluation.bundle_trust import Anchors
from rct.evaluation.reproduce import reproduce
from rct.workspace import Workspace
from tests.rct.test_bundle_trust import read_events, remanifest, rewrite_chain, write_events

PASS = "correct horse battery staple"


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A revealed and analysed SQLite trial on the small protocol, its bundle (exported by
    an evaluator) and what was published from outside it."""
    from rct import analyses
    from rct import protocols as store
    from rct.allocation import sealing
    from rct.initialise import initialise
    from rct.users import add_user
    from tests.rct.test_analyse import SMALL, _import

    root = tmp_path_factory.mktemp("forgeries")
    url = f"sqlite:///{root / 'rct.db'}"
    genesis = initialise(url, "ann", SMALL, "small.toml").genesis_fingerprint
    ws = Workspace(url, "ann")
    add_user(ws, "sam", "statistician")
    add_user(ws, "eve", "evaluator")
    ws.close()
    ws = Workspace(url, "sam")
    store.lock(ws)
    seal = sealing.seal(ws, PASS, root / "envelope.json")
    row = sealing.reveal(ws, PASS)
    _import(ws, json.loads(row.arms or "{}"))
    analyses.run(ws)
    published = ws.last_checkpoint  # written by the analysis run
    ws.close()
    assert published is not None and published.path is not None
    export_bundle(Workspace(url, "eve"), root / "bundle")
    assert (root / "bundle" / "results" / "results.md").is_file()
    return {
        "bundle": root / "bundle",
        "anchors": Anchors((load_checkpoint(published.path),), seal.commitment, genesis),
    }


def _resigned(bundle: Path, edit: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> None:
    """Apply ``edit`` to the trail, then re-link and re-sign it with the forger's keys; the
    carried keys and checkpoints (which would betray the new keys) are dropped."""
    write_events(bundle, rewrite_chain(edit(read_events(bundle))))
    (bundle / "audit" / "keys.json").unlink()
    (bundle / "audit" / "checkpoints.json").unlink()


def _payload(event: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(event["payload"]))


def _set_payload(event: dict[str, Any], **changes: Any) -> None:
    event["payload"] = json.dumps({**_payload(event), **changes}, sort_keys=True)


def seal_actor_and_time_rewritten(b: Path) -> None:
    def edit(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        seal = next(e for e in events if e["action"] == "allocation.seal")
        seal["actor"], seal["occurred_at"] = "ann", "2026-01-01T00:00:00.000000Z"
        return events

    _resigned(b, edit)


def four_events_removed_from_the_end(b: Path) -> None:
    write_events(b, read_events(b)[:-4])


def the_import_erased_from_the_trail(b: Path) -> None:
    def edit(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        kept = [e for e in events if not e["action"].startswith("data.")]
        assert len(kept) < len(events)
        return kept

    _resigned(b, edit)


def one_boroughs_values_tripled(b: Path) -> None:
    from rct.capture.export import snapshot_hash, write_dataset

    rows = json.loads((b / "data" / "analysis_dataset.json").read_text())
    borough = rows[0]["borough"]
    for r in rows:
        if r["borough"] == borough and r["value"] is not None:
            r["value"] = r["value"] * 3
    (b / "data" / "analysis_dataset.json").write_text(json.dumps(rows, indent=2, sort_keys=True))
    (b / "data" / "analysis_dataset.csv").unlink()
    write_dataset(rows, b / "data" / "analysis_dataset.csv", "csv")
    snap = snapshot_hash(rows)
    manifest = json.loads((b / "manifest.json").read_text())
    manifest["snapshot_hash"] = snap
    (b / "manifest.json").write_text(json.dumps(manifest))

    def edit(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for e in events:
            if e["action"] == "bundle.export":
                _set_payload(e, snapshot_hash=snap)
            if e["action"] == "analysis.run":
                _set_payload(e, data_snapshot_hash=snap)
        return events

    _resigned(b, edit)


def results_summary_edited(b: Path) -> None:
    md = b / "results" / "results.md"
    md.write_text(md.read_text().replace("Primary", "Primary (significant benefit)", 1))


def manifest_names_etc_passwd(b: Path) -> None:
    _add_manifest_entry(b, "../../../etc/passwd")


def manifest_names_etc_hostname(b: Path) -> None:
    _add_manifest_entry(b, "/etc/hostname")


def symlink_out_of_the_bundle(b: Path) -> None:
    (b / "data" / "hostname").symlink_to("/etc/hostname")


def _add_manifest_entry(b: Path, name: str) -> None:
    manifest = json.loads((b / "manifest.json").read_text())
    manifest["files"][name] = "0" * 64
    (b / "manifest.json").write_text(json.dumps(manifest))


#: forgery -> the check that must name it, given the published anchors
FORGERIES: dict[Callable[[Path], None], str] = {
    seal_actor_and_time_rewritten: "published checkpoint",
    four_events_removed_from_the_end: "published checkpoint",
    the_import_erased_from_the_trail: "published checkpoint",
    one_boroughs_values_tripled: "published checkpoint",
    results_summary_edited: "analyses: results.md",
    manifest_names_etc_passwd: "bundle layout",
    manifest_names_etc_hostname: "bundle layout",
    symlink_out_of_the_bundle: "bundle layout",
}


def forged_copy(analysed: dict[str, Any], tmp_path: Path, forge: Callable[[Path], None]) -> Path:
    b = tmp_path / "forged"
    shutil.copytree(analysed["bundle"], b, symlinks=True)
    forge(b)
    if forge not in (manifest_names_etc_passwd, manifest_names_etc_hostname):
        remanifest(b)
    return b


def failed(b: Path, anchors: Anchors | None) -> list[str]:
    return [f"{c.name}: {c.detail}" for c in reproduce(b, anchors=anchors) if not c.ok]


def test_the_genuine_analysed_bundle_passes_against_what_was_published(
    analysed: dict[str, Any], tmp_path: Path
) -> None:
    b = tmp_path / "genuine"
    shutil.copytree(analysed["bundle"], b)
    checks = reproduce(b, anchors=analysed["anchors"])
    assert [c for c in checks if not c.ok] == []
    assert "analyses: results.md" in [c.name for c in checks]


@pytest.mark.parametrize("forge", list(FORGERIES), ids=lambda f: f.__name__)
def test_every_forgery_fails_reproduce_given_the_published_anchors(
    analysed: dict[str, Any], tmp_path: Path, forge: Callable[[Path], None]
) -> None:
    fails = failed(forged_copy(analysed, tmp_path, forge), analysed["anchors"])
    assert any(f.startswith(FORGERIES[forge]) for f in fails), fails


@pytest.mark.parametrize(
    "forge",
    [the_import_erased_from_the_trail, one_boroughs_values_tripled],
    ids=lambda f: f.__name__,
)
def test_a_re_signed_forgery_needs_the_outside_anchors(
    analysed: dict[str, Any], tmp_path: Path, forge: Callable[[Path], None]
) -> None:
    """Why the published checkpoint matters: these forgeries are consistent with
    themselves, so only the audit chain's anchors betray them (the analyses recomputed
    from tripled values may also differ, which is not a defence a forger cannot avoid)."""
    b = forged_copy(analysed, tmp_path, forge)
    alone = [f for f in failed(b, None) if not f.startswith("analyses: recomputed")]
    assert alone == []
    anchored = failed(b, analysed["anchors"])
    assert any(f.startswith("genesis key") for f in anchored)


def test_tripled_values_without_a_rewritten_trail_fail_on_the_snapshot(
    analysed: dict[str, Any], tmp_path: Path
) -> None:
    b = tmp_path / "forged"
    shutil.copytree(analysed["bundle"], b)
    path = b / "data" / "analysis_dataset.csv"
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        if r["value"]:
            r["value"] = str(float(r["value"]) * 3)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    remanifest(b)
    assert failed(b, analysed["anchors"])
