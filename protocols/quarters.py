"""Calendar quarters written ``YYYY-Qn`` (``2026-Q3`` is July to September 2026)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import total_ordering

__all__ = ["Quarter", "QuarterError"]

_PATTERN = re.compile(r"^(\d{4})-Q([1-4])$")


class QuarterError(ValueError):
    """Text that is not a calendar quarter written ``YYYY-Qn``."""


@total_ordering
@dataclass(frozen=True)
class Quarter:
    """A calendar quarter; orders in time and converts to and from ``YYYY-Qn``."""

    year: int
    q: int

    @classmethod
    def parse(cls, text: str) -> Quarter:
        m = _PATTERN.match(str(text).strip())
        if not m:
            raise QuarterError(f"{text!r} is not a quarter written YYYY-Qn (e.g. 2026-Q3)")
        return cls(int(m.group(1)), int(m.group(2)))

    def __str__(self) -> str:
        return f"{self.year}-Q{self.q}"

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Quarter):
            return NotImplemented
        return (self.year, self.q) < (other.year, other.q)

    @property
    def index(self) -> int:
        """Quarters since year 0: consecutive quarters differ by one."""
        return self.year * 4 + self.q - 1

    @classmethod
    def from_index(cls, index: int) -> Quarter:
        return cls(index // 4, index % 4 + 1)

    def __add__(self, n: int) -> Quarter:
        return Quarter.from_index(self.index + n)

    @property
    def start(self) -> dt.date:
        return dt.date(self.year, 3 * self.q - 2, 1)

    @property
    def end(self) -> dt.date:
        """Last day of the quarter."""
        return (self + 1).start - dt.timedelta(days=1)

    @classmethod
    def containing(cls, day: dt.date) -> Quarter:
        return cls(day.year, (day.month - 1) // 3 + 1)

    @staticmethod
    def range(first: Quarter, last: Quarter) -> Iterator[Quarter]:
        """Every quarter from ``first`` to ``last`` inclusive."""
        for i in range(first.index, last.index + 1):
            yield Quarter.from_index(i)
