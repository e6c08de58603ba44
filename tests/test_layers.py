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
