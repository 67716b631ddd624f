"""The application's exception hierarchy.

Every mistake a user can make surfaces as an :class:`RctError` subclass with a message that
says what is wrong and what to do; the CLI prints it on one line and exits non-zero with the
class's ``exit_code``. Library packages have their own hierarchies (``protocols.errors``,
``allocation.errors``, ``analysis.errors``) which the CLI treats the same way.

Every error also carries a stable ``code`` (kebab-case), which the CLI prints with the
message and scripts and tests match instead of the wording. A class gives its default
code; a raise site passes ``code=`` where one class covers situations a user or a program
must tell apart (a wrong borough and a role that may not are both :class:`PermissionDenied`).
:data:`CODES` documents each code this module's hierarchy uses; ``docs/error-codes.md`` is
generated from it and the libraries' registries (``python -m tools.error_codes``).
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
    "CODES",
]


class RctError(Exception):
    """Base of every error the application reports to a user."""

    exit_code = 1
    code = "rct-internal"

    def __init__(self, *args: object, code: str | None = None) -> None:
        super().__init__(*args)
        if code is not None:
            self.code = code


class ConfigError(RctError):
    """A setting (database URL, user name, environment variable) is missing or wrong."""

    exit_code = 2
    code = "config"


class InputError(RctError):
    """A value given on the command line or in a file is not acceptable."""

    exit_code = 2
    code = "invalid-input"


class DatabaseError(RctError):
    """The trial database cannot be reached or is in an unexpected state."""

    exit_code = 3
    code = "database"


class NotInitialised(DatabaseError):
    """The database has no trial yet: run ``rct init`` first."""

    code = "not-initialised"


class NotFound(RctError):
    """A named thing (user, protocol version, submission) does not exist."""

    exit_code = 4
    code = "not-found"


class UnknownUser(RctError):
    """The acting user is not registered in this trial."""

    exit_code = 5
    code = "unknown-user"


class PermissionDenied(RctError):
    """The acting user's role may not do this."""

    exit_code = 5
    code = "permission-denied"


class ProtocolStateError(RctError):
    """The protocol is not in the state the action needs (e.g. locked, or not yet locked)."""

    exit_code = 6
    code = "protocol-state"


class AuditChainBroken(RctError):
    """The audit trail's hash chain does not verify."""

    exit_code = 7
    code = "audit-chain-broken"


class MissingKey(PermissionDenied):
    """The acting user's private key (or its passphrase) is not available here."""

    code = "missing-key"


class WrongKeyPassphrase(PermissionDenied):
    """The passphrase does not open the acting user's key file."""

    code = "wrong-key-passphrase"


