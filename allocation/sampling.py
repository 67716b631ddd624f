"""Sampling a large scheme space with vectorised stream draws, byte-identical to the spec.

The specification (``docs/randomness.md`` section 8) draws schemes one after another from
one stream: ``randbelow(total)`` picks the split, then each stratum's partial
Fisher–Yates ``sample`` makes one ``randbelow(m - i)`` per treated unit, each a rejection
loop over fixed-width chunks of bytes. Done call by call in Python that is ~800,000
``randbelow`` calls for 50,000 schemes at n = 30 (4.4 s). Here the same byte stream is
parsed with numpy instead, in three passes over a buffer of upcoming stream bytes:

1. for every request type ``randbelow(n)`` (``k`` bytes per attempt) and every buffer
   position ``p``: the position just after the first accepted attempt at ``p``,
   ``p + k``, ``p + 2k``, ... (a reversed running minimum per residue class of ``k``);
2. composing those maps along a scheme's request pattern gives, for every position, where
   a scheme starting there ends; following that map from the stream's current position
   gives every scheme's start (a short Python loop of table look-ups);
3. the accepted values at the known positions, grouped by split, drive the Fisher–Yates
   swaps for all schemes at once.

Schemes are then deduplicated in draw order exactly as the sequential loop does, and the
stream is advanced by exactly the bytes the sequential loop would have consumed. A test
compares the two on many plans, seeds and sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from allocation.stream import RandomStream

__all__ = ["sample_rows_fast", "fast_sampling_supported"]

U8Array = npt.NDArray[np.uint8]
IntArray = npt.NDArray[np.int32]

MAX_SPLITS = 64
IDX = np.int32  # buffer positions: the buffer stays far below 2**31 bytes


@dataclass(frozen=True)
class _Request:
    n: int
    k: int
    mask: int


def _request(n: int) -> _Request:
    bits = (n - 1).bit_length()
    return _Request(n, (bits + 7) // 8, (1 << bits) - 1)


def fast_sampling_supported(total: int, n_splits: int) -> bool:
    """Whether :func:`sample_rows_fast` handles the plan (counts below 2**63, few splits)."""
    return 2 <= total < 2**63 and n_splits <= MAX_SPLITS


def _ends(buf: U8Array, req: _Request) -> IntArray:
    """``end[p]``: position after the first accepted attempt starting at ``p`` (step ``k``).

    Positions run over ``0 .. L`` plus a sentinel ``L + 1`` meaning "not within the buffer";
    the returned array has ``L + 2`` entries and the sentinel maps to itself.
    """
    length, k = len(buf), req.k
    size = length + 2
    sentinel = length + 1
    if req.n == 1:
        return np.arange(size, dtype=IDX)
    m = length - k + 1  # attempts that fit start at 0 .. length - k
    end = np.full(size, sentinel, dtype=IDX)
    if m <= 0:
        return end
    if req.n > req.mask:  # n a power of two: every attempt is accepted
        accepted = np.ones(m, dtype=bool)
    elif k == 1:
        accepted = (buf & np.uint8(req.mask)) < np.uint8(req.n)
    else:
        values = _window_values(buf, k, m)
        accepted = (values & np.uint64(req.mask)) < np.uint64(req.n)
    candidate = np.where(accepted, np.arange(k, m + k, dtype=IDX), IDX(sentinel))
    for r in range(k):  # the attempts from p are p, p + k, ...: one residue class each
        # running minimum from the back: the first accepted attempt at or after p
        np.minimum.accumulate(candidate[r::k][::-1], out=end[r:m:k][::-1])
    return end


def _window_values(buf: U8Array, k: int, m: int) -> npt.NDArray[np.uint64]:
    """Big-endian value of the ``k`` bytes at each of positions ``0 .. m - 1``."""
    if k <= 4:  # 32-bit arithmetic is several times faster where it suffices
        small: npt.NDArray[np.uint32] = buf[0:m].astype(np.uint32)
        for j in range(1, k):
            small = (small << np.uint32(8)) | buf[j : j + m]
        return small.astype(np.uint64)
    values: npt.NDArray[np.uint64] = buf[0:m].astype(np.uint64)
    for j in range(1, k):
        values = (values << np.uint64(8)) | buf[j : j + m].astype(np.uint64)
    return values


def _value(buf: U8Array, req: _Request, ends: IntArray) -> npt.NDArray[np.int64]:
    """The accepted value of the attempt that ends at each of ``ends``."""
    start = ends.astype(np.int64) - req.k
    out = buf[start].astype(np.uint64)
    for j in range(1, req.k):
        out = (out << np.uint64(8)) | buf[start + j]
    return (out & np.uint64(req.mask)).astype(np.int64)


def sample_rows_fast(
    stream: RandomStream,
    size: int,
    n: int,
    members: list[list[int]],
    splits: tuple[tuple[int, ...], ...],
    cumulative: list[int],
) -> U8Array:
    """The first ``size`` distinct schemes the sequential sampler draws, in draw order.

    Consumes exactly the stream bytes the sequential sampler consumes.
    """
    total = cumulative[-1]
    first = _request(total)
    patterns = [
        [_request(len(m) - i) for m, t in zip(members, split) for i in range(t)] for split in splits
    ]
    per_scheme = first.k * (first.mask + 1) / total + max(
        sum(r.k * (r.mask + 1) / r.n for r in p if r.n > 1) for p in patterns
    )
    estimate = int(size * per_scheme * 1.25) + 256
    while True:
        rows, used = _attempt(stream, size, n, members, splits, cumulative, patterns, estimate)
        if rows is not None:
            stream.read(used)
            return rows
        estimate *= 2


def _attempt(
    stream: RandomStream,
    size: int,
    n: int,
    members: list[list[int]],
    splits: tuple[tuple[int, ...], ...],
    cumulative: list[int],
    patterns: list[list[_Request]],
    length: int,
) -> tuple[U8Array | None, int]:
    buf = np.frombuffer(stream.peek(length), dtype=np.uint8)
    sentinel = length + 1
    first = _request(cumulative[-1])
    cache: dict[int, IntArray] = {}

    def ends_of(req: _Request) -> IntArray:
        if req.n not in cache:
            cache[req.n] = _ends(buf, req)
        return cache[req.n]

    # pass 1 and 2: where a scheme starting at each position ends
    end_first = ends_of(first)
    split_at = np.zeros(length + 2, dtype=np.int64)
    ok_first = end_first < sentinel
    r_first = _value(buf, first, end_first[ok_first])
    split_at[ok_first] = np.searchsorted(np.array(cumulative, dtype=np.int64), r_first, "right")
    scheme_end = np.full(length + 2, sentinel, dtype=IDX)
    for s, pattern in enumerate(patterns):
        e = np.arange(length + 2, dtype=IDX)
        for req in pattern:
            e = ends_of(req)[e]
        pick = ok_first & (split_at == s)
        scheme_end[pick] = e[end_first[pick]]
    jump = scheme_end.tolist()
    starts: list[int] = []
    p = 0
    while jump[p] < sentinel:
        starts.append(p)
        p = jump[p]
    if not starts:
        return None, 0
    start_arr = np.array(starts, dtype=IDX)
    # pass 3: the schemes themselves, grouped by split
    rows = np.zeros((len(starts), n), dtype=np.uint8)
    after_first = end_first[start_arr]
    chosen_split = split_at[start_arr]
    for s, split in enumerate(splits):
        sel = np.flatnonzero(chosen_split == s)
        if len(sel) == 0:
            continue
        pos = after_first[sel]
        for m, t in zip(members, split):
            perm = np.tile(np.array(m, dtype=np.int64), (len(sel), 1))
            idx = np.arange(len(sel))
            for i in range(t):
                req = _request(len(m) - i)
                if req.n > 1:
                    e = ends_of(req)[pos]
                    j = i + _value(buf, req, e)
                    pos = e
                else:
                    j = np.full(len(sel), i, dtype=np.int64)
                a = perm[idx, i].copy()
                perm[idx, i] = perm[idx, j]
                perm[idx, j] = a
            rows[sel[:, None], perm[:, :t]] = 1
    # keep first occurrences in draw order until ``size`` distinct schemes
    keys = np.packbits(rows, axis=1)
    view = np.ascontiguousarray(keys).view(np.dtype((np.void, keys.shape[1]))).ravel()
    _, first_seen = np.unique(view, return_index=True)
    first_seen.sort()
    if len(first_seen) < size:
        return None, 0
    last = int(first_seen[size - 1])
    used = int(scheme_end[start_arr[last]])
    return rows[first_seen[:size]], used
