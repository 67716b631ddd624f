"""The CSV copy of a bundle's dataset is bound to the audited snapshot, like the JSON copy.

The snapshot hash recorded in the audit trail (``bundle.export`` event) is computed over
the dataset rows as JSON (:func:`rct.capture.export.snapshot_hash`), so the JSON copy is
checked by rehashing it. The CSV copy, which the evaluator guide's pandas and R steps
read, is checked by writing the CSV afresh from those verified rows with the same writer
that made it (:func:`rct.capture.export.write_dataset`) and comparing byte for byte. A CSV
that differs in any byte fails, even if its manifest line was recomputed, and the failure
names the first differing line, the row (borough, quarter, indicator) and the column.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rct.allocation.verify import Check

__all__ = ["CSV_NAME", "csv_copy_check", "expected_csv"]

CSV_NAME = "data/analysis_dataset.csv"
CHECK_NAME = "data snapshot: CSV copy"


def expected_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """The exact text ``rct bundle export`` writes for ``rows``."""
    # lazy: loads sqlalchemy (start-up time)
    from rct.capture.export import write_dataset

    with tempfile.TemporaryDirectory(prefix="rct-csv-") as tmp:
        path = Path(tmp) / "expected.csv"
        write_dataset(rows, path, "csv")
        return path.read_text(encoding="utf-8")


def _first_difference(actual: str, expected: str) -> str:
    """Where ``actual`` first departs from ``expected``, in words."""
    a_lines, e_lines = actual.splitlines(), expected.splitlines()
    for n, (a, e) in enumerate(zip(a_lines, e_lines), start=1):
        if a == e:
            continue
        a_cells = next(csv.reader([a]))
        e_cells = next(csv.reader([e]))
        header = next(csv.reader([e_lines[0]]))
        where = f"line {n}"
        if n > 1 and len(e_cells) >= 6:
            where += f" ({e_cells[0]} {e_cells[3]} {e_cells[5]})"
        for col, (x, y) in enumerate(zip(a_cells, e_cells)):
            if x != y:
                name = header[col] if col < len(header) else f"#{col + 1}"
                return f"{where}, column {name}: {x!r} where the snapshot's rows give {y!r}"
        return f"{where}: {len(a_cells)} cells where the snapshot's rows give {len(e_cells)}"
    if len(a_lines) != len(e_lines):
        return f"{len(a_lines) - 1} data rows where the snapshot has {len(e_lines) - 1}"
    return "line endings or encoding differ from the CSV the snapshot's rows give"


def csv_copy_check(root: Path, rows: Sequence[Mapping[str, Any]] | None, snapshot: str) -> Check:
    """PASS when the bundle's CSV is exactly the CSV of the rows that hash to ``snapshot``.

    ``rows`` is None when the JSON copy itself failed its snapshot check: the CSV then has
    nothing trustworthy to be compared with, and fails saying so.
    """
    if rows is None:
        return Check(CHECK_NAME, False, "not checked: the JSON copy does not match the snapshot")
    path = root / CSV_NAME
    if not path.is_file():
        return Check(CHECK_NAME, False, f"{CSV_NAME} is missing")
    actual = path.read_bytes().decode("utf-8", errors="replace")
    expected = expected_csv(rows)
    if actual == expected:
        return Check(
            CHECK_NAME,
            True,
            f"{len(rows)} rows, identical to the CSV of the rows with snapshot {snapshot[:16]}...",
        )
    return Check(
        CHECK_NAME,
        False,
        f"{CSV_NAME} differs from the rows with the audited snapshot {snapshot[:16]}...: "
        + _first_difference(actual, expected),
    )
