"""gitreg honours DVC's whole configuration (system, global, repo and local levels: cache.dir, cache.type,
the default remote) where it reads or writes DVC's cache itself, and `load` does so without importing DVC.

Real DVC is the oracle: its own `dvc status`, `dvc checkout` and `dvc cache dir` must agree."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.io import dvc_layout

PAYLOAD = b"weights-v1" * 100
MD5 = hashlib.md5(PAYLOAD).hexdigest()


def dvc(root: Path, *args: str) -> str:
    """The real `dvc` command, run in-process (its start-up costs 0.5 s a subprocess) in ``root``, with the
    test's isolated HOME and config dirs. gitreg silences DVC's console when it calls DVC itself; the command
    speaks again here."""
    from dvc.cli import main
    from dvc.ui import ui

    out, before, was_enabled = io.StringIO(), os.getcwd(), ui._enabled
    ui.enable()
    os.chdir(root)
    try:
        with contextlib.redirect_stdout(out):
            code = main(list(args))
    finally:
        os.chdir(before)
        ui._enabled = was_enabled
    assert code == 0, f"dvc {' '.join(args)} failed: {out.getvalue()}"
    return out.getvalue()


def dvc_status(root: Path, cloud: bool = False) -> dict:
    """What `dvc status [--cloud]` reports (DVC's own Repo.status: its CLI prints this as JSON)."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        return repo.status(cloud=cloud)


def _obj(cache: Path, md5: str = MD5) -> Path:
    return cache / "files" / "md5" / md5[:2] / md5[2:]


@pytest.fixture
def reg(tmp_path, clock) -> Registry:
    registry, _ = Registry.init(tmp_path / "registry")
    return registry


def _set_cache_dir(level: str, reg: Registry, tmp_path: Path) -> Path:
    """``cache.dir`` at ``level``; returns the directory DVC itself then names."""
    if level == "relative":  # relative to the file that sets it (.dvc/), written as a person would
        (reg.root / ".dvc" / "config.local").write_text("[cache]\n    dir = ../../relative-cache\n")
        expected = tmp_path / "relative-cache"
    else:
        expected = tmp_path / f"{level}-cache"
        dvc(reg.root, "config", f"--{level}", "cache.dir", str(expected))
    assert Path(dvc(reg.root, "cache", "dir").strip()) == expected
    return expected


@pytest.mark.parametrize("level", ["global", "system", "local", "relative"])
def test_cache_dir_from_any_level_is_where_register_writes_and_load_reads(level, reg, tmp_path, artifact):
    cache = _set_cache_dir(level, reg, tmp_path)

    version = reg.register("churn", artifact)
    model = reg.register("clf", {"coef": [1, 2, 3]})

    assert _obj(cache).is_file(), "register did not write the object where DVC's configuration says"
    assert not (reg.root / ".dvc" / "cache" / "files").exists()
    assert dvc_status(reg.root) == {}  # nothing "not in cache"
    workspace = reg.root / "models" / "churn" / version.card.artifact.path
    workspace.unlink()
    dvc(reg.root, "checkout")
    assert workspace.read_bytes() == PAYLOAD

    assert reg.load("clf") == {"coef": [1, 2, 3]}
    out = reg.get(f"churn@{version.version}", tmp_path / "got.bin")
    assert out.read_bytes() == PAYLOAD
    assert _obj(cache, model.card.artifact.md5).is_file()


def test_a_repo_setting_shadows_the_global_one(reg, tmp_path, artifact):
    dvc(reg.root, "config", "--global", "cache.dir", str(tmp_path / "global-cache"))
    dvc(reg.root, "config", "--local", "cache.dir", str(tmp_path / "local-cache"))
    reg.register("churn", artifact)
    assert _obj(tmp_path / "local-cache").is_file() and not _obj(tmp_path / "global-cache").exists()
    assert dvc_status(reg.root) == {}


def test_a_corrupt_object_in_the_configured_cache_is_refused(reg, tmp_path, artifact):
    cache = _set_cache_dir("global", reg, tmp_path)
    reg.register("churn", artifact)
    obj = _obj(cache)
    obj.chmod(0o644)
    obj.write_bytes(b"x" * len(PAYLOAD))
    from gitreg.errors import ArtifactError

    with pytest.raises(ArtifactError, match="do not match their pointer"):
        reg.get("churn", tmp_path / "got.bin")
    assert not (tmp_path / "got.bin").exists()


@pytest.mark.parametrize("kind", ["hardlink", "symlink"])
def test_cache_type_is_how_register_places_the_workspace_file(kind, reg, artifact):
    dvc(reg.root, "config", "cache.type", kind)
    version = reg.register("churn", artifact)
    workspace = reg.root / "models" / "churn" / version.card.artifact.path
    obj = _obj(reg.root / ".dvc" / "cache")
    if kind == "symlink":
        assert workspace.is_symlink() and workspace.resolve() == obj.resolve()
    else:
        assert not workspace.is_symlink() and os.path.samefile(workspace, obj)
    assert workspace.read_bytes() == PAYLOAD
    assert dvc_status(reg.root) == {}


def test_by_default_the_workspace_file_is_not_the_read_only_cache_object(reg, artifact):
    """DVC's default cache.type is reflink,copy: editing the workspace file must not touch the cache."""
    version = reg.register("churn", artifact)
    workspace = reg.root / "models" / "churn" / version.card.artifact.path
    obj = _obj(reg.root / ".dvc" / "cache")
    assert not workspace.is_symlink() and not os.path.samefile(workspace, obj)
    assert os.stat(workspace).st_mode & 0o200, "a copy the user can edit, as DVC checks it out"
    workspace.write_bytes(b"edited")
    assert hashlib.md5(obj.read_bytes()).hexdigest() == MD5


def test_a_model_object_dumped_in_place_with_hardlink(reg):
    dvc(reg.root, "config", "cache.type", "hardlink,copy")
    version = reg.register("clf", {"w": 1})
    workspace = reg.root / "models" / "clf" / version.card.artifact.path
    assert os.path.samefile(workspace, _obj(reg.root / ".dvc" / "cache", version.card.artifact.md5))
    assert reg.load("clf") == {"w": 1}


def _dvc_view(root: Path) -> tuple[Path, tuple[str, ...], str | None, str | None]:
    """What DVC itself makes of the configuration: cache objects, cache types, default remote and its url."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        remote = repo.config["core"].get("remote")
        url = repo.config["remote"][remote]["url"] if remote else None
        types = repo.cache.local.cache_types
        return Path(repo.cache.local.path), tuple(types), remote, url


def test_the_reader_agrees_with_dvc_on_every_level(reg, tmp_path):
    system, global_ = Path(os.environ["DVC_SYSTEM_CONFIG_DIR"]), Path(os.environ["DVC_GLOBAL_CONFIG_DIR"])
    system.mkdir(parents=True, exist_ok=True)
    global_.mkdir(parents=True, exist_ok=True)
    (tmp_path / "store").mkdir()
    (system / "config").write_text("[cache]\n    type = symlink\n    dir = sys-cache\n")
    (global_ / "config").write_text(textwrap.dedent(f"""\
        [core]
            remote = Shared
        ['remote "shared"']
            url = {tmp_path / "store"}
        [cache]
            type = "hardlink, copy"
        """))
    layout = dvc_layout.settings(reg.root)
    assert (layout.objects, layout.cache_types, layout.remote, layout.remote_url) == _dvc_view(reg.root)
    assert layout.objects == system / "sys-cache" / "files" / "md5"
    assert dvc_layout.directory_remote(reg.root) == tmp_path / "store"

    (reg.root / ".dvc" / "config.local").write_text(textwrap.dedent("""\
        [core]
            remote = mine
        ['remote "mine"']
            url = ../../elsewhere
        [cache]
            type = reflink,symlink,copy
        """))
    (tmp_path / "elsewhere").mkdir()
    layout = dvc_layout.settings(reg.root)
    assert (layout.objects, layout.cache_types, layout.remote, layout.remote_url) == _dvc_view(reg.root)
    assert dvc_layout.directory_remote(reg.root) == tmp_path / "elsewhere"


def test_a_configuration_the_reader_cannot_answer_for_is_left_to_dvc(reg, tmp_path, artifact):
    dvc(reg.root, "config", "cache.shared", "group")
    assert dvc_layout.default_layout(reg.root) is None  # DVC writes group-shared objects itself
    reg.register("churn", artifact)
    assert dvc_status(reg.root) == {}
    (reg.root / ".dvc" / "config.local").write_text("[cache\n")  # broken: DVC reports it
    assert dvc_layout.settings(reg.root) is None


def test_push_to_a_directory_remote_set_globally(reg, tmp_path, artifact):
    store = tmp_path / "global-store"
    store.mkdir()
    dvc(reg.root, "remote", "add", "--global", "-d", "gstore", str(store))
    reg.register("churn", artifact)
    assert dvc_layout.push_to_directory_remote(reg.root, [MD5]).uploaded == 1
    assert _obj(store).is_file()
    assert dvc_status(reg.root, cloud=True) == {}


def test_load_does_not_import_dvc(reg, tmp_path):
    """A fresh process loads a registered joblib file from the cache DVC's (global) configuration names
    without importing DVC."""
    _set_cache_dir("global", reg, tmp_path)
    reg.register("clf", {"coef": [1, 2, 3]})
    script = textwrap.dedent(f"""\
        import sys
        from gitreg import Registry
        assert Registry({str(reg.root)!r}).load("clf") == {{"coef": [1, 2, 3]}}
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("dvc", "dvc_data", "dvc_objects")))
        """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_mirror_loads_without_dvc_once_its_bytes_are_fetched(tmp_path, clock):
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    registry, _ = Registry.init(tmp_path / "alice", remote=str(tmp_path / "store"))
    subprocess.run(["git", "remote", "add", "origin", str(bare)], cwd=registry.root, check=True)
    registry.push()
    registry.register("clf", {"coef": [4, 5]}, push=True)
    script = textwrap.dedent(f"""\
        import sys
        from gitreg import Registry
        assert Registry.open({str(bare)!r}).load("clf") == {{"coef": [4, 5]}}
        print("dvc" in sys.modules)
        """)
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
            for _ in range(2)]
    assert [done.stderr for done in runs if done.returncode] == []
    assert [done.stdout.strip() for done in runs] == ["True", "False"]  # the first fetches through DVC
    scratch = next(Path(os.environ["GITREG_CACHE_DIR"]).rglob(".dvc/config"))
    assert dvc(scratch.parent.parent, "config", "core.no_scm").strip() == "True"
    assert dvc(scratch.parent.parent, "config", "core.remote").strip() == "storage"
