"""Loading the published 2023-2025 partnership indicators into a demonstration trial.

The data (``rct/data/partnership_indicators_2023_2025.csv``, CWASU Years 3/4 evaluation,
Tables 6-11) cover the six partnership boroughs with the demonstration protocol
``protocols/london_partnership_example.toml``. Blank cells in the published tables are
missing returns and stay missing: they are never loaded as zeros.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from protocols import loads_protocol
from rct import protocols as protocol_store
from rct.capture.submit import SubmissionResult, submit_return
from rct.db.engine import current_revision, make_engine
from rct.errors import InputError
from rct.initialise import initialise
from rct.keys import KeyStore
from rct.workspace import Workspace

__all__ = ["EXAMPLE_PROTOCOL", "EXAMPLE_DATA", "ExampleLoad", "example_data", "load_example"]

EXAMPLE_PROTOCOL = "london_partnership_example.toml"
EXAMPLE_DATA = "partnership_indicators_2023_2025.csv"
SOURCE = "published partnership indicators 2023-2025 (CWASU Years 3/4, Tables 6-11)"


@dataclass(frozen=True)
class ExampleLoad:
    """What loading the example did: whether the trial was created, and the submission."""

    created_trial: bool
    result: SubmissionResult


def example_data() -> bytes:
    """The published indicator table shipped with the package."""
    return resources.files("rct").joinpath("data", EXAMPLE_DATA).read_bytes()


def load_example(url: str, user: str, keys: KeyStore | None = None) -> ExampleLoad:
    """Create the demonstration trial if the database is empty, then load the data.

    On an empty database ``user`` becomes its first admin (as with ``rct init``). A database
    that holds another trial is refused. Loading twice changes nothing the second time.
    """
    text = resources.files("protocols").joinpath(EXAMPLE_PROTOCOL).read_text("utf-8")
    protocol = loads_protocol(text, EXAMPLE_PROTOCOL)
    engine = make_engine(url)
    try:
        fresh = current_revision(engine) is None
    finally:
        engine.dispose()
    if fresh:
        initialise(url, user, protocol, EXAMPLE_PROTOCOL, keys)
    ws = Workspace(url, user, keys=keys)
    try:
        with ws.session() as s:
            held = protocol_store.current(s).protocol.trial.id
        if held != protocol.trial.id:
            raise InputError(
                f"this database holds trial {held!r}; load the example into a new "
                "database, e.g. rct --db demo.db data load-example"
            )
        result = submit_return(
            ws, EXAMPLE_DATA, data=example_data(), allow_blank=True, source_name=SOURCE
        )
    finally:
        ws.close()
    return ExampleLoad(fresh, result)
