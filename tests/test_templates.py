"""The template registries the fixtures copy are what `gitreg init` makes (modulo the test's paths)."""

from __future__ import annotations

import pytest

from gitreg import Registry
from tests.conftest import git, snapshot


def described(root) -> dict:
    return {
        "log": git(root, "log", "--format=%H %an %ae %ad %cd %s", "--date=raw"),
        "reflog": git(root, "reflog", "--format=%H %gs"),
        "objects": sorted(git(root, "rev-list", "--objects", "--all").split("\n")),
        "loose": git(root, "count-objects").split(",")[0],
        "config": git(root, "config", "--local", "--list"),
        "fsck": git(root, "fsck", "--strict", "--unreachable", "--no-progress"),
        **snapshot(root),
    }


@pytest.mark.parametrize("with_remote", [False, True], ids=["no-remote", "directory-remote"])
def test_a_copied_template_is_what_a_fresh_init_makes(tmp_path, new_registry, with_remote):
    store = str(tmp_path / "store") if with_remote else None
    copied = new_registry(tmp_path / "copied", remote=store)
    copied_again = new_registry(tmp_path / "again", remote=store)  # a second copy of the same template
    fresh, changed = Registry.init(tmp_path / "fresh", remote=store)
    assert changed
    assert described(copied.root) == described(fresh.root) == described(copied_again.root)
    assert (copied.root / ".dvc" / "config").read_text() == (fresh.root / ".dvc" / "config").read_text()
    if with_remote:
        assert str(store) in (copied.root / ".dvc" / "config").read_text()
    assert sorted(p.relative_to(copied.root).as_posix() for p in copied.root.rglob("*")) == \
        sorted(p.relative_to(fresh.root).as_posix() for p in fresh.root.rglob("*"))
    assert git(copied.root, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_a_copy_works_like_a_fresh_registry(tmp_path, new_registry, artifact):
    store = tmp_path / "store"
    registry = new_registry(tmp_path / "alice", remote=store)
    found = registry.register("m", artifact)
    from gitreg.io import dvc

    dvc.push(registry.root)
    md5 = found.card.artifact.md5
    assert (store / "files" / "md5" / md5[:2] / md5[2:]).is_file()
    assert Registry.init(registry.root, remote=str(store))[1] is False


def test_a_later_git_date_gets_its_own_template(tmp_path, new_registry, clock):
    clock.tick(3600)
    copied = new_registry(tmp_path / "copied")
    fresh, _ = Registry.init(tmp_path / "fresh")
    assert git(copied.root, "rev-parse", "HEAD") == git(fresh.root, "rev-parse", "HEAD")
