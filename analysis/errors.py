"""The exceptions raised by the ``analysis`` package, all from one hierarchy.

Callers (the SAP runner, the CLI) catch :class:`AnalysisError` and turn it into one clear
message; the subclasses say what went wrong so that a program can react to it.
"""

from __future__ import annotations

__all__ = [
    "AnalysisError",
    "ConvergenceError",
    "DataError",
    "ModelSpecificationError",
    "RandomisationSpaceError",
    "CODES",
]


class AnalysisError(Exception):
    """Base class of every error raised by the analysis library."""

    #: stable identifier of the situation (docs/error-codes.md); a raise site may
    #: pass ``code=`` for a situation the class covers among others
    code = "analysis"

    def __init__(self, *args: object, code: str | None = None) -> None:
        super().__init__(*args)
        if code is not None:
            self.code = code


class DataError(AnalysisError, ValueError):
    """The analysis data cannot be used as given (missing columns, missing values, too few
    clusters, an outcome outside the family's support, ...)."""

    code = "analysis-data"


class ModelSpecificationError(AnalysisError, ValueError):
    """The requested model or option does not exist or cannot be combined as asked
    (e.g. adaptive quadrature with two random effects)."""

    code = "model-specification"


class ConvergenceError(AnalysisError, RuntimeError):
    """A fit failed so badly that no estimate can be reported. Milder trouble is reported
    as a warning on the results object instead."""

    code = "convergence-failed"


class RandomisationSpaceError(AnalysisError, ValueError):
    """A scheme space or the actual allocation is malformed (not 0/1, wrong number of
    clusters, actual allocation not in the space)."""

    code = "randomisation-space"


#: code -> (what it means, what to do) for every code this package's errors carry
#: (docs/error-codes.md is generated from this and the other packages' registries).
CODES: dict[str, tuple[str, str]] = {
    "analysis": (
        "The analysis library cannot do what was asked.",
        "Read the message.",
    ),
    "analysis-data": (
        "The analysis data cannot be used as given (missing columns or values, too few "
        "clusters, an outcome outside the family's support).",
        "Correct the data, or check that the model's columns exist and are complete.",
    ),
    "model-specification": (
        "The requested model or option does not exist or cannot be combined as asked.",
        "Choose a model and options the message lists.",
    ),
    "convergence-failed": (
        "A fit failed so badly that no estimate can be reported.",
        "Simplify the model or check the data (milder trouble is a warning, not an error).",
    ),
    "randomisation-space": (
        "A scheme space or the actual allocation is malformed (not 0/1, wrong number of "
        "clusters, the actual allocation not in the space).",
        "Check the scheme space and allocation given to the randomisation test.",
    ),
    "degrees-of-freedom": (
        "The design leaves no degrees of freedom for a between- or within-cluster part.",
        "Use more clusters or fewer cluster-level terms, or a normal reference.",
    ),
}
