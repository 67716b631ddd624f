"""Errors of outcome data capture, all within the application's :mod:`rct.errors` hierarchy.

The CLI prints each as one line with its exit code; a rejected file additionally carries
its whole :class:`~rct.capture.report.ValidationReport` so every problem can be listed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rct.errors import ConfigError, InputError, RctError

if TYPE_CHECKING:
    from rct.capture.report import ValidationReport

__all__ = [
    "CaptureError",
    "UnreadableFile",
    "SubmissionRejected",
    "AmendmentRequired",
    "ExcelSupportMissing",
    "ExportSupportMissing",
    "QueryStateError",
    "ChildRecordsDisabled",
]


class CaptureError(RctError):
    """Base of the errors raised by :mod:`rct.capture`."""

    code = "capture"


class UnreadableFile(CaptureError, InputError):
    """The file cannot be read as a table (unknown format, empty, no header)."""

    code = "unreadable-file"


class SubmissionRejected(CaptureError, InputError):
    """A file has at least one problem: it is rejected whole and nothing is written."""

    code = "submission-rejected"

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        n = len(report.problems)
        first = report.problems[0].describe() if n else ""
        more = f" (and {n - 1} more problem{'s' if n > 2 else ''})" if n > 1 else ""
        super().__init__(f"{report.source}: rejected, nothing was stored: {first}{more}")


class AmendmentRequired(SubmissionRejected):
    """A file would change stored values: only ``rct data amend FILE --reason`` may."""

    code = "amendment-required"


class ExcelSupportMissing(CaptureError, ConfigError):
    """Reading or writing .xlsx needs the optional ``excel`` extra (openpyxl)."""

    code = "excel-support-missing"


class ExportSupportMissing(CaptureError, ConfigError):
    """Writing Parquet needs the optional ``export`` extra (pyarrow)."""

    code = "export-support-missing"


class QueryStateError(CaptureError):
    """A data-quality query is not in a state that allows this step."""

    exit_code = 6
    code = "query-state"


class ChildRecordsDisabled(CaptureError):
    """Child-level records are not enabled for this trial."""

    exit_code = 6
    code = "child-records-disabled"
