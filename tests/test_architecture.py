"""The import structure docs/architecture.md describes holds.

Which way the domains depend is checked by lint-imports (contracts in pyproject.toml, run by
scripts/test.sh next to ruff). These tests check the rest: no module of shop/, workers/ or config/ imports
one that imports it back, however indirectly; only the edge (a domain's pages, API, schemas and CLI) and
the app factory import the edge; imports sit at the top of their module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("shop", "workers", "config")
EDGE = ("api", "admin_api", "views", "schemas", "cli")  # shop.<domain>.<one of these>; not shop.core.api
APP = ("shop", "shop.cli")  # the app factory and its commands register the edge
MAX_FUNCTION_LEVEL_IMPORTS = 30
# An import inside a function needs a reason: a ``# why: ...`` comment on its line or the line above it,
# or an entry here. An import cycle is never a reason (fix the layering instead).
ALLOWED: dict[tuple[str, str], str] = {}


def import_cycles(*packages: str) -> list[str]:
    """Every import of a module by another that the first imports back, directly or through others."""
    graph = grimp.build_graph(*packages, cache_dir=None)
    cycles = set()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back:
                cycles.add(" -> ".join((module, *back)))
    return sorted(cycles)


def is_edge(module: str) -> bool:
    parts = module.split(".")
    return len(parts) == 3 and parts[0] == "shop" and parts[1] != "core" and parts[2] in EDGE


def edge_imports(*packages: str) -> list[str]:
    """Imports of an edge module by a module that is neither edge nor the app."""
    graph = grimp.build_graph(*packages, cache_dir=None)
    return sorted(
        f"{importer} -> {module}"
        for module in graph.modules
        if is_edge(module)
        for importer in graph.find_modules_that_directly_import(module)
        if not is_edge(importer) and importer not in APP
    )


def function_level_imports(root: Path, packages: tuple[str, ...]) -> list[tuple[str, int, str, bool]]:
    """(file, line, statement, explained) for every import inside a function; explained when a
    ``# why:`` comment is on its line or the line above it."""
    found = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            lines = source.splitlines()
            inside: dict[int, ast.Import | ast.ImportFrom] = {}
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    for sub in ast.walk(node):
                        if isinstance(sub, ast.Import | ast.ImportFrom):
                            inside[id(sub)] = sub
            for node in inside.values():
                own = lines[node.lineno - 1]
                above = lines[node.lineno - 2].strip() if node.lineno > 1 else ""
                explained = "# why:" in own or above.startswith("# why:")
                found.append((path.relative_to(root).as_posix(), node.lineno, ast.unparse(node), explained))
    return sorted(found)


def test_no_module_imports_a_module_that_imports_it_back():
    cycles = import_cycles(*PACKAGES)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_only_the_edge_and_the_app_import_the_edge():
    wrong = edge_imports(*PACKAGES)
    assert not wrong, "use cases and plumbing importing pages, API or schemas:\n" + "\n".join(wrong)


def test_imports_sit_at_the_top_of_their_module():
    found = function_level_imports(ROOT, PACKAGES)
    unexplained = [
        f"{path}:{line}: {statement}"
        for path, line, statement, explained in found
        if not explained and (path, statement) not in ALLOWED
    ]
    assert not unexplained, "imports inside functions without a '# why:' comment:\n" + "\n".join(unexplained)
    assert len(found) <= MAX_FUNCTION_LEVEL_IMPORTS, f"{len(found)} imports inside functions"


def test_the_checks_find_a_cycle_and_an_import_inside_a_function(tmp_path, monkeypatch):
    package = tmp_path / "layered"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "low.py").write_text("def helper():\n    # why: explained\n    import json\n")
    (package / "high.py").write_text("import layered.low\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert import_cycles("layered") == []
    assert function_level_imports(tmp_path, ("layered",)) == [("layered/low.py", 3, "import json", True)]

    (package / "low.py").write_text("def helper():\n    import layered.high\n")
    assert import_cycles("layered") == [
        "layered.high -> layered.low -> layered.high",
        "layered.low -> layered.high -> layered.low",
    ]
    assert function_level_imports(tmp_path, ("layered",)) == [
        ("layered/low.py", 2, "import layered.high", False)
    ]
