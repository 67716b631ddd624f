"""Every intermediate value of a sealed allocation, in the order ``docs/randomness.md`` lists.

An outsider reimplementing the specification compares their values with these one by one
and sees the first step where theirs differ. The same list is printed by
``rct allocate verify --explain`` and ``rct reproduce --explain`` and makes up the worked
example in the document (``tools/randomness_worked_example.py``), so the three cannot drift.

Inputs are only what the certificate carries: the committed units object, the design
object, the protocol fingerprint, the commitment algorithm and (once revealed) the seed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from allocation.commitment import (
    COMMITMENT_V1,
    COMMITMENT_V2,
    commitment_message,
    units_frame_from_object,
)
from allocation.design import AllocationDesign
from allocation.stream import RandomStream

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Step", "explain_allocation", "render_steps"]

#: Longest list written out in full; longer ones are shown by their first rows and a hash.
FULL_LIST = 64


@dataclass(frozen=True)
class Step:
    """One intermediate value: a stable key, the section of the spec, and the value as text."""

    key: str
    section: str
    value: str

    def to_dict(self) -> dict[str, str]:
        return {"key": self.key, "section": self.section, "value": self.value}


def _f(x: float) -> str:
    """A float as its shortest round-trip text (the canonical JSON number form)."""
    return repr(float(x))


def _listing(lines: list[str]) -> str:
    if len(lines) <= FULL_LIST:
        return "\n".join(lines)
    digest = hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()
    return "\n".join(
        lines[:10] + [f"... ({len(lines)} lines; SHA-256 of all lines joined by LF: {digest})"]
    )


def _frame_for_space(units_committed: Any) -> pd.DataFrame:
    """The unit table the space is built from, whichever units object was committed."""
    # lazy: loads pandas, numpy (start-up time)
    import pandas as pd

    if isinstance(units_committed, dict):
        return units_frame_from_object(units_committed)
    # rct-commitment-v1 committed the protocol's whole unit table: a list of flat records
    return pd.DataFrame(list(units_committed)).set_index("id")


def explain_allocation(
    units_committed: Any,
    design_obj: dict[str, Any],
    protocol_fingerprint: str,
    *,
    version: str = COMMITMENT_V2,
    seed: bytes | None = None,
) -> list[Step]:
    """Recompute the allocation from certificate inputs, keeping every intermediate value.

    Parameters
    ----------
    units_committed : dict or list
        The units object as committed (v2: ``rct-units-v1`` object; v1: the unit table
        records the v1 commitment hashed).
    design_obj : dict
        The design object.
    protocol_fingerprint : str
        The protocol fingerprint in the certificate.
    version : str
        The commitment algorithm stored with the allocation.
    seed : bytes, optional
        The revealed seed; without it the commitment and draw steps are left out.
    """
    # lazy: loads pandas, numpy (start-up time)
    from allocation.balance import balance_columns, prepare_units
    from allocation.enumeration import strata_plan
    from allocation.spaces import DRAW_LABEL, SAMPLE_LABEL, _space_seed, build_scheme_space
    from protocols.canonical import canonical_json, fingerprint

    steps: list[Step] = []

    def add(key: str, section: str, value: object) -> None:
        steps.append(Step(key, section, str(value)))

    design = AllocationDesign.from_dict(design_obj)
    units_fp = fingerprint(units_committed)
    design_fp = fingerprint(design.to_dict())
    add("units.json", "4", canonical_json(units_committed))
    add("units.fingerprint", "4", units_fp)
    add("design.json", "5", canonical_json(design.to_dict()))
    add("design.fingerprint", "5", design_fp)
    add("protocol.fingerprint", "9", protocol_fingerprint)
    if seed is not None:
        msg = commitment_message(
            seed,
            protocol_fingerprint,
            units_fp,
            design_fp if version == COMMITMENT_V2 else None,
            version=version,
        )
        add("commitment.message", "9", msg.hex())
        add("commitment", "9", hashlib.sha256(msg).hexdigest())
    elif version not in (COMMITMENT_V1, COMMITMENT_V2):  # pragma: no cover - guarded above
        raise ValueError(version)

    table = prepare_units(_frame_for_space(units_committed), design)
    ids = [str(i) for i in table.index]
    add("units.sorted_ids", "6.1", ", ".join(ids))
    strata = tuple(str(s) for s in table[design.strata].tolist()) if design.strata else None
    plan = strata_plan(strata, len(ids), design.n_treated)
    if strata is not None:
        add(
            "strata",
            "6.2",
            "; ".join(
                f"{name}: {size} units" for name, size in zip(plan.names, plan.sizes, strict=True)
            ),
        )
        add("strata.splits", "6.2", "; ".join(str(list(s)) for s in plan.splits))
    add("space.total", "6.2", plan.total)

    if design.covariates:
        cols = balance_columns(table, design)
        add(
            "balance.columns",
            "7.1",
            "\n".join(
                f"{name}: weight {_f(w)}, mean {_f(m)}, sd {_f(sd)}, divisor {_f(sc)}"
                for name, w, m, sd, sc in zip(
                    cols.names, cols.weights, cols.mean, cols.sd, cols.scale, strict=True
                )
            ),
        )
        add("balance.M", "7.2", cols.mass)
        add("balance.F", "7.2", cols.frac_bits)
        add(
            "balance.fixed",
            "7.2",
            _listing(
                [
                    f"{uid}: " + ", ".join(str(int(v)) for v in row)
                    for uid, row in zip(ids, cols.fixed.tolist(), strict=True)
                ]
            ),
        )
    space = build_scheme_space(table, design)
    if space.sampled:
        add("space.sample_seed", "8", _space_seed(table, design).hex())
        add("space.sample_label", "8", SAMPLE_LABEL)
    add("space.evaluated", "6.3", space.evaluated)
    if design.covariates:
        scores = np.asarray(space.all_scores).tolist()
        if not space.sampled and space.evaluated <= FULL_LIST:
            every = build_scheme_space(table, _unconstrained(design)).schemes
            ok = _meets_constraints(table, design, every)
            lines = [
                f"{i}: {''.join(map(str, r))} {_f(sc)}" + ("" if good else " (fails a constraint)")
                for i, (r, sc, good) in enumerate(
                    zip(every.tolist(), scores, ok.tolist(), strict=True)
                )
            ]
        else:
            lines = [f"{i}: {_f(sc)}" for i, sc in enumerate(scores)]
        add("scores", "7.3", _listing(lines))
    add("space.feasible", "7.4", space.feasible)
    add(
        "space.cutoff_score",
        "7.5",
        "none" if space.cutoff_score is None else _f(space.cutoff_score),
    )
    add("space.admissible", "7.5", space.admissible)
    add(
        "space.admissible_schemes",
        "7.5",
        _listing(["".join(map(str, r)) for r in space.schemes.tolist()]),
    )
    if space.admissible <= FULL_LIST:
        add("space.json", "10", canonical_json(space.to_dict()))
    add("space.fingerprint", "10", space.fingerprint())
    if seed is not None:
        stream = RandomStream(seed, DRAW_LABEL)
        add("draw.block0", "11", stream.block(0).hex())
        index = stream.randbelow(space.admissible)
        used = RandomStream(seed, DRAW_LABEL).read(stream.bytes_consumed)
        add("draw.bytes_used", "11", used.hex() or "(none: one admissible scheme)")
        drawn = space.allocation(index)
        add("draw.index", "11", drawn.index)
        add("draw.scheme", "11", "".join(map(str, drawn.scheme)))
        add("arms", "11", ", ".join(f"{u}={a}" for u, a in drawn.arms.items()))
    return steps


def _meets_constraints(
    table: pd.DataFrame, design: AllocationDesign, schemes: npt.NDArray[np.uint8]
) -> npt.NDArray[np.bool_]:
    """Whether each scheme meets ``max_abs_std_diff`` and the cvrcov constraints."""
    # lazy: loads pandas, numpy (start-up time)
    from allocation.balance import balance_columns, column_limits
    from allocation.constraints import constraint_columns
    from allocation.enumeration import treated_sums

    cols = balance_columns(table, design)
    ok = cols.feasible(
        cols.contrasts(treated_sums(schemes, cols.fixed)), column_limits(cols, design)
    )
    bounds = constraint_columns(table, design.constraints, design.n_treated)
    if bounds is not None:
        ok &= bounds.feasible(treated_sums(schemes, bounds.raw))
    return ok


def _unconstrained(design: AllocationDesign) -> AllocationDesign:
    """The same design without constraints or cutoff: its admissible schemes are every
    evaluated scheme, in canonical order."""
    data = design.to_dict()
    data.update(cutoff_quantile=None, cutoff_schemes=None, max_abs_std_diff={}, constraints={})
    return AllocationDesign.from_dict(data)


def render_steps(steps: list[Step]) -> str:
    """Plain text: one ``[section] key: value`` entry per step, multi-line values indented."""
    out = []
    for st in steps:
        lines = st.value.split("\n")
        if len(lines) == 1:
            out.append(f"[§{st.section}] {st.key}: {lines[0]}")
        else:
            out.append(f"[§{st.section}] {st.key}:")
            out.extend(f"    {x}" for x in lines)
    return "\n".join(out)
