"""Benchmark (issue #11): what it costs to reject a hostile return, against reading a valid
file of the same size, both measured in this run.

Files: a 1 MB .xlsx and a 100 MB CSV (sizes can be lowered with --xlsx-mb / --csv-mb).
Hostile xlsx: a wrong header over ~1 MB of rows; a zip bomb (shared strings that inflate
to 500 MB); a cell declared at XFD1048576. Hostile CSV: a
wrong header; a control byte half-way; a row with one extra cell at the very end (the
worst case: found last). Each file is read in a fresh process by
``rct.capture.reading.read_table`` (as ``rct data import`` does, required columns given);
time is CPU time of the process (steadier than wall-clock on a shared machine) from the
call until what it read is released again (a refused file's rows are released when its
error is handled, so a valid file's are too), memory is the process's peak resident set
above its size after imports and reading the bytes (plus 1 MB, so that nothing divides
by zero). Each file is read in ``--repeat`` fresh processes (default 3) and the least
time and memory are kept. Prints each as a ratio to the valid file; the aim is ratios of
at most 1.

Run from the repository root: ``python bench/bench_hostile.py``.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import TypedDict

ROOT = Path(__file__).resolve().parent.parent


class Measurement(TypedDict):
    seconds: float
    peak_kb: int
    outcome: str


WORKER = """
import json, resource, sys, time
import openpyxl.styles.numbers
import rct.capture.xlsx_reading
from rct.capture.reading import read_table
from rct.capture.returns import REQUIRED
from rct.capture.errors import UnreadableFile
data = open(sys.argv[1], "rb").read()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.process_time()
try:
    table = read_table(sys.argv[1], data, required=REQUIRED)
    outcome = f"read {len(table.rows)} rows"
    del table  # released inside the measurement, as a refused file's rows are
except UnreadableFile as exc:
    outcome = "rejected: " + str(exc)[:90]
