"""Blank returns for a borough and quarter, pre-filled with the protocol's indicators.

The template is itself a valid return once its ``value`` column is filled in: columns
``borough`` (GSS code), ``borough_name``, ``period``, ``indicator``, ``indicator_label``,
``value`` (blank) and ``comment``. Text cells are neutralised against spreadsheet formula
execution.
"""

from __future__ import annotations

import csv
from pathlib import Path

from protocols import Protocol
from protocols.model import Unit
from rct.audit_export import safe_cell
from rct.capture.errors import ExcelSupportMissing

__all__ = ["TEMPLATE_COLUMNS", "template_rows", "write_template"]

TEMPLATE_COLUMNS = (
    "borough",
    "borough_name",
    "period",
    "indicator",
    "indicator_label",
    "value",
    "comment",
)


def template_rows(protocol: Protocol, unit: Unit, period: str) -> list[list[str]]:
    """One row per indicator, value and comment left blank."""
    return [
        [unit.gss_code or unit.id, unit.name, period, i.code, i.label, "", ""]
        for i in protocol.indicators
    ]


def write_template(protocol: Protocol, unit: Unit, period: str, path: Path) -> None:
    """Write the template to ``path``: ``.xlsx`` (needs openpyxl) or CSV (UTF-8)."""
    rows = [[safe_cell(c) for c in r] for r in template_rows(protocol, unit, period)]
    if path.suffix.lower() == ".xlsx":
        try:
            # lazy: loads numpy, openpyxl (start-up time)
            from openpyxl import Workbook
            from openpyxl.styles import Font
        except ImportError:
            raise ExcelSupportMissing(
                "writing .xlsx needs openpyxl: pip install 'rct[excel]' (or write a .csv template)"
            ) from None
        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.title = "return"
        sheet.append(list(TEMPLATE_COLUMNS))
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for r in rows:
            sheet.append([c or None for c in r])
        for letter, width in zip("ABCDEFG", (12, 24, 10, 30, 32, 10, 40)):
            sheet.column_dimensions[letter].width = width
        sheet.freeze_panes = "A2"
        book.save(path)
        return
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(TEMPLATE_COLUMNS)
        w.writerows(rows)
