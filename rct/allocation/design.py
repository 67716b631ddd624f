"""From a protocol's allocation specification to the allocation library's inputs.

Kept apart from the database so that evaluators can rebuild exactly the same scheme space
from a locked protocol in a notebook: ``units_frame(p)``, ``design_from_protocol(p)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from protocols import Protocol
from protocols.canonical import fingerprint
from rct import __version__

if TYPE_CHECKING:
    import pandas as pd

    from allocation import AllocationDesign, SchemeSpace

__all__ = [
    "units_frame",
    "design_from_protocol",
    "space_for_protocol",
    "algorithm_versions",
    "committed_inputs",
]


def units_frame(protocol: Protocol) -> pd.DataFrame:
    """The unit table as a DataFrame indexed by unit id (covariates and ``stratum``)."""
    # lazy: loads pandas, numpy (start-up time)
    import pandas as pd

    rows = [{"id": u.id, "stratum": u.stratum, **dict(u.covariates)} for u in protocol.units]
    return pd.DataFrame(rows).set_index("id").sort_index()


def design_from_protocol(protocol: Protocol) -> AllocationDesign:
    """The :class:`allocation.AllocationDesign` the protocol's ``[allocation]`` describes."""
    # lazy: loads allocation (start-up time)
    from allocation import AllocationDesign

    a = protocol.allocation
    n_treated = a.arm_sizes[a.intervention_arm]
    kwargs: dict[str, Any] = {"n_treated": n_treated, "strata": "stratum" if a.stratify else None}
    if a.method == "constrained":
        kwargs.update(
            covariates=tuple(a.covariates),
            categorical=tuple(a.categorical),
            metric=a.metric,
            weights=dict(a.weights),
            cutoff_quantile=a.cutoff_quantile,
            cutoff_schemes=a.cutoff_schemes,
            max_abs_std_diff=dict(a.max_covariate_difference),
            constraints=dict(a.covariate_constraints),
        )
    return AllocationDesign(**kwargs)


def space_for_protocol(protocol: Protocol) -> SchemeSpace:
    """The admissible scheme space of the protocol's allocation specification."""
    # lazy: loads pandas, numpy (start-up time)
    from allocation import build_scheme_space

    return build_scheme_space(units_frame(protocol), design_from_protocol(protocol))


def committed_inputs(protocol: Protocol, version: str) -> dict[str, Any]:
    """What the commitment algorithm ``version`` binds the seed to, for this protocol.

    ``rct-commitment-v2``: the units object (ids and exactly the design's columns) and the
    design object, with their fingerprints. ``rct-commitment-v1`` (allocations sealed
    before v2): the protocol's whole unit table, as v1 hashed it, and no design fingerprint.
    Returns ``{"units": ..., "units_fingerprint": ..., "design": ...,
    "design_fingerprint": ... or None}``.
    """
    # lazy: loads allocation.commitment, allocation.errors (start-up time)
    from allocation.commitment import (
        COMMITMENT_V1,
        COMMITMENT_V2,
        design_object,
        units_columns,
        units_object,
    )
    from allocation.errors import CommitmentError

    design = design_from_protocol(protocol)
    design_obj = design_object(design)
    if version == COMMITMENT_V1:
        units: Any = protocol.units_table()
        return {
            "units": units,
            "units_fingerprint": protocol.units_fingerprint(),
            "design": design_obj,
            "design_fingerprint": None,
        }
    if version != COMMITMENT_V2:
        raise CommitmentError(f"unknown commitment algorithm {version!r}")
    units = units_object(units_frame(protocol), units_columns(design))
    return {
        "units": units,
        "units_fingerprint": fingerprint(units),
        "design": design_obj,
        "design_fingerprint": fingerprint(design_obj),
    }


def algorithm_versions() -> dict[str, str]:
    """Versions of every algorithm an allocation depends on (stored with each seal)."""
    # lazy: loads pandas, numpy (start-up time)
    from allocation.commitment import COMMITMENT_VERSION, UNITS_VERSION
    from allocation.envelope import ENVELOPE_FORMAT
    from allocation.spaces import DRAW_LABEL
    from allocation.stream import STREAM_VERSION

    return {
        "stream": STREAM_VERSION,
        "draw": f"randbelow(admissible) on stream label {DRAW_LABEL!r}",
        "commitment": COMMITMENT_VERSION,
        "units": UNITS_VERSION,
        "envelope": ENVELOPE_FORMAT,
        "rct": __version__,
    }
