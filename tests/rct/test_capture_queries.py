"""Data-quality queries: raised by rules on import, open -> answered -> closed with who,
when and text, all audited; data managers see and answer only their own borough's."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rct.audit import iter_events
from rct.capture.errors import QueryStateError
from rct.capture.queries import answer, close, list_queries, raise_query
from rct.capture.submit import submit_return
from rct.errors import PermissionDenied
from rct.users import add_user
from rct.workspace import Workspace
from tests.rct.capture_helpers import return_csv

Make = Callable[[str], Workspace]
QS = ["2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4", "2026-Q1"]


@pytest.fixture
def queried(workspace_as: Make) -> Make:
    ann = workspace_as("ann")
    add_user(ann, "dee", "data-manager", "camden")
    add_user(ann, "gus", "data-manager", "enfield")
    rows = [("camden", q, "da_re_referrals", v) for q, v in zip(QS, [10, 11, 9, 10, 60])]
    result = submit_return(workspace_as("dee"), "r.csv", data=return_csv(rows))
    assert len(result.queries_raised) == 1
    return workspace_as


def test_a_rule_that_fires_on_import_raises_an_open_query(queried: Make) -> None:
    [q] = list_queries(queried("sam"))
    assert (q.borough, q.period, q.rule, q.status) == (
        "camden",
        "2026-Q1",
        "outlier_history",
        "open",
    )
    assert q.events[0].actor == "dee" and q.value == 60.0


def test_query_goes_open_answered_closed_with_each_step_audited(queried: Make) -> None:
    qid = list_queries(queried("sam"))[0].id
    answer(queried("dee"), qid, "confirmed: new front door")
    done = close(queried("sam"), qid, "accepted")
    assert done.status == "closed"
    [q] = list_queries(queried("sam"), status="closed")
    assert [(e.status, e.actor) for e in q.events] == [
        ("open", "dee"),
        ("answered", "dee"),
        ("closed", "sam"),
    ]
    with queried("sam").session() as s:
        actions = [e.action for e in iter_events(s)]
    assert actions[-3:] == ["data.query.raise", "data.query.answer", "data.query.close"]


def test_a_closed_query_cannot_be_answered(queried: Make) -> None:
    qid = list_queries(queried("sam"))[0].id
    close(queried("sam"), qid, "resolved by amendment")
    with pytest.raises(QueryStateError):
        answer(queried("dee"), qid, "late answer")


def test_data_managers_only_see_and_answer_their_own_borough(queried: Make) -> None:
    qid = list_queries(queried("sam"))[0].id
    assert list_queries(queried("gus")) == []
    with pytest.raises(PermissionDenied) as refused:
        answer(queried("gus"), qid, "not mine")
    assert refused.value.code == "wrong-borough"
    with pytest.raises(PermissionDenied) as refused:
        close(queried("dee"), qid, "data managers do not close")
    assert refused.value.code == "role-not-permitted"


def test_statistician_raises_a_query_by_hand(queried: Make) -> None:
    qid = raise_query(queried("sam"), "Camden", "2025-Q1", "da_re_referrals", "Why so low?")
    q = next(x for x in list_queries(queried("dee")) if x.id == qid)
    assert q.rule == "manual" and q.value == 10.0


def test_the_same_rule_is_not_raised_twice_on_an_unresolved_cell(queried: Make) -> None:
    rows = [("camden", "2026-Q1", "da_re_referrals", 61)]
    res = submit_return(queried("sam"), "a.csv", data=return_csv(rows), reason="recount")
    assert res.queries_raised == [] and len(list_queries(queried("sam"))) == 1
