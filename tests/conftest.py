"""Real Git and real DVC in temporary repositories, with an isolated HOME and Git config.

Time is driven by GIT_COMMITTER_DATE (the ``clock`` fixture), never by sleeping.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from gitreg import Registry
from gitreg.cli import cli

START = 1_767_225_600  # 2026-01-01T00:00:00Z


GITCONFIG = (
    "[user]\n\tname = Ada Lovelace\n\temail = ada@example.com\n"
    "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n"
)


def _isolate(home: Path, monkeypatch) -> Path:
    config = home / ".gitconfig"
    config.write_text(GITCONFIG)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("DVC_SITE_CACHE_DIR", str(home / "dvc-site-cache"))
    monkeypatch.setenv("DVC_GLOBAL_CONFIG_DIR", str(home / "dvc-global"))
    monkeypatch.setenv("DVC_SYSTEM_CONFIG_DIR", str(home / "dvc-system"))
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    monkeypatch.setenv("GITREG_CACHE_DIR", str(home / "gitreg-cache"))
    # No back-off sleeps between publish attempts (the lead's injection point in services/sync.py:
    # _back_off multiplies its jittered delay by this; in-process and in every `gitreg` subprocess).
    monkeypatch.setenv("GITREG_BACKOFF_SCALE", "0")
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL",
                "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory, monkeypatch):
    return _isolate(tmp_path_factory.mktemp("home"), monkeypatch)


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


# ---------------------------------------------------------------- template registries
# `gitreg init` costs 0.3-0.5 s (DVC's Repo.init and config edit); copying a registry the real init
# made once per session (per xdist worker) costs a few milliseconds. A directory DVC remote is an
# absolute path committed in .dvc/config, so a copy gets its own path written there and its one
# commit rebuilt byte for byte as a fresh init would have made it (same tree, author, date, message:
# the same commit id), with the template's objects and reflog entries replaced.
TEMPLATE_STORE = "/gitreg-template-store-3f9c"  # the remote path in a template's .dvc/config
_PLAIN_PATH = re.compile(r"[A-Za-z0-9/_.+-]+")


class Templates:
    """One real ``Registry.init`` per variant and Git date, copied per test by :meth:`init`."""

    def __init__(self, base: Path):
        self.base = base
        self.made: dict[tuple, Path] = {}

    def init(self, path: Path, remote: str | os.PathLike | None = None) -> Registry:
        """What ``Registry.init(path, remote=remote)`` makes for a new ``path`` (the Registry only)."""
        path = Path(path)
        store = str(Path(remote).resolve()) if remote is not None else None
        usable = (not path.exists() and (store is None or _PLAIN_PATH.fullmatch(store))
                  and Path(os.environ["GIT_CONFIG_GLOBAL"]).read_text() == GITCONFIG)
        if not usable:  # anything unusual: the real thing
            reg, changed = Registry.init(path, remote=None if remote is None else str(remote))
            assert changed
            return reg
        template = self._template(store is not None)
        shutil.copytree(template, path, symlinks=True)
        if store is not None:
            _point_at(path, store)
        return Registry(path)

    def _template(self, with_remote: bool) -> Path:
        key = (with_remote, os.environ.get("GIT_AUTHOR_DATE"), os.environ.get("GIT_COMMITTER_DATE"))
        if key not in self.made:
            folder = self.base / f"t{len(self.made)}"
            with pytest.MonkeyPatch.context() as mp:  # made in a home of its own, at the test's Git date
                (folder / "home").mkdir(parents=True)
                _isolate(folder / "home", mp)
                _, changed = Registry.init(folder / "registry", remote=TEMPLATE_STORE if with_remote else None)
            assert changed
            self.made[key] = folder / "registry"
        return self.made[key]


def _point_at(root: Path, store: str) -> None:
    """Write ``store`` where the template's remote path is, and rebuild the one commit on that tree."""
    config = root / ".dvc" / "config"
    config.write_text(config.read_text().replace(TEMPLATE_STORE, store))
    old = git(root, "rev-parse", "HEAD", "HEAD^{tree}", "HEAD:.dvc", "HEAD:.dvc/config").split()
    blob = git(root, "hash-object", "-w", ".dvc/config").strip()
    git(root, "update-index", "--cacheinfo", f"100644,{blob},.dvc/config")
    tree = git(root, "write-tree").strip()
    raw = subprocess.run(["git", "cat-file", "commit", old[0]], cwd=root, check=True, capture_output=True).stdout
    commit = subprocess.run(["git", "hash-object", "-t", "commit", "-w", "--stdin"], cwd=root, check=True,
                            capture_output=True, input=raw.replace(old[1].encode(), tree.encode(), 1)).stdout
    commit = commit.decode().strip()
    dot_git = root / ".git"
    for name in (["HEAD"] + [p.relative_to(dot_git).as_posix() for p in (dot_git / "logs").rglob("*") if p.is_file()]
                 + [p.relative_to(dot_git).as_posix() for p in (dot_git / "refs").rglob("*") if p.is_file()]):
        file = dot_git / name
        file.write_text(file.read_text().replace(old[0], commit))
    for sha in old:  # the template's commit, trees and config blob: a fresh init never had them
        (dot_git / "objects" / sha[:2] / sha[2:]).unlink()
        if not any((dot_git / "objects" / sha[:2]).iterdir()):
            (dot_git / "objects" / sha[:2]).rmdir()


