"""One progress bar for every long command (power, design check, analyse run, import, bundle).

The libraries (``analysis``, ``allocation``) never draw anything: a long computation takes an
optional ``progress`` callback, called with the number of finished steps since the last call.
The CLI turns that callback into a tqdm bar on standard error showing done/total, elapsed
time and the estimated time left. The bar is silent under ``--json`` and whenever standard
error is not a terminal (pipes, CI, tests), so machine-readable output is never mixed with it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

#: What a library function accepts: "this many more steps are finished".
ProgressCallback = Callable[[int], None]


def _no_progress(_steps: int) -> None:
    """The callback used when no bar is shown."""


def bar_wanted(as_json: bool = False) -> bool:
    """A bar is drawn only for a person at a terminal, and never under ``--json``."""
    return not as_json and sys.stderr.isatty()


@contextmanager
def progress_bar(total: int, label: str, *, as_json: bool = False) -> Iterator[ProgressCallback]:
    """Yield a callback that advances a bar of ``total`` steps labelled ``label``.

    When no bar is wanted the callback does nothing, so callers never branch on it.
    tqdm is imported only here, so commands that draw no bar do not pay for it.
    """
    if total <= 0 or not bar_wanted(as_json):
        yield _no_progress
        return
    from tqdm import tqdm  # imported on use: start-up time of short commands

    with tqdm(
        total=total,
        desc=label,
        unit="step",
        file=sys.stderr,
        dynamic_ncols=True,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} "
        "[{elapsed} elapsed, {remaining} left]",
    ) as bar:
        yield bar.update
