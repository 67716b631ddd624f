"""Errors raised while reading or checking a protocol, and the coded records the libraries
share: :class:`Problem` (one thing wrong, located) and :class:`CodedWarning` (a warning
with a stable code, used by ``allocation`` and ``analysis``; docs/error-codes.md)."""

from __future__ import annotations

__all__ = [
    "ProtocolError",
    "ProtocolFileNotFound",
    "ProtocolValidationError",
    "Problem",
    "CODES",
    "CodedWarning",
    "LEGACY",
    "warning_text",
]

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class ProtocolError(Exception):
    """Base class for every protocol problem."""

    #: stable identifier of the situation (docs/error-codes.md); a raise site may
    #: pass ``code=`` for a situation the class covers among others
    code = "protocol"

    def __init__(self, *args: object, code: str | None = None) -> None:
        super().__init__(*args)
        if code is not None:
            self.code = code


class ProtocolFileNotFound(ProtocolError, FileNotFoundError):
    """The protocol file named does not exist (the CLI reports it as not found, exit 4)."""

    code = "protocol-file-not-found"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a protocol file, located by a path such as ``units[3].gss_code``."""

    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


#: the code of a warning read from a results file written before warnings had codes
LEGACY = "uncoded"


@dataclass(frozen=True)
class CodedWarning:
    """One warning: a stable ``code`` and a human ``message`` (``str(w)``).

    The codes are listed in ``analysis.coded_warnings.CODES`` and
    ``allocation.diagnostics.WARNING_CODES`` (docs/error-codes.md). A warning read from a
    file written before warnings had codes has code :data:`LEGACY` and is written back as
    the plain string it was.
    """

    code: str
    message: str

    def __str__(self) -> str:
        return self.message

    def to_json(self) -> dict[str, str] | str:
        """The stored form: ``{"code": ..., "message": ...}``, or an old file's plain string."""
        if self.code == LEGACY:
            return self.message
        return {"code": self.code, "message": self.message}

    @classmethod
    def from_json(cls, value: Mapping[str, Any] | str) -> CodedWarning:
        """A warning as a file stores it (either form)."""
        if isinstance(value, str):
            return cls(LEGACY, value)
        return cls(str(value["code"]), str(value["message"]))


def warning_text(value: Mapping[str, Any] | str | CodedWarning) -> str:
    """A stored or live warning as one line: ``message [code]`` (old files: the message)."""
    w = value if isinstance(value, CodedWarning) else CodedWarning.from_json(value)
    return w.message if w.code == LEGACY else f"{w.message} [{w.code}]"


class ProtocolValidationError(ProtocolError):
    """A protocol file has one or more problems; all of them are in ``problems``."""

    code = "protocol-invalid"

    def __init__(self, problems: list[Problem], source: str = "protocol") -> None:
        self.problems = list(problems)
        self.source = source
        lines = "\n".join(f"  {p}" for p in self.problems)
        n = len(self.problems)
        super().__init__(f"{source} has {n} problem{'s' if n != 1 else ''}:\n{lines}")


#: code -> (what it means, what to do) for every code this package's errors carry
#: (docs/error-codes.md is generated from this and the other packages' registries).
CODES: dict[str, tuple[str, str]] = {
    "protocol": (
        "A protocol file cannot be read (permissions, encoding, not TOML).",
        "Check the file named in the message.",
    ),
    "protocol-file-not-found": (
        "The protocol file named does not exist.",
        "Check the path.",
    ),
    "protocol-invalid": (
        "A protocol file has one or more problems, each listed with its location.",
        "Correct every problem listed and validate again ('rct protocol validate FILE').",
    ),
}
