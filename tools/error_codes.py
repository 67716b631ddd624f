"""Write docs/error-codes.md from the code registries (a test keeps them in step).

Every error the CLI reports and every warning a fit or a diagnostic gives carries a stable
code. The registries say what each code means and what to do:

* errors: ``protocols.errors.CODES``, ``allocation.errors.CODES``, ``analysis.errors.CODES``
  and ``rct.errors.CODES`` (with the CLI's own ``usage`` and ``cli-error``);
* warnings: ``analysis.coded_warnings.CODES`` and ``allocation.diagnostics.WARNING_CODES``.

:func:`codes_in_sources` finds the codes the sources use by parsing them: a class's
``code = "..."``, a raise site's ``code="..."``, a ``CodedWarning("...", ...)``, and the
module constants ``*_CODE`` and ``LEGACY``. tests/test_error_codes.py checks that the two
agree. Run ``python -m tools.error_codes`` after adding a code.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("protocols", "allocation", "analysis", "rct")
#: module:attribute of each registry, errors then warnings, in the order the page lists them
ERROR_REGISTRIES = (
    "rct.errors:CODES",
    "protocols.errors:CODES",
    "allocation.errors:CODES",
    "analysis.errors:CODES",
)
WARNING_REGISTRIES = (
    "analysis.coded_warnings:CODES",
    "allocation.diagnostics:WARNING_CODES",
    "rct.coded_warnings:WARNING_CODES",
)
#: exit codes of click's own errors (rct.cli.main): usage errors 2, anything else 1
CLICK_EXITS = {"usage": 2, "cli-error": 1}

HEADER = """# Error and warning codes

Generated from the code registries by `python -m tools.error_codes`; a test fails when this
page, the registries and the codes used in the sources disagree.

Every error the `rct` command reports carries a stable code. The one-line message ends its
first line with it, `Error: MESSAGE [code]`, and a command given `--json` also prints
`{"error": {"code": ..., "exit_code": ..., "message": ...}}` on standard output. Scripts
and tests match the code (and the exit code), never the wording, which may improve. In
Python the code is the exception's `code` attribute.

Every warning of a fit, a test or the randomisation diagnostics is a `CodedWarning`
(`code`, `message`); results files store it as `{"code": ..., "message": ...}`. Results
files written before warnings had codes hold plain strings, which read back with code
`uncoded` and are written back unchanged.

A code, once published, keeps its meaning; a new situation gets a new code.
"""


@dataclass
class Use:
    """Where a code is used: the error classes raising it, or the modules warning it."""

    kind: str  # "error" or "warning"
    classes: set[tuple[str, str]] = field(default_factory=set)  # (module, class name)
    modules: set[str] = field(default_factory=set)


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources() -> Iterator[Path]:
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def _string(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _called_name(node: ast.Call) -> str | None:
    f = node.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None


def codes_in_sources() -> dict[str, Use]:
    """Every code the packages' sources use, with the classes or modules that use it."""
    found: dict[str, Use] = {}

    def use(code: str, kind: str) -> Use:
        u = found.setdefault(code, Use(kind))
        if u.kind != kind:
            raise ValueError(f"code {code!r} is used both as an error and as a warning")
        return u

    for path in _sources():
        module = _module(path)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                for stmt in node.body:
                    if (
                        isinstance(stmt, ast.Assign)
                        and [getattr(t, "id", None) for t in stmt.targets] == ["code"]
                        and (code := _string(stmt.value)) is not None
                    ):
                        use(code, "error").classes.add((module, node.name))
            elif isinstance(node, ast.Call):
                name = _called_name(node)
                if name == "CodedWarning" and node.args:
                    if (code := _string(node.args[0])) is not None:
                        use(code, "warning").modules.add(module)
                    continue
                for kw in node.keywords:
                    if kw.arg == "code" and (code := _string(kw.value)) is not None and name:
                        use(code, "error").classes.add((module, name))
        for stmt in tree.body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                target = getattr(stmt.targets[0], "id", "")
                value = _string(stmt.value)
                if value is not None and target.endswith("_CODE"):
                    use(value, "error").modules.add(module)
                elif value is not None and target == "LEGACY":
                    use(value, "warning").modules.add(module)
    return found


def registry(spec: str) -> dict[str, tuple[str, str]]:
    module, attr = spec.split(":")
    codes: dict[str, tuple[str, str]] = getattr(importlib.import_module(module), attr)
    return codes


def _error_class(module: str, name: str) -> type[BaseException]:
    """The exception class a code is used with, found from the module that uses it."""
    mod = importlib.import_module(module)
    cls = getattr(mod, name, None)
    if isinstance(cls, type) and issubclass(cls, BaseException):
        return cls
    for spec in ("rct.errors", "rct.capture.errors", "rct.allocation.sealing"):
        cls = getattr(importlib.import_module(spec), name, None)
        if isinstance(cls, type) and issubclass(cls, BaseException):
            return cls
    raise LookupError(f"{module} uses code= with {name}, which is not an exception class")


def _exit_codes(code: str, use: Use) -> str:
    from rct.cli import exit_code

    if code in CLICK_EXITS:
        return str(CLICK_EXITS[code])
    exits = set()
    for module, name in use.classes:
        cls = _error_class(module, name)
        exits.add(exit_code(cls.__new__(cls)))
    return ", ".join(str(e) for e in sorted(exits))


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render() -> str:
    """The page: one table of error codes and one of warning codes, per registry."""
    used = codes_in_sources()
    parts = [HEADER, "## Errors\n"]
    for spec in ERROR_REGISTRIES:
        parts.append(f"### `{spec.split(':')[0].split('.')[0]}`\n")
        parts.append("| code | exit | raised as | meaning | what to do |")
        parts.append("| --- | --- | --- | --- | --- |")
        for code, (meaning, action) in sorted(registry(spec).items()):
            u = used.get(code, Use("error"))
            raised = ", ".join(sorted({f"`{name}`" for _, name in u.classes})) or "the CLI"
            parts.append(
                f"| `{code}` | {_exit_codes(code, u)} | {raised} | {_cell(meaning)} | "
                f"{_cell(action)} |"
            )
        parts.append("")
    parts.append("## Warnings\n")
    for spec in WARNING_REGISTRIES:
        parts.append(f"### `{spec.split(':')[0]}`\n")
        parts.append("| code | reported by | meaning | what to do |")
        parts.append("| --- | --- | --- | --- |")
        for code, (meaning, action) in sorted(registry(spec).items()):
            u = used.get(code, Use("warning"))
            where = ", ".join(f"`{m}`" for m in sorted(u.modules))
            parts.append(f"| `{code}` | {where} | {_cell(meaning)} | {_cell(action)} |")
        parts.append("")
    return "\n".join(parts)


def main() -> None:
    target = ROOT / "docs" / "error-codes.md"
    target.write_text(render(), encoding="utf-8")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
