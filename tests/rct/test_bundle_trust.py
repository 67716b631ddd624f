"""Bundles that prove themselves (issue #12 item 4) and concealment before reveal (item 5)."""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from protocols.canonical import canonical_json
from rct import audit
from rct.allocation import sealing
from rct.checkpoints import load_checkpoint
from rct.errors import InputError
from rct.evaluation.bundle import export_bundle, sha256_file
from rct.evaluation.bundle_trust import Anchors
from rct.evaluation.reproduce import reproduce
from rct.workspace import Workspace
from tests.rct.helpers import run_cli
from tests.rct.trial_helpers import populated_trial


@pytest.fixture(scope="module")
def trial(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A revealed SQLite trial, its bundle, and what was published from outside it."""
    from protocols import load_protocol, shipped_protocol_path
    from rct import protocols as store
    from rct.initialise import initialise
    from rct.users import add_user

    root = tmp_path_factory.mktemp("trusted")
    url = f"sqlite:///{root / 'rct.db'}"
    path = shipped_protocol_path()
    result = initialise(url, "ann", load_protocol(path), str(path))
    ws = Workspace(url, "ann")
    add_user(ws, "sam", "statistician")
    add_user(ws, "eve", "evaluator")
    ws.close()
    ws = Workspace(url, "sam")
    store.lock(ws)
    ws.close()
    before = os.environ["RCT_CHECKPOINT_DIR"]
    os.environ["RCT_CHECKPOINT_DIR"] = str(root / "published")
    try:
        populated_trial(url, tmp_dir=root)  # seal and reveal write checkpoints
    finally:
        os.environ["RCT_CHECKPOINT_DIR"] = before
    ws = Workspace(url, "sam")
    with ws.session() as s:
        row = sealing.live(s)
        assert row is not None
        commitment = row.commitment
    ws.close()
    published = sorted((root / "published").glob("checkpoint-*.json"))
    assert len(published) == 2  # at seal and at reveal
    ws = Workspace(url, "eve")
    export_bundle(ws, root / "bundle")
    ws.close()
    return {
        "url": url,
        "bundle": root / "bundle",
        "commitment": commitment,
        "genesis": result.genesis_fingerprint,
        "checkpoint": published[-1],
    }


def copy(bundle: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(bundle, target, symlinks=True)
    return target


def anchors(trial: dict[str, Any]) -> Anchors:
    return Anchors((load_checkpoint(trial["checkpoint"]),), trial["commitment"], trial["genesis"])


def failures(bundle: Path, a: Anchors | None = None) -> list[str]:
    return [f"{c.name}: {c.detail}" for c in reproduce(bundle, anchors=a) if not c.ok]


def read_events(bundle: Path) -> list[dict[str, Any]]:
    lines = (bundle / "audit" / "audit.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def write_events(bundle: Path, events: list[dict[str, Any]]) -> None:
    with open(bundle / "audit" / "audit.jsonl", "w", encoding="utf-8") as fh:
        for e in events:
            fh.write(json.dumps(e, ensure_ascii=False, sort_keys=True) + "\n")


def remanifest(bundle: Path) -> None:
    """What a careful forger does last: recompute every file's SHA-256."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"] = {
        str(p.relative_to(bundle)): sha256_file(p)
        for p in sorted(bundle.rglob("*"))
        if p.is_file() and p.name != "manifest.json"
    }
    (bundle / "manifest.json").write_text(json.dumps(manifest))


