"""Benchmark: ``rct audit verify`` on N signed events vs verifying N Ed25519 signatures alone.

Builds a trial (SQLite file in a temporary directory) whose audit trail holds N signed
``data.settings`` events, made with the same functions the application uses (canonical
fields, chain hash, Ed25519 signature by the statistician's registered key), then times

* ``verify``: :func:`rct.audit_checks.verify_trail` on the whole trail: read every row,
  recompute every hash, check every signature against the registry and the users table;
* ``baseline``: ``Ed25519PublicKey.verify`` on the same N (signature, message) pairs held in
  memory, with the same library (``cryptography``),

each best of ``--repeat`` interleaved runs, and prints the ratio (target <= 1.5).
Run: ``python bench/bench_audit_verify.py [--events 100000] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import base64
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import insert, select

from protocols import load_protocol, shipped_protocol_path
from protocols.canonical import canonical_json
from rct import audit
from rct.audit_checks import verify_trail
from rct.db.models import AuditEvent
from rct.initialise import initialise
from rct.keys import KeyStore
from rct.users import add_user
from rct.workspace import Workspace


def build(directory: Path, n: int) -> tuple[str, list[tuple[bytes, bytes]]]:
    """A trial with ``n`` extra signed events; also the (signature, message) pairs."""
    url = f"sqlite:///{directory / 'rct.db'}"
    keys = KeyStore(directory / "keys", lambda _u: "benchmark passphrase only")
    keys.create("ann", log2n=10)
    keys.create("sam", log2n=10)
    path = shipped_protocol_path()
    initialise(url, "ann", load_protocol(path), str(path), keys)
    ws = Workspace(url, "ann", keys=keys)
    add_user(ws, "sam", "statistician")
    signer = keys.signer("sam")
    pairs: list[tuple[bytes, bytes]] = []
    with ws.transaction() as s:
        last = s.execute(select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()))
        seq, prev = last.first()  # type: ignore[misc]
        rows = []
        for i in range(n):
            seq += 1
            body = canonical_json({"child_records": "enabled" if i % 2 else "disabled"})
            fields = audit._hashed_fields(
                seq,
                audit.utc_now(),
                "sam",
                "statistician",
                "data.settings",
                "setting/child_records",
                f"benchmark event {i}",
                body,
            )
            message = audit.signing_message(prev, fields)
            sig = signer.sign(message)
            h = audit.event_hash(prev, fields)
            rows.append({**fields, "prev_hash": prev, "hash": h, "signature": sig})
            pairs.append((base64.b64decode(sig), message))
            prev = h
            if len(rows) == 10_000:
                s.execute(insert(AuditEvent), rows)
                rows = []
        if rows:
            s.execute(insert(AuditEvent), rows)
    ws.close()
    return url, pairs


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url, pairs = build(Path(tmp), args.events)
        keys = KeyStore(Path(tmp) / "keys", lambda _u: "benchmark passphrase only")
        public = keys.signer("sam")._key.public_key()
        ws = Workspace(url, "ann", keys=keys)

        def verify() -> None:
            with ws.session() as s:
                verdict = verify_trail(s)
            assert verdict.ok and verdict.chain.events >= args.events, verdict.to_dict()

        def baseline() -> None:
            for sig, msg in pairs:
                public.verify(sig, msg)

        # interleaved, best of each: a busy machine slows both halves alike
        t_base = t_verify = math.inf
        for _ in range(args.repeat):
            t_base = min(t_base, timed(baseline))
            t_verify = min(t_verify, timed(verify))
        ws.close()
    n = args.events
    print(f"events: {n}")
    print(f"Ed25519 verify alone:  {t_base:8.3f} s  ({n / t_base:,.0f} signatures/s)")
    print(f"rct audit verify:      {t_verify:8.3f} s  ({n / t_verify:,.0f} events/s)")
    print(f"ratio verify / signatures alone: {t_verify / t_base:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
