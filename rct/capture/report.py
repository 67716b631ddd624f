"""What validating a file found: every problem by file row and column, with the reason and
the value found, plus warnings that do not stop a submission.

Rows are numbered as a spreadsheet shows them: the header is row 1, the first record is
row 2. Columns are named by their header and, for people counting in a spreadsheet, by
their letter (``value (D)``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from protocols.errors import CodedWarning

__all__ = ["Problem", "ValidationReport", "column_letter"]


def column_letter(index: int) -> str:
    """Spreadsheet letter of a 0-based column index (0 -> A, 26 -> AA)."""
    letters = ""
    n = index + 1
    while n:
        n, r = divmod(n - 1, 26)
        letters = chr(65 + r) + letters
    return letters


@dataclass(frozen=True)
class Problem:
    """One problem: where (row, column), why, and the value found there."""

    row: int | None
    column: str | None
    reason: str
    value: str | None = None

    def describe(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column:
            where.append(f"column {self.column}")
        place = ", ".join(where)
        found = "" if self.value is None else f" (found {self.value!r})"
        return f"{place}: {self.reason}{found}" if place else f"{self.reason}{found}"

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "reason": self.reason, "value": self.value}


@dataclass
class ValidationReport:
    """Everything found in one file; ``ok`` when there is no problem."""

    source: str
    sha256: str = ""
    kind: str = "returns"
    rows: int = 0
    problems: list[Problem] = field(default_factory=list)
    warnings: list[CodedWarning] = field(default_factory=list)
    summary: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, row: int | None, column: str | None, reason: str, value: Any = None) -> None:
        self.problems.append(Problem(row, column, reason, None if value is None else str(value)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "sha256": self.sha256,
            "kind": self.kind,
            "rows": self.rows,
            "ok": self.ok,
            "problems": [p.to_dict() for p in self.problems],
            "warnings": [w.to_json() for w in self.warnings],
            "summary": dict(self.summary),
        }
