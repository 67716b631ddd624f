"""The admissible scheme space of a fixed set of clusters, and drawing one scheme from it.

:func:`build_scheme_space` enumerates (or, above ``max_enumerate``, samples) every
allocation that meets the design's arm size and strata, scores each as cvcrand does,
applies per-covariate constraints and the balance cutoff, and returns a
:class:`SchemeSpace`. :meth:`SchemeSpace.draw` then picks one admissible scheme uniformly
with the seed's stream. Unit order in the input never matters: units are sorted by id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from allocation.balance import BalanceColumns, balance_columns, column_limits, prepare_units
from allocation.commitment import units_fingerprint
from allocation.constraints import constraint_columns
from allocation.design import CONTROL, INTERVENTION, AllocationDesign
from allocation.enumeration import (
    StrataPlan,
    enumerate_space,
    sample_space,
    strata_plan,
    treated_sums,
)
from allocation.errors import SpaceError
from allocation.stream import RandomStream
from protocols.canonical import canonical_bytes, fingerprint

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Allocation", "SchemeSpace", "build_scheme_space", "DRAW_LABEL", "SAMPLE_LABEL"]

DRAW_LABEL = "scheme-draw"
SAMPLE_LABEL = "scheme-sample"
SPACE_SEED_TAG = b"rct-space-sample-seed-v1\x00"

FloatArray = npt.NDArray[np.float64]
U8Array = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Allocation:
    """One drawn scheme.

    Attributes
    ----------
    arms : dict
        Unit id -> ``"intervention"`` or ``"control"``, in sorted id order.
    index : int
        Position of the scheme among the admissible schemes (canonical order).
    scheme : tuple of int
        The 0/1 vector over the sorted unit ids (1 = intervention).
    score : float or None
        Its balance score (None without covariates).
    """

    arms: dict[str, str]
    index: int
    scheme: tuple[int, ...]
    score: float | None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form."""
        return {
            "arms": dict(self.arms),
            "index": self.index,
            "scheme": list(self.scheme),
            "score": self.score,
        }


