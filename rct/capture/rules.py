"""Data-quality rules: checks that raise a query on a cell rather than reject a file.

Hard limits (the protocol's ``minimum``/``maximum``, whole non-negative counts) reject a
return at validation. The rules here flag values that are possible but deserve a question
to the borough. Each rule is documented in ``docs/guide-data-manager.md``:

``outlier_history``
    A value far from the borough's own recent history of the same indicator. The history is
    the borough's values in up to the 8 quarters before this one; at least 4 are needed.
    For counts the reference distribution has mean ``m`` = the median of the history
    (at least 0.5) and variance ``v = max(m, (1.4826 * MAD)^2, (0.15 * m)^2)``: Poisson when
    that is ``m``, otherwise negative binomial with variance ``v``. The last term is a floor
    of 15% on the coefficient of variation: quarterly social-care counts vary by 10-20%
    without any change in practice, and a short, flat history would otherwise flag ordinary
    variation in large counts. The rule fires when the value is in either tail with
    probability below 0.001. Small counts are judged on their own (Poisson) scale: with
    ``m = 2`` a 9 fires and an 8 does not; with ``m = 41`` a 67 fires. Other indicator types use a robust z-score
    ``|x - median| / max(1.4826 * MAD, 5% of |median|)`` above 5.
``zero_where_usually_counts``
    A zero where the borough's median over at least 3 earlier quarters is 5 or more: is it
    a true zero or a figure that was not available (which must be left blank, not 0)?
``flagged_far_below_intake``
    ``da_flagged_after_assessment`` below a tenth of ``da_referral_at_intake`` (with at
    least 20 referrals): cases referred for DA are usually flagged for DA after
    assessment, so this suggests the flag was not recorded or a different definition.
``cp_plans_exceed_flagged``
    More new child protection plans with DA than new cases flagged for DA after
    assessment in the same quarter: plans normally follow an assessment that flagged DA.

Consistency rules apply only when the protocol has both indicators. The rules are pure
functions of the values; the service layer (:mod:`rct.capture.queries`) turns findings
into queries.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from protocols import Protocol
from protocols.quarters import Quarter
from rct.capture.returns import format_value

__all__ = [
    "Finding",
    "evaluate",
    "count_outlier",
    "tails",
    "RULES",
    "TAIL",
    "LOOKBACK",
    "MIN_HISTORY",
]

Key = tuple[str, str, str]

TAIL = 0.001
CV_FLOOR = 0.15
LOOKBACK = 8
MIN_HISTORY = 4
RULES = (
    "outlier_history",
    "zero_where_usually_counts",
    "flagged_far_below_intake",
    "cp_plans_exceed_flagged",
)


@dataclass(frozen=True)
class Finding:
    """A rule that fired on one cell, with the message shown to the borough."""

    unit_id: str
    period: str
    indicator: str
    rule: str
    message: str
    value: float

    @property
    def key(self) -> Key:
        return (self.unit_id, self.period, self.indicator)


def _mad(xs: list[float], centre: float) -> float:
    return float(statistics.median(abs(x - centre) for x in xs))


def tails(value: float, history: list[float]) -> tuple[float, float, float, float]:
    """(P(X <= value), P(X >= value), mean, variance) under the reference distribution
    of ``outlier_history`` (see the module docstring)."""
    from scipy import special

    med = float(statistics.median(history))
    m = max(med, 0.5)
    v = max(m, (1.4826 * _mad(history, med)) ** 2, (CV_FLOOR * m) ** 2)
    k = float(value)
    if v <= m * (1 + 1e-9):  # Poisson(m)
        upper = float(special.pdtrc(k - 1, m)) if k >= 1 else 1.0  # P(X >= value)
        lower = float(special.pdtr(k, m))  # P(X <= value)
    else:  # negative binomial with mean m and variance v: n = m^2 / (v - m), p = m / v
        n, prob = m * m / (v - m), m / v
        # P(X <= k) = I_p(n, k + 1), regularised incomplete beta (n need not be whole)
        upper = float(special.betainc(k, n, 1 - prob)) if k >= 1 else 1.0
        lower = float(special.betainc(n, k + 1, prob))
    return lower, upper, m, v


def count_outlier(value: float, history: list[float]) -> tuple[bool, float, float]:
    """Whether a count is an outlier against ``history``; returns (fires, mean, sd).

    See ``outlier_history`` in the module docstring.
    """
    lower, upper, m, v = tails(value, history)
    return (upper < TAIL or lower < TAIL), m, v**0.5


def _robust_outlier(value: float, history: list[float]) -> bool:
    med = float(statistics.median(history))
    scale = max(1.4826 * _mad(history, med), 0.05 * abs(med), 1e-9)
    return abs(value - med) / scale > 5


def _history(series: list[tuple[int, float]], period: str) -> list[float]:
    idx = Quarter.parse(period).index
    before = [v for i, v in series if i < idx]
    return before[-LOOKBACK:]


def evaluate(
    protocol: Protocol, values: Mapping[Key, float], targets: Iterable[Key]
) -> list[Finding]:
    """Run every rule on the ``targets`` cells, given all current ``values``."""
    types = {i.code: i.type for i in protocol.indicators}
    series: dict[tuple[str, str], list[tuple[int, float]]] = defaultdict(list)
    for (u, p, ind), v in values.items():
        series[(u, ind)].append((Quarter.parse(p).index, v))
    for s in series.values():
        s.sort()
    findings: list[Finding] = []
    targets = sorted(set(targets))
    for key in targets:
        u, p, ind = key
        if key not in values:
            continue
        x = values[key]
        hist = _history(series[(u, ind)], p)
        if x == 0 and len(hist) >= 3 and statistics.median(hist) >= 5:
            findings.append(
                Finding(
                    u,
                    p,
                    ind,
                    "zero_where_usually_counts",
                    f"0 reported, where this borough's median over the "
                    f"previous {len(hist)} quarters is "
                    f"{format_value(statistics.median(hist))}: a true zero, or "
                    "a figure not available (leave it blank, not 0)?",
                    x,
                )
            )
        elif len(hist) >= MIN_HISTORY:
            if types.get(ind) == "count":
                fires, m, sd = count_outlier(x, hist)
                if fires:
                    findings.append(
                        Finding(
                            u,
                            p,
                            ind,
                            "outlier_history",
                            f"{format_value(x)} is far from this borough's recent values "
                            f"(median {format_value(m)}, spread about {sd:.1f} over the previous "
                            f"{len(hist)} quarters; tail probability below {TAIL}): please "
                            "confirm or correct",
                            x,
                        )
                    )
            elif _robust_outlier(x, hist):
                findings.append(
                    Finding(
                        u,
                        p,
                        ind,
                        "outlier_history",
                        f"{format_value(x)} is more than 5 robust standard "
                        "deviations from this borough's recent values",
                        x,
                    )
                )
    findings += _consistency(types, values, targets)
    return findings


def _consistency(
    types: Mapping[str, str], values: Mapping[Key, float], targets: list[Key]
) -> list[Finding]:
    out: list[Finding] = []
    cells = {(u, p) for u, p, _ in targets}
    for u, p in sorted(cells):
        intake = values.get((u, p, "da_referral_at_intake"))
        flagged = values.get((u, p, "da_flagged_after_assessment"))
        plans = values.get((u, p, "cp_plans_with_da"))
        if intake is not None and flagged is not None and intake >= 20 and flagged < intake / 10:
            out.append(
                Finding(
                    u,
                    p,
                    "da_flagged_after_assessment",
                    "flagged_far_below_intake",
                    f"{format_value(flagged)} cases flagged for DA after assessment "
                    f"against {format_value(intake)} DA referrals at intake (below a "
                    "tenth): is the DA flag recorded after assessment?",
                    flagged,
                )
            )
        if plans is not None and flagged is not None and plans > flagged:
            out.append(
                Finding(
                    u,
                    p,
                    "cp_plans_with_da",
                    "cp_plans_exceed_flagged",
                    f"{format_value(plans)} new child protection plans with DA but "
                    f"only {format_value(flagged)} cases flagged for DA after "
                    "assessment in the quarter: please confirm both figures",
                    plans,
                )
            )
    return out
