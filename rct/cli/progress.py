"""One progress bar for every long command (power, design check, analyse run, import, bundle).

The libraries (``analysis``, ``allocation``) never draw anything: a long computation takes an
optional ``progress`` callback, called with the number of finished steps since the last call.
The CLI turns that callback into a tqdm bar on standard error showing done/total, elapsed
time and the estimated time left. The bar is silent under ``--json`` and whenever standard
error is not a terminal (pipes, CI, tests), so machine-readable output is never mixed with it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

#: Count, elapsed time and estimated time left, the same on every bar.
_FORMAT = (
    "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed} elapsed, {remaining} left]"
)

#: What a library function accepts: "this many more steps are finished".
ProgressCallback = Callable[[int], None]


def _no_progress(_steps: int) -> None:
    """The callback used when no bar is shown."""


#: Size of the screen where the terminal reports none (a pseudo-terminal opened by a
#: program, some editors' shells): at 0 x 0 tqdm hides the bar as off the screen and
#: draws nothing at all.
FALLBACK_SIZE = (80, 24)


def _width() -> dict[str, Any]:
    """tqdm's size options: follow the terminal's width while it reports a size, else
    the fixed :data:`FALLBACK_SIZE`."""
    try:
        size = os.get_terminal_size(sys.stderr.fileno())
    except (OSError, ValueError):
        return {"ncols": FALLBACK_SIZE[0], "nrows": FALLBACK_SIZE[1]}
    if size.columns > 0 and size.lines > 0:
        return {"dynamic_ncols": True}
    return {"ncols": size.columns or FALLBACK_SIZE[0], "nrows": size.lines or FALLBACK_SIZE[1]}


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
    # lazy: loads tqdm (start-up time)
    from tqdm import tqdm  # imported on use: start-up time of short commands

    with tqdm(
        total=total,
        desc=label,
        unit="step",
        file=sys.stderr,
        bar_format=_FORMAT,
        **_width(),
    ) as bar:
        yield bar.update


@contextmanager
def progress_to_total(label: str, *, as_json: bool = False) -> Iterator[Callable[[int, int], None]]:
    """Yield a ``(done, total)`` callback for work whose size is known only once it starts.

    Used where a library reports absolute progress (e.g. child-level records stored so far
    out of all of them). The bar is created on the first call, with that call's total.
    """
    if not bar_wanted(as_json):
        yield lambda _done, _total: None
        return
    # lazy: loads tqdm (start-up time)
    from tqdm import tqdm  # imported on use: start-up time of short commands

    bars: list[Any] = []

    def step(done: int, total: int) -> None:
        if not bars:
            bars.append(
                tqdm(
                    total=total,
                    desc=label,
                    unit="row",
                    file=sys.stderr,
                    bar_format=_FORMAT,
                    **_width(),
                )
            )
        bar = bars[0]
        bar.total = total
        bar.update(done - bar.n)

    try:
        yield step
    finally:
        for bar in bars:
            bar.close()
