"""Listing, counting and sampling the schemes of a (possibly stratified) two-arm design.

The canonical order of schemes, used everywhere (tie-breaks at the cutoff, the index a
draw picks), is R's ``combn`` order: schemes sorted by the tuple of their intervention
positions over the units sorted by id, i.e. 0/1 rows in *descending* lexicographic order.

Complete enumeration splits the units into a first and a second half and combines the
subsets of each half ("meet in the middle"): a scheme's arm sums are the sums of its two
halves, so ``C(24, 12) = 2,704,156`` schemes are scored from two tables of 4,096 subsets
with a few vectorised additions, with no 0/1 matrix of the whole space. Any rank can be
turned back into its scheme (``unrank``), so only admissible schemes are materialised.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from allocation.errors import DesignError
from allocation.stream import RandomStream

__all__ = [
    "StrataPlan",
    "strata_plan",
    "Enumerated",
    "enumerate_space",
    "sample_space",
    "treated_sums",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
U8Array = npt.NDArray[np.uint8]

MITM_MAX_UNITS = 40
_CHUNK = 1 << 21


@dataclass(frozen=True)
class StrataPlan:
    """Strata of the sorted units and the intervention counts allowed per stratum.

    Attributes
    ----------
    names : tuple of str
        Stratum names in sorted order (one ``""`` stratum when unstratified).
    codes : ndarray
        Stratum index of each unit.
    sizes : tuple of int
        Units per stratum.
    splits : tuple of tuple of int
        Every allowed vector of intervention counts per stratum (each sums to ``n_treated``).
    total : int
        Exact number of schemes: ``sum over splits of prod C(size, count)``.
    """

    names: tuple[str, ...]
    codes: IntArray
    sizes: tuple[int, ...]
    splits: tuple[tuple[int, ...], ...]
    total: int


def strata_plan(strata: Sequence[str] | None, n: int, n_treated: int) -> StrataPlan:
    """Work out the allowed per-stratum splits (``floor``/``ceil`` of the fair share)."""
    if strata is None:
        names: tuple[str, ...] = ("",)
        codes = np.zeros(n, dtype=np.int64)
    else:
        names = tuple(sorted(set(strata)))
        index = {s: i for i, s in enumerate(names)}
        codes = np.array([index[s] for s in strata], dtype=np.int64)
    sizes = tuple(int((codes == i).sum()) for i in range(len(names)))
    options: list[tuple[int, ...]] = []
    for m in sizes:
        lo, rem = divmod(m * n_treated, n)
        options.append((lo,) if rem == 0 else (lo, lo + 1))
    if sum(len(o) > 1 for o in options) > 20:
        raise DesignError("too many strata with a fractional share of the intervention arm")
    splits = tuple(t for t in itertools.product(*options) if sum(t) == n_treated)
    if not splits:
        raise DesignError("no per-stratum split gives the requested intervention count")
    total = sum(math.prod(math.comb(m, t) for m, t in zip(sizes, split)) for split in splits)
    return StrataPlan(names, codes, sizes, splits, total)


@dataclass
class Enumerated:
    """The scores of a whole enumerated space, in canonical order, and a way back to schemes."""

    scores: FloatArray
    feasible: npt.NDArray[np.bool_]
    unrank: Callable[[IntArray], U8Array]


ScoreFn = Callable[[FloatArray], tuple[FloatArray, npt.NDArray[np.bool_]]]


def _half(
    codes: IntArray, radix: IntArray, values: FloatArray
) -> tuple[U8Array, IntArray, FloatArray]:
    """All subsets of some units in descending-mask (lexicographic) order: bits, keys, sums."""
    h = len(codes)
    masks = np.arange((1 << h) - 1, -1, -1, dtype=np.int64)
    shifts = np.arange(h - 1, -1, -1, dtype=np.int64)
    bits = ((masks[:, None] >> shifts[None, :]) & 1).astype(np.uint8)
    keys = bits.astype(np.int64) @ radix[codes] if h else np.zeros(1, dtype=np.int64)
    return bits, keys, _left_to_right(bits, values)


def _left_to_right(bits: U8Array, values: FloatArray) -> FloatArray:
    """Sums of ``values`` rows selected by ``bits``, added one unit at a time in unit order.

    A defined order (not BLAS's) so that sums of non-integer raw covariates, used by the
    cvrcov constraints, round identically in every implementation (docs/randomness.md 7.4).
    """
    out = np.zeros((bits.shape[0], values.shape[1]), dtype=np.float64)
    for j in range(bits.shape[1]):
        out += np.where(bits[:, j : j + 1].astype(bool), values[j][None, :], 0.0)
    return out


def treated_sums(rows: U8Array, values: FloatArray) -> FloatArray:
    """Treated-arm sums of each scheme as the specification computes them: the first
    ``n // 2`` units left to right, the rest left to right, then the two added."""
    h = rows.shape[1] // 2
    return _left_to_right(rows[:, :h], values[:h]) + _left_to_right(rows[:, h:], values[h:])


def enumerate_space(plan: StrataPlan, values: FloatArray, score: ScoreFn) -> Enumerated:
    """Score every scheme of the plan in canonical order.

    ``values`` is the ``(n, K)`` exact fixed-point covariate matrix; ``score`` maps treated
    sums (last axis K) to ``(scores, feasible)``.
    """
    n = len(plan.codes)
    if n > MITM_MAX_UNITS:
        return _enumerate_generic(plan, values, score)
    radix = np.ones(len(plan.sizes), dtype=np.int64)
    for i in range(1, len(plan.sizes)):
        radix[i] = radix[i - 1] * (plan.sizes[i - 1] + 1)
    allowed = np.array(sorted(int(np.dot(radix, s)) for s in plan.splits), dtype=np.int64)
    h = n // 2
    bits_a, keys_a, sums_a = _half(plan.codes[:h], radix, values[:h])
    bits_b, keys_b, sums_b = _half(plan.codes[h:], radix, values[h:])
    valid_b: dict[int, IntArray] = {}
    for key in np.unique(keys_a).tolist():
        valid_b[key] = np.flatnonzero(np.isin(keys_b + key, allowed)).astype(np.int64)
    counts = np.array([len(valid_b[k]) for k in keys_a.tolist()], dtype=np.int64)
    offsets = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
    total = int(counts.sum())
    if total != plan.total:  # pragma: no cover - a guard on the counting logic
        raise DesignError(f"enumeration found {total} schemes, expected {plan.total}")
    scores = np.empty(total, dtype=np.float64)
    feasible = np.empty(total, dtype=bool)
    k = values.shape[1]
    # column-major sums: each covariate's block is contiguous, so the score's per-column
    # arithmetic streams through memory (the arrays are passed on with K as the last axis)
    sums_a_t = np.ascontiguousarray(sums_a.T)
    sums_b_t = np.ascontiguousarray(sums_b.T)
    for key, b_idx in valid_b.items():
        width = len(b_idx)
        if width == 0:
            continue
        a_rows = np.flatnonzero(keys_a == key)
        b_part = sums_b_t[:, b_idx]
        step = max(1, _CHUNK // width)
        for start in range(0, len(a_rows), step):
            rows = a_rows[start : start + step]
            block = np.empty((k, len(rows), width), dtype=np.float64)
            for c in range(k):
                np.add(sums_a_t[c, rows][:, None], b_part[c][None, :], out=block[c])
            sc, ok = score(np.moveaxis(block, 0, -1))
            # each first-half subset owns one contiguous run of ranks
            for i, off in enumerate(offsets[rows].tolist()):
                scores[off : off + width] = sc[i]
                feasible[off : off + width] = ok[i]

    def unrank(ranks: IntArray) -> U8Array:
        ranks = np.asarray(ranks, dtype=np.int64)
        a_pos = np.searchsorted(offsets, ranks, side="right") - 1
        # rows with zero valid completions share offsets; searchsorted(right) picks the last,
        # which is the row that owns the rank because empty rows add no width
        out = np.empty((len(ranks), n), dtype=np.uint8)
        out[:, :h] = bits_a[a_pos]
        within = ranks - offsets[a_pos]
        for key in np.unique(keys_a[a_pos]).tolist():
            sel = keys_a[a_pos] == key
            out[sel, h:] = bits_b[valid_b[key][within[sel]]]
        return out

    return Enumerated(scores, feasible, unrank)


def _canonical_sort(rows: U8Array) -> U8Array:
    """Sort 0/1 rows into canonical (descending lexicographic) order."""
    if len(rows) == 0:
        return rows
    if rows.shape[1] <= 64:  # one integer per row, most significant bit first: one sort
        packed = np.packbits(rows, axis=1)
        wide = np.zeros((rows.shape[0], 8), dtype=np.uint8)
        wide[:, : packed.shape[1]] = packed
        keys = wide.view(">u8").ravel()
        return rows[np.argsort(~keys.astype(np.uint64), kind="stable")]
    order = np.lexsort([-rows[:, j].astype(np.int16) for j in range(rows.shape[1] - 1, -1, -1)])
    return rows[order]


def _enumerate_generic(plan: StrataPlan, values: FloatArray, score: ScoreFn) -> Enumerated:
    """Fallback for many units (small spaces only): product of per-stratum combinations."""
    n = len(plan.codes)
    members = [np.flatnonzero(plan.codes == s).tolist() for s in range(len(plan.sizes))]
    rows_list: list[list[int]] = []
    for split in plan.splits:
        for parts in itertools.product(
            *(itertools.combinations(m, t) for m, t in zip(members, split))
        ):
            row = [0] * n
            for part in parts:
                for i in part:
                    row[i] = 1
            rows_list.append(row)
    rows = _canonical_sort(np.array(rows_list, dtype=np.uint8).reshape(-1, n))
    sc, ok = score(treated_sums(rows, values))

    def unrank(ranks: IntArray) -> U8Array:
        return rows[np.asarray(ranks, dtype=np.int64)]

    return Enumerated(sc, ok, unrank)


def sample_space(
    plan: StrataPlan, size: int, stream: RandomStream, *, fast: bool = True
) -> U8Array:
    """Draw ``size`` distinct schemes uniformly from the plan's space, canonically sorted.

    Each draw picks a split with probability proportional to its number of schemes
    (``randbelow(total)`` against cumulative counts, splits in listed order), then, stratum
    by stratum in name order, ``stream.sample(members, count)``. Duplicates are discarded.
    ``fast`` parses the same stream bytes in one pass over a prefetched buffer
    (:mod:`allocation.sampling`), giving identical schemes and leaving the stream at the same
    position; ``fast=False`` runs the specification call by call (the reference).
    """
    # lazy: loads allocation.sampling (start-up time)
    from allocation.sampling import sample_rows_fast

    if size >= plan.total:
        raise DesignError("sample size must be smaller than the space")
    n = len(plan.codes)
    members = [np.flatnonzero(plan.codes == s).tolist() for s in range(len(plan.sizes))]
    weights = [
        math.prod(math.comb(m, t) for m, t in zip(plan.sizes, split)) for split in plan.splits
    ]
    cumulative = list(itertools.accumulate(weights))
    if fast:
        return sample_rows_fast(stream, size, n, members, plan.splits, cumulative)
    seen: set[bytes] = set()
    rows: list[U8Array] = []
    while len(rows) < size:
        r = stream.randbelow(plan.total)
        split = plan.splits[next(i for i, c in enumerate(cumulative) if r < c)]
        row = np.zeros(n, dtype=np.uint8)
        for m, t in zip(members, split):
            row[stream.sample(m, t)] = 1
        key = row.tobytes()
        if key not in seen:
            seen.add(key)
            rows.append(row)
    return _canonical_sort(np.array(rows, dtype=np.uint8))
