"""The commands the README and the role guides tell a user to type, extracted so CI runs them.

CI must run what the documents say, verbatim, or the documents drift from the code. This
module reads the fenced ``sh`` blocks of Markdown files:

* ``readme`` prints the commands of the README's "Two commands for a fresh machine" section
  (one per fenced ``sh`` block; ``.ci/run`` runs each in its own fresh virtual environment);
* ``guides`` runs every guide's (``docs/guide-*.md``) ``sh`` and ``python`` blocks in order
  (python blocks with the environment's ``python3``), in one shell per guide, in a scratch
  copy of the repository (what a user who cloned it has), and fails on the first command
  that fails, naming the guide, the block's line and the command.

A block that is illustrative only (a remote database, another machine, a figure the reader
must supply) is marked by the line ``<!-- illustrative -->`` immediately above its opening
fence; the checker skips it and says so. Blocks fenced as ``text``, ``toml`` or with no
language are not commands and are never run.

    python -m tools.doc_commands readme [N]          # the N-th command (1-based), or all
    python -m tools.doc_commands guides [GUIDE ...]  # run the guides (default: all)
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Block", "ILLUSTRATIVE", "sh_blocks", "readme_commands", "guide_script", "main"]

ROOT = Path(__file__).resolve().parent.parent
#: The documented marker, on the line just above a fence, for a block that is not run.
ILLUSTRATIVE = "<!-- illustrative -->"
README_SECTION = "Two commands for a fresh machine"
_FENCE = re.compile(r"^(`{3,})\s*([\w-]*)\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced block: its language, first line number (of the fence), text and marker."""

    lang: str
    line: int
    text: str
    illustrative: bool


def sh_blocks(markdown: str, langs: tuple[str, ...] = ("sh",)) -> list[Block]:
    """Every fenced block whose language is one of ``langs``, in document order."""
    lines = markdown.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, lang, start = m.group(1), m.group(2), i
        j = i + 1
        while j < len(lines) and lines[j].strip() != fence:
            j += 1
        if lang in langs:
            marked = start > 0 and lines[start - 1].strip() == ILLUSTRATIVE
            blocks.append(Block(lang, start + 1, "\n".join(lines[start + 1 : j]), marked))
        i = j + 1
    return blocks


def readme_commands(readme: str) -> list[str]:
    """The commands of the README's fresh-machine section, one per ``sh`` block."""
    match = re.search(rf"^## {re.escape(README_SECTION)}\s*$", readme, flags=re.M)
    if match is None:
        raise SystemExit(f"README.md has no section '## {README_SECTION}'")
    rest = readme[match.end() :]
    end = re.search(r"^## ", rest, flags=re.M)
    section = rest[: end.start()] if end else rest
    return [b.text.strip() for b in sh_blocks(section)]


def guide_script(name: str, markdown: str) -> str:
    """A bash script that runs the guide's blocks in order and names each before it runs."""
    parts = ["set -euo pipefail"]
    for b in sh_blocks(markdown, ("sh", "python")):
        if b.illustrative:
            parts.append(f"echo '== {name}:{b.line} illustrative, not run'")
            continue
        parts.append(f"echo '== {name}:{b.line}'")
        if b.lang == "python":
            parts.append(f"python3 - <<'RCT_GUIDE_PYTHON'\n{b.text}\nRCT_GUIDE_PYTHON")
        else:
            parts.append(f"set -x\n{b.text}\n{{ set +x; }} 2>/dev/null")
    return "\n".join(parts) + "\n"


def _scratch_copy(dest: Path) -> None:
    """Copy the repository's tracked (and new, unignored) files, as a fresh clone has them."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for raw in files:
        if not raw:
            continue
        rel = raw.decode()
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def run_guides(names: list[str], keep: bool = False) -> int:
    # A guide is named as under docs/ ("guide-evaluator.md") or by its path ("docs/...").
    guides = (
        [ROOT / "docs" / Path(n).name for n in names]
        if names
        else sorted(ROOT.glob("docs/guide-*.md"))
    )
    missing = [g.name for g in guides if not g.is_file()]
    if missing:
        print(f"Error: no such guide under docs/: {', '.join(missing)}", file=sys.stderr)
        return 2
    for guide in guides:
        scratch = Path(tempfile.mkdtemp(prefix=f"rct-{guide.stem}-"))
        try:
            _scratch_copy(scratch)
            script = guide_script(guide.name, guide.read_text(encoding="utf-8"))
            env = {k: v for k, v in os.environ.items() if not k.startswith("RCT_")}
            print(f"== running {guide.name} in {scratch}", flush=True)
            rc = subprocess.run(["bash", "-c", script], cwd=scratch, env=env).returncode
            if rc != 0:
                print(f"FAIL: a command of {guide.name} exited {rc} (see above)", file=sys.stderr)
                return 1
        finally:
            if not keep:
                shutil.rmtree(scratch, ignore_errors=True)
    print(f"PASS: every command of {len(guides)} guide(s) ran")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    r = sub.add_parser("readme", help="print the README's fresh-machine commands")
    r.add_argument("n", nargs="?", type=int)
    g = sub.add_parser("guides", help="run the role guides' sh blocks in scratch copies")
    g.add_argument("guides", nargs="*", help="file names under docs/ (default: every guide)")
    g.add_argument("--keep", action="store_true", help="keep the scratch directories")
    args = ap.parse_args(argv)
    if args.what == "readme":
        cmds = readme_commands((ROOT / "README.md").read_text(encoding="utf-8"))
        print(cmds[args.n - 1] if args.n else "\n".join(cmds))
        return 0
    return run_guides(args.guides, keep=args.keep)


if __name__ == "__main__":
    sys.exit(main())
