"""The package layout: no import cycle among recsys' modules, and every CLI command documents itself."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

import recsys
from recsys.cli import main as cli_main

PACKAGE_DIR = Path(recsys.__file__).parent
REPO = PACKAGE_DIR.parent

# Cycles known on this branch, each allowed only while every module in it still exists (so an allowance
# lapses by itself once its modules move; then delete it):
# - the recipe registry: `Recipe.load` (recipes/base.py) looks up the registry of the package that imports it.
KNOWN_CYCLES: list[set[str]] = [
    {"recsys.recipes", "recsys.recipes.base", "recsys.recipes.popularity"},
]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, module: str, is_package: bool, known: set[str]) -> set[str]:
    """recsys modules imported anywhere in `tree` (module level or inside functions), TYPE_CHECKING aside."""
    found: set[str] = set()

    def resolve(name: str) -> None:
        # The longest existing module named by an import: `recsys.x.y` may name a function y of recsys.x.
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name and name != module:
            found.add(name)

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    resolve(alias.name)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = module if is_package else module.rpartition(".")[0]
                    for _ in range(child.level - 1):
                        anchor = anchor.rpartition(".")[0]
                    base = f"{anchor}.{base}" if base else anchor
                for alias in child.names:
                    resolve(f"{base}.{alias.name}")
            visit(child)

    visit(tree)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the recsys modules it imports, read from the source (nothing is imported)."""
    files = {_module_name(p): p for p in PACKAGE_DIR.rglob("*.py")}
    known = set(files)
    return {name: _imports(ast.parse(path.read_text(encoding="utf-8")), name, path.name == "__init__.py", known)
            for name, path in files.items()}


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan), i.e. the import cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def test_cycle_finder_finds_a_cycle_and_nothing_else():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [{"a", "b", "c"}]


def test_import_reader_sees_function_local_and_relative_imports():
    source = (
        "from typing import TYPE_CHECKING\n"
        "from recsys import store\n"
        "from .schema import Schema\n"
        "if TYPE_CHECKING:\n"
        "    from recsys.columns import ITEM_ID\n"
        "def f():\n"
        "    from recsys.datasets import read_items\n"
        "    import recsys.files\n"
    )
    known = {"recsys", "recsys.store", "recsys.schema", "recsys.columns", "recsys.datasets", "recsys.files",
             "recsys.example"}
    found = _imports(ast.parse(source), "recsys.example", False, known)
    assert found == {"recsys.store", "recsys.schema", "recsys.datasets", "recsys.files"}


def test_no_import_cycle_in_recsys():
    graph = import_graph()
    allowed = [cycle for cycle in KNOWN_CYCLES if cycle <= set(graph)]
    unexpected = [sorted(c) for c in cycles(graph) if not any(c == known for known in allowed)]
    assert unexpected == [], f"import cycles (counting function-local imports): {unexpected}"


def _commands(group: click.Group, prefix: str = "recsys"):
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        yield path, command
        if isinstance(command, click.Group):
            yield from _commands(command, path)


@pytest.mark.parametrize("path,command", list(_commands(cli_main)), ids=lambda v: v if isinstance(v, str) else "")
def test_every_cli_command_has_help_and_an_example(path, command):
    text = command.help or ""
    assert text.strip(), f"`{path}` has no help text"
    if isinstance(command, click.Group):
        return  # a group's example is its sub-commands'
    assert "Example" in text or path in text, f"`{path} --help` shows no example; add an 'Example:' line"


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _third_party_imports(paths) -> set[str]:
    roots = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                roots.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots.add(node.module.split(".")[0])
    return {r for r in roots if r not in sys.stdlib_module_names and r not in ("recsys", "pages")}


def test_runtime_pins_are_exactly_what_the_product_imports():
    pins = {_canonical(line.split("==")[0]) for line in (REPO / "requirements.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")}
    sources = [*PACKAGE_DIR.rglob("*.py"), *(REPO / "pages").glob("*.py"), REPO / "app.py"]
    distributions = importlib.metadata.packages_distributions()
    imported = {name: {_canonical(d) for d in distributions.get(name, [name])}
                for name in _third_party_imports(sources)}
    unpinned = sorted(name for name, dists in imported.items() if not dists & pins)
    assert unpinned == [], f"imported but not pinned in requirements.txt: {unpinned}"
    used = set().union(*imported.values())
    assert sorted(pins - used) == [], "pinned in requirements.txt but imported nowhere in recsys/, pages/, app.py"


def test_the_recsys_command_is_installed_and_answers_help():
    script = Path(sys.executable).parent / "recsys"
    if not script.exists():
        pytest.skip("recsys is not installed in this environment (make install installs it editable)")
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60, cwd=REPO.parent)
    assert done.returncode == 0, done.stderr
    assert "Usage: recsys" in done.stdout and "train" in done.stdout
