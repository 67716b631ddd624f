"""Vectorised evaluation of the history rules of :mod:`rct.capture.rules` for many cells.

A return set holds tens of thousands of cells. Judging each one with scalar code (a sorted
history, two medians, a call into ``scipy.special``) costs far more than storing it, and
importing ``scipy.special`` alone takes about a third of a second. Here the histories of
all cells are gathered into one matrix, the medians and spreads computed at once, and the
``outlier_history`` rule for counts is decided from bounds on its tail probabilities:

* lower bounds: a tail is at least the sum of its first :data:`TERMS` probabilities
  (computed from the probability at the value and the ratio of successive terms);
* upper bounds: the rest of a tail is at most a geometric series, because the ratio of
  successive terms beyond them never exceeds a bound ``r < 1`` derived per cell.

A cell whose tails are both at least ``TAIL * (1 + MARGIN)`` does not fire; one with a tail
at most ``TAIL * (1 - MARGIN)`` fires; the rare cell in between (or with parameters where
the bounds are not sharp) is left undecided, and :mod:`rct.capture.rules` judges it with
the exact scalar code. The decisions are therefore those of
:func:`rct.capture.rules.count_outlier`, which stays the definition of the rule.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from protocols.quarters import Quarter

__all__ = [
    "history_matrix",
    "reference",
    "count_tail_decisions",
    "FIRES",
    "FINE",
    "UNDECIDED",
    "MARGIN",
]

Key = tuple[str, str, str]
Floats = npt.NDArray[np.float64]
FIRES, FINE, UNDECIDED = 1, 0, -1
#: Terms of each tail summed before the geometric bound of the remainder.
TERMS = 48
#: Relative distance from the threshold inside which a tail is judged exactly.
MARGIN = 1e-6
#: Above this negative binomial size, log-gamma differences lose precision: judge exactly.
MAX_SIZE = 1e7


def history_matrix(
    values: Mapping[Key, float], targets: Sequence[Key], lookback: int
) -> tuple[Floats, Floats] | None:
    """The value of each target and its history: up to ``lookback`` values of the same
    borough and indicator in earlier quarters, oldest first, left-padded with NaN.

    Returns None when two keys of one borough and indicator name the same quarter (periods
    not in canonical form), where "earlier" needs the scalar definition.
    """
    n = len(values)
    quarter: dict[str, int] = {}
    series: dict[tuple[str, str], int] = {}
    sid = np.empty(n, dtype=np.int64)
    qix = np.empty(n, dtype=np.int64)
    row: dict[Key, int] = {}
    for i, key in enumerate(values):
        u, p, ind = key
        q = quarter.get(p)
        if q is None:
            q = quarter[p] = Quarter.parse(p).index
        sid[i] = series.setdefault((u, ind), len(series))
        qix[i] = q
        row[key] = i
    val = np.fromiter(values.values(), dtype=np.float64, count=n)
    order = np.lexsort((qix, sid))
    s_sid, s_q, s_val = sid[order], qix[order], val[order]
    if n > 1 and bool(np.any((s_sid[1:] == s_sid[:-1]) & (s_q[1:] == s_q[:-1]))):
        return None
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    pos = rank[np.fromiter((row[k] for k in targets), dtype=np.int64, count=len(targets))]
    hist = np.full((len(targets), lookback), np.nan)
    for lag in range(1, lookback + 1):
        j = pos - lag
        ok = j >= 0
        ok[ok] = s_sid[j[ok]] == s_sid[pos[ok]]
        hist[ok, lookback - lag] = s_val[j[ok]]
    return s_val[pos], hist


def reference(hist: Floats, cv_floor: float) -> tuple[Floats, Floats, Floats]:
    """Per row of a history matrix (at least one value each): median, MAD, and the mean
    ``m`` and variance ``v`` of the count reference distribution, as
    :func:`rct.capture.rules.tails` defines them. Returns (median, m, v)."""
    med = np.nanmedian(hist, axis=1)
    mad = np.nanmedian(np.abs(hist - med[:, None]), axis=1)
    m = np.maximum(med, 0.5)
    v = np.maximum(np.maximum(m, (1.4826 * mad) ** 2), (cv_floor * m) ** 2)
    return med, m, v


def _lgamma(x: Floats) -> Floats:
    return np.fromiter(map(math.lgamma, x.tolist()), dtype=np.float64, count=len(x))


def _tail_bounds(first: Floats, ratio: Floats, steps: Floats, r: Floats) -> tuple[Floats, Floats]:
    """Bounds on a tail that starts with probability ``first``; term ``i + 1`` is term
    ``i`` times ``ratio[:, i]``; only ``steps`` terms exist (inf: unbounded); every ratio
    after :data:`TERMS` terms is at most ``r``. Returns (lower, upper)."""
    terms = first[:, None] * np.cumprod(
        np.concatenate([np.ones((len(first), 1)), ratio], axis=1), axis=1
    )
    idx = np.arange(TERMS + 1)[None, :]
    terms = np.where(idx < steps[:, None], terms, 0.0)
    lower = terms[:, :TERMS].sum(axis=1)
    rest = terms[:, TERMS]
    with np.errstate(divide="ignore", invalid="ignore"):
        geometric = np.where(r < 1, rest / (1 - r), np.inf)
    # with at most TERMS + 1 terms the remainder is the last term itself
    return lower, lower + np.where(steps <= TERMS + 1, rest, geometric)


def count_tail_decisions(k: Floats, m: Floats, v: Floats, tail: float) -> npt.NDArray[np.int8]:
    """For each count ``k`` with reference mean ``m`` and variance ``v``: FIRES when one of
    P(X <= k), P(X >= k) is below ``tail``, FINE when neither is, UNDECIDED when the bounds
    cannot tell (see the module docstring)."""
    out = np.full(len(k), UNDECIDED, dtype=np.int8)
    whole = (k >= 0) & (k == np.floor(k)) & np.isfinite(k) & (k < 1e9)
    poisson = v <= m * (1 + 1e-9)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        n = np.where(poisson, 1.0, m * m / (v - m))
        q = np.where(poisson, 0.5, 1 - m / v)
        usable = whole & (poisson | ((n < MAX_SIZE) & (q > 0) & (q < 1)))
        kk = np.where(usable, k, 0.0)
        nn = np.where(usable & ~poisson, n, 1.0)
        log_pmf = np.where(
            poisson,
            kk * np.log(m) - m - _lgamma(kk + 1),
            _lgamma(kk + nn) - _lgamma(nn) - _lgamma(kk + 1) + nn * np.log(m / v) + kk * np.log(q),
        )
    first = np.exp(log_pmf)
    high = tail * (1 + MARGIN)
    # both tails contain the value itself: a likely value needs no more
    quick = usable & (first >= high)
    out[quick] = FINE
    rest = np.flatnonzero(usable & ~quick)
    if len(rest):
        out[rest] = _decide(kk[rest], m[rest], nn[rest], q[rest], poisson[rest], first[rest], tail)
    return out


def _decide(
    kk: Floats,
    m: Floats,
    nn: Floats,
    q: Floats,
    poisson: npt.NDArray[np.bool_],
    first: Floats,
    tail: float,
) -> npt.NDArray[np.int8]:
    step = np.arange(TERMS)[None, :]
    pois = poisson[:, None]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # upper tail P(X >= k): terms k, k + 1, ...; ratio pmf(j + 1) / pmf(j)
        j = kk[:, None] + step
        up_ratio = np.where(pois, m[:, None] / (j + 1), (j + nn[:, None]) / (j + 1) * q[:, None])
        far = kk + TERMS
        up_r = np.where(poisson, m / (far + 1), np.where(nn >= 1, (far + nn) / (far + 1), 1.0) * q)
        up_lo, up_hi = _tail_bounds(first, up_ratio, np.full(len(kk), np.inf), up_r)
        up_lo = np.where(kk < 1, 1.0, up_lo)
        up_hi = np.where(kk < 1, 1.0, up_hi)
        # lower tail P(X <= k): terms k, k - 1, ..., 0; ratio pmf(j - 1) / pmf(j)
        j = kk[:, None] - step
        down_ratio = np.where(pois, j / m[:, None], j / ((j - 1 + nn[:, None]) * q[:, None]))
        down_ratio = np.where(j >= 1, down_ratio, 0.0)
        near = kk - TERMS  # the largest j whose ratio the remainder uses
        down_r = np.where(
            poisson, near / m, np.where(nn >= 1, near / ((near - 1 + nn) * q), 1 / (nn * q))
        )
        lo_lo, lo_hi = _tail_bounds(first, down_ratio, kk + 1, down_r)
    low, high = tail * (1 - MARGIN), tail * (1 + MARGIN)
    valid = np.isfinite(up_lo) & np.isfinite(lo_lo)
    fires = (up_hi <= low) | (lo_hi <= low)
    fine = (up_lo >= high) & (lo_lo >= high)
    out = np.full(len(kk), UNDECIDED, dtype=np.int8)
    out[valid & fires] = FIRES
    out[valid & fine & ~fires] = FINE
    return out
