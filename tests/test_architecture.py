"""The dependency rule of docs/architecture.md, checked by parsing every module's imports.

``allocation``, ``analysis`` and ``protocols`` never import ``rct``; ``allocation`` and
``analysis`` import ``protocols`` at most (not each other); ``protocols`` imports none of
them; no cycle of module-level imports exists between the project's modules; and every
decision a module cites exists in docs/architecture.md.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("protocols", "allocation", "analysis", "rct")
#: package -> the project packages it may import.
ALLOWED = {
    "protocols": {"protocols"},
    "allocation": {"allocation", "protocols"},
    "analysis": {"analysis", "protocols"},
    "rct": set(PACKAGES),
}


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts and "versions" in path.parts:
                continue
            rel = path.relative_to(ROOT).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(
    module: str, path: Path, *, top_level_only: bool, skip_type_checking: bool = False
) -> set[str]:
    """Project modules imported by ``module`` (relative imports resolved).

    With ``top_level_only``, imports inside functions and under ``if TYPE_CHECKING:`` are
    left out: they do not run when the module is imported, so they cannot form a cycle.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = module.split(".")
                    parent = parent if is_package else parent[:-1]
                    parent = parent[: len(parent) - (node.level - 1)]
                    base = ".".join([*parent, base] if base else parent)
                for a in node.names:
                    # "from pkg import submodule" depends on the submodule; "from module
                    # import name" on the module.
                    sub = f"{base}.{a.name}"
                    found.add(sub if sub in MODULES else base)
            elif isinstance(node, ast.If) and (top_level_only or skip_type_checking):
                test = ast.unparse(node.test)
                if "TYPE_CHECKING" not in test:
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try) and top_level_only:
                visit(node.body)
                for h in node.handlers:
                    visit(h.body)
                visit(node.orelse)
                visit(node.finalbody)
            elif not top_level_only:
                visit([c for c in ast.iter_child_nodes(node) if isinstance(c, ast.stmt)])

    visit(tree.body)
    return {m for m in found if m.split(".")[0] in PACKAGES}


@pytest.mark.parametrize("package", ["protocols", "allocation", "analysis"])
def test_library_packages_import_only_what_the_layers_allow(package: str) -> None:
    bad = []
    for module, path in MODULES.items():
        if module.split(".")[0] != package:
            continue
        for imported in _imports(module, path, top_level_only=False):
            if imported.split(".")[0] not in ALLOWED[package]:
                bad.append(f"{module} imports {imported}")
    assert not bad, "\n".join(bad)


