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
    "CODES",
]


class AllocationError(Exception):
    """Base class of every error raised by :mod:`allocation`."""

    #: stable identifier of the situation (docs/error-codes.md); a raise site may
    #: pass ``code=`` for a situation the class covers among others
    code = "allocation"

    def __init__(self, *args: object, code: str | None = None) -> None:
        super().__init__(*args)
        if code is not None:
            self.code = code


class DesignError(AllocationError, ValueError):
    """An :class:`~allocation.design.AllocationDesign` is inconsistent or cannot be met."""

    code = "allocation-design"


class UnitsError(AllocationError, ValueError):
    """The unit table is unusable: duplicate or missing ids, missing values, wrong columns."""

    code = "units-invalid"


class SpaceError(AllocationError):
    """A scheme space cannot be built or queried as asked."""

    code = "scheme-space"


class StreamError(AllocationError, ValueError):
    """A randomness stream was given an invalid seed, label or argument."""

    code = "randomness-stream"


class SequentialError(AllocationError, ValueError):
    """A sequential allocation method was configured or called incorrectly."""

    code = "sequential-method"


class CommitmentError(AllocationError, ValueError):
    """A commitment's inputs are malformed, or a commitment does not match."""

    code = "commitment"


class EnvelopeError(AllocationError):
    """A sealed envelope is malformed or cannot be opened."""

    code = "envelope"


class WrongPassphrase(EnvelopeError):
    """The passphrase is wrong, or the envelope was altered after sealing.

    AES-GCM cannot tell these two apart: both fail the authentication tag.
    """

    code = "wrong-envelope-passphrase"


#: code -> (what it means, what to do) for every code this package's errors carry
#: (docs/error-codes.md is generated from this and the other packages' registries).
CODES: dict[str, tuple[str, str]] = {
    "allocation": (
        "The allocation library cannot do what was asked.",
        "Read the message.",
    ),
    "allocation-design": (
        "The protocol's allocation design is inconsistent or cannot be met (e.g. no "
        "scheme satisfies the constraints).",
        "Relax or correct the allocation specification in the protocol.",
    ),
    "units-invalid": (
        "The unit table is unusable: duplicate or missing ids, missing values, wrong columns.",
        "Correct the units in the protocol or the units file.",
    ),
    "scheme-space": (
        "A scheme space cannot be built or queried as asked.",
        "Read the message; check the allocation specification.",
    ),
    "randomness-stream": (
        "The randomness stream was given an invalid seed, label or argument.",
        "Check the seed (64 hex digits) and the arguments.",
    ),
    "sequential-method": (
        "A sequential allocation method was configured or called incorrectly.",
        "Correct the method's settings in the protocol.",
    ),
    "commitment": (
        "A commitment's inputs are malformed, or a commitment does not match.",
        "Check that the seed, protocol and units are the ones sealed ('rct allocate verify').",
    ),
    "envelope": (
        "A sealed envelope is malformed or cannot be opened.",
        "Use the envelope as stored when it was sealed.",
    ),
    "wrong-envelope-passphrase": (
        "The passphrase does not open the sealed envelope, or the envelope was altered.",
        "Give the passphrase chosen at sealing.",
    ),
}
