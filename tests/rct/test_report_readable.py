"""The trial report reads for a funder: a headline, plain numbers, plain ratio axes, flagged
imbalance, correct plurals and figures whose texts never overlap."""

from __future__ import annotations

import re
from typing import Any

import pytest

from analysis.sap.results import AnalysisResult, MethodResult, SapResults
from rct.report import plots
from rct.report.html import ReportData, render_report
from rct.report.wording import fmt_number, fmt_p, headline_sentences, primary_result

UNITS = [
    {"id": f"u{i}", "name": f"Borough {i}", "gss_code": f"E0900000{i}", "covariates": {}}
    for i in range(7)
]
ARMS = {u["id"]: ("intervention" if i < 3 else "control") for i, u in enumerate(UNITS)}


def _method(name: str, est: float, lo: float, hi: float, p: float) -> MethodResult:
    return MethodResult(
        method=name, ok=True, measure="rate ratio", effect=est, effect_ci=(lo, hi), pvalue=p, df=5.0
    )


def _results(primary_inference: str | None) -> SapResults:
    primary = AnalysisResult(
        name="re_referrals",
        role="primary",
        outcome="da_re_referrals",
        outcome_label="Re-referrals for domestic abuse",
        family="poisson",
        formula="",
        offset="",
        periods="all",
        description="",
        clusters=7,
        observations=84,
        missing_values=0,
        icc=None,
        methods=(
            _method("kenward-roger", 0.8123, 0.7012, 0.9401, 0.00123),
            _method("randomisation", 0.8123, 0.65, 1.02, 0.0571),
        ),
        primary_inference=primary_inference or "",
    )
    return SapResults({}, {}, (primary,), level=0.95)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (68342, "68,342"),
        (68342.0, "68,342"),
        (6.83e4, "68,300"),
        (0.985, "0.985"),
        (12.41, "12.4"),
        (1.0003, "1.00"),
        (1.07e-6, "0.00000107"),
        (None, "–"),
    ],
)
def test_numbers_are_plain(value: Any, text: str) -> None:
    assert fmt_number(value) == text


@pytest.mark.parametrize(
    ("p", "text"), [(1.07e-6, "< 0.001"), (0.00123, "0.0012"), (0.0481, "0.048"), (0.312, "0.31")]
)
def test_p_values_are_plain(p: float, text: str) -> None:
    assert fmt_p(p) == text


def test_headline_uses_the_declared_primary_inference_else_the_first() -> None:
    declared = primary_result(_results("randomisation"))
    assert declared is not None and declared.method.method == "randomisation"
    first = primary_result(_results(None))
    assert first is not None and first.method.method == "kenward-roger"
    words = " ".join(headline_sentences(first))
    assert "Primary analysis: re_referrals (Re-referrals for domestic abuse), 7 clusters" in words
    assert (
        "rate ratio, intervention versus control, is 0.812 (95% CI 0.701 to 0.940; p = 0.0012)"
        in words
    )
    assert "19% lower in the intervention arm" in words and "excludes no effect (1)" in words
    assert "includes no effect" in " ".join(headline_sentences(declared))


def _report(**kw: Any) -> str:
    base: dict[str, Any] = {
        "title": "Trial",
        "trial_id": "t",
        "generated_at": "now",
        "units": UNITS,
        "arms": ARMS,
        "allocation": {"allocation": 1, "scheme_index": 3},
        "diagnostics": None,
        "baseline": [
            {
                "covariate": "child_population",
                "mean_intervention": 68342.3,
                "mean_control": 51020.0,
                "std_diff": 0.985,
            },
            {
                "covariate": "deprivation",
                "mean_intervention": 0.31,
                "mean_control": 0.29,
                "std_diff": 0.12,
            },
        ],
    }
    base.update(kw)
    return render_report(ReportData(**base))


def test_report_has_a_headline_plain_numbers_and_an_imbalance_flag() -> None:
    first = primary_result(_results(None))
    assert first is not None
    effects = [
        {
            "role": "primary",
            "label": "re_referrals",
            "method": "kr",
            "estimate": 0.81,
            "lower": 0.7,
            "upper": 0.94,
            "pvalue": 1.07e-06,
            "df": 5.0,
            "scale": "ratio",
        }
    ]
    page = _report(headline=headline_sentences(first), effects=effects, analysed_clusters=1)
    headline = page[page.index("<section id='headline'>") : page.index("<section id='flow'>")]
    assert "Primary analysis: re_referrals" in headline and "p = 0.0012" in headline
    assert page.index("id='headline'") < page.index("id='flow'")
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)
    assert not re.search(r"\de[+-]\d", text), "no number in scientific notation"
    assert "68,342" in page and "&lt; 0.001" in page
    assert "<b>1 cluster</b>" in page and "1 clusters" not in page
    assert "1 covariate with |standardised difference| above 0.5: child_population" in page
    row = next(r for r in page.split("<tr") if "child_population" in r)
    assert "imbalanced" in row
    assert "imbalanced" not in next(r for r in page.split("<tr") if "deprivation" in r)