#: code -> (what it means, what to do), for every code the application reports: its own
#: errors' (class defaults and raise-site codes) and the CLI's usage errors. The libraries
#: keep their own (``protocols.errors.CODES``, ``allocation.errors.CODES``,
#: ``analysis.errors.CODES``, ``analysis.notes.CODES``); tests/test_error_codes.py checks
#: that every code in the sources is listed and every listed code is used.
CODES: dict[str, tuple[str, str]] = {
    # the command line itself
    "usage": (
        "The command line cannot be parsed: an unknown option, a missing argument, or a "
        "value an option does not accept.",
        "Read the command's --help and correct the command line.",
    ),
    "cli-error": (
        "The command-line layer could not do what was asked (e.g. open a file named on the "
        "command line).",
        "Read the message; check the file or value it names.",
    ),
    # settings and input
    "config": (
        "A setting (database URL, acting user, environment variable) is missing or wrong.",
        "Give the setting the message names (--db, --as, RCT_DATABASE_URL, RCT_USER).",
    ),
    "invalid-input": (
        "A value given on the command line or in a file is not acceptable.",
        "Correct the value the message names and run the command again.",
    ),
    "unreadable-data": (
        "A data file given to 'rct analyse fit' cannot be read as CSV.",
        "Check the path and that the file is a CSV table with a header row.",
    ),
    "fit-failed": (
        "A model given to 'rct analyse fit' could not be fitted (no estimate at all).",
        "Simplify the model or check the data; milder trouble is reported as a warning.",
    ),
    # the database
    "database": (
        "The trial database is in an unexpected state or refused an operation.",
        "Read the message; check the --db URL and the database server.",
    ),
    "database-unreachable": (
        "The database server cannot be reached.",
        "Check the --db URL (or RCT_DATABASE_URL) and that the server is running.",
    ),
    "driver-missing": (
        "The driver for the database named by the URL is not installed.",
        "Install the extra the message names, e.g. pip install 'rct[postgres]'.",
    ),
    "schema-outdated": (
        "The database was made by an older version of the toolkit.",
        "Run 'rct init' to upgrade it.",
    ),
    "not-initialised": (
        "There is no trial database (or no trial schema) here.",
        "Run 'rct init' first, or give the trial's --db URL.",
    ),
    "no-protocol": (
        "The trial has no protocol loaded.",
        "Load one with 'rct init --protocol FILE'.",
    ),
    "not-found": (
        "A named thing (user, protocol version, submission, query, file) does not exist.",
        "Check the name or number; list what exists with the matching 'show' or 'log'.",
    ),
    "record-altered": (
        "A stored protocol version or results record does not match its own hash: the "
        "database was changed outside the toolkit.",
        "Run 'rct audit verify' and restore the database from a trusted copy.",
    ),
    "concurrent-change": (
        "Something the command relies on changed while it ran (another user's change), so "
        "nothing was stored.",
        "Run the command again.",
    ),
    # who may act
    "unknown-user": (
        "The acting user is not registered in this trial.",
        "Act as a registered user (--as NAME, RCT_USER) or ask an admin to register you.",
    ),
    "permission-denied": (
        "The acting user may not do this.",
        "Act as a user whose role allows it.",
    ),
    "role-not-permitted": (
        "The acting user's role does not carry the permission the action needs.",
        "Act as a user with one of the roles the message lists.",
    ),
    "wrong-borough": (
        "A data manager acted on another borough's data (or on every borough's).",
        "Act on your own borough only, or ask a statistician.",
    ),
    "login-mismatch": (
        "The PostgreSQL login is mapped to another trial user than the one named by --as.",
        "Drop --as/RCT_USER, or connect with that user's own login.",
    ),
    "database-refused": (
        "The database login may not read or change what the command needs.",
        "Use a database login with the access the trial role needs (docs/database-roles.md).",
    ),
    "superuser-required": (
        "Creating or dropping the trial's database roles needs a PostgreSQL superuser.",
        "Connect as a superuser, or have one run the SQL of 'rct db roles --sql'.",
    ),
    "registration-changed": (
        "The acting user's registration changed between the role check and the change.",
        "Run the command again.",
    ),
    # signing keys
    "missing-key": (
        "The acting user's private key file is not in the key directory.",
        "Create it with 'rct key create', or point --key-dir / RCT_KEY_DIR at it.",
    ),
    "no-passphrase": (
        "The passphrase of the acting user's key is needed and none was given.",
        "Set RCT_KEY_PASSPHRASE or run the command at a terminal.",
    ),
    "wrong-key-passphrase": (
        "The passphrase does not open the acting user's key file.",
        "Give the passphrase the key was created with.",
    ),
    "key-not-registered": (
        "The acting user has no registered public key, so their changes cannot be signed.",
        "They run 'rct key create'; an admin runs 'rct user key NAME --public-key FILE'.",
    ),
    "key-mismatch": (
        "The key file found is not the key registered for the acting user.",
        "Use the key file that was registered (--key-dir), or have an admin re-register it.",
    ),
    "public-key-file-missing": (
        "The public key file to register is not where it was looked for.",
        "Pass the user's NAME.pub with --public-key FILE.",
    ),
    "key-file-invalid": (
        "A key file is not an rct key file.",
        "Recreate the key with 'rct key create'.",
    ),
    "trial-not-signing": (
        "The trial's audit trail was created before signed events.",
        "An admin runs 'rct audit start-signing' once.",
    ),
    "already-signing": (
        "The trial's events are signed already.",
        "Nothing to do.",
    ),
    "database-roles-missing": (
        "The trial's PostgreSQL roles do not exist yet.",
        "Run 'rct db roles' first (with the same --prefix).",
    ),
    # protocol
    "protocol-state": (
        "The protocol is not in the state the action needs.",
        "Read the message; lock, amend or load the protocol as it says.",
    ),
    "protocol-not-locked": (
        "The action needs a locked protocol and the protocol is a draft.",
        "The statistician locks it with 'rct protocol lock'.",
    ),
    "protocol-locked": (
        "The protocol is locked, so it cannot be replaced or locked again.",
        "Change a locked protocol only by 'rct protocol amend FILE --reason TEXT'.",
    ),
    "illustrative-covariates": (
        "The protocol still holds the shipped illustrative covariate values.",
        "Replace them and reload with 'rct init --protocol FILE', or lock with "
        "--accept-illustrative.",
    ),
    "allocation-fixed": (
        "An amendment would change the units or the allocation specification of a live allocation.",
        "Amend something else, or void the allocation first if the trial really must.",
    ),
    # allocation
    "allocation-state": (
        "The allocation is not in the state the action needs.",
        "Read the message; see 'rct allocate show'.",
    ),
    "no-allocation": (
        "No allocation is sealed (or none is live).",
        "Seal one with 'rct allocate seal'.",
    ),
    "allocation-live": (
        "An allocation is live already; a trial has one live allocation.",
        "Void it with 'rct allocate void --reason TEXT' if a new one is really needed.",
    ),
    "not-revealed": (
        "The allocation is sealed but not revealed, so its arms are not known.",
        "Reveal it at the agreed time with 'rct allocate reveal'.",
    ),
    "scheme-space-changed": (
        "The scheme space rebuilt from the protocol differs from the one sealed.",
        "Run 'rct allocate verify' to see what differs.",
    ),
    "arms-not-verified": (
        "The stored arms do not follow from the sealed commitment, so they are not used.",
        "Run 'rct allocate verify' and 'rct audit verify'; restore the database.",
    ),
    "explain-failed": (
        "A certificate's inputs cannot be recomputed step by step.",
        "Check that the bundle or database holds the sealed protocol version and units.",
    ),
    # audit
    "audit-chain-broken": (
        "The audit trail does not verify: an event was altered, removed or inserted, a "
        "signature fails or a published checkpoint disagrees.",
        "Stop changing the trial; restore the database from a trusted copy.",
    ),
    # analyses
    "nothing-to-analyse": (
        "There are no values to analyse yet, so nothing was stored.",
        "Import the boroughs' returns first ('rct data import').",
    ),
    # data capture
    "capture": (
        "Outcome data capture cannot go on as asked.",
        "Read the message.",
    ),
    "unreadable-file": (
        "The file cannot be read as a table (unknown format, empty, no header row).",
        "Give a CSV or .xlsx file made from 'rct data template'.",
    ),
    "submission-rejected": (
        "A return has at least one problem; it was rejected whole and nothing was stored.",
        "Correct every problem listed ('rct data check FILE') and import again.",
    ),
    "amendment-required": (
        "A file would change values already stored.",
        "Use 'rct data amend FILE --reason TEXT'.",
    ),
    "excel-support-missing": (
        "Reading or writing .xlsx needs the optional excel extra.",
        "pip install 'rct[excel]', or use CSV.",
    ),
    "export-support-missing": (
        "Writing Parquet needs the optional export extra.",
        "pip install 'rct[export]', or export CSV.",
    ),
    "query-state": (
        "A data-quality query is not in a state that allows this step.",
        "See the query with 'rct data queries'.",
    ),
    "child-records-disabled": (
        "Child-level records are not enabled for this trial.",
        "Enable them in the protocol, or import aggregate returns.",
    ),
    "rct-internal": (
        "The application found itself in a state it should never be in.",
        "Report it as a bug, with the command and its output.",
    ),
}