seconds = time.process_time() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base + 1024  # +1 MB: no 0/0
print(json.dumps({"seconds": seconds, "peak_kb": peak, "outcome": outcome}))
"""

HEADER = ["borough", "period", "indicator", "value", "comment"]
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def measure(path: Path, repeat: int) -> Measurement:
    """The least CPU time and the least peak memory of ``repeat`` fresh processes (the
    least is the cost without the noise of other work on a shared machine)."""
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", WORKER, str(path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        runs.append(json.loads(out.stdout))
    return {
        "seconds": min(float(r["seconds"]) for r in runs),
        "peak_kb": min(int(r["peak_kb"]) for r in runs),
        "outcome": runs[0]["outcome"],
    }


def _row(i: int) -> list[object]:
    return ["camden", f"{2025 + i % 3}-Q{1 + i % 4}", "da_re_referrals", i % 997, "ok"]


def xlsx_of_size(target: int, header: list[str]) -> bytes:
    from openpyxl import Workbook

    n = max(1000, target // 12)  # a first guess, then scaled to the target size
    for _ in range(4):
        book = Workbook(write_only=True)
        sheet = book.create_sheet()
        sheet.append(header)
        for i in range(n):
            sheet.append(_row(i))
        buf = io.BytesIO()
        book.save(buf)
        size = len(buf.getvalue())
        if abs(size - target) < target * 0.05:
            break
        n = int(n * target / size)
    return buf.getvalue()


def zip_bomb(target: int) -> bytes:
    """A workbook of about 1 MB whose shared strings inflate to 500 MB (``target`` unused:
    deflate cannot compress more than about 1000:1)."""
    buf = io.BytesIO()
    sheet = (
        f'<worksheet xmlns="{MAIN}"><sheetData><row r="1">'
        + "".join(f'<c r="{c}1" t="s"><v>{i}</v></c>' for i, c in enumerate("ABCD"))
        + "</row></sheetData></worksheet>"
    )
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("xl/worksheets/sheet1.xml", sheet)
        with z.open("xl/sharedStrings.xml", "w", force_zip64=True) as fh:
            fh.write(
                f'<sst xmlns="{MAIN}">'.encode()
                + b"".join(f"<si><t>{h}</t></si>".encode() for h in HEADER)
            )
            chunk = b"<si><t>" + b"x" * 1000 + b"</t></si>"
            written = 0
            while written < 500_000_000:
                fh.write(chunk * 1000)
                written += len(chunk) * 1000
            fh.write(b"</sst>")
    return buf.getvalue()


def far_cell(target: int) -> bytes:
    good = xlsx_of_size(target, HEADER)
    src = zipfile.ZipFile(io.BytesIO(good))
    parts = {i.filename: src.read(i) for i in src.infolist()}
    name = next(n for n in parts if n.startswith("xl/worksheets/"))
    parts[name] = parts[name].replace(
        b"</sheetData>", b'<row r="1048576"><c r="XFD1048576"><v>1</v></c></row></sheetData>'
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for n, body in parts.items():
            z.writestr(n, body)
    return out.getvalue()


def csv_of_size(path: Path, target: int, *, header: str, damage: str = "") -> None:
    line = "camden,2025-Q1,da_re_referrals,{},ok\n"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(header + "\n")
        written, i = len(header) + 1, 0
        half = False
        while written < target:
            text = line.format(i % 997)
            if damage == "control" and not half and written > target // 2:
                text, half = "camden,2025-Q1,da_re_referrals,1\x07,ok\n", True
            fh.write(text)
            written += len(text)
            i += 1
        if damage == "extra":
            fh.write("camden,2025-Q1,da_re_referrals,1,ok,250\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--xlsx-mb", type=float, default=1.0)
    ap.add_argument("--csv-mb", type=float, default=100.0)
    ap.add_argument("--repeat", type=int, default=3, help="fresh processes per file")
    ap.add_argument("--only", choices=["xlsx", "csv"], help="measure one kind of file only")
    args = ap.parse_args()
    good_header = ",".join(HEADER)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        kinds = [args.only] if args.only else ["xlsx", "csv"]
        xt = int(args.xlsx_mb * 1e6)
        if "xlsx" in kinds:
            files = {
                "valid.xlsx": xlsx_of_size(xt, HEADER),
                "wrong-header.xlsx": xlsx_of_size(xt, ["borough", "period", "indicator", "valu"]),
                "zip-bomb.xlsx": zip_bomb(xt),
                "far-cell.xlsx": far_cell(xt),
            }
            for name, data in files.items():
                (d / name).write_bytes(data)
        ct = int(args.csv_mb * 1e6)
        if "csv" in kinds:
            csv_of_size(d / "valid.csv", ct, header=good_header)
            csv_of_size(d / "wrong-header.csv", ct, header="borough,period,indicator,valu,comment")
            csv_of_size(d / "control-byte.csv", ct, header=good_header, damage="control")
            csv_of_size(d / "extra-cell-at-end.csv", ct, header=good_header, damage="extra")
        for kind in kinds:
            names = sorted((p for p in d.iterdir() if p.suffix == f".{kind}"), key=lambda p: p.name)
            valid = measure(d / f"valid.{kind}", args.repeat)
            print(
                f"\n{kind}: valid file {(d / f'valid.{kind}').stat().st_size / 1e6:.2f} MB read in "
                f"{valid['seconds']:.2f} s CPU, peak +{int(valid['peak_kb']) / 1024:.0f} MB "
                f"({valid['outcome']})"
            )
            for p in names:
                if p.name.startswith("valid"):
                    continue
                got = measure(p, args.repeat)
                t = float(got["seconds"]) / max(float(valid["seconds"]), 1e-9)
                m = int(got["peak_kb"]) / max(int(valid["peak_kb"]), 1)
                print(
                    f"  {p.name:24} {p.stat().st_size / 1e6:7.2f} MB  time x{t:5.2f}  "
                    f"memory x{m:5.2f}  {got['outcome']}"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
