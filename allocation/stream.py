"""The versioned randomness stream used for every allocation draw.

Allocation randomness must be reproducible years later and in other languages, so it never
comes from numpy's or Python's generators (whose streams may change between versions).
It comes from this stream, specified byte for byte in ``docs/randomness.md``:

* block ``i`` (``i = 0, 1, 2, ...``) is
  ``HMAC-SHA256(key=seed, msg=b"rct-stream-v1" || 0x00 || label || 0x00 || uint64_be(i))``,
  where ``seed`` is exactly 32 bytes and ``label`` is the UTF-8 domain label (no NUL);
* the stream's bytes are the blocks concatenated in order, consumed front to back and
  never reused;
* ``randbelow(n)``: ``b = bit_length(n - 1)``; take ``ceil(b / 8)`` bytes, read them as a
  big-endian unsigned integer, keep its low ``b`` bits; accept if ``< n``, else repeat.
  ``randbelow(1)`` returns 0 and consumes nothing;
* ``shuffle``: Fisher–Yates from the last position down, ``j = randbelow(i + 1)``;
* ``sample(items, k)``: partial Fisher–Yates from the first position up,
  ``j = i + randbelow(len - i)`` for ``i = 0 .. k - 1``; the first ``k`` items;
* ``bernoulli(p)``: ``p`` as an exact fraction ``a/b``; true iff ``randbelow(b) < a``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, TypeVar

from allocation.errors import StreamError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["STREAM_VERSION", "SEED_BYTES", "RandomStream"]

STREAM_VERSION = "rct-stream-v1"
SEED_BYTES = 32

T = TypeVar("T")


class RandomStream:
    """A deterministic byte stream keyed by a 256-bit seed and a domain label.

    Parameters
    ----------
    seed : bytes
        Exactly 32 bytes, normally from :func:`allocation.commitment.new_seed`.
    label : str
        Domain label separating independent uses of one seed (e.g. ``"scheme-draw"``).
        Non-empty, no NUL character.

    Examples
    --------
    >>> s = RandomStream(bytes(32), "example")
    >>> s.randbelow(6) in range(6)
    True
    """

    __slots__ = (
        "_seed",
        "_label",
        "_prefix",
        "_inner",
        "_outer",
        "_counter",
        "_buffer",
        "_consumed",
    )

    def __init__(self, seed: bytes, label: str) -> None:
        if not isinstance(seed, (bytes, bytearray)) or len(seed) != SEED_BYTES:
            raise StreamError(f"seed must be exactly {SEED_BYTES} bytes")
        if not isinstance(label, str) or not label or "\x00" in label:
            raise StreamError("label must be a non-empty string without NUL characters")
        self._seed = bytes(seed)
        self._label = label
        self._prefix = STREAM_VERSION.encode("ascii") + b"\x00" + label.encode("utf-8") + b"\x00"
        # HMAC-SHA256 (RFC 2104) with its two keyed states precomputed, the inner one
        # already past the constant prefix: each block then costs two short hash updates
        key = self._seed.ljust(64, b"\x00")  # the 32-byte key is zero-padded to the block size
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key) + self._prefix)
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
        self._counter = 0
        self._buffer = bytearray()
        self._consumed = 0

    @property
    def label(self) -> str:
        """The domain label of this stream."""
        return self._label

    @property
    def bytes_consumed(self) -> int:
        """How many stream bytes have been consumed so far."""
        return self._consumed

    def block(self, counter: int) -> bytes:
        """Return raw block ``counter`` (32 bytes) without consuming anything."""
        if counter < 0 or counter >= 2**64:
            raise StreamError("block counter must be in [0, 2**64)")
        msg = self._prefix + counter.to_bytes(8, "big")
        return hmac.new(self._seed, msg, hashlib.sha256).digest()

    def _fill(self, k: int) -> None:
        """Make sure at least ``k`` unconsumed bytes are buffered (blocks in counter order)."""
        missing = k - len(self._buffer)
        if missing <= 0:
            return
        count = -(-missing // 32)
        if self._counter + count > 2**64:
            raise StreamError("the stream is exhausted (2**64 blocks)")
        inner, outer, start = self._inner, self._outer, self._counter
        blocks = []
        for i in range(start, start + count):
            h = inner.copy()
            h.update(i.to_bytes(8, "big"))
            o = outer.copy()
            o.update(h.digest())
            blocks.append(o.digest())
        self._buffer += b"".join(blocks)
        self._counter += count

    def peek(self, k: int) -> bytes:
        """The next ``k`` bytes of the stream, without consuming them."""
        if k < 0:
            raise StreamError("cannot peek a negative number of bytes")
        self._fill(k)
        return bytes(self._buffer[:k])

    def read(self, k: int) -> bytes:
        """Consume and return the next ``k`` bytes of the stream."""
        if k < 0:
            raise StreamError("cannot read a negative number of bytes")
        self._fill(k)
        out = bytes(self._buffer[:k])
        del self._buffer[:k]
        self._consumed += k
        return out

    def randbelow(self, n: int) -> int:
        """Return an integer uniform on ``0 .. n - 1`` by rejection sampling.

        Parameters
        ----------
        n : int
            Upper bound (exclusive), ``n >= 1``; any size (Python integers).
        """
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise StreamError("randbelow needs an integer n >= 1")
        if n == 1:
            return 0
        bits = (n - 1).bit_length()
        nbytes = (bits + 7) // 8
        mask = (1 << bits) - 1
        while True:
            x = int.from_bytes(self.read(nbytes), "big") & mask
            if x < n:
                return x

    def randbelow_array(self, n: int, count: int) -> npt.NDArray[np.int64]:
        """``count`` successive :meth:`randbelow` (``n``) draws at once, consuming exactly the
        same bytes and giving exactly the same values, vectorised with numpy.

        Parameters
        ----------
        n : int
            Upper bound (exclusive), ``1 <= n <= 2**63``.
        count : int
            Number of draws.
        """
        # lazy: loads numpy (start-up time)
        import numpy as np

        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 2**63:
            raise StreamError("randbelow_array needs an integer 1 <= n <= 2**63")
        if count < 0:
            raise StreamError("count must be non-negative")
        if n == 1 or count == 0:
            return np.zeros(count, dtype=np.int64)
        bits = (n - 1).bit_length()
        k = (bits + 7) // 8
        mask = np.uint64((1 << bits) - 1)
        out: list[npt.NDArray[np.int64]] = []
        need = count
        while need:
            attempts = need + need // 2 + 16  # each attempt succeeds with p > 1/2
            raw = np.frombuffer(self.peek(attempts * k), dtype=np.uint8).reshape(attempts, k)
            values = np.zeros(attempts, dtype=np.uint64)
            for j in range(k):  # big-endian
                values = (values << np.uint64(8)) | raw[:, j].astype(np.uint64)
            values &= mask
            accepted = np.flatnonzero(values < np.uint64(n))
            take = accepted[:need]
            used = int(take[-1]) + 1 if len(take) == need else attempts
            self.read(used * k)
            out.append(values[take].astype(np.int64))
            need -= len(take)
        return np.concatenate(out)

    def shuffle(self, items: Sequence[T]) -> list[T]:
        """Return a new list: ``items`` in a uniformly random order (Fisher–Yates)."""
        out = list(items)
        for i in range(len(out) - 1, 0, -1):
            j = self.randbelow(i + 1)
            out[i], out[j] = out[j], out[i]
        return out

    def sample(self, items: Sequence[T], k: int) -> list[T]:
        """Return ``k`` distinct items chosen uniformly (partial Fisher–Yates), in draw order."""
        out = list(items)
        if not 0 <= k <= len(out):
            raise StreamError(f"cannot sample {k} of {len(out)} items")
        for i in range(k):
            j = i + self.randbelow(len(out) - i)
            out[i], out[j] = out[j], out[i]
        return out[:k]

    def bernoulli(self, p: Fraction | float | int) -> bool:
        """Return True with probability exactly ``p`` (a fraction; floats via their decimal text)."""
        frac = p if isinstance(p, Fraction) else Fraction(str(p))
        if not 0 <= frac <= 1:
            raise StreamError("probability must be in [0, 1]")
        if frac == 0:
            return False
        if frac == 1:
            return True
        return self.randbelow(frac.denominator) < frac.numerator
