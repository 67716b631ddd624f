"""Benchmark of data capture: validated imports against a bare baseline, in the same run.

1. 1,000,000 child-level rows: ``submit_children`` (read, validate, pseudonymise by
   HMAC-SHA256, compare with stored, bulk insert, audit) against ``pandas.read_csv`` plus a
   bulk insert of the same rows into the same table without any validation.
2. A full quarterly return set for a synthetic trial of 150 boroughs x 40 quarters x 5
   indicators (30,000 cells): ``submit_return`` (validation, versioning, data-quality
   rules, queries, audit) against ``pandas.read_csv`` plus a bulk insert of the values.
3. The completeness matrix over those 30,000 cells.

Both sides insert with the same bulk functions (``rct.capture.bulk``: SQLite executemany,
PostgreSQL COPY), so the ratio measures what validation, pseudonymisation, rules and audit
add. Baseline inserts run inside a transaction that is rolled back, so both sides insert
into the same empty table (the baseline therefore skips the commit). Run: ``python -m bench.bench_capture [--rows N] [--db URL]`` (default
SQLite in a temporary directory; ``--db postgresql://...`` for an empty PostgreSQL
database).
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from protocols import load_protocol, protocol_from_data, shipped_protocol_path
from rct import protocols as store
from rct.capture.children_store import bulk_insert_children, submit_children
from rct.capture.completeness import completeness
from rct.capture.settings import set_child_records
from rct.capture.submit import submit_return
from rct.capture.values import insert_values
from rct.config import normalise_url
from rct.db.capture_models import Submission
from rct.initialise import initialise
from rct.users import add_user
from rct.workspace import Workspace


def signing_keys(directory: Path) -> None:
    """Every change is signed (issue #12): keys for ann and sam, opened from the environment."""
    import os

    from rct.keys import KeyStore

    passphrase = "benchmark only: capture timing keys 2026"
    store = KeyStore(directory, lambda _user: passphrase)
    for name in ("ann", "sam"):
        store.create(name, log2n=10)
    os.environ.update({"RCT_KEY_DIR": str(directory), "RCT_KEY_PASSPHRASE": passphrase})


def synthetic_protocol(n_units: int) -> Any:
    data = load_protocol(shipped_protocol_path()).canonical()
    template = data["units"][0]
    data["units"] = [
        {
            **template,
            "id": f"b{i:03d}",
            "name": f"Borough {i:03d}",
            "gss_code": f"E09{i:06d}",
            "illustrative_covariates": [],
        }
        for i in range(n_units)
    ]
    data["allocation"] = {
        **data["allocation"],
        "method": "complete",
        "cutoff_quantile": None,
        "arm_sizes": {"intervention": n_units // 2, "control": n_units - n_units // 2},
    }
    data["schedule"] = {
        **data["schedule"],
        "baseline_start": "2019-Q1",
        "baseline_end": "2023-Q4",
        "follow_up_start": "2024-Q1",
        "follow_up_end": "2028-Q4",
        "go_live": "2024-01-01",
    }
    return protocol_from_data(data, "synthetic benchmark protocol")


def make_trial(url: str, n_units: int) -> Workspace:
    initialise(url, "ann", synthetic_protocol(n_units), "synthetic")
    add_user(Workspace(url, "ann"), "sam", "statistician")
    sam = Workspace(url, "sam")
    store.lock(sam)
    set_child_records(sam, True, "benchmark")
    return sam


def child_file(path: Path, n: int, n_units: int) -> None:
    rng = np.random.default_rng(1)
    days = pd.to_datetime("2019-01-01") + pd.to_timedelta(rng.integers(0, 3000, n), unit="D")
    plan = days + pd.to_timedelta(rng.integers(1, 90, n), unit="D")
    frame = pd.DataFrame(
        {
            "borough": [f"b{i:03d}" for i in rng.integers(0, n_units, n)],
            "source_id": [f"SYS{i:09d}" for i in range(n)],
            "referral_date": days.strftime("%Y-%m-%d"),
            "da_at_intake": np.where(rng.random(n) < 0.3, "yes", "no"),
            "da_after_assessment": np.where(rng.random(n) < 0.4, "yes", "no"),
            "cp_plan_date": np.where(rng.random(n) < 0.1, plan.strftime("%Y-%m-%d"), ""),
        }
    )
    frame.to_csv(path, index=False)


def returns_file(path: Path, protocol: Any) -> int:
    rng = np.random.default_rng(2)
    rows = [
        (u.id, str(q), i.code)
        for u in protocol.units
        for q in protocol.schedule.quarters
        for i in protocol.indicators
    ]
    frame = pd.DataFrame(rows, columns=["borough", "period", "indicator"])
    # plausible levels, so that the consistency rules fire rarely, as in real returns
    means = {
        "da_referral_at_intake": 250,
        "da_flagged_after_assessment": 180,
        "cp_plans_with_da": 40,
        "children_into_care_with_da": 8,
        "da_re_referrals": 30,
    }
    frame["value"] = rng.poisson(frame["indicator"].map(means).to_numpy())
    frame.to_csv(path, index=False)
    return len(frame)


def _dummy_submission(session: Any) -> int:
    sub = Submission(
        kind="children",
        source_name="baseline",
        file_sha256="0" * 64,
        submitted_by="bench",
        role="admin",
        submitted_at="",
        row_count=0,
        cells_changed=0,
        reason="",
        audit_seq=0,
    )
    session.add(sub)
    session.flush()
    return sub.id


def baseline_children(ws: Workspace, path: Path) -> float:
    t0 = time.perf_counter()
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    with ws.transaction() as s:
        sid = _dummy_submission(s)
        n = len(frame)
        rows = list(
            zip(
                [sid] * n,
                frame["borough"].tolist(),
                frame["source_id"].tolist(),
                frame["referral_date"].tolist(),
                (frame["da_at_intake"] == "yes").tolist(),
                (frame["da_after_assessment"] == "yes").tolist(),
                frame["cp_plan_date"].tolist(),
                [None] * n,
                [None] * n,
            )
        )
        bulk_insert_children(s, rows)
        elapsed = time.perf_counter() - t0
        s.rollback()
    return elapsed


def baseline_returns(ws: Workspace, path: Path) -> float:
    t0 = time.perf_counter()
    frame = pd.read_csv(path)
    with ws.transaction() as s:
        sid = _dummy_submission(s)
        rows = [
            (u, p, i, 1, float(v), "", sid, n + 2, "", "bench", "")
            for n, (u, p, i, v) in enumerate(
                zip(
                    frame["borough"].tolist(),
                    frame["period"].tolist(),
                    frame["indicator"].tolist(),
                    frame["value"].tolist(),
                )
            )
        ]
        insert_values(s, rows)
        elapsed = time.perf_counter() - t0
        s.rollback()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="child-level rows")
    ap.add_argument("--units", type=int, default=150)
    ap.add_argument("--db", default=None, help="empty database URL (default: temporary SQLite)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        signing_keys(d / "keys")
        url = normalise_url(args.db) if args.db else f"sqlite:///{d / 'bench.db'}"
        sam = make_trial(url, args.units)
        protocol = synthetic_protocol(args.units)
        print(f"backend: {url.split(':')[0]}")

        cpath = d / "children.csv"
        child_file(cpath, args.rows, args.units)
        base = baseline_children(sam, cpath)
        t0 = time.perf_counter()
        result = submit_children(sam, cpath)
        full = time.perf_counter() - t0
        assert result.stored and result.new_cells == args.rows
        print(f"child-level rows: {args.rows:,}")
        print(
            f"  baseline read_csv + bulk insert: {base:7.2f} s  {args.rows / base:>10,.0f} rows/s"
        )
        print(
            f"  validated import (rct):          {full:7.2f} s  {args.rows / full:>10,.0f} rows/s"
        )
        print(f"  ratio validated / baseline:      {full / base:7.2f}")

        rpath = d / "returns.csv"
        n = returns_file(rpath, protocol)
        base = baseline_returns(sam, rpath)
        t0 = time.perf_counter()
        res = submit_return(sam, rpath)
        full = time.perf_counter() - t0
        assert res.stored and res.new_cells == n
        print(
            f"return set: {args.units} boroughs x {len(protocol.schedule.quarters)} quarters "
            f"x {len(protocol.indicators)} indicators = {n:,} cells "
            f"({len(res.queries_raised)} queries raised)"
        )
        print(f"  baseline read_csv + bulk insert: {base:7.3f} s  {n / base:>10,.0f} rows/s")
        print(f"  validated import (rct):          {full:7.3f} s  {n / full:>10,.0f} rows/s")
        print(f"  ratio validated / baseline:      {full / base:7.2f}")

        t0 = time.perf_counter()
        m = completeness(sam, as_of=dt.date(2026, 1, 1))
        took = time.perf_counter() - t0
        print(f"completeness over {len(m.cells):,} cells: {took:.3f} s")
        sam.close()


if __name__ == "__main__":
    main()
