"""A value changed in place in the database is caught by ``audit verify`` (#12).

The attack of the issue: with every trigger off, ``UPDATE indicator_values SET value = 51
WHERE value = 17``. The chain is intact; the signed import event's ``cells_sha256`` is not
what the table now holds (rct.capture.cells_seal)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from random import Random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.engine import Connection

from rct.audit_checks import verify_trail
from rct.capture.cells_seal import CellRow, cells_digest
from rct.capture.submit import submit_return
from rct.errors import AuditChainBroken
from rct.evaluation.bundle import export_bundle
from rct.workspace import Workspace
from tests.rct.helpers import raw_connection
from tests.rct.trial_helpers import returns_csv


@contextmanager
def every_trigger_off(url: str) -> Iterator[Connection]:
    with raw_connection(url) as conn:
        if conn.dialect.name == "sqlite":
            for (name,) in conn.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            ).all():
                conn.execute(text(f'DROP TRIGGER "{name}"'))
        else:
            conn.execute(text("SET session_replication_role = replica"))
        yield conn


def problems(url: str) -> list[str]:
    ws = Workspace(url, "ann")
    try:
        with ws.session() as s:
            verdict = verify_trail(s)
            return [] if verdict.ok else verdict.to_dict()["problems"]
    finally:
        ws.close()


@pytest.fixture
def imported(trial_url: str) -> int:
    ws = Workspace(trial_url, "sam")
    try:
        result = submit_return(ws, "returns.csv", data=returns_csv(last_period="2026-Q1"))
    finally:
        ws.close()
    assert result.stored and result.submission_id is not None
    assert problems(trial_url) == []
    return result.submission_id


def test_a_value_tripled_in_place_is_caught(trial_url: str, imported: int) -> None:
    with every_trigger_off(trial_url) as conn:
        row = conn.execute(
            text("SELECT id, value FROM indicator_values WHERE submission_id = :s LIMIT 1"),
            {"s": imported},
        ).one()
        conn.execute(
            text("UPDATE indicator_values SET value = :v WHERE id = :i"),
            {"v": row.value * 3, "i": row.id},
        )
    found = problems(trial_url)
    assert len(found) == 1
    assert f"values stored under submission {imported} differ" in found[0]


def test_a_deleted_or_added_row_is_caught(trial_url: str, imported: int) -> None:
    with every_trigger_off(trial_url) as conn:
        conn.execute(
            text(
                "DELETE FROM indicator_values WHERE id = "
                "(SELECT max(id) FROM indicator_values WHERE submission_id = :s)"
            ),
            {"s": imported},
        )
    assert any("differ" in p for p in problems(trial_url))


def test_a_forged_submission_is_caught(trial_url: str, imported: int) -> None:
    """A new submission row pointing at an event that is not an import."""
    with every_trigger_off(trial_url) as conn:
        conn.execute(
            text(
                "INSERT INTO submissions (kind, source_name, file_sha256, submitted_by, role,"
                " submitted_at, row_count, cells_changed, reason, audit_seq)"
                " SELECT kind, 'forged.csv', file_sha256, submitted_by, role, submitted_at,"
                " 1, 1, '', 1 FROM submissions WHERE id = :s"
            ),
            {"s": imported},
        )
    assert any("not a data import" in p for p in problems(trial_url))


def test_untouched_values_verify_after_an_amendment(trial_url: str, imported: int) -> None:
    ws = Workspace(trial_url, "sam")
    try:
        csv = returns_csv(last_period="2026-Q1").replace(b",1", b",2", 1)
        fixed = submit_return(ws, "fix.csv", data=csv, reason="typo in the first row")
    finally:
        ws.close()
    assert fixed.stored and fixed.changed_cells >= 1, fixed.message
    assert problems(trial_url) == []


rows = st.lists(
    st.tuples(
        st.text(max_size=5),
        st.text(max_size=7),
        st.text(max_size=5),
        st.integers(1, 9),
        st.floats(allow_nan=False, allow_infinity=False),
    ),
    max_size=8,
)


@given(rows, st.randoms())
def test_the_digest_is_order_free_and_sees_every_change(data: list[CellRow], rnd: Random) -> None:
    shuffled = list(data)
    rnd.shuffle(shuffled)
    assert cells_digest(shuffled) == cells_digest(data)
    if data:
        u, p, i, v, x = data[0]
        other = x + 1.0 if abs(x) < 1e15 else -x
        changed = [(u, p, i, v, other), *data[1:]]
        assert cells_digest(changed) != cells_digest(data)


def test_a_bundle_is_refused_after_an_in_place_edit(
    trial_url: str, imported: int, tmp_path: Path
) -> None:
    with every_trigger_off(trial_url) as conn:
        conn.execute(
            text("UPDATE indicator_values SET value = value * 3 WHERE submission_id = :s"),
            {"s": imported},
        )
    ws = Workspace(trial_url, "ann")
    try:
        with pytest.raises(AuditChainBroken, match="differ from those audit event"):
            export_bundle(ws, tmp_path / "bundle")
    finally:
        ws.close()
    assert not (tmp_path / "bundle").exists()


def test_an_import_erased_whole_is_caught(trial_url: str, imported: int) -> None:
    """The submission row and every value it stored deleted: the signed event that sealed
    them is left with nothing to seal, which the check reports without any checkpoint."""
    with every_trigger_off(trial_url) as conn:
        seq = conn.execute(
            text("SELECT audit_seq FROM submissions WHERE id = :s"), {"s": imported}
        ).scalar_one()
        for sql in (
            "DELETE FROM dq_query_events WHERE query_id IN"
            " (SELECT id FROM dq_queries WHERE submission_id = :s)",
            "DELETE FROM dq_queries WHERE submission_id = :s",
            "DELETE FROM indicator_values WHERE submission_id = :s",
            "DELETE FROM submissions WHERE id = :s",
        ):
            conn.execute(text(sql), {"s": imported})
    found = problems(trial_url)
    assert any(f"audit event {seq}" in p and "no submission" in p for p in found), found


def test_one_import_claimed_by_two_submissions_is_caught(trial_url: str, imported: int) -> None:
    """A copy of a submission row naming the same signed import event."""
    with every_trigger_off(trial_url) as conn:
        conn.execute(
            text(
                "INSERT INTO submissions (kind, source_name, file_sha256, submitted_by, role,"
                " submitted_at, row_count, cells_changed, reason, audit_seq)"
                " SELECT kind, source_name, file_sha256, submitted_by, role, submitted_at,"
                " row_count, cells_changed, reason, audit_seq FROM submissions WHERE id = :s"
            ),
            {"s": imported},
        )
    found = problems(trial_url)
    assert any("claimed by submissions" in p for p in found), found
