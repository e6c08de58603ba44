"""The architecture's rules, checked: who may run Git and who may import DVC (what read commands
import is checked in test_stats.py)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import gitreg

PACKAGE = Path(gitreg.__file__).parent


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_only_storage_imports_dvc_and_only_git_py_runs_git():
    for path in PACKAGE.rglob("*.py"):
        modules = imported_modules(path)
        if path.relative_to(PACKAGE).as_posix() != "io/dvc.py":
            assert not any(m == "dvc" or m.startswith(("dvc.", "dvc_")) for m in modules), path
        assert "git" not in modules, f"{path} imports GitPython"
        if path.relative_to(PACKAGE).as_posix() != "io/git.py":
            assert '["git"' not in path.read_text(), f"{path} runs git itself"


def test_lint_holds_the_layers_and_finds_no_errors():
    """ruff with the project's rules: undefined names, unused imports, and the banned imports above."""
    import shutil
    import subprocess

    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    root = PACKAGE.parent
    proc = subprocess.run([ruff, "check", "gitreg", "tests", "benchmarks"], cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:]


def test_only_io_git_passes_git_arguments():
    """Every other module asks ``Git`` for a named operation; the runner that takes raw arguments is private."""
    from gitreg.io.git import Git

    assert not hasattr(Git, "run") and not hasattr(Git, "out")
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.relative_to(PACKAGE).as_posix() == "io/git.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in {"_run", "_out"}:
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno} calls Git.{node.attr}")
            if isinstance(node, (ast.List, ast.Tuple)) and node.elts and isinstance(node.elts[0], ast.Constant) \
                    and node.elts[0].value == "git":
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno} builds a git command line")
    assert not offenders, "\n".join(offenders)
