"""Importing and amending returns in the trial database (SQLite and PostgreSQL): whole or
nothing, identical re-imports change nothing, amendments keep every version, roles and
boroughs are enforced, and each submission is audited in its own transaction."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from rct.audit import event_record, iter_events, verify_events
from rct.capture.errors import AmendmentRequired, SubmissionRejected
from rct.capture.submit import check_return, submit_return
from rct.capture.values import versions
from rct.errors import InputError, PermissionDenied
from rct.users import add_user
from rct.workspace import Workspace
from tests.rct.capture_helpers import count, return_csv, snapshot

Make = Callable[[str], Workspace]

RET = [
    ("camden", "2025-Q1", "da_re_referrals", 12),
    ("camden", "2025-Q1", "cp_plans_with_da", 30),
    ("enfield", "2025-Q1", "da_re_referrals", 20),
]


@pytest.fixture
def people(workspace_as: Make) -> Make:
    ann = workspace_as("ann")
    add_user(ann, "dee", "data-manager", "camden")
    add_user(ann, "eve", "evaluator")
    return workspace_as


def test_import_stores_every_cell_with_file_hash_user_and_row_count(people: Make) -> None:
    sam = people("sam")
    result = submit_return(sam, "r.csv", data=return_csv(RET))
    assert result.stored and result.new_cells == 3
    with sam.session() as s:
        rows = versions(s)
        sub = s.execute(
            text("SELECT file_sha256, submitted_by, row_count, audit_seq FROM submissions")
        ).one()
        events = [event_record(e) for e in iter_events(s)]
    assert {(r["borough"], r["indicator"], r["value"]) for r in rows} == {
        ("camden", "da_re_referrals", 12.0),
        ("camden", "cp_plans_with_da", 30.0),
        ("enfield", "da_re_referrals", 20.0),
    }
    assert sub.file_sha256 == result.report.sha256 and sub.submitted_by == "sam"
    assert sub.row_count == 3
    event = next(e for e in events if e["seq"] == sub.audit_seq)
    assert event["action"] == "data.import" and event["payload"]["file_sha256"] == sub.file_sha256
    assert verify_events(events).ok


def test_reimporting_an_identical_file_changes_nothing_and_says_so(people: Make) -> None:
    sam = people("sam")
    submit_return(sam, "r.csv", data=return_csv(RET))
    before = snapshot(sam.url)
    again = submit_return(sam, "r.csv", data=return_csv(RET))
    assert not again.stored and "nothing changed" in again.message
    assert snapshot(sam.url) == before


def test_a_file_with_one_error_is_rejected_whole(people: Make) -> None:
    sam = people("sam")
    before = snapshot(sam.url)
    bad = RET + [("camden", "2025-Q2", "da_re_referrals", -3)]
    with pytest.raises(SubmissionRejected) as err:
        submit_return(sam, "r.csv", data=return_csv(bad))
    assert err.value.report.problems[0].row == 5
    assert snapshot(sam.url) == before


def test_changing_a_stored_value_needs_an_amendment(people: Make) -> None:
    sam = people("sam")
    submit_return(sam, "r.csv", data=return_csv(RET))
    before = snapshot(sam.url)
    changed = [("camden", "2025-Q1", "da_re_referrals", 13)]
    with pytest.raises(AmendmentRequired) as err:
        submit_return(sam, "r2.csv", data=return_csv(changed))
    assert "rct data amend" in str(err.value) and err.value.report.problems[0].row == 2
    assert snapshot(sam.url) == before


def test_amendment_stores_a_new_version_and_keeps_the_old_one(people: Make) -> None:
    sam = people("sam")
    submit_return(sam, "r.csv", data=return_csv(RET))
    changed = [("camden", "2025-Q1", "da_re_referrals", 13)]
    result = submit_return(sam, "r2.csv", data=return_csv(changed), reason="typo in 12")
    assert result.stored and result.changed_cells == 1
    with sam.session() as s:
        hist = versions(s, unit="camden", period="2025-Q1", indicator="da_re_referrals")
    assert [(h["version"], h["value"], h["reason"]) for h in hist] == [
        (1, 12.0, ""),
        (2, 13.0, "typo in 12"),
    ]


def test_amendment_needs_a_reason(people: Make) -> None:
    with pytest.raises(InputError):
        submit_return(people("sam"), "r.csv", data=return_csv(RET), reason="  ")


def test_data_manager_submits_only_for_own_borough(people: Make) -> None:
    dee = people("dee")
    with pytest.raises(SubmissionRejected) as err:
        submit_return(dee, "r.csv", data=return_csv(RET))
    assert [p.row for p in err.value.report.problems] == [4]
    assert submit_return(dee, "r.csv", data=return_csv(RET[:2])).stored


def test_evaluator_may_not_submit_and_the_refusal_is_audited(people: Make) -> None:
    eve = people("eve")
    with pytest.raises(PermissionDenied) as refused:
        submit_return(eve, "r.csv", data=return_csv(RET))
    assert refused.value.code == "role-not-permitted"
    with pytest.raises(PermissionDenied) as refused:
        check_return(eve, "r.csv", data=return_csv(RET))
    assert refused.value.code == "role-not-permitted"
    assert count(eve.url, "indicator_values") == 0
    with eve.session() as s:
        assert [e.action for e in iter_events(s)][-1] == "refused"


def test_check_reports_what_import_would_do_without_writing(people: Make) -> None:
    sam = people("sam")
    before = snapshot(sam.url)
    result = check_return(sam, "r.csv", data=return_csv(RET))
    assert result.report.summary["new"] == 3 and not result.stored
    assert snapshot(sam.url) == before


def test_stored_versions_cannot_be_updated_or_deleted(people: Make) -> None:
    sam = people("sam")
    submit_return(sam, "r.csv", data=return_csv(RET))
    engine = create_engine(sam.url)
    try:
        for sql in (
            "UPDATE indicator_values SET value = 0",
            "DELETE FROM indicator_values",
            "DELETE FROM submissions",
        ):
            with pytest.raises(DBAPIError), engine.begin() as conn:
                conn.execute(text(sql))
    finally:
        engine.dispose()


def test_json_report_lists_problems_for_machines(people: Make) -> None:
    sam = people("sam")
    with pytest.raises(SubmissionRejected) as err:
        submit_return(sam, "r.csv", data=return_csv([("x", "2025-Q1", "da_re_referrals", 1)]))
    data = json.loads(json.dumps(err.value.report.to_dict()))
    assert data["ok"] is False and data["problems"][0]["row"] == 2