class Prebuilt:
    """Scenes a fixture builds identically every time (registries, bare remotes with the hook, pushed
    versions), built once per worker and copied into each test's folder. A copy keeps the template's
    DVC store (its path is committed in .dvc/config; content-addressed objects only accumulate), and
    its Git remotes are pointed at the copied repositories."""

    def __init__(self, base: Path):
        self.base = base
        self.made: dict[tuple, Path] = {}

    def copy(self, key: tuple, build, into: Path) -> None:
        """``build(folder)`` makes the scene in ``folder`` (once per key); it is then copied into ``into``."""
        if key not in self.made:
            folder = self.base / f"scene{len(self.made)}"
            folder.mkdir(parents=True)
            build(folder)
            self.made[key] = folder
        template = self.made[key]
        for item in template.iterdir():
            if item.name != "store":  # the store stays where its committed path says
                shutil.copytree(item, into / item.name, symlinks=True) if item.is_dir() else shutil.copy2(item, into)
        for config in [*into.glob("*/.git/config"), *into.glob("*.git/config")]:
            config.write_text(config.read_text().replace(str(template), str(into)))


def hooked_scene(new_registry, artifact, versions: list[tuple[str, int]]):
    """A scene builder: alice's registry with ``versions`` (model, n) registered with --push on a bare
    remote ``origin.git`` that has the server's hook (bytes in ``store``)."""

    def build(folder: Path) -> None:
        bare = folder / "origin.git"
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
        from gitreg.services import hook

        hook.install(bare)
        registry = new_registry(folder / "alice", remote=folder / "store")
        git(registry.root, "remote", "add", "origin", str(bare))
        registry.push()
        for name, n in versions:
            artifact.write_bytes(f"{name}{n}".encode() * 100)
            registry.register(name, artifact, push=True)

    return build


@pytest.fixture(scope="session")
def prebuilt(tmp_path_factory) -> Prebuilt:
    return Prebuilt(tmp_path_factory.mktemp("prebuilt"))


@pytest.fixture(scope="session")
def templates(tmp_path_factory) -> Templates:
    return Templates(tmp_path_factory.mktemp("templates"))


@pytest.fixture
def new_registry(templates, clock):
    """``new_registry(path, remote=None)``: a registry as ``Registry.init`` makes it, copied from a template."""
    return templates.init


@pytest.fixture
def registry(tmp_path, new_registry) -> Registry:
    return new_registry(tmp_path / "registry")


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


@pytest.fixture(scope="session")
def trained(dataset):
    """Each model trained once per session, kept pickled: every test gets its own unpickled copy."""
    from sklearn.linear_model import LogisticRegression

    x, y = dataset
    models: dict[tuple, bytes] = {}

    def make(c: float = 1.0, n_features: int = 30):
        if (c, n_features) not in models:
            model = LogisticRegression(C=c, max_iter=50).fit(x[:200, :n_features], y[:200])
            models[c, n_features] = pickle.dumps(model)
        return pickle.loads(models[c, n_features])

    return make


@pytest.fixture
def make_model(trained):
    return trained


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


def pytest_configure(config):
    """Compile gitreg's bytecode once, before any worker starts: with PYTHONDONTWRITEBYTECODE set (as on
    these machines) an editable install is never compiled, and each of the suite's hundreds of `gitreg`
    subprocesses would compile every module again (0.09 s each)."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        import compileall

        import gitreg

        compileall.compile_dir(Path(gitreg.__file__).parent, quiet=1)


HEAVY = ("dvc", "sklearn", "numpy", "dvc_data")  # what a read command must never import


def imported_by(root: Path, commands: list[list[str]], watched=HEAVY) -> list[str]:
    """Which of ``watched`` (packages, or full module names) a fresh process has imported after the CLI ran
    each of ``commands`` in ``root`` (each must exit 0): a read's start-up path, measured as a user's."""
    probe = (
        "import json, sys\n"
        "from click.testing import CliRunner\n"
        "from gitreg.cli import cli\n"
        "commands, watched = json.loads(sys.argv[1]), set(json.loads(sys.argv[2]))\n"
        "for args in commands:\n"
        "    result = CliRunner().invoke(cli, args, catch_exceptions=False)\n"
        "    assert result.exit_code == 0, (args, result.output)\n"
        "loaded = set(sys.modules) | {name.split('.')[0] for name in sys.modules}\n"
        "print(json.dumps(sorted(loaded & watched)))\n"
    )
    import json
    import sys

    done = subprocess.run([sys.executable, "-c", probe, json.dumps(commands), json.dumps(list(watched))], cwd=root,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])