def rewrite_chain(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Re-link and re-sign every event with fresh keys of the forger's own, replacing
    every registered public key: a chain that is valid on its own."""
    forged: dict[str, Ed25519PrivateKey] = {}

    def key(name: str) -> Ed25519PrivateKey:
        return forged.setdefault(name, Ed25519PrivateKey.generate())

    def b64pub(name: str) -> str:
        raw = key(name).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return base64.b64encode(raw).decode()

    prev = audit.GENESIS
    out = []
    for i, e in enumerate(events, 1):
        payload = json.loads(e["payload"])
        if "public_key" in payload:
            payload["public_key"] = b64pub(payload["name"])
            payload.pop("fingerprint", None)
        body = canonical_json(payload)
        fields = audit._hashed_fields(
            i, e["occurred_at"], e["actor"], e["role"], e["action"], e["entity"], e["reason"], body
        )
        sig = (
            base64.b64encode(key(e["actor"]).sign(audit.signing_message(prev, fields))).decode()
            if e.get("signature")
            else None
        )
        h = audit.event_hash(prev, fields)
        out.append({**fields, "prev_hash": prev, "hash": h, "signature": sig})
        prev = h
    return out


def test_the_genuine_bundle_passes_against_what_was_published(
    trial: dict[str, Any], tmp_path: Path
) -> None:
    assert failures(copy(trial["bundle"], tmp_path), anchors(trial)) == []
    names = [c.name for c in reproduce(trial["bundle"], anchors=anchors(trial))]
    for expected in ("public keys", "bundled checkpoints", "published commitment", "genesis key"):
        assert expected in names
    assert any(n.startswith("published checkpoint") for n in names)


def test_edited_events_with_recomputed_hashes_fail_on_signatures(
    trial: dict[str, Any], tmp_path: Path
) -> None:
    b = copy(trial["bundle"], tmp_path)
    events = read_events(b)
    seal = next(e for e in events if e["action"] == "allocation.seal")
    seal["actor"] = "ann"  # rewrite who sealed and when
    seal["occurred_at"] = "2026-01-01T00:00:00.000000Z"
    relinked = rewrite_chain(events)
    for old, new in zip(events, relinked):  # keep the genuine signatures: they no longer fit
        new["signature"] = old.get("signature")
    write_events(b, relinked)
    remanifest(b)
    assert any("audit chain" in f for f in failures(b))


def test_a_fully_re_signed_chain_fails_only_against_outside_anchors(
    trial: dict[str, Any], tmp_path: Path
) -> None:
    b = copy(trial["bundle"], tmp_path)
    events = read_events(b)
    write_events(b, rewrite_chain(events))
    (b / "audit" / "keys.json").unlink()
    (b / "audit" / "checkpoints.json").unlink()
    remanifest(b)
    assert failures(b) == []  # consistent with itself: why the anchors are needed
    fails = failures(b, anchors(trial))
    assert any(f.startswith("published checkpoint") for f in fails)
    assert any(f.startswith("genesis key") for f in fails)


def test_removed_tail_events_fail_against_the_published_checkpoint(
    trial: dict[str, Any], tmp_path: Path
) -> None:
    b = copy(trial["bundle"], tmp_path)
    events = read_events(b)
    write_events(b, events[:-4])
    remanifest(b)
    fails = failures(b, Anchors((load_checkpoint(trial["checkpoint"]),)))
    assert any("removed from its end" in f for f in fails)


def test_a_wrong_published_commitment_fails(trial: dict[str, Any]) -> None:
    fails = failures(trial["bundle"], Anchors(commitment="0" * 64))
    assert fails and fails[0].startswith("published commitment")


@pytest.mark.parametrize("name", ["../../../etc/passwd", "/etc/hostname", "data/../../x"])
def test_manifest_paths_out_of_the_bundle_are_refused_before_reading(
    trial: dict[str, Any], tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    b = copy(trial["bundle"], tmp_path)
    manifest = json.loads((b / "manifest.json").read_text())
    manifest["files"][name] = "0" * 64
    (b / "manifest.json").write_text(json.dumps(manifest))
    read: list[Path] = []
    import rct.evaluation.bundle

    def record_read(p: Path) -> str:
        read.append(p)
        return ""

    monkeypatch.setattr(rct.evaluation.bundle, "sha256_file", record_read)
    checks = reproduce(b)
    assert [c.name for c in checks] == ["bundle layout"] and not checks[0].ok
    assert repr(name) in checks[0].detail and read == []


def test_symlinks_in_a_bundle_are_refused(trial: dict[str, Any], tmp_path: Path) -> None:
    b = copy(trial["bundle"], tmp_path)
    (b / "data" / "hostname").symlink_to("/etc/hostname")
    manifest = json.loads((b / "manifest.json").read_text())
    manifest["files"]["data/hostname"] = "0" * 64
    (b / "manifest.json").write_text(json.dumps(manifest))
    checks = reproduce(b)
    assert len(checks) == 1 and "symlink" in checks[0].detail


def test_cli_reproduce_takes_outside_anchors(
    trial: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    r = run_cli(
        capsys,
        "reproduce",
        str(trial["bundle"]),
        "--checkpoint",
        str(trial["checkpoint"]),
        "--commitment",
        trial["commitment"],
        "--genesis",
        str(trial["genesis"]),
    )
    assert r.code == 0, r.out
    assert "PASS  genesis key" in r.out
    r = run_cli(capsys, "reproduce", str(trial["bundle"]), "--commitment", "f" * 64)
    assert r.code == 8 and "FAIL  published commitment" in r.out


def test_before_reveal_only_the_statistician_holds_the_envelope(
    trial_url: str, tmp_path: Path
) -> None:
    from rct.users import add_user

    populated_trial(trial_url, reveal=False, tmp_dir=tmp_path)
    add_user(Workspace(trial_url, "ann"), "eve", "evaluator")
    assert "envelope" in sealing.certificate(Workspace(trial_url, "sam")).to_dict()
    for user in ("eve", "ann"):
        assert "envelope" not in sealing.certificate(Workspace(trial_url, user)).to_dict()
    export_bundle(Workspace(trial_url, "eve"), tmp_path / "b")
    cert = json.loads((tmp_path / "b" / "allocation" / "certificate.json").read_text())
    assert "envelope" not in cert and cert["commitment"]
    assert "ciphertext" not in "".join(p.read_text() for p in (tmp_path / "b").rglob("*.json"))


def test_new_envelopes_are_memory_hard(trial: dict[str, Any]) -> None:
    cert = sealing.certificate(Workspace(trial["url"], "sam")).to_dict()
    assert cert["envelope"]["kdf"]["n"] == 2**17


@pytest.mark.parametrize("weak", ["aaaaaaaaaaaa", "Password1234", "trustno1trustno1"])
def test_weak_passphrases_are_refused(trial_url: str, tmp_path: Path, weak: str) -> None:
    with pytest.raises(InputError, match="too easy to guess"):
        sealing.seal(Workspace(trial_url, "sam"), weak, tmp_path / "env.json")
