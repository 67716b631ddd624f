"""Completeness: each cell received, amended, queried, overdue or not yet due against the
protocol's deadline; totals, the overdue list, and the terminal, CSV, JSON and HTML views."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from protocols import load_protocol, shipped_protocol_path
from rct.capture.completeness import CompletenessMatrix, Key, compute_completeness
from rct.capture.completeness_render import render_csv, render_html, render_terminal
from tests.rct.helpers import run_cli

P = load_protocol(shipped_protocol_path())
Cap = pytest.CaptureFixture[str]
K = ("camden", "2025-Q1", "da_re_referrals")


def matrix(
    as_of: dt.date, versions: dict[Key, int] | None = None, queries: dict[Key, int] | None = None
) -> CompletenessMatrix:
    return compute_completeness(P, versions or {}, queries or {}, as_of)


def test_status_of_a_cell_follows_versions_queries_and_deadline() -> None:
    m = matrix(
        dt.date(2025, 6, 1),
        {
            K: 1,
            ("camden", "2025-Q1", "cp_plans_with_da"): 2,
            ("enfield", "2025-Q1", "da_re_referrals"): 1,
        },
        {("enfield", "2025-Q1", "da_re_referrals"): 1},
    )
    assert m.cell(*K).status == "received"
    assert m.cell("camden", "2025-Q1", "cp_plans_with_da").status == "amended"
    assert m.cell("enfield", "2025-Q1", "da_re_referrals").status == "queried"
    assert m.cell("camden", "2025-Q1", "da_referral_at_intake").status == "overdue"
    assert m.cell("camden", "2025-Q2", "da_referral_at_intake").status == "not_yet_due"


def test_overdue_starts_the_day_after_the_deadline() -> None:
    due = dt.date(2025, 3, 31) + dt.timedelta(days=45)
    assert matrix(due).cell(*K).status == "not_yet_due"
    late = matrix(due + dt.timedelta(days=3)).cell(*K)
    assert late.status == "overdue" and late.days_overdue == 3 and late.due == due


def test_totals_and_overdue_list() -> None:
    m = matrix(dt.date(2025, 8, 1), {K: 1})
    n_ind = len(P.indicators)
    assert m.totals_by("unit")["camden"]["received"] == 1
    assert m.totals_by("indicator")["da_re_referrals"]["overdue"] == len(P.units) - 1
    overdue = m.overdue()
    assert {(r.unit_id, r.period) for r in overdue} == {(u.id, "2025-Q1") for u in P.units}
    assert len(next(r for r in overdue if r.unit_id == "camden").indicators) == n_ind - 1
    assert sum(m.totals.values()) == len(P.units) * len(P.schedule.quarters) * n_ind


def test_views_show_every_status_in_words_and_marks() -> None:
    m = matrix(dt.date(2025, 8, 1), {K: 1})
    text = render_terminal(m)
    assert "Overdue returns (7)" in text and "camden / da_re_referrals" in text
    page = render_html(m)
    assert page.startswith("<!DOCTYPE html>") and "! overdue" in page and "http" not in page
    assert "repeating-linear-gradient" in page  # a pattern, not only colour
    rows = render_csv(m).splitlines()
    assert rows[0].startswith("borough,period,indicator,status")
    assert len(rows) == 1 + len(m.cells)


def test_cli_on_the_example_shows_the_real_gaps(tmp_path: Path, capsys: Cap) -> None:
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    assert run_cli(capsys, "--db", db, "--as", "ann", "data", "load-example").code == 0
    r = run_cli(
        capsys,
        "--db",
        db,
        "--as",
        "ann",
        "completeness",
        "--as-of",
        "2025-09-30",
        "--json",
        "--html",
        str(tmp_path / "c.html"),
    )
    data = json.loads(r.out)
    overdue = {(o["borough"], o["period"]) for o in data["overdue"]}
    assert overdue == {
        ("newham", "2024-Q3"),
        ("newham", "2024-Q4"),
        ("newham", "2025-Q1"),
        ("hammersmith_and_fulham", "2024-Q4"),
        ("hammersmith_and_fulham", "2025-Q1"),
        ("waltham_forest", "2025-Q1"),
    }
    assert data["totals"]["overdue"] == 24  # the 24 blank cells of the published tables
    cells = re.findall(r"<td class='c'[^>]*>([^<]*)</td>", (tmp_path / "c.html").read_text())
    assert cells.count("!") == 24
    r = run_cli(
        capsys,
        "--db",
        db,
        "--as",
        "ann",
        "completeness",
        "--as-of",
        "2025-09-30",
        "--fail-on-overdue",
    )
    assert r.code == 9 and "Overdue returns (6)" in r.out
    r = run_cli(
        capsys,
        "--db",
        db,
        "--as",
        "ann",
        "completeness",
        "--as-of",
        "2024-01-01",
        "--fail-on-overdue",
        "--borough",
        "Hackney",
        "--csv",
    )
    assert r.code == 0 and r.out.count("\n") == 1 + 7 * 4


def test_one_vocabulary_and_one_symbol_set_in_terminal_html_and_report() -> None:
    """Overdue is '!' and not-yet-due is '-' with the same words in every view."""
    from rct.capture.completeness_status import STATUSES, legend, symbol, words
    from rct.report import plots

    m = matrix(dt.date(2025, 8, 1), {K: 1, ("camden", "2025-Q1", "cp_plans_with_da"): 2})
    text = render_terminal(m)
    page = render_html(m)
    assert legend() in text
    for s in STATUSES:
        assert f"{symbol(s)} {words(s)}" in page
    assert "LATE" not in page and "not yet due" in page
    camden = next(line for line in text.splitlines() if line.startswith("camden / da_re_ref"))
    assert camden.split()[3:6] == ["R", "-", "-"]  # 2025-Q1 received, later quarters not yet due
    cells = re.findall(r"<td class='c'[^>]*>([^<]*)</td>", page)
    assert set(cells) == {symbol(s) for s in ("received", "amended", "overdue", "not_yet_due")}
    fig = plots.completeness_figure(
        ["camden"], ["2025-Q1", "2025-Q2"], {("camden", "2025-Q1"): "overdue"}
    )
    assert [t.get_text() for t in fig.axes[0].texts] == ["!", "-"]
    assert fig.axes[0].get_title(loc="left") == legend("   ")


def test_counts_are_singular_for_one() -> None:
    m = matrix(dt.date(2025, 5, 16), {})  # one day after the 2025-Q1 deadline
    text = render_terminal(m)
    assert "1 day overdue (5 indicators:" in text and "1 days" not in text
    page = render_html(m)
    assert "1 day overdue" in page and "1 days" not in page
