"""The one vocabulary of completeness: each status's name, words, symbol and colour.

The terminal table (``rct completeness``), its standalone HTML heatmap and the trial
report's heatmap all take their words and marks from here, so a status reads the same
everywhere. Symbols are ASCII so that any terminal shows them, and every view prints the
legend (:func:`legend`) next to the marks.

``queried``      received, and a data-quality query on it is open or answered;
``amended``      received and corrected at least once (more than one version);
``received``     a value is stored;
``overdue``      no value, and the submission deadline is past;
``not_yet_due``  no value yet, and the deadline has not passed (still expected).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["STATUSES", "StatusStyle", "STYLE", "symbol", "words", "legend", "plural"]


@dataclass(frozen=True)
class StatusStyle:
    """How one status is shown: words, a one-character symbol and a fill colour."""

    words: str
    symbol: str
    colour: str


#: Every status, in the order the views list them.
STATUSES = ("received", "amended", "queried", "overdue", "not_yet_due")

#: Colours from the Okabe-Ito-friendly set the report uses; the symbol carries the meaning
#: in greyscale and for readers who do not tell the colours apart.
STYLE: dict[str, StatusStyle] = {
    "received": StatusStyle("received", "R", "#9fd89f"),
    "amended": StatusStyle("amended", "A", "#8fb8e8"),
    "queried": StatusStyle("queried", "Q", "#f3d36b"),
    "overdue": StatusStyle("overdue", "!", "#e8837c"),
    "not_yet_due": StatusStyle("not yet due", "-", "#f2f2f2"),
}


def symbol(status: str) -> str:
    """The one-character mark of ``status``."""
    return STYLE[status].symbol


def words(status: str) -> str:
    """``status`` in words (``not_yet_due`` -> ``not yet due``)."""
    return STYLE[status].words


def legend(separator: str = "  ") -> str:
    """``R received  A amended  Q queried  ! overdue  - not yet due``."""
    return separator.join(f"{STYLE[s].symbol} {STYLE[s].words}" for s in STATUSES)


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """``1 cell``, ``2 cells``, ``1,234 cells`` (``nouns`` for irregular plurals)."""
    return f"{n:,} {noun if n == 1 else (nouns or noun + 's')}"
