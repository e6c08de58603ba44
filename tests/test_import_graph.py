"""The package's layers, checked on its import graph: no cycles, and imports only downward.

The graph holds every import in every module: at module level, inside functions (the lazy ones),
and under ``TYPE_CHECKING`` too (a type that only an upper layer defines is a dependency on it).
"""

from __future__ import annotations

import ast
from pathlib import Path

import gitreg

PACKAGE = Path(gitreg.__file__).parent
# lower number = lower layer; a module may import its own layer (without a cycle) or lower ones
LAYERS = {"gitreg.errors": 0, "gitreg.domain": 1, "gitreg.io": 2, "gitreg.services": 3, "gitreg.integrations": 3,
          "gitreg.registry": 4, "gitreg.lifecycle": 4, "gitreg.interop": 4, "gitreg.trust": 4, "gitreg.signing": 4, "gitreg.experiments": 4, "gitreg.watching": 4, "gitreg": 5, "gitreg.cli": 6, "gitreg.__main__": 7}
LAYERS["gitreg.web"] = 5.5  # the web view: above the public API it reads, below the CLI that starts it


def module_name(path: Path) -> str:
    parts = ("gitreg", *path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def layer(module: str) -> int:
    while module not in LAYERS:
        module = module.rpartition(".")[0]
    return LAYERS[module]


def imports_of(path: Path) -> set[str]:
    """The gitreg modules ``path`` imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("gitreg"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gitreg"):
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in MODULES else node.module)
    return found


GRAPH = {module: imports_of(path) - {module} for module, path in MODULES.items()}


def test_the_graph_is_read():
    assert "gitreg.io.git" in GRAPH["gitreg.services.sync"]
    assert "gitreg.domain.refs" in GRAPH["gitreg.registry"]
    assert len(GRAPH) > 40


def test_imports_go_only_downward():
    upward = sorted(f"{module} (layer {layer(module)}) imports {target} (layer {layer(target)})"
                    for module, targets in GRAPH.items() for target in targets
                    if layer(target) > layer(module) and not (module == "gitreg" and target == "gitreg.registry"))
    assert not upward, "\n".join(upward)


def test_no_import_cycles():
    cycles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(GRAPH.get(module, ())):
            if target in MODULES and _is_package_init(target) and target != "gitreg":
                continue  # the layer packages' __init__ files hold only a docstring
            if state.get(target) == 1:
                cycles.append(" -> ".join([*path[path.index(target):], target]))
            elif target in GRAPH and not state.get(target):
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(GRAPH):
        if not state.get(module):
            visit(module, [module])
    assert not cycles, "\n".join(cycles)


def _is_package_init(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def test_layer_packages_are_empty_namespaces():
    """So that importing ``gitreg.domain.refs`` never drags in a whole layer."""
    for name in ("domain", "io", "services"):
        tree = ast.parse((PACKAGE / name / "__init__.py").read_text())
        assert all(isinstance(node, ast.Expr) for node in tree.body), name