def test_headline_before_reveal_and_before_analyses() -> None:
    assert "concealed until the allocation is revealed" in _report(arms=None, baseline=None)
    assert "prespecified analyses have not been run" in _report()


def test_completeness_totals_use_the_shared_words_and_plurals() -> None:
    page = _report(
        completeness_totals={
            "received": 1,
            "amended": 0,
            "queried": 0,
            "overdue": 2,
            "not_yet_due": 0,
        }
    )
    assert "Of 3 cells" in page and "<b>2</b> overdue" in page and "<b>0</b> not yet due" in page
    assert "<b>!</b> overdue" in page


# --- figures -----------------------------------------------------------------------------


def test_the_overlap_check_finds_overlapping_texts() -> None:
    plt = plots._plt()
    fig, ax = plt.subplots()
    ax.set_title("a title", loc="left")
    ax.text(0.02, 1.01, "a label on the title", transform=ax.transAxes)
    assert plots.text_overlaps(fig)
    plt.close(fig)


FOREST_ROWS = [
    {
        "label": f"analysis {i}",
        "method": m,
        "estimate": 0.8 + 0.05 * i,
        "lower": 0.55,
        "upper": 1.4,
        "scale": "ratio",
    }
    for i in range(4)
    for m in ("kenward-roger", "satterthwaite", "randomisation")
] + [
    {
        "label": "days to plan",
        "method": "kenward-roger",
        "estimate": -2.0,
        "lower": -5.0,
        "upper": 1.0,
        "scale": "difference",
    }
]


def test_forest_plot_ratio_axis_is_in_plain_numbers() -> None:
    fig = plots.forest_figure(FOREST_ROWS)
    fig.canvas.draw()
    ratio_ax = fig.axes[0]
    labels = [t.get_text() for t in ratio_ax.get_xticklabels() if t.get_text()]
    assert labels == ["0.67", "0.8", "1", "1.25"] or set(labels) <= {
        f"{t:g}" for t in plots.RATIO_TICKS
    }
    assert "1" in labels and not any("10^" in x or "times" in x or "×" in x for x in labels)
    assert not [t for t in ratio_ax.xaxis.get_minorticklabels() if t.get_text()]
    assert plots.text_overlaps(fig) == []


PERIODS = [f"{y}-Q{q}" for y in (2023, 2024, 2025, 2026) for q in (1, 2, 3, 4)]
INDICATORS = [
    ("da_referral_at_intake", "Referrals to children's social care with domestic abuse at intake"),
    ("da_flagged_after_assessment", "Domestic abuse flagged after assessment"),
    ("cp_plans_with_da", "Child protection plans with domestic abuse"),
    ("children_into_care_with_da", "Children entering care with domestic abuse"),
    ("da_re_referrals", "Re-referrals with domestic abuse"),
]
UNIT_IDS = [
    "camden",
    "enfield",
    "hackney",
    "hammersmith_and_fulham",
    "newham",
    "southwark",
    "waltham_forest",
]


@pytest.mark.parametrize("revealed", [False, True])
def test_rates_figure_texts_do_not_overlap(revealed: bool) -> None:
    rates = {
        (u, p, c): 10.0 + i + j
        for i, u in enumerate(UNIT_IDS)
        for j, p in enumerate(PERIODS)
        for c, _ in INDICATORS
    }
    arms = {u: ("intervention" if i < 3 else "control") for i, u in enumerate(UNIT_IDS)}
    fig = plots.rates_figure(
        INDICATORS, PERIODS, rates, UNIT_IDS, arms if revealed else None, "2025-Q1"
    )
    assert plots.text_overlaps(fig) == []
    legend = fig.legends[0].get_window_extent()
    for ax in fig.axes:
        if ax.axison:
            assert not legend.overlaps(ax.title.get_window_extent()), "legend over a title"
            assert not legend.overlaps(ax._left_title.get_window_extent())


def test_completeness_and_histogram_figures_texts_do_not_overlap() -> None:
    from rct.capture.completeness_status import STATUSES, legend, symbol

    status = {
        (u, p): STATUSES[(i + j) % len(STATUSES)]
        for i, u in enumerate(UNIT_IDS)
        for j, p in enumerate(PERIODS)
    }
    fig = plots.completeness_figure(UNIT_IDS, PERIODS, status)
    assert plots.text_overlaps(fig) == []
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert texts == {symbol(s) for s in STATUSES}
    assert fig.axes[0].get_title(loc="left") == legend("   ")
    fig = plots.histogram_figure(
        {"edges": [i / 10 for i in range(11)], "counts": [5, 9, 14, 20, 18, 12, 8, 4, 2, 1]}, 0.3
    )
    assert plots.text_overlaps(fig) == []