def _resolve(name: str) -> str | None:
    """The project module a dotted import name refers to (a module, or a module's name)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


@pytest.mark.parametrize("top_level_only", [True, False], ids=["module-level", "runtime"])
def test_no_import_cycles_between_modules(top_level_only: bool) -> None:
    """No cycle among module-level imports, nor among every import that runs (a
    function-level import included: deferring an import hides a cycle, it does not remove
    it). Imports under ``if TYPE_CHECKING:`` never run and are left out."""
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        found = _imports(module, path, top_level_only=top_level_only, skip_type_checking=True)
        targets = {_resolve(n) for n in found}
        graph[module] = {t for t in targets if t and t != module}
    # A package's __init__ importing its own submodules is how packages export names; a
    # submodule importing a name back from its package's __init__ is the cycle to catch.
    cycles = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*stack[stack.index(nxt) :], nxt]))
            elif nxt not in state:
                dfs(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            dfs(node)
    assert not cycles, "\n".join(cycles)


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    fake = tmp_path / "x.py"
    fake.write_text("def f():\n    from rct.workspace import Workspace\n    return Workspace\n")
    assert _imports("analysis.x", fake, top_level_only=False) == {"rct.workspace"}
    assert _imports("analysis.x", fake, top_level_only=True) == set()


def test_every_cited_decision_exists_in_the_architecture() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    numbers = {int(n) for n in re.findall(r"(?m)^(\d+)\. \*\*", text.split("## Decisions")[1])}
    cited = set()
    for path in MODULES.values():
        for n in re.findall(r"architecture\.md, decision (\d+)", path.read_text("utf-8")):
            cited.add(int(n))
        assert "DESIGN.md" not in path.read_text("utf-8"), path
    assert cited and cited <= numbers, cited - numbers


_ROLE = r"(?:Role\.|[\"'](?:statistician|data-manager|evaluator|admin|unregistered)[\"'])"
#: What only the service layer does (docs/architecture.md, "Layers"): open database
#: sessions or transactions, read the acting user, check roles and permissions.
SERVICE_ONLY = {
    "opens a database session": r"\.session\(|\bSession\(|sessionmaker\(",
    "opens a transaction": r"\.transaction\(|\.change\(|\.begin\(",
    "queries the database": r"\bselect\(|from sqlalchemy\.orm|from sqlalchemy import",
    "reads the acting user": r"\.read_as\(|\.read_public\(|\.actor\(|\.signer\(",
    "checks a permission": r"\ballowed\(|\bPERMISSIONS\b|\bPermission\.",
    "checks a role": rf"\brole\s*(?:==|!=)\s*{_ROLE}|\brole\s+(?:not\s+)?in\s+[(\[{{]?\s*"
    rf"(?:{_ROLE}|ROLES\b)|{_ROLE}\s*(?:==|!=)",
}


def _service_work(source: str) -> list[str]:
    """What ``source`` (a CLI module's code) does that only services may do."""
    code = "\n".join(
        line for line in source.splitlines() if not line.lstrip().startswith(("#", '"'))
    )
    return [what for what, pattern in SERVICE_ONLY.items() if re.search(pattern, code)]


def test_cli_modules_leave_sessions_and_role_checks_to_the_services() -> None:
    bad = []
    for path in sorted((ROOT / "rct" / "cli").glob("*.py")):
        for what in _service_work(path.read_text("utf-8")):
            bad.append(f"{path.relative_to(ROOT)} {what}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize(
    "line",
    [
        "    with ws.session() as s:",
        "    with Session(engine) as s:",
        "    with ws.transaction() as s:",
        "    with ws.change('data.submit', 'x') as record:",
        "    rows = s.scalars(select(User))",
        "    actor = ws.read_as(s)",
        "    ws.read_public(s)",
        "    if allowed(actor.role, 'protocol.lock'):",
        "    if actor.role == 'data-manager':",
        "    if role not in ('admin', 'statistician'):",
    ],
)
def test_the_cli_checker_sees_service_work(line: str) -> None:
    assert _service_work(f"def command() -> None:\n{line}\n")


def test_the_cli_checker_leaves_an_analysis_role_alone() -> None:
    source = 'def label(first) -> str:\n    return first.role if first.role != "primary" else ""\n'
    assert _service_work(source) == []


#: How a function-level import says why it is not at the top of its module.
LAZY_MARK = "# lazy:"


def _unexplained_lazy_imports(source: str) -> list[int]:
    """Lines of function-level imports in ``source`` with no ``# lazy:`` comment.

    The comment sits on the import's own lines or on the comment lines just above it; one
    comment covers a run of consecutive imports (blank lines between them allowed).
    Imports under ``if TYPE_CHECKING:`` at module level are not function-level.
    """
    tree = ast.parse(source)
    lines = source.splitlines()
    bad: list[int] = []

    def explained(node: ast.stmt) -> bool:
        if any(LAZY_MARK in lines[i] for i in range(node.lineno - 1, node.end_lineno or 0)):
            return True
        i = node.lineno - 2
        while i >= 0 and lines[i].lstrip().startswith("#"):
            if lines[i].lstrip().startswith(LAZY_MARK):
                return True
            i -= 1
        return False

    def visit(body: list[ast.stmt], in_function: bool) -> None:
        run_explained = False
        previous: ast.stmt | None = None
        for node in body:
            if in_function and isinstance(node, ast.Import | ast.ImportFrom):
                follows = isinstance(previous, ast.Import | ast.ImportFrom) and all(
                    not line.strip() for line in lines[previous.end_lineno or 0 : node.lineno - 1]
                )
                run_explained = explained(node) or (follows and run_explained)
                if not run_explained:
                    bad.append(node.lineno)
            for field in ("body", "orelse", "finalbody", "handlers"):
                children = getattr(node, field, None)
                if isinstance(children, list) and children:
                    stmts = [c for c in children if isinstance(c, ast.stmt)]
                    for handler in (c for c in children if isinstance(c, ast.ExceptHandler)):
                        visit(handler.body, in_function)
                    if stmts:
                        visit(
                            stmts,
                            in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef),
                        )
            if isinstance(node, ast.Match):
                for case in node.cases:
                    visit(case.body, in_function)
            previous = node

    visit(tree.body, False)
    return bad


def test_every_function_level_import_says_why_it_is_lazy() -> None:
    """Imports belong at the top of a module; one inside a function must say why (start-up
    time, an optional dependency, a cycle) so the real dependency graph stays readable."""
    bad = []
    for path in MODULES.values():
        for line in _unexplained_lazy_imports(path.read_text("utf-8")):
            bad.append(f"{path.relative_to(ROOT)}:{line}")
    assert not bad, f"function-level imports without a '{LAZY_MARK}' comment:\n" + "\n".join(bad)


def test_the_lazy_import_checker_sees_an_unexplained_import() -> None:
    source = (
        "import os\n"
        "if TYPE_CHECKING:\n"
        "    import pandas\n"
        "def f():\n"
        "    # lazy: pandas is heavy\n"
        "    import pandas\n"
        "\n"
        "    import numpy\n"
        "    x = 1\n"
        "    import scipy\n"
        "    if x:\n"
        "        import json  # lazy: a reason\n"
        "        import csv\n"
        "    try:\n"
        "        pass\n"
        "    except ImportError:\n"
        "        import sys\n"
        "    def g():\n"
        "        import re\n"
    )
    assert _unexplained_lazy_imports(source) == [10, 17, 19]
