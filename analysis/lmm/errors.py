"""Exceptions raised by the linear mixed model package.

Every error the package raises derives from :class:`LMMError`, so callers (the SAP runner,
the CLI) can catch one type and turn it into a clear message for the user.
"""

from __future__ import annotations

__all__ = ["LMMError", "DesignError", "FitOptionError"]


from analysis.errors import AnalysisError
from analysis.shared.random_terms import DesignError as RandomEffectsError


class LMMError(AnalysisError):
    """Base class of every error raised by :mod:`analysis.lmm`."""


class DesignError(LMMError, RandomEffectsError):
    """The data or formula cannot define a linear mixed model (shapes, missing columns, rank,
    random-effect terms that are unsupported or that the data cannot identify)."""


class FitOptionError(LMMError, ValueError):
    """An unknown or inapplicable fitting option (method, degrees-of-freedom method)."""

    code = "model-specification"
