"""Containment degrees of freedom for GLMMs with random effects nested in the cluster.

The Wald t statistic of a fixed effect should be referred to a t distribution with the
number of independent units its estimate is really compared across. The containment
rule (the idea behind SAS's ``ddfm=contain``) finds them from the design alone:

1. A fixed-effect column is *contained* in a term with a random intercept (``(1|g)``,
   ``(1+t|g)``, ``(1|g:f)``) when
   it is constant within every level of that term's grouping (borough, or borough x
   period cell). Treatment x post is constant within borough x phase cells, so with a
   ``(1|borough:post)`` term it is contained in that term; ``arm`` is contained in the
   borough.
2. Its denominator df is the *rank contribution* of the finest containing term: order the
   intercept terms from coarse to fine (nested, so by their number of levels) and take
   ``rank([X, Z_1, ..., Z_c]) - rank([X, Z_1, ..., Z_{c-1}])``, where ``Z_k`` holds the
   level indicators of term ``k``. That is the number of levels of term ``c`` less the
   parameters that the fixed effects and the coarser terms already spend at that level.
3. A column contained in no term (it varies within the finest cells) gets the residual
   df ``n - rank([X, Z_all])``, where ``Z_all`` also holds the columns of random slopes.

With a random intercept only, step 2 gives ``G - rank(cluster-level columns)`` and step 3
``n - G - rank(within-cluster columns)``: the between-within rule
(:func:`analysis.shared.dof.between_within_df`), of which this is the generalisation.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from analysis.shared.dof import DegreesOfFreedomError
from analysis.shared.random_effects import RandomStructure

__all__ = ["containment_df"]


def _rank(m: NDArray[np.float64]) -> int:
    return int(np.linalg.matrix_rank(m)) if m.shape[1] else 0


def _level_codes(structure: RandomStructure, term_index: int) -> NDArray[np.intp]:
    """Level of each row for intercept term ``term_index`` (cluster, or cluster x f cell)."""
    if structure.terms[term_index].nested is None:
        return np.asarray(structure.codes, dtype=np.intp)
    block = structure.Z[:, structure.term_columns[term_index]]
    within = np.argmax(block, axis=1)
    return np.asarray(structure.codes * block.shape[1] + within, dtype=np.intp)


def _indicators(codes: NDArray[np.intp]) -> NDArray[np.float64]:
    uniq, inv = np.unique(codes, return_inverse=True)
    out = np.zeros((len(codes), len(uniq)))
    out[np.arange(len(codes)), inv] = 1.0
    return out


def _constant_within(col: NDArray[np.float64], codes: NDArray[np.intp]) -> bool:
    _, inv = np.unique(codes, return_inverse=True)
    k = int(inv.max()) + 1
    top = np.full(k, -np.inf)
    bottom = np.full(k, np.inf)
    np.maximum.at(top, inv, col)
    np.minimum.at(bottom, inv, col)
    return bool(np.all(top - bottom <= 1e-12 * (1.0 + np.abs(col).max())))


def containment_df(X: NDArray[np.float64], structure: RandomStructure) -> NDArray[np.float64]:
    """Containment df of every column of ``X`` (see the module docstring)."""
    x = np.asarray(X, dtype=np.float64)
    n = x.shape[0]
    intercepts = [
        (len(np.unique(codes)), k, codes)
        for k, term in enumerate(structure.terms)
        if term.intercept
        for codes in [_level_codes(structure, k)]
    ]
    intercepts.sort(key=lambda t: t[0])  # coarse (fewest levels) to fine
    contributions = []
    previous = x
    base = _rank(x)
    for _, _, codes in intercepts:
        previous = np.column_stack([previous, _indicators(codes)])
        rank = _rank(previous)
        contributions.append(rank - base)
        base = rank
    # every random-effect column of every cluster (Z of the whole sample, block diagonal)
    full = np.zeros((n, structure.ngroups * structure.q))
    for g in range(structure.ngroups):
        rows = structure.codes == g
        full[rows, g * structure.q : (g + 1) * structure.q] = structure.Z[rows]
    residual = n - _rank(np.column_stack([x, full]))
    out = np.empty(x.shape[1])
    for j in range(x.shape[1]):
        df = float(residual)
        for (_, _, codes), contrib in reversed(list(zip(intercepts, contributions))):
            if _constant_within(x[:, j], codes):
                df = float(contrib)
                break
        if df <= 0:
            raise DegreesOfFreedomError(
                f"the containment rule leaves no degrees of freedom for column {j} of the "
                "fixed-effects design; simplify the fixed or random effects"
            )
        out[j] = df
    return out
