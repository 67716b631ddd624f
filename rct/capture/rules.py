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
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from protocols import Protocol
from protocols.quarters import Quarter
from rct.capture.outliers import (
    FINE,
    FIRES,
    MARGIN,
    UNDECIDED,
    count_tail_decisions,
    history_matrix,
    reference,
)
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


def _reference(history: list[float]) -> tuple[float, float]:
    """Mean and variance of the reference distribution of ``outlier_history`` for counts."""
    med = float(statistics.median(history))
    m = max(med, 0.5)
    v = max(m, (1.4826 * _mad(history, med)) ** 2, (CV_FLOOR * m) ** 2)
    return m, v


def tails(value: float, history: list[float]) -> tuple[float, float, float, float]:
    """(P(X <= value), P(X >= value), mean, variance) under the reference distribution
    of ``outlier_history`` (see the module docstring)."""
    # lazy: loads numpy, scipy (start-up time)
    from scipy import special

    m, v = _reference(history)
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
    """Run every rule on the ``targets`` cells, given all current ``values``.

    The history rules are screened for all cells at once (:mod:`rct.capture.outliers`);
    the cells that fire, or that the screen cannot settle, are judged here one by one.
    """
    types = {i.code: i.type for i in protocol.indicators}
    targets = sorted(set(targets))
    present = [k for k in targets if k in values]
    findings: list[Finding] = []
    for key, hist, known in _candidates(types, values, present):
        found = _cell_finding(types, key, values[key], hist, known)
        if found is not None:
            findings.append(found)
    findings += _consistency(types, values, targets)
    return findings


def _candidates(
    types: Mapping[str, str], values: Mapping[Key, float], present: list[Key]
) -> Iterator[tuple[Key, list[float], bool | None]]:
    """The cells on which a history rule may fire, with their history and, for counts,
    whether ``outlier_history`` fires (None: not known)."""
    got = history_matrix(values, present, LOOKBACK) if present else None
    if got is None:  # no cells, or periods not in canonical form: all by the definition
        series: dict[tuple[str, str], list[tuple[int, float]]] = defaultdict(list)
        for (u, p, ind), v in values.items():
            series[(u, ind)].append((Quarter.parse(p).index, v))
        for s in series.values():
            s.sort()
        for key in present:
            yield key, _history(series[(key[0], key[2])], key[1]), None
        return
    x, hist = got
    cnt = (~np.isnan(hist)).sum(axis=1)
    decision = np.full(len(present), FINE, dtype=np.int8)
    rows = np.flatnonzero(cnt >= MIN_HISTORY)
    if len(rows):
        med, mean, var = reference(hist[rows], CV_FLOOR)
        count = np.array([types.get(present[i][2]) == "count" for i in rows.tolist()], dtype=bool)
        decision[rows[count]] = count_tail_decisions(x[rows[count]], mean[count], var[count], TAIL)
        other = ~count
        scale = _robust_scale(hist[rows[other]], med[other])
        z = np.abs(x[rows[other]] - med[other]) / scale
        decision[rows[other]] = np.where(
            z > 5 * (1 + MARGIN), FIRES, np.where(z < 5 * (1 - MARGIN), FINE, UNDECIDED)
        )
    check = ((x == 0) & (cnt >= 3)) | (decision != FINE)
    for i in np.flatnonzero(check).tolist():
        row = hist[i]
        known = {FIRES: True, FINE: False}.get(int(decision[i]))
        yield present[i], row[~np.isnan(row)].tolist(), known


def _robust_scale(hist: npt.NDArray[np.float64], med: npt.NDArray[np.float64]) -> Any:
    mad = np.nanmedian(np.abs(hist - med[:, None]), axis=1)
    return np.maximum(np.maximum(1.4826 * mad, 0.05 * np.abs(med)), 1e-9)


def _cell_finding(
    types: Mapping[str, str], key: Key, x: float, hist: list[float], known: bool | None
) -> Finding | None:
    """The history rule that fires on one cell, if any (``known``: see :func:`_candidates`)."""
    u, p, ind = key
    if x == 0 and len(hist) >= 3 and statistics.median(hist) >= 5:
        return Finding(
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
    if len(hist) < MIN_HISTORY:
        return None
    if types.get(ind) == "count":
        fires = count_outlier(x, hist)[0] if known is None else known
        if not fires:
            return None
        m, v = _reference(hist)
        return Finding(
            u,
            p,
            ind,
            "outlier_history",
            f"{format_value(x)} is far from this borough's recent values "
            f"(median {format_value(m)}, spread about {v**0.5:.1f} over the previous "
            f"{len(hist)} quarters; tail probability below {TAIL}): please "
            "confirm or correct",
            x,
        )
    if _robust_outlier(x, hist) if known is None else known:
        return Finding(
            u,
            p,
            ind,
            "outlier_history",
            f"{format_value(x)} is more than 5 robust standard "
            "deviations from this borough's recent values",
            x,
        )
    return None


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
