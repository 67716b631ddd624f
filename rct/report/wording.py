"""Numbers and sentences of the trial report, written for a funder rather than a console.

Plain formats only: counts with thousands separators (``68,342``), other numbers to three
significant figures without scientific notation (``0.985``, ``12.4``), p-values as
``0.0012`` or ``< 0.001``. The headline states the primary analysis' primary result in
words. The imbalance threshold for baseline covariates is defined and justified here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from analysis.sap.results import AnalysisResult, MethodResult, SapResults
from rct.capture.completeness_status import plural

__all__ = [
    "IMBALANCE_THRESHOLD",
    "IMBALANCE_NOTE",
    "fmt_number",
    "fmt_p",
    "p_phrase",
    "plural",
    "PrimaryResult",
    "primary_result",
    "headline_sentences",
]

#: |standardised difference| above which a baseline covariate is flagged as imbalanced.
IMBALANCE_THRESHOLD = 0.5

#: Why that threshold (shown under the baseline table and in docs/guide-statistician.md).
IMBALANCE_NOTE = (
    "Covariates whose standardised difference (difference in cluster means divided by "
    f"the pooled between-cluster SD) exceeds {IMBALANCE_THRESHOLD} in absolute value are "
    "flagged. Half a standard deviation is the conventional boundary of a 'medium' "
    "difference; the 0.1 used for large observational studies would flag nearly every "
    "covariate in a trial of a handful of clusters, where chance alone makes differences "
    "of several tenths common. A flag is descriptive, not a significance test (CONSORT "
    "advises against testing baseline differences in a randomised trial): it points to "
    "the covariate-adjusted analyses of the SAP when judging the effect."
)


def fmt_number(x: Any, digits: int = 3) -> str:
    """A number for people: integers in full with separators, others to ``digits``
    significant figures, never in scientific notation. ``None``/NaN read as a dash."""
    if x is None or isinstance(x, bool):
        return "–" if x is None else str(x)
    if isinstance(x, int):
        return f"{x:,}"
    if not isinstance(x, float):
        return str(x)
    if not math.isfinite(x):
        return "–" if math.isnan(x) else ("∞" if x > 0 else "−∞")
    if x == 0:
        return "0"
    if abs(x) >= 10 ** (digits - 1):
        return f"{x:,.0f}"
    decimals = digits - 1 - math.floor(math.log10(abs(x)))
    return f"{x:,.{decimals}f}"  # trailing zeros kept: 1.00 says three figures, 1 does not


def fmt_p(p: Any) -> str:
    """``< 0.001``, ``0.0012``, ``0.048``, ``0.31``: two significant figures, no exponent."""
    if p is None or (isinstance(p, float) and not math.isfinite(p)):
        return "–"
    v = float(p)
    if v < 0.001:
        return "< 0.001"
    if v >= 0.1:
        return f"{v:.2f}"
    decimals = 1 - math.floor(math.log10(v))
    return f"{v:.{decimals}f}"


def p_phrase(p: Any) -> str:
    """``p < 0.001`` or ``p = 0.0012``."""
    text = fmt_p(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


@dataclass(frozen=True)
class PrimaryResult:
    """The primary analysis and the inference method that decides it; ``declared`` says
    whether the results name that method (else it is the first listed)."""

    analysis: AnalysisResult
    method: MethodResult
    declared: bool


def primary_result(results: SapResults) -> PrimaryResult | None:
    """The primary analysis and its primary inference method from stored results.

    The method is the analysis' ``primary_inference`` when the results name it, else the
    first listed inference method. None when no analysis has the role ``primary``.
    """
    primary = next((a for a in results.analyses if a.role == "primary" and not a.post_hoc), None)
    if primary is None or not primary.methods:
        return None
    wanted = primary.primary_inference
    method = next((m for m in primary.methods if m.method == wanted), primary.methods[0])
    return PrimaryResult(primary, method, declared=bool(wanted))


def _change(measure: str, value: float) -> str:
    """``18% lower``/``5% higher`` for a ratio, ``1.2 higher`` for a difference."""
    if "ratio" in measure.lower():
        pct = (value - 1) * 100
        if abs(pct) < 0.5:
            return "no different"
        size = f"{abs(pct):.0f}" if abs(pct) >= 9.5 else f"{abs(pct):.1f}"
        return f"{size}% {'higher' if pct > 0 else 'lower'}"
    if value == 0:
        return "no different"
    return f"{fmt_number(abs(value))} {'higher' if value > 0 else 'lower'}"


def headline_sentences(result: PrimaryResult, level: float = 0.95) -> list[str]:
    """The primary result in words: what was compared, the estimate, its CI and p-value."""
    a, m = result.analysis, result.method
    outcome = a.outcome_label or a.outcome
    how = "its prespecified primary inference" if result.declared else "its first listed inference"
    first = (
        f"Primary analysis: {a.name} ({outcome}), {plural(a.clusters, 'cluster')}, "
        f"by {m.method} ({how})."
    )
    if not m.ok:
        return [
            first,
            f"This inference could not be computed: {m.error}.",
        ]
    measure = m.measure
    est, (lo, hi) = m.effect, m.effect_ci
    pct = round(100 * level)
    null = 1.0 if "ratio" in measure.lower() else 0.0
    second = (
        f"The {measure}, intervention versus control, is {fmt_number(est)} "
        f"({pct}% CI {fmt_number(lo)} to {fmt_number(hi)}; {p_phrase(m.pvalue)})."
    )
    third = f"In words: the outcome was {_change(measure, est)} in the intervention arm"
    if math.isfinite(lo) and math.isfinite(hi):  # an unbounded limit is stored as null
        third += (
            f"; the data are compatible with anything from {_change(measure, lo)} to "
            f"{_change(measure, hi)}"
        )
        excludes = not (lo <= null <= hi)
        third += f", so the interval {'excludes' if excludes else 'includes'} no effect ({null:g})."
    else:
        third += "."
    return [first, second, third]
