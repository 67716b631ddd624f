"""The fuzz judge can judge every workbook ``rct`` accepts (issue #11).

In the long profile two accepted workbooks could not be cross-checked: openpyxl fails on
a corrupted attribute name in their sheet properties. Such damage lies outside the cells,
so ``rct`` reads the cells exactly, and the second reader of :mod:`tests.fuzz.oracle`
confirms it; damage to a name inside the cell data is refused.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from tests.fuzz.harness import ReturnsRig
from tests.fuzz.oracle import etree_rows, openpyxl_rows
from tests.fuzz.strategies import _xlsx_bytes, _zip

ROWS = [
    ["camden", "2026-Q4", "da_referral_at_intake", "7", ""],
    ["E09000010", "2026-Q3", "da_referral_at_intake", "12", "ok"],
]
SHEET = "xl/worksheets/sheet1.xml"


def _damaged(old: bytes, new: bytes) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(_xlsx_bytes(ROWS)))
    parts = {i.filename: src.read(i) for i in src.infolist()}
    assert old in parts[SHEET]
    parts[SHEET] = parts[SHEET].replace(old, new, 1)
    return _zip(parts)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> ReturnsRig:
    return ReturnsRig(Path(tmp_path_factory.mktemp("oracle")))


def test_the_second_reader_agrees_with_openpyxl_on_a_sound_workbook() -> None:
    data = _xlsx_bytes(ROWS)
    assert etree_rows(data) == openpyxl_rows(data)


@pytest.mark.parametrize("new", [b"summaryBelox", b"summaryBelow_", b"xummaryBelow"])
def test_damage_openpyxl_fails_on_outside_the_cells_is_judged_and_stored_exactly(
    rig: ReturnsRig, new: bytes
) -> None:
    data = _damaged(b"summaryBelow", new)
    with pytest.raises(TypeError):
        openpyxl_rows(data)
    assert rig.run("return.xlsx", data) == "accepted", rig.examples
    assert rig.judged_by["etree"] >= 1


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b'<c r="D2" t="n">', b'<c r="D2" u="n">'),
        (b'<c r="D2" t="n"><v>7</v>', b'<c r="D2" t="n"><w>7</w>'),
        (b'<c r="D2" t="n">', b'<c r="D2" t="m">'),
        (b'<row r="2">', b'<row q="2">'),
    ],
)
def test_damage_to_names_inside_the_cell_data_is_refused_cleanly(
    rig: ReturnsRig, old: bytes, new: bytes
) -> None:
    assert rig.run("return.xlsx", _damaged(old, new)) == "rejected", rig.examples
