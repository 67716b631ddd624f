"""The README's and guides' commands are what CI runs (tools/doc_commands.py, .ci/run)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tools.doc_commands import ILLUSTRATIVE, guide_script, readme_commands, sh_blocks

ROOT = Path(__file__).resolve().parents[2]


def test_readme_has_exactly_the_two_fresh_machine_commands() -> None:
    first, second = readme_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    # The first installs '.' and nothing else (no extras), then runs the demo.
    assert first.endswith("pip install . && rct demo"), first
    assert "[" not in first
    assert "pip install '.[test]'" in second and second.endswith("pytest -n 2"), second


def test_ci_runs_both_readme_commands_verbatim_and_the_guides() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert '"$(readme_command 1)"' in ci and '"$(readme_command 2)"' in ci
    assert "doc_commands.py guides" in ci
    assert "RCT_REQUIRE_POSTGRES=1" in ci and "RCT_TEST_POSTGRES_URL" in ci
    for gate in ("ruff check .", "ruff format --check .", "mypy"):
        assert gate in ci


def test_only_sh_blocks_are_commands_and_the_marker_skips_one() -> None:
    md = "\n".join(
        [
            "```sh",
            "rct one",
            "```",
            "```text",
            "rct output",
            "```",
            ILLUSTRATIVE,
            "```sh",
            "rct remote",
            "```",
            "```",
            "rct untyped",
            "```",
        ]
    )
    blocks = sh_blocks(md)
    assert [(b.text, b.illustrative) for b in blocks] == [
        ("rct one", False),
        ("rct remote", True),
    ]


def test_a_failing_guide_command_fails_the_check(tmp_path: Path) -> None:
    md = "```sh\ntrue\n```\n```sh\nfalse\necho never\n```\n"
    out = subprocess.run(
        ["bash", "-c", guide_script("g.md", md)], cwd=tmp_path, capture_output=True, text=True
    )
    assert out.returncode != 0
    assert "never" not in out.stdout


def test_python_blocks_run_and_illustrative_blocks_do_not(tmp_path: Path) -> None:
    md = f"```python\nopen('made.txt', 'w').write('x')\n```\n{ILLUSTRATIVE}\n```sh\nfalse\n```\n"
    out = subprocess.run(
        ["bash", "-c", guide_script("g.md", md)], cwd=tmp_path, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "made.txt").read_text() == "x"
    assert "illustrative, not run" in out.stdout


def test_every_guide_has_commands_that_run() -> None:
    guides = sorted((ROOT / "docs").glob("guide-*.md"))
    assert len(guides) == 3
    for guide in guides:
        blocks = sh_blocks(guide.read_text(encoding="utf-8"))
        assert any(not b.illustrative for b in blocks), guide.name


def test_an_unknown_guide_is_one_error_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    from tools.doc_commands import run_guides

    assert run_guides(["docs/guide-nobody.md"]) == 2
    assert capsys.readouterr().err == "Error: no such guide under docs/: guide-nobody.md\n"