@dataclass(frozen=True, eq=False)
class SchemeSpace:
    """The admissible schemes for a design and unit table.

    Attributes
    ----------
    unit_ids : tuple of str
        Sorted unit ids; the columns of ``schemes``.
    schemes : ndarray of uint8
        ``(admissible, n)`` admissible schemes in canonical (R ``combn``) order.
    scores : ndarray
        Balance score of each admissible scheme (zeros without covariates).
    all_scores : ndarray
        Scores of every evaluated scheme (whole space, or the sample), canonical order.
    total : int
        Exact number of schemes meeting arm size and strata (never sampled).
    evaluated : int
        Number of schemes scored (``total`` unless sampled).
    feasible : int
        Number of evaluated schemes meeting the per-covariate constraints.
    sampled : bool
        True when the space was too large and ``evaluated`` schemes were sampled.
    cutoff_score : float or None
        Score of the worst admissible scheme when a cutoff applies.
    columns : BalanceColumns or None
        The expanded balance columns (None without covariates).
    strata : tuple of str or None
        Stratum of each sorted unit.
    """

    design: AllocationDesign
    unit_ids: tuple[str, ...]
    schemes: U8Array
    scores: FloatArray
    all_scores: FloatArray
    total: int
    evaluated: int
    feasible: int
    sampled: bool
    cutoff_score: float | None
    columns: BalanceColumns | None
    strata: tuple[str, ...] | None

    @property
    def admissible(self) -> int:
        """Number of admissible schemes."""
        return int(self.schemes.shape[0])

    @property
    def n_units(self) -> int:
        """Number of units."""
        return len(self.unit_ids)

    def index_of(self, scheme: npt.ArrayLike) -> int | None:
        """Position of a 0/1 scheme among the admissible ones, or None if not admissible."""
        row = np.asarray(scheme, dtype=np.uint8).reshape(-1)
        if row.shape[0] != self.n_units:
            raise SpaceError(f"scheme has {row.shape[0]} entries, expected {self.n_units}")
        hits = np.flatnonzero((self.schemes == row[None, :]).all(axis=1))
        return int(hits[0]) if len(hits) else None

    def contains(self, scheme: npt.ArrayLike) -> bool:
        """Whether a 0/1 scheme is admissible."""
        return self.index_of(scheme) is not None

    def allocation(self, index: int) -> Allocation:
        """The :class:`Allocation` of admissible scheme ``index``."""
        if not 0 <= index < self.admissible:
            raise SpaceError(f"index {index} outside 0..{self.admissible - 1}")
        row = self.schemes[index]
        arms = {u: INTERVENTION if b else CONTROL for u, b in zip(self.unit_ids, row.tolist())}
        score = float(self.scores[index]) if self.columns is not None else None
        return Allocation(arms, int(index), tuple(int(b) for b in row), score)

    def draw(self, seed: bytes) -> Allocation:
        """Draw one admissible scheme uniformly: ``randbelow(admissible)`` on stream ``"scheme-draw"``."""
        index = RandomStream(seed, DRAW_LABEL).randbelow(self.admissible)
        return self.allocation(index)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able summary (schemes as 0/1 strings in canonical order)."""
        return {
            "design": self.design.to_dict(),
            "unit_ids": list(self.unit_ids),
            "total": self.total,
            "evaluated": self.evaluated,
            "feasible": self.feasible,
            "admissible": self.admissible,
            "sampled": self.sampled,
            "cutoff_score": self.cutoff_score,
            "schemes": ["".join(map(str, r)) for r in self.schemes.tolist()],
        }

    def fingerprint(self) -> str:
        """SHA-256 of the canonical JSON of :meth:`to_dict` (unit ids and admissible schemes)."""
        return fingerprint(self.to_dict())


def _space_seed(units: pd.DataFrame, design: AllocationDesign) -> bytes:
    """Public seed for sampling a too-large space, derived from design and unit table."""
    columns = list(design.covariates) + ([design.strata] if design.strata else [])
    msg = SPACE_SEED_TAG + canonical_bytes(
        {"design": design.to_dict(), "units": units_fingerprint(units, columns)}
    )
    return hashlib.sha256(msg).digest()


def _cutoff_count(design: AllocationDesign, feasible: int) -> int | None:
    if design.cutoff_schemes is not None:
        if design.cutoff_schemes > feasible:
            raise SpaceError(
                f"cutoff_schemes ({design.cutoff_schemes}) exceeds the {feasible} schemes available"
            )
        return design.cutoff_schemes
    if design.cutoff_quantile is not None:
        keep = round(feasible * design.cutoff_quantile)  # R's round(): half to even
        if keep < 1:
            raise SpaceError(
                f"cutoff_quantile {design.cutoff_quantile} keeps no scheme out of {feasible}"
            )
        return int(keep)
    return None


#: Largest admissible list materialised (schemes x units bytes); above it, ask for a cutoff.
MAX_ADMISSIBLE_BYTES = 2**31


def _check_memory(admissible: int, n: int) -> None:
    if admissible * n > MAX_ADMISSIBLE_BYTES:
        raise SpaceError(
            f"{admissible:,} admissible schemes of {n} units would need "
            f"{admissible * n / 2**30:.1f} GiB; set a cutoff (cutoff_quantile or "
            "cutoff_schemes) or let the space be sampled"
        )


def _select(
    scores: FloatArray, ok: npt.NDArray[np.bool_], n_feasible: int, keep: int | None
) -> tuple[npt.NDArray[np.int64], float | None]:
    """Ranks of the admissible schemes (canonical order) and the cutoff score.

    The cutoff keeps the ``keep`` best feasible schemes, ties broken by rank: every scheme
    scoring below the ``keep``-th smallest score, then the lowest-ranked of those scoring
    exactly it. That is what a stable sort by score would keep, found with one partition
    (linear time, one copy of the scores) instead of sorting 155 million schemes.
    """
    all_ok = n_feasible == len(scores)
    if keep is None:
        return np.flatnonzero(ok).astype(np.int64), None
    work = scores.copy() if all_ok else scores[ok]
    work.partition(keep - 1)
    threshold = float(work[keep - 1])
    del work
    below = scores < threshold
    if not all_ok:
        below &= ok
    n_below = int(np.count_nonzero(below))
    tied = scores == threshold
    if not all_ok:
        tied &= ok
    chosen = below
    chosen[np.flatnonzero(tied)[: keep - n_below]] = True
    return np.flatnonzero(chosen).astype(np.int64), threshold


def build_scheme_space(
    units: pd.DataFrame, design: AllocationDesign, *, sample_seed: bytes | None = None
) -> SchemeSpace:
    """Build the admissible scheme space for ``units`` under ``design``.

    Parameters
    ----------
    units : pandas.DataFrame
        One row per cluster, indexed by unit id, with the design's covariate and stratum
        columns. Row order is irrelevant.
    design : AllocationDesign
        The rules.
    sample_seed : bytes, optional
        32-byte seed for sampling a space above ``max_enumerate``. By default it is derived
        publicly from the design and unit table (so the space is known before sealing and
        reveals nothing about the allocation, which uses the secret seed).

    Returns
    -------
    SchemeSpace
    """
    table = prepare_units(units, design)
    unit_ids = tuple(str(i) for i in table.index)
    n = len(unit_ids)
    strata = tuple(str(s) for s in table[design.strata].tolist()) if design.strata else None
    plan: StrataPlan = strata_plan(strata, n, design.n_treated)
    columns = balance_columns(table, design) if design.covariates else None
    balance = columns.fixed if columns is not None else np.zeros((n, 0))
    limits = column_limits(columns, design) if columns is not None else np.zeros(0)
    # cvrcov constraints ride along as extra columns of raw values after the balance ones
    bounds = constraint_columns(table, design.constraints, design.n_treated)
    k = balance.shape[1]
    values = balance if bounds is None else np.hstack([balance, bounds.raw])

    def score(sums: FloatArray) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
        if columns is None:
            shape = sums.shape[:-1]
            scores, ok = np.zeros(shape), np.ones(shape, dtype=bool)
        else:
            contrasts = columns.contrasts(sums[..., :k])
            scores, ok = columns.scores(contrasts), columns.feasible(contrasts, limits)
        if bounds is not None:
            ok = ok & bounds.feasible(sums[..., k:])
        return scores, ok

    sampled = plan.total > design.max_enumerate
    if sampled:
        seed = sample_seed if sample_seed is not None else _space_seed(table, design)
        rows = sample_space(plan, design.sample_size, RandomStream(seed, SAMPLE_LABEL))
        all_scores, ok = score(treated_sums(rows, values))

        def unrank_sample(ranks: npt.NDArray[np.int64]) -> U8Array:
            return rows[ranks]

        unrank: Callable[[npt.NDArray[np.int64]], U8Array] = unrank_sample
    else:
        enumerated = enumerate_space(plan, values, score)
        all_scores, ok, unrank = enumerated.scores, enumerated.feasible, enumerated.unrank

    n_feasible = int(np.count_nonzero(ok))
    if n_feasible == 0:
        raise SpaceError("no scheme meets the per-covariate constraints")
    keep = _cutoff_count(design, n_feasible)
    _check_memory(keep if keep is not None else n_feasible, n)
    ranks, cutoff_score = _select(all_scores, ok, n_feasible, keep)
    schemes = unrank(ranks)
    return SchemeSpace(
        design=design,
        unit_ids=unit_ids,
        schemes=np.ascontiguousarray(schemes, dtype=np.uint8),
        scores=all_scores[ranks],
        all_scores=all_scores,
        total=plan.total,
        evaluated=int(len(all_scores)),
        feasible=n_feasible,
        sampled=sampled,
        cutoff_score=cutoff_score,
        columns=columns,
        strata=strata,
    )
