"""Nothing half-done: a registration that fails at any step leaves refs, HEAD, index and working tree as
they were, including an earlier version of the model in models/NAME/ and the user's uncommitted work.

Failures are injected only into gitreg's own functions (``Git.create_tag``, ``cache.add_file``,
``storage.add``), never into Git or DVC themselves.
"""

from __future__ import annotations

import pytest

from gitreg.errors import ConflictError, GitError, StorageError
from gitreg.io import dvc, dvc_layout
from gitreg.io.git import Git
from tests.conftest import git, snapshot


@pytest.fixture
def busy(registry, artifact, clock):
    """A registry with ``m@v0.1.0`` checked out in models/m/ and a user in the middle of their own work
    (edits inside models/m/ itself are refused up front: see test_bad_input)."""
    root = registry.root
    registry.register("m", artifact)
    clock.tick()
    (root / "models" / "NOTES.md").write_text("untracked, the user's\n")
    (root / "dvc.yaml").write_text("# local comment\n" + (root / "dvc.yaml").read_text())
    (root / "README.md").write_text("staged, not committed\n")
    git(root, "add", "README.md")
    (root / ".gitreg.yaml").write_text((root / ".gitreg.yaml").read_text() + "# unstaged\n")
    artifact.write_bytes(b"weights-v2" * 100)
    return registry


def _fail(exc: Exception):
    def raiser(*args, **kwargs):
        raise exc

    return raiser


def _assert_untouched(registry, before) -> None:
    root = registry.root
    assert snapshot(root) == before
    assert git(root, "tag", "--list").split() == ["m@v0.1.0"]
    assert [v.version for v in registry.history("m")] == ["0.1.0"]
    assert not list((root / ".dvc" / "tmp").glob("gitreg-undo-*"))
    assert not list((root / ".git").glob("gitreg-index-*"))


def _register_again(registry, artifact) -> None:
    """The registry still works: the same registration now succeeds and keeps the user's other work."""
    root = registry.root
    found = registry.register("m", artifact)
    assert found.version == "0.2.0"
    assert git(root, "rev-parse", "m@v0.2.0^{commit}") == git(root, "rev-parse", "HEAD")
    assert git(root, "diff", "--cached", "--name-only").split() == ["README.md"]
    assert "# local comment" in (root / "dvc.yaml").read_text()
    assert registry.get("m", root.parent / "back.bin").read_bytes() == artifact.read_bytes()


@pytest.mark.parametrize("error", [GitError("git mktag failed: injected"), RuntimeError("injected")])
def test_failure_after_the_commit_and_before_the_tag_undoes_everything(busy, artifact, monkeypatch, error):
    before = snapshot(busy.root)
    head = git(busy.root, "rev-parse", "HEAD")
    monkeypatch.setattr(Git, "create_tag", _fail(error))
    with pytest.raises(type(error), match="injected"):
        busy.register("m", artifact, metrics={"accuracy": 0.9})
    assert git(busy.root, "rev-parse", "HEAD") == head
    _assert_untouched(busy, before)
    monkeypatch.undo()
    _register_again(busy, artifact)


def test_failure_before_the_tag_through_the_cli(busy, run, artifact, monkeypatch):
    before = snapshot(busy.root)
    monkeypatch.setattr(Git, "create_tag", _fail(GitError("git mktag failed: injected")))
    result = run("register", "m", str(artifact), "--label", "x", expect=11)
    assert result.stderr == "error: git mktag failed: injected\n"
    _assert_untouched(busy, before)


def test_failure_inside_dvc_add_undoes_everything(busy, run, artifact, monkeypatch):
    before = snapshot(busy.root)
    monkeypatch.setattr(dvc_layout, "add_file", _fail(StorageError("storing model.bin failed: injected")))
    with pytest.raises(StorageError, match="injected"):
        busy.register("m", artifact)
    _assert_untouched(busy, before)
    result = run("register", "m", str(artifact), expect=12)
    assert result.stderr == "error: storing model.bin failed: injected\n"
    _assert_untouched(busy, before)
    monkeypatch.undo()
    _register_again(busy, artifact)


def test_failure_when_registering_from_the_model_folder_itself(busy, artifact, monkeypatch):
    """The artifact may be the checked-out previous version: it is moved aside and must come back."""
    source = busy.root / "models" / "m" / "model.bin"
    original = source.read_bytes()
    before = snapshot(busy.root)
    monkeypatch.setattr(Git, "create_tag", _fail(GitError("injected")))
    with pytest.raises(GitError):
        busy.register("m", source, bump="patch")
    _assert_untouched(busy, before)
    assert source.read_bytes() == original


def test_a_version_tag_made_by_another_tool_stops_the_registration_cleanly(busy, run, artifact):
    """No injection: a lightweight tag m@v9.0.0 (not a version to gitreg) makes creating the tag fail for real."""
    root = busy.root
    git(root, "tag", "m@v9.0.0", "HEAD")
    before = snapshot(root)
    result = run("register", "m", str(artifact), "--version", "9.0.0", expect=6)
    assert result.stderr.startswith("error: tag m@v9.0.0 already exists: versions are immutable")
    assert snapshot(root) == before
    assert [v.version for v in busy.history("m")] == ["0.1.0"]


def test_a_moved_head_is_not_overwritten(busy, artifact, monkeypatch, clock):
    """Someone commits while gitreg works: the compare-and-swap on HEAD refuses, and nothing is lost."""
    root = busy.root
    real_add = dvc_layout.add_file

    def add_then_someone_commits(*args):
        pointer = real_add(*args)
        git(root, "commit", "-q", "-m", "the user's commit")
        return pointer

    monkeypatch.setattr(dvc_layout, "add_file", add_then_someone_commits)
    with pytest.raises(ConflictError, match="moved while gitreg was working .*: run the command again"):
        busy.register("m", artifact)
    assert git(root, "log", "-1", "--format=%s") == "the user's commit\n"
    assert git(root, "tag", "--list").split() == ["m@v0.1.0"]
    assert git(root, "show", "--name-only", "--format=", "HEAD").split() == ["README.md"]
    assert "version: 0.1.0" in (root / "models" / "m" / "card.yaml").read_text()
    assert (root / "models" / "NOTES.md").is_file()


def test_failure_on_a_first_registration_leaves_no_model_folder(registry, artifact, monkeypatch):
    root = registry.root
    before = snapshot(root)
    monkeypatch.setattr(Git, "create_tag", _fail(GitError("injected")))
    with pytest.raises(GitError):
        registry.register("fresh", artifact, description="never lands")
    assert snapshot(root) == before
    assert not (root / "models" / "fresh").exists()
    assert "fresh" not in (root / "dvc.yaml").read_text()
    assert git(root, "tag", "--list") == ""


def test_failure_inside_dvc_add_of_a_folder_undoes_everything(registry, tmp_path, monkeypatch):
    folder = tmp_path / "bert"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"w" * 100)
    before = snapshot(registry.root)
    monkeypatch.setattr(dvc, "add", _fail(StorageError("dvc add model failed: injected")))
    with pytest.raises(StorageError, match="injected"):
        registry.register("bert", folder)
    assert snapshot(registry.root) == before
    assert not (registry.root / "models" / "bert").exists()
