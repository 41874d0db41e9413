"""The package's import graph, read from its source with ast: no circle, and each layer imports
only the layers below it (nn <- optim <- training <- evaluation <- models <- privacy <- cli)."""

import ast
from functools import lru_cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "nanorec"

# rank of each top-level part of the package: a module may import its own part and lower ranks
LAYERS = {
    "_checks": -1,
    "io": 0, "scoring": 0, "metrics": 0,
    "data": 1, "nn": 1,
    "optim": 2,
    "training": 3,
    "evaluation": 4,
    "models": 5,
    "privacy": 6, "testing": 6, "plotting": 6,
    "cli": 7, "__init__": 8, "_console": 8, "__main__": 9,
}


def module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path, modules):
    """The nanorec modules (keys of ``modules``) a file imports, at any depth of the file
    (function bodies too). ``from package import submodule`` is an edge to the submodule only;
    the root package is no edge: Python runs nanorec/__init__.py before any submodule."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in modules else node.module)
    return {name for name in found if name in modules and name != "nanorec"}


@lru_cache(maxsize=1)
def import_graph():
    """module -> the nanorec modules (files) it imports."""
    files = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {module: imported_modules(path, files) - {module} for module, path in files.items()}


def part(module):
    """The top-level part of the package a module belongs to ("models", "nn", ...)."""
    names = module.split(".")
    return "__init__" if len(names) == 1 else names[1]


def find_cycle(graph):
    """A list of modules forming a circle, or None (depth-first search with colours)."""
    state, stack = {}, []

    def visit(module):
        state[module] = "open"
        stack.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        state[module] = "done"
        stack.pop()
        return None

    for module in sorted(graph):
        if module not in state:
            cycle = visit(module)
            if cycle:
                return cycle
    return None


def test_the_import_graph_has_no_circle():
    assert find_cycle(import_graph()) is None


def test_every_part_of_the_package_has_a_layer():
    assert {part(module) for module in import_graph()} <= set(LAYERS)


@pytest.mark.parametrize("module", sorted(import_graph()))
def test_a_module_imports_only_lower_layers(module):
    upward = [target for target in import_graph()[module]
              if part(target) != part(module) and LAYERS[part(target)] >= LAYERS[part(module)]]
    assert not upward, f"{module} imports a layer at or above its own: {upward}"


def test_the_circle_finder_finds_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
