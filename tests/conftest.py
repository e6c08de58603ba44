"""Real Git and real DVC in temporary repositories, with an isolated HOME and Git config.

Time is driven by GIT_COMMITTER_DATE (the ``clock`` fixture), never by sleeping.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from gitreg import Registry
from gitreg.cli import cli

START = 1_767_225_600  # 2026-01-01T00:00:00Z


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("home")
    config = home / ".gitconfig"
    config.write_text(
        "[user]\n\tname = Ada Lovelace\n\temail = ada@example.com\n"
        "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n"
    )
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("DVC_SITE_CACHE_DIR", str(home / "dvc-site-cache"))
    monkeypatch.setenv("DVC_GLOBAL_CONFIG_DIR", str(home / "dvc-global"))
    monkeypatch.setenv("DVC_SYSTEM_CONFIG_DIR", str(home / "dvc-system"))
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    monkeypatch.setenv("GITREG_CACHE_DIR", str(home / "gitreg-cache"))
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL",
                "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(var, raising=False)
    return home


class Clock:
    """Sets the Git date of the next change; each ``tick`` moves one minute on."""

    def __init__(self, monkeypatch):
        self.monkeypatch = monkeypatch
        self.now = START
        self._apply()

    def tick(self, seconds: int = 60) -> int:
        self.now += seconds
        self._apply()
        return self.now

    def _apply(self):
        stamp = f"{self.now} +0000"
        self.monkeypatch.setenv("GIT_COMMITTER_DATE", stamp)
        self.monkeypatch.setenv("GIT_AUTHOR_DATE", stamp)


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


@pytest.fixture
def registry(tmp_path, clock) -> Registry:
    reg, changed = Registry.init(tmp_path / "registry")
    assert changed
    return reg


@pytest.fixture
def artifact(tmp_path) -> Path:
    path = tmp_path / "weights.bin"
    path.write_bytes(b"weights-v1" * 100)
    return path


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="session")
def dataset():
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(return_X_y=True)


@pytest.fixture
def make_model(dataset):
    from sklearn.linear_model import LogisticRegression

    x, y = dataset

    def make(c: float = 1.0, n_features: int = 30):
        return LogisticRegression(C=c, max_iter=50).fit(x[:200, :n_features], y[:200])

    return make


class Invoker:
    def __init__(self, root: Path):
        self.root = root
        self.runner = CliRunner()

    def __call__(self, *args: str, expect: int = 0, cwd: Path | None = None):
        previous = os.getcwd()
        os.chdir(cwd or self.root)
        try:
            result = self.runner.invoke(cli, list(args), catch_exceptions=False)
        finally:
            os.chdir(previous)
        assert result.exit_code == expect, (
            f"gitreg {' '.join(args)} exited {result.exit_code}, expected {expect}:\n"
            f"{result.output}{result.stderr if result.stderr_bytes is not None else ''}"
        )
        return result


@pytest.fixture
def run(registry) -> Invoker:
    return Invoker(registry.root)


def snapshot(root: Path) -> dict:
    """Everything a failed command must leave as it was: refs, index, HEAD and working tree."""
    files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] == ".git" or (rel.parts[0] == ".dvc" and rel.parts[1:2] in (("tmp",), ("cache",))):
            continue
        if path.is_file():
            files[rel.as_posix()] = hashlib.md5(path.read_bytes()).hexdigest()
    return {
        "refs": git(root, "for-each-ref", "--format=%(refname) %(objectname)"),
        "head": git(root, "symbolic-ref", "-q", "HEAD") if _symbolic(root) else git(root, "rev-parse", "HEAD"),
        "index": git(root, "ls-files", "-s"),
        "status": git(root, "status", "--porcelain", "--untracked-files=all"),
        "files": files,
    }


def _symbolic(root: Path) -> bool:
    return subprocess.run(["git", "symbolic-ref", "-q", "HEAD"], cwd=root, capture_output=True).returncode == 0
