"""The codes of the warnings the application itself reports (the analysis library's are in
:mod:`analysis.coded_warnings`, the allocation library's in :mod:`allocation.diagnostics`).

A warning is a :class:`~protocols.errors.CodedWarning`: a stable ``code`` that programs and
tests match, and a ``message`` that people read; the CLI prints ``Warning: message [code]``.
"""

from __future__ import annotations

__all__ = ["WARNING_CODES"]

#: code -> (what it means, what to do) for every warning the application reports (a
#: return's validation, locking); docs/error-codes.md is generated from the registries.
WARNING_CODES: dict[str, tuple[str, str]] = {
    "column-not-read": (
        "The file has a column the return template does not have; its values are ignored.",
        "Nothing, if the column is a note of your own; otherwise check the header against "
        "'rct data template' (a misspelt indicator column is read as no value).",
    ),
    "covariates-illustrative": (
        "Covariate values the allocation balances on are marked illustrative in the protocol: "
        "they were not confirmed when the protocol was locked.",
        "Replace them with confirmed values and reload the protocol before locking, or lock "
        "them as they are with --accept-illustrative (recorded in the audit trail).",
    ),
}
