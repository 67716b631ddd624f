"""Allocation of units that arrive one at a time: permuted blocks and minimisation.

Both methods are reproducible from the seed and the order of arrival: all randomness
comes from :class:`~allocation.stream.RandomStream` with method-specific labels, consumed
in arrival order.

* :class:`PermutedBlocks` - within each stratum, blocks holding each arm in proportion to
  the ratio, of a size drawn at random from the allowed multiples, shuffled. Guarantee:
  at the end of every block the stratum's arm counts are exactly in ratio, so at any time
  each arm's count differs from its ratio share by less than one block.
* :class:`Minimisation` - Pocock–Simon: for each arm, the imbalance (range or variance of
  ratio-adjusted counts) over the new unit's factor levels if the unit joined that arm,
  weighted by factor; the arm with the least total is preferred (ties broken at random)
  and given with probability ``p_preferred``, otherwise another arm at random.
  Guarantee: none on marginal balance in general (that is the price of the random
  element); with ``max_imbalance`` set, the overall ratio-adjusted arm counts never
  differ by more than it (arms that would break it are not eligible). With
  ``p_preferred = 1``, one factor and equal ratios, every level's counts differ by at most 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from allocation.design import CONTROL, INTERVENTION
from allocation.errors import SequentialError
from allocation.stream import RandomStream

__all__ = ["Assignment", "PermutedBlocks", "Minimisation"]

BLOCKS_LABEL = "permuted-blocks"
MINIMISATION_LABEL = "minimisation"


@dataclass(frozen=True)
class Assignment:
    """One sequential assignment: which unit, which arm, and its arrival number (from 0)."""

    unit_id: str
    arm: str
    sequence: int
    stratum: str | None = None


def _check_arms(
    arms: Sequence[str], ratio: Sequence[int]
) -> tuple[tuple[str, ...], tuple[int, ...]]:
    arms_t, ratio_t = tuple(arms), tuple(ratio)
    if len(arms_t) < 2 or len(set(arms_t)) != len(arms_t):
        raise SequentialError("need at least two distinct arms")
    if len(ratio_t) != len(arms_t) or any(not isinstance(r, int) or r < 1 for r in ratio_t):
        raise SequentialError("ratio needs one positive integer per arm")
    return arms_t, ratio_t


class PermutedBlocks:
    """Permuted blocks with random block sizes, within strata.

    Parameters
    ----------
    seed : bytes
        32-byte seed.
    arms : sequence of str
        Arm names (default intervention, control).
    ratio : sequence of int
        Allocation ratio per arm (default 1:1).
    multiples : sequence of int
        Allowed block sizes as multiples of ``sum(ratio)``; each block's multiple is
        ``multiples[randbelow(len(multiples))]``.
    """

    def __init__(
        self,
        seed: bytes,
        *,
        arms: Sequence[str] = (INTERVENTION, CONTROL),
        ratio: Sequence[int] = (1, 1),
        multiples: Sequence[int] = (1, 2),
    ) -> None:
        self.arms, self.ratio = _check_arms(arms, ratio)
        self.multiples = tuple(multiples)
        if not self.multiples or any(not isinstance(m, int) or m < 1 for m in self.multiples):
            raise SequentialError("block multiples must be positive integers")
        self._seed = bytes(seed)
        RandomStream(self._seed, BLOCKS_LABEL)  # validates the seed early
        self._streams: dict[str, RandomStream] = {}
        self._pending: dict[str, list[str]] = {}
        self._seen: set[str] = set()
        self.assignments: list[Assignment] = []

    def _next_block(self, stratum: str) -> list[str]:
        stream = self._streams.setdefault(
            stratum, RandomStream(self._seed, f"{BLOCKS_LABEL}:{stratum}")
        )
        m = self.multiples[stream.randbelow(len(self.multiples))]
        block = [arm for arm, r in zip(self.arms, self.ratio) for _ in range(r * m)]
        return stream.shuffle(block)

    def assign(self, unit_id: str, stratum: str = "") -> Assignment:
        """Assign the next arriving unit (in stratum ``stratum``)."""
        if unit_id in self._seen:
            raise SequentialError(f"unit {unit_id!r} was already assigned")
        pending = self._pending.setdefault(stratum, [])
        if not pending:
            pending.extend(self._next_block(stratum))
        arm = pending.pop(0)
        self._seen.add(unit_id)
        out = Assignment(unit_id, arm, len(self.assignments), stratum or None)
        self.assignments.append(out)
        return out


class Minimisation:
    """Pocock–Simon minimisation with a random element and unequal ratios.

    Parameters
    ----------
    seed : bytes
        32-byte seed.
    factors : mapping of str to float
        Factor name -> weight (positive).
    arms, ratio : sequences
        Arms and integer allocation ratio; counts are divided by the ratio before
        measuring imbalance, so 2:1 balance means counts in 2:1.
    p_preferred : float or Fraction
        Probability of giving the preferred arm (``1`` = deterministic).
    imbalance : {"range", "variance"}
        Imbalance measure across arms for one factor level.
    max_imbalance : float, optional
        Hard bound on the overall range of ratio-adjusted arm counts (at least 1).
    """

    def __init__(
        self,
        seed: bytes,
        factors: Mapping[str, float],
        *,
        arms: Sequence[str] = (INTERVENTION, CONTROL),
        ratio: Sequence[int] = (1, 1),
        p_preferred: float | Fraction = Fraction(4, 5),
        imbalance: Literal["range", "variance"] = "range",
        max_imbalance: float | None = None,
    ) -> None:
        self.arms, self.ratio = _check_arms(arms, ratio)
        self.factors = dict(factors)
        if not self.factors or any(not w > 0 for w in self.factors.values()):
            raise SequentialError("need at least one factor, each with a positive weight")
        self.p_preferred = (
            p_preferred if isinstance(p_preferred, Fraction) else Fraction(str(p_preferred))
        )
        if not 0 < self.p_preferred <= 1:
            raise SequentialError("p_preferred must be in (0, 1]")
        if imbalance not in ("range", "variance"):
            raise SequentialError('imbalance must be "range" or "variance"')
        self.imbalance = imbalance
        if max_imbalance is not None and max_imbalance < 1:
            raise SequentialError("max_imbalance must be at least 1")
        self.max_imbalance = max_imbalance
        self._stream = RandomStream(bytes(seed), MINIMISATION_LABEL)
        self._counts: dict[tuple[str, str], list[int]] = {}
        self.totals = [0] * len(self.arms)
        self._seen: set[str] = set()
        self.assignments: list[Assignment] = []

    def _spread(self, adjusted: list[Fraction]) -> Fraction:
        if self.imbalance == "range":
            return max(adjusted) - min(adjusted)
        mean = sum(adjusted, Fraction(0)) / len(adjusted)
        return sum(((a - mean) ** 2 for a in adjusted), Fraction(0)) / len(adjusted)

    def _adjusted(self, counts: Sequence[int]) -> list[Fraction]:
        return [Fraction(c, r) for c, r in zip(counts, self.ratio)]

    def scores(self, levels: Mapping[str, str]) -> list[Fraction]:
        """Weighted imbalance if the unit with ``levels`` joined each arm (exact fractions)."""
        out = []
        for a in range(len(self.arms)):
            total = Fraction(0)
            for factor, weight in self.factors.items():
                counts = list(self._counts.get((factor, levels[factor]), [0] * len(self.arms)))
                counts[a] += 1
                total += Fraction(str(weight)) * self._spread(self._adjusted(counts))
            out.append(total)
        return out

    def _eligible(self) -> list[int]:
        if self.max_imbalance is None:
            return list(range(len(self.arms)))
        ok = []
        for a in range(len(self.arms)):
            counts = list(self.totals)
            counts[a] += 1
            adj = self._adjusted(counts)
            if max(adj) - min(adj) <= Fraction(str(self.max_imbalance)):
                ok.append(a)
        return ok

    def assign(self, unit_id: str, levels: Mapping[str, str]) -> Assignment:
        """Assign the next arriving unit with its factor ``levels``.

        Stream use per unit, in order: ``randbelow(#tied)`` if several eligible arms tie
        for least imbalance; ``bernoulli(p_preferred)`` if ``p_preferred < 1`` and another
        eligible arm exists; ``randbelow(#others)`` if the preferred arm is not given and
        more than one other eligible arm exists.
        """
        if unit_id in self._seen:
            raise SequentialError(f"unit {unit_id!r} was already assigned")
        missing = [f for f in self.factors if f not in levels]
        if missing:
            raise SequentialError(f"unit {unit_id!r} lacks levels for factors {missing}")
        scores = self.scores(levels)
        eligible = self._eligible()
        best = min(scores[a] for a in eligible)
        tied = [a for a in eligible if scores[a] == best]
        preferred = tied[self._stream.randbelow(len(tied))] if len(tied) > 1 else tied[0]
        others = [a for a in eligible if a != preferred]
        choice = preferred
        if others and self.p_preferred < 1 and not self._stream.bernoulli(self.p_preferred):
            choice = others[self._stream.randbelow(len(others))] if len(others) > 1 else others[0]
        for factor in self.factors:
            key = (factor, levels[factor])
            self._counts.setdefault(key, [0] * len(self.arms))[choice] += 1
        self.totals[choice] += 1
        self._seen.add(unit_id)
        out = Assignment(unit_id, self.arms[choice], len(self.assignments))
        self.assignments.append(out)
        return out
