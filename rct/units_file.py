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
    # lazy: loads pandas, numpy (start-up time)
    import pandas as pd

    from rct.capture.reading import normalise_header, read_table
    from rct.capture.returns import number_in

    # the same strict reader as returns: no silently dropped cells, bytes or rows
    table = read_table(path)
    names = [str(h) for h in table.header]
    raw = {
        name: [r[i] if i < len(r) else None for _, r in table.rows]
        for i, name in enumerate(names)
        if name
    }
    frame = pd.DataFrame(index=range(len(table.rows)))
    for name, cells in raw.items():
        numbers = [None if c is None else number_in(c) for c in cells]
        if all(c is None or n is not None for c, n in zip(cells, numbers)) and any(
            n is not None for n in numbers
        ):
            big = next((c for c, n in zip(cells, numbers) if n is not None and abs(n) > 1e12), None)
            if big is not None:
                raise InputError(f"{path}: column {name!r}: {big!r} is beyond 1e12 in size")
            frame[name] = [float("nan") if n is None else n for n in numbers]
        else:
            frame[name] = ["" if c is None else str(c) for c in cells]
    id_column = normalise_header(id_column)
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
