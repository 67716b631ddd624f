"""A file's header row: names normalised, required columns checked before any row is read.

Shared by the CSV reader (:mod:`rct.capture.reading`) and the xlsx reader
(:mod:`rct.capture.xlsx_reading`), which the CSV reader loads only for workbooks.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from rct.capture.errors import UnreadableFile

__all__ = ["normalise_header", "require_columns"]


def normalise_header(name: Any) -> str:
    """``" Borough Name "`` -> ``borough_name``: case, spaces and hyphens do not matter."""
    return "_".join(str(name or "").strip().lower().replace("-", " ").split())


def require_columns(source: str, header: Collection[str], required: Collection[str]) -> None:
    """Refuse a file whose (normalised) header lacks a required column, before its rows
    are read: a wrong file costs no more than its first line."""
    missing = [c for c in required if c not in header]
    if missing:
        raise UnreadableFile(
            f"{source}: row 1: required column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} missing (columns needed: {', '.join(required)}; "
            f"found: {', '.join(h or '(blank)' for h in header) or 'none'})"
        )
