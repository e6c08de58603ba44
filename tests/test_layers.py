"""The architecture's rules, checked: who may run Git, who may import DVC, what read commands import."""

from __future__ import annotations

import ast
import subprocess
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
        if path.name != "storage.py":
            assert not any(m == "dvc" or m.startswith(("dvc.", "dvc_")) for m in modules), path
        assert "git" not in modules, f"{path} imports GitPython"
        if path.name != "git.py":
            assert '["git"' not in path.read_text(), f"{path} runs git itself"


def test_read_commands_import_neither_dvc_nor_scikit_learn(registry, artifact):
    registry.register("m", artifact, metrics={"accuracy": 0.9})
    registry.promote("m", "0.1.0", "production")
    script = (
        "import sys\nfrom gitreg.cli import cli\n"
        "for args in (['list'], ['show', 'm#production'], ['history', 'm'], ['log'], ['search', 'name == \"m\"'],"
        " ['stats'], ['verify'], ['compare', 'm@0.1.0', 'm#production']):\n"
        "    cli.main(['-C', sys.argv[1], *args], standalone_mode=False)\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('dvc', 'sklearn', 'dvc_data', 'joblib'))\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, str(registry.root)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
