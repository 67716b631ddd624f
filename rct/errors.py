"""The application's exception hierarchy.

Every mistake a user can make surfaces as an :class:`RctError` subclass with a message that
says what is wrong and what to do; the CLI prints it on one line and exits non-zero with the
class's ``exit_code``. Library packages have their own hierarchies (``protocols.errors``,
``allocation.errors``, ``analysis.errors``) which the CLI treats the same way.
"""

from __future__ import annotations

__all__ = [
    "RctError",
    "ConfigError",
    "DatabaseError",
    "NotInitialised",
    "PermissionDenied",
    "UnknownUser",
    "ProtocolStateError",
    "AuditChainBroken",
    "NotFound",
    "InputError",
    "MissingKey",
    "WrongKeyPassphrase",
]


class RctError(Exception):
    """Base of every error the application reports to a user."""

    exit_code = 1


class ConfigError(RctError):
    """A setting (database URL, user name, environment variable) is missing or wrong."""

    exit_code = 2


class InputError(RctError):
    """A value given on the command line or in a file is not acceptable."""

    exit_code = 2


class DatabaseError(RctError):
    """The trial database cannot be reached or is in an unexpected state."""

    exit_code = 3


class NotInitialised(DatabaseError):
    """The database has no trial yet: run ``rct init`` first."""


class NotFound(RctError):
    """A named thing (user, protocol version, submission) does not exist."""

    exit_code = 4


class UnknownUser(RctError):
    """The acting user is not registered in this trial."""

    exit_code = 5


class PermissionDenied(RctError):
    """The acting user's role may not do this."""

    exit_code = 5


class ProtocolStateError(RctError):
    """The protocol is not in the state the action needs (e.g. locked, or not yet locked)."""

    exit_code = 6


class AuditChainBroken(RctError):
    """The audit trail's hash chain does not verify."""

    exit_code = 7


class MissingKey(PermissionDenied):
    """The acting user's private key (or its passphrase) is not available here."""


class WrongKeyPassphrase(PermissionDenied):
    """The passphrase does not open the acting user's key file."""
