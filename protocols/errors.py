"""Errors raised while reading or checking a protocol."""

from __future__ import annotations

__all__ = ["ProtocolError", "ProtocolFileNotFound", "ProtocolValidationError", "Problem"]

from dataclasses import dataclass


class ProtocolError(Exception):
    """Base class for every protocol problem."""


class ProtocolFileNotFound(ProtocolError, FileNotFoundError):
    """The protocol file named does not exist (the CLI reports it as not found, exit 4)."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a protocol file, located by a path such as ``units[3].gss_code``."""

    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class ProtocolValidationError(ProtocolError):
    """A protocol file has one or more problems; all of them are in ``problems``."""

    def __init__(self, problems: list[Problem], source: str = "protocol") -> None:
        self.problems = list(problems)
        self.source = source
        lines = "\n".join(f"  {p}" for p in self.problems)
        n = len(self.problems)
        super().__init__(f"{source} has {n} problem{'s' if n != 1 else ''}:\n{lines}")
