"""The one exception hierarchy of the allocation library.

Every error the library raises on purpose derives from :class:`AllocationError`, so the
application can turn any of them into one clear message (docs/architecture.md, decision 8).
"""

from __future__ import annotations

__all__ = [
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


class AllocationError(Exception):
    """Base class of every error raised by :mod:`allocation`."""


class DesignError(AllocationError, ValueError):
    """An :class:`~allocation.design.AllocationDesign` is inconsistent or cannot be met."""


class UnitsError(AllocationError, ValueError):
    """The unit table is unusable: duplicate or missing ids, missing values, wrong columns."""


class SpaceError(AllocationError):
    """A scheme space cannot be built or queried as asked."""


class StreamError(AllocationError, ValueError):
    """A randomness stream was given an invalid seed, label or argument."""


class SequentialError(AllocationError, ValueError):
    """A sequential allocation method was configured or called incorrectly."""


class CommitmentError(AllocationError, ValueError):
    """A commitment's inputs are malformed, or a commitment does not match."""


class EnvelopeError(AllocationError):
    """A sealed envelope is malformed or cannot be opened."""


class WrongPassphrase(EnvelopeError):
    """The passphrase is wrong, or the envelope was altered after sealing.

    AES-GCM cannot tell these two apart: both fail the authentication tag.
    """
