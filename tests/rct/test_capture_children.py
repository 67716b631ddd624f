"""Child-level records: only when enabled, never with direct identifiers, source-system
identifiers replaced by a keyed hash, stored whole or not at all."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

import pytest
from sqlalchemy import create_engine, text

from rct.capture.children_store import check_children, submit_children
from rct.capture.errors import ChildRecordsDisabled, SubmissionRejected
from rct.capture.settings import set_child_records
from rct.errors import InputError, PermissionDenied
from rct.users import add_user
from rct.workspace import Workspace
from tests.rct.capture_helpers import count, snapshot

Make = Callable[[str], Workspace]
HEADER = "borough,source_id,referral_date,da_at_intake,da_after_assessment,cp_plan_date"
ROWS = [
    "camden,MOSAIC-1001,2025-02-03,yes,no,",
    "camden,MOSAIC-1002,2025-02-10,no,yes,2025-03-01",
    "E09000007,MOSAIC-1003,2025-05-01,,,",
]


def csv_bytes(header: str = HEADER, rows: list[str] = ROWS) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


@pytest.fixture
def enabled(workspace_as: Make) -> Make:
    set_child_records(workspace_as("sam"), True, "agreed with boroughs in the DSA")
    return workspace_as


def test_child_records_are_refused_until_the_trial_enables_them(workspace_as: Make) -> None:
    with pytest.raises(ChildRecordsDisabled):
        submit_children(workspace_as("sam"), "c.csv", data=csv_bytes())


def test_only_statisticians_and_admins_enable_child_records(workspace_as: Make) -> None:
    add_user(workspace_as("ann"), "dee", "data-manager", "camden")
    with pytest.raises(PermissionDenied) as refused:
        set_child_records(workspace_as("dee"), True, "please")
    assert refused.value.code == "role-not-permitted"
    with pytest.raises(InputError):
        set_child_records(workspace_as("sam"), True, "")


def test_source_identifiers_are_replaced_by_a_keyed_hash(enabled: Make) -> None:
    sam = enabled("sam")
    result = submit_children(sam, "c.csv", data=csv_bytes())
    assert result.stored and result.new_cells == 3
    engine = create_engine(sam.url)
    with engine.connect() as conn:
        key = conn.execute(
            text("SELECT value FROM capture_settings WHERE key = 'pseudonym_key'")
        ).scalar_one()
        keys = conn.execute(text("SELECT child_key FROM child_records ORDER BY id")).scalars().all()
        flags = conn.execute(
            text("SELECT da_at_intake, cp_plan_date FROM child_records ORDER BY id")
        ).all()
    engine.dispose()
    expected = hmac.new(key.encode(), b"camden\x1fMOSAIC-1001", hashlib.sha256).hexdigest()
    assert keys[0] == expected and len(set(keys)) == 3
    assert [(bool(a) if a is not None else None, d) for a, d in flags] == [
        (True, None),
        (False, "2025-03-01"),
        (None, None),
    ]
    assert "MOSAIC" not in repr(snapshot(sam.url))


@pytest.mark.parametrize(
    "column",
    [
        "name",
        "first_name",
        "DOB",
        "Date of Birth",
        "postcode",
        "NHS Number",
        "address_line_1",
        "email",
    ],
)
def test_columns_that_look_like_direct_identifiers_refuse_the_file(
    enabled: Make, column: str
) -> None:
    sam = enabled("sam")
    with pytest.raises(SubmissionRejected) as err:
        submit_children(
            sam, "c.csv", data=csv_bytes(HEADER + "," + column, [r + ",x" for r in ROWS])
        )
    problem = err.value.report.problems[0]
    assert problem.row == 1 and "direct identifier" in problem.reason
    assert count(sam.url, "child_records") == 0


def test_a_child_id_that_looks_like_an_nhs_number_is_refused(enabled: Make) -> None:
    with pytest.raises(SubmissionRejected) as err:
        check_children(
            enabled("sam"),
            "c.csv",
            data=csv_bytes("borough,child_id,referral_date", ["camden,943 476 5919,2025-02-03"]),
        )
    assert "NHS number" in err.value.report.problems[0].reason


def test_every_row_problem_is_reported_with_row_and_column(enabled: Make) -> None:
    rows = [
        "camden,A1,2025-02-31,yes,no,",  # impossible date
        "nowhere,A2,2025-02-03,maybe,no,",  # unknown borough, bad flag
        "camden,A3,2025-02-03,yes,no,2025-01-01",
    ]  # plan before referral
    with pytest.raises(SubmissionRejected) as err:
        check_children(enabled("sam"), "c.csv", data=csv_bytes(rows=rows))
    got = {(p.row, (p.column or "").split(" ")[0]) for p in err.value.report.problems}
    assert got == {(2, "referral_date"), (3, "borough"), (3, "da_at_intake"), (4, "cp_plan_date")}


def test_reimport_is_idempotent_and_a_changed_record_is_refused(enabled: Make) -> None:
    sam = enabled("sam")
    submit_children(sam, "c.csv", data=csv_bytes())
    before = snapshot(sam.url)
    assert not submit_children(sam, "c.csv", data=csv_bytes()).stored
    changed = [ROWS[0].replace("yes,no", "no,no"), *ROWS[1:]]
    with pytest.raises(SubmissionRejected) as err:
        submit_children(sam, "c.csv", data=csv_bytes(rows=changed))
    assert err.value.report.problems[0].row == 2
    assert snapshot(sam.url) == before


def test_records_under_a_different_key_are_refused(
    enabled: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    sam = enabled("sam")
    submit_children(sam, "c.csv", data=csv_bytes())
    monkeypatch.setenv("RCT_PSEUDONYM_KEY", "x" * 64)
    with pytest.raises(InputError, match="pseudonym key differs"):
        submit_children(sam, "c.csv", data=csv_bytes(rows=[ROWS[0].replace("1001", "2001")]))
