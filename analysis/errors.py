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
]


class AnalysisError(Exception):
    """Base class of every error raised by the analysis library."""


class DataError(AnalysisError, ValueError):
    """The analysis data cannot be used as given (missing columns, missing values, too few
    clusters, an outcome outside the family's support, ...)."""


class ModelSpecificationError(AnalysisError, ValueError):
    """The requested model or option does not exist or cannot be combined as asked
    (e.g. adaptive quadrature with two random effects)."""


class ConvergenceError(AnalysisError, RuntimeError):
    """A fit failed so badly that no estimate can be reported. Milder trouble is reported
    as a warning on the results object instead."""


class RandomisationSpaceError(AnalysisError, ValueError):
    """A scheme space or the actual allocation is malformed (not 0/1, wrong number of
    clusters, actual allocation not in the space)."""
