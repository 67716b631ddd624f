"""What a scheme space implies for the trial, shown before anyone seals.

With few clusters, constraining for balance can shrink the space until a randomisation
test can never reach p < 0.05, or until two clusters are always (or never) in the same
arm, which confounds them with the intervention. :func:`diagnose` reports the space size,
the score distribution, a baseline table for a scheme, the pair co-assignment matrix and
the smallest attainable randomisation p-value, with plain-language warnings.

Smallest attainable p-value: for a two-sided test whose statistic ``T`` satisfies
``|T(s)| = |T(1 - s)|`` (relabelling the arms flips its sign), the p-value of the observed
scheme ``s`` is ``#{s' in space : |T(s')| >= |T(s)|} / |space|``. The count includes ``s``
itself, and also its complement ``1 - s`` whenever the complement is admissible (possible
only when the arms are equal in size within every stratum). So the smallest p-value any
outcome could give is ``1/|space|`` for a scheme whose complement is not admissible, and
``2/|space|`` for one whose complement is. We report the minimum over admissible schemes
and, for a chosen scheme, its own value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from allocation.balance import _levels, prepare_units
from allocation.design import AllocationDesign
from allocation.spaces import Allocation, SchemeSpace
from protocols.errors import CodedWarning, warning_text

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Diagnostics",
    "WARNING_CODES",
    "diagnose",
    "complement_admissible",
    "coassignment",
]

ALPHA = 0.05
HIST_BINS = 20

#: code -> (what it means, what to do) for every warning of the diagnostics
#: (docs/error-codes.md is generated from this and the other registries).
WARNING_CODES: dict[str, tuple[str, str]] = {
    "space-sampled": (
        "The space of schemes is too large to enumerate; the admissible space was chosen "
        "from a sample of it.",
        "Nothing to do; the randomisation test uses the same sampled space.",
    ),
    "units-always-together": (
        "Two units are in the same arm in every admissible scheme: their difference can "
        "never be separated from the intervention effect.",
        "Relax the constraint or the cutoff that forces them together.",
    ),
    "units-never-together": (
        "Two units are never in the same arm: the design is confounded with the pair.",
        "Relax the constraint or the cutoff that keeps them apart.",
    ),
    "space-too-small": (
        "Too few admissible schemes: a randomisation test can never reach significance at 0.05.",
        "Relax the constraint or the cutoff.",
    ),
    "chosen-not-admissible": (
        "The scheme given as chosen is not in the admissible space.",
        "Check the chosen scheme against the protocol's allocation specification.",
    ),
}


def _keys(rows: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint64]:
    """Each 0/1 row (at most 64 units) as one integer, for sorting and membership tests."""
    packed = np.packbits(rows, axis=1)
    wide = np.zeros((rows.shape[0], 8), dtype=np.uint8)
    wide[:, : packed.shape[1]] = packed
    return wide.view(">u8").ravel().astype(np.uint64)


def complement_admissible(space: SchemeSpace) -> npt.NDArray[np.bool_]:
    """For each admissible scheme, whether its complement is admissible too."""
    rows = space.schemes
    if rows.shape[1] <= 64:  # vectorised: one sort of integer keys (millions of schemes)
        keys = np.sort(_keys(rows))
        wanted = _keys((1 - rows).astype(np.uint8))
        at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
        found: npt.NDArray[np.bool_] = keys[at] == wanted
        return found
    seen = {r.tobytes() for r in rows}
    return np.array([(1 - r).astype(np.uint8).tobytes() in seen for r in rows], dtype=bool)


#: Rows per block of the co-assignment product: each block's counts stay exact in float32.
_COASSIGN_BLOCK = 1 << 22


def coassignment(space: SchemeSpace) -> npt.NDArray[np.float64]:
    """``(n, n)`` share of admissible schemes in which units ``i`` and ``j`` share an arm.

    One matrix product: ``B = x'x`` counts the schemes with both units in the intervention
    arm (its diagonal, each unit's count), so the schemes with both in the same arm are
    ``S - B_ii - B_jj + 2 B_ij``. Computed in float32 blocks of at most 2**22 rows (every
    block's integer counts are exact) summed in float64: exact, and without a float64 copy
    of millions of schemes.
    """
    # lazy: loads threadpoolctl (start-up time)
    from threadpoolctl import threadpool_limits

    rows = space.schemes
    n = rows.shape[1]
    both = np.zeros((n, n), dtype=np.float64)
    # one BLAS thread: a thin n x S product gains nothing from threads, and on a busy
    # machine spinning OpenBLAS threads made it ~50x slower
    with threadpool_limits(1, user_api="blas"):
        for start in range(0, rows.shape[0], _COASSIGN_BLOCK):
            x = rows[start : start + _COASSIGN_BLOCK].astype(np.float32)
            both += (x.T @ x).astype(np.float64)
    own = np.diag(both)
    same = space.admissible - own[:, None] - own[None, :] + 2 * both
    out: npt.NDArray[np.float64] = same / space.admissible
    return out


@dataclass(frozen=True)
class Diagnostics:
    """Diagnostics of a scheme space (see :func:`diagnose`). Read-only; ``to_dict`` is JSON-able."""

    total: int
    evaluated: int
    feasible: int
    admissible: int
    sampled: bool
    cutoff_score: float | None
    score_summary: dict[str, float] | None
    histogram: dict[str, list[float] | list[int]] | None
    unit_ids: tuple[str, ...]
    coassignment: npt.NDArray[np.float64]
    always_together: tuple[tuple[str, str], ...]
    never_together: tuple[tuple[str, str], ...]
    min_p_value: float
    chosen: Allocation | None
    chosen_p_value: float | None
    baseline: list[dict[str, Any]] | None
    warnings: tuple[CodedWarning, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able, deterministic form."""
        return {
            "total": self.total,
            "evaluated": self.evaluated,
            "feasible": self.feasible,
            "admissible": self.admissible,
            "sampled": self.sampled,
            "cutoff_score": self.cutoff_score,
            "score_summary": self.score_summary,
            "histogram": self.histogram,
            "unit_ids": list(self.unit_ids),
            "coassignment": [[float(v) for v in row] for row in self.coassignment.tolist()],
            "always_together": [list(p) for p in self.always_together],
            "never_together": [list(p) for p in self.never_together],
            "min_p_value": self.min_p_value,
            "chosen": self.chosen.to_dict() if self.chosen else None,
            "chosen_p_value": self.chosen_p_value,
            "baseline": self.baseline,
            "warnings": [w.to_json() for w in self.warnings],
        }

    def summary(self) -> str:
        """A readable text report."""
        lines = ["Allocation diagnostics", "======================"]
        space = f"{self.total:,} schemes meet arm size and strata"
        if self.sampled:
            space += f"; {self.evaluated:,} were sampled and scored (space too large)"
        lines.append(space)
        lines.append(
            f"{self.feasible:,} meet the per-covariate constraints; "
            f"{self.admissible:,} are admissible"
        )
        if self.cutoff_score is not None:
            lines.append(f"cutoff balance score: {self.cutoff_score:.6g}")
        if self.score_summary:
            s = self.score_summary
            lines.append(
                "balance scores (evaluated space): "
                + ", ".join(f"{k} {s[k]:.4g}" for k in ("min", "q1", "median", "q3", "max", "mean"))
            )
        lines.append(f"smallest attainable randomisation-test p-value: {self.min_p_value:.4g}")
        if self.chosen is not None and self.chosen_p_value is not None:
            lines.append(
                f"chosen scheme #{self.chosen.index}: smallest attainable p "
                f"{self.chosen_p_value:.4g}"
            )
        if self.baseline:
            lines.append("")
            lines.append(f"{'covariate':<32}{'intervention':>14}{'control':>14}{'std diff':>10}")
            for row in self.baseline:
                lines.append(
                    f"{row['covariate']:<32}{row['mean_intervention']:>14.4g}"
                    f"{row['mean_control']:>14.4g}{row['std_diff']:>10.3f}"
                )
        if self.warnings:
            lines.append("")
            lines.append("WARNINGS")
            lines.extend(f"- {warning_text(w)}" for w in self.warnings)
        return "\n".join(lines)


def _baseline(
    units: pd.DataFrame,
    design: AllocationDesign,
    scheme: tuple[int, ...],
    unit_ids: tuple[str, ...],
) -> list[dict[str, Any]]:
    table = prepare_units(units, design)
    arm = np.array(scheme, dtype=bool)
    rows: list[dict[str, Any]] = []
    for cov in design.covariates:
        series = table[cov]
        if cov in design.categorical:
            cols = [
                (f"{cov}[{lv}]", np.array([1.0 if v == lv else 0.0 for v in series.tolist()]))
                for lv in _levels(series)
            ]
        else:
            cols = [(cov, series.to_numpy(dtype=np.float64))]
        for name, x in cols:
            sd = float(np.std(x, ddof=1))
            mi, mc = float(x[arm].mean()), float(x[~arm].mean())
            rows.append(
                {
                    "covariate": name,
                    "mean_intervention": mi,
                    "mean_control": mc,
                    "std_diff": (mi - mc) / sd if sd > 0 else 0.0,
                }
            )
    return rows


def diagnose(
    space: SchemeSpace,
    units: pd.DataFrame,
    design: AllocationDesign | None = None,
    chosen: Allocation | None = None,
) -> Diagnostics:
    """Diagnose a scheme space.

    Parameters
    ----------
    space : SchemeSpace
        From :func:`~allocation.spaces.build_scheme_space`.
    units : pandas.DataFrame
        The unit table the space was built from (for the baseline table).
    design : AllocationDesign, optional
        Defaults to ``space.design``.
    chosen : Allocation, optional
        A scheme to describe (baseline table, its own smallest p-value). Only pass the
        drawn allocation after reveal; before sealing, leave it out.
    """
    design = design or space.design
    comp = complement_admissible(space)
    min_p = (1.0 + float(np.min(comp.astype(np.float64)))) / space.admissible
    co = coassignment(space)
    ids = space.unit_ids
    always, never = [], []
    for i in range(len(ids)):
        for j in range(i + 1, len(ids)):
            if co[i, j] == 1.0:
                always.append((ids[i], ids[j]))
            elif co[i, j] == 0.0:
                never.append((ids[i], ids[j]))
    summary: dict[str, float] | None = None
    histogram: dict[str, list[float] | list[int]] | None = None
    if space.columns is not None:
        a = space.all_scores
        q = np.quantile(a, [0.25, 0.5, 0.75])
        summary = {
            "min": float(a.min()),
            "q1": float(q[0]),
            "median": float(q[1]),
            "q3": float(q[2]),
            "max": float(a.max()),
            "mean": float(a.mean()),
        }
        counts, edges = np.histogram(a, bins=HIST_BINS)
        histogram = {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}
    warnings: list[CodedWarning] = []
    if space.sampled:
        warnings.append(
            CodedWarning(
                "space-sampled",
                f"The full space of {space.total:,} schemes is too large to enumerate; "
                f"the admissible space was chosen from {space.evaluated:,} sampled schemes.",
            )
        )
    for a_id, b_id in always:
        warnings.append(
            CodedWarning(
                "units-always-together",
                f"Units {a_id} and {b_id} are in the same arm in every admissible scheme: "
                "their difference can never be separated from the intervention effect.",
            )
        )
    for a_id, b_id in never:
        warnings.append(
            CodedWarning(
                "units-never-together",
                f"Units {a_id} and {b_id} are never in the same arm: one of them is always "
                "in the intervention arm, so the design is confounded with this pair.",
            )
        )
    if min_p > ALPHA:
        warnings.append(
            CodedWarning(
                "space-too-small",
                f"Only {space.admissible} admissible schemes: a randomisation test can never "
                f"give p below {min_p:.3g}, so it cannot reach significance at {ALPHA}. "
                "Relax the constraint or the cutoff.",
            )
        )
    chosen_p = baseline = None
    if chosen is not None:
        idx = space.index_of(chosen.scheme)
        if idx is None:
            warnings.append(
                CodedWarning(
                    "chosen-not-admissible", "The chosen scheme is not in the admissible space."
                )
            )
        else:
            chosen_p = (1.0 + float(comp[idx])) / space.admissible
        if design.covariates:
            baseline = _baseline(units, design, chosen.scheme, ids)
    return Diagnostics(
        total=space.total,
        evaluated=space.evaluated,
        feasible=space.feasible,
        admissible=space.admissible,
        sampled=space.sampled,
        cutoff_score=space.cutoff_score,
        score_summary=summary,
        histogram=histogram,
        unit_ids=ids,
        coassignment=co,
        always_together=tuple(always),
        never_together=tuple(never),
        min_p_value=min_p,
        chosen=chosen,
        chosen_p_value=chosen_p,
        baseline=baseline,
        warnings=tuple(warnings),
    )
