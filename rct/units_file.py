"""Reading a units table (one row per cluster) from CSV or Excel, for exploring designs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rct.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["read_units"]


def read_units(path: Path, id_column: str) -> pd.DataFrame:
    """The units in ``path`` as a DataFrame indexed by ``id_column`` (as text)."""
    import pandas as pd

    try:
        if path.suffix.lower() in (".xlsx", ".xlsm"):
            try:
                frame = pd.read_excel(path)
            except ImportError:
                raise InputError(
                    "reading Excel needs the 'excel' extra: pip install 'rct[excel]'"
                ) from None
        else:
            frame = pd.read_csv(path, sep=None, engine="python", encoding="utf-8-sig")
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"{path}: cannot read the units table ({exc})") from None
    if id_column not in frame.columns:
        raise InputError(
            f"{path}: no column {id_column!r} (columns: {', '.join(map(str, frame.columns))}); "
            "name the cluster id column with --id-column"
        )
    frame[id_column] = frame[id_column].astype(str)
    if frame[id_column].duplicated().any():
        dup = frame.loc[frame[id_column].duplicated(), id_column].iloc[0]
        raise InputError(f"{path}: cluster id {dup!r} appears more than once")
    return frame.set_index(id_column)
