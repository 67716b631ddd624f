"""Pure library: randomisation of clusters (streams, scheme spaces, diagnostics, sealing).

``import allocation`` is cheap: numpy, pandas and cryptography load only when a function
that needs them is first used. Typical use::

    from allocation import AllocationDesign, build_scheme_space, diagnose, new_seed
    design = AllocationDesign(n_treated=3, covariates=("population",), cutoff_quantile=0.5)
    space = build_scheme_space(units, design)   # units: DataFrame indexed by unit id
    print(diagnose(space, units).summary())
    allocation = space.draw(new_seed())
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Imported eagerly (standard library only): the function ``commitment`` shares its name with
# the submodule, and a lazy import would leave ``allocation.commitment`` bound to the module
# whenever the submodule is imported first.
from allocation.commitment import commitment, new_seed, units_fingerprint, verify_commitment
from allocation.errors import (
    AllocationError,
    CommitmentError,
    DesignError,
    EnvelopeError,
    SequentialError,
    SpaceError,
    StreamError,
    UnitsError,
    WrongPassphrase,
)
from allocation.stream import STREAM_VERSION, RandomStream

if TYPE_CHECKING:
    from allocation.design import AllocationDesign
    from allocation.diagnostics import Diagnostics, diagnose
    from allocation.envelope import Envelope
    from allocation.sequential import Assignment, Minimisation, PermutedBlocks
    from allocation.spaces import Allocation, SchemeSpace, build_scheme_space

__all__ = [
    "STREAM_VERSION",
    "RandomStream",
    "AllocationDesign",
    "Allocation",
    "SchemeSpace",
    "build_scheme_space",
    "Diagnostics",
    "diagnose",
    "commitment",
    "verify_commitment",
    "new_seed",
    "units_fingerprint",
    "Envelope",
    "Assignment",
    "PermutedBlocks",
    "Minimisation",
    "AllocationError",
    "DesignError",
    "UnitsError",
    "SpaceError",
    "StreamError",
    "SequentialError",
    "CommitmentError",
    "EnvelopeError",
    "WrongPassphrase",
]

_LAZY = {
    "AllocationDesign": "allocation.design",
    "Allocation": "allocation.spaces",
    "SchemeSpace": "allocation.spaces",
    "build_scheme_space": "allocation.spaces",
    "Diagnostics": "allocation.diagnostics",
    "diagnose": "allocation.diagnostics",
    "Envelope": "allocation.envelope",
    "Assignment": "allocation.sequential",
    "PermutedBlocks": "allocation.sequential",
    "Minimisation": "allocation.sequential",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'allocation' has no attribute {name!r}")

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
