"""The server-side pre-receive hook: forbidden pushes are rejected with the rule they break."""

from __future__ import annotations

import subprocess

import pytest

from gitreg import Registry
from gitreg.errors import PushRejectedError
from tests.conftest import git

GATES = """\
schema: 1
stages:
  - name: staging
  - name: production
    gates:
      metrics:
        accuracy: ">= 0.9"
      no_regression: [accuracy]
"""


@pytest.fixture(params=["main", "trunk"], ids=["bare-HEAD-main", "bare-HEAD-elsewhere"])
def guarded(tmp_path, new_registry, clock, artifact, run, request, prebuilt):
    """A hooked bare remote; its HEAD names the registry's branch, or (a usual mismatch) another one."""

    def build(folder):
        bare = folder / "origin.git"
        subprocess.run(["git", "init", "-q", "--bare", "-b", request.param, str(bare)], check=True)
        assert "Installed" in run("hook", "install", str(bare), cwd=folder).output
        registry = new_registry(folder / "alice", remote=folder / "store")
        (registry.root / ".gitreg.yaml").write_text(GATES)
        git(registry.root, "commit", "-qam", "Gate production")
        git(registry.root, "remote", "add", "origin", str(bare))
        registry.push()
        for n, accuracy in enumerate((0.95, 0.97, 0.5)):
            artifact.write_bytes(f"v{n}".encode() * 100)
            registry.register("m", artifact, metrics={"accuracy": accuracy}, push=True)

    prebuilt.copy(("test_hook", request.param), build, tmp_path)
    return Registry(tmp_path / "alice"), tmp_path / "origin.git"


@pytest.fixture
def run(tmp_path):
    from tests.conftest import Invoker

    return Invoker(tmp_path)


def rejected(root, *args) -> str:
    proc = subprocess.run(["git", "push", "origin", *args], cwd=root, capture_output=True, text=True)
    assert proc.returncode != 0, f"push {args} was accepted"
    return proc.stderr


def test_valid_promotions_rollbacks_and_retirements_pass(guarded):
    registry, bare = guarded
    registry.promote("m", "0.1.0", "production", push=True)
    registry.promote("m", "0.2.0", "production", push=True)
    registry.rollback("m", "production", push=True)  # a "regression", allowed because it is a rollback
    registry.retire("m", "production", push=True)
    registry.promote("m", "0.1.0", "staging", push=True)
    assert git(bare, "rev-parse", "stage/staging:models/m") == git(bare, "rev-parse", "m@v0.1.0:models/m")
    assert "stage/production" in git(bare, "branch")


def test_deleting_or_moving_a_version_tag_is_rejected(guarded):
    registry, _ = guarded
    root = registry.root
    assert "m@v0.1.0: version tags are immutable and cannot be deleted" in rejected(root, ":refs/tags/m@v0.1.0")
    git(root, "tag", "-f", "-a", "m@v0.1.0", "-m", "moved", "HEAD~1")
    assert "cannot be moved" in rejected(root, "--force", "refs/tags/m@v0.1.0")


def test_a_version_tag_that_does_not_match_its_card_is_rejected(guarded):
    registry, _ = guarded
    root = registry.root
    git(root, "tag", "-a", "m@v7.0.0", "-m", "hand-made", "HEAD")
    assert "m@v7.0.0: its card says m@v0.3.0" in rejected(root, "refs/tags/m@v7.0.0")
    git(root, "tag", "m@v8.0.0", "HEAD")
    assert "m@v8.0.0: a version tag must be annotated" in rejected(root, "refs/tags/m@v8.0.0")


def test_a_failing_gate_is_rejected_even_when_forced_locally(guarded):
    registry, bare = guarded
    registry.promote("m", "0.1.0", "production", push=True)
    with pytest.raises(PushRejectedError, match=r"m v0\.3\.0 fails the gates of production: accuracy >= 0\.9: FAIL.*not listed under overrides"):
        registry.promote("m", "0.3.0", "production", force=True, push=True)
    assert registry.stage_versions("m") == {"production": "0.1.0"}, "the local change was taken back"
    assert git(bare, "rev-parse", "stage/production") == git(registry.root, "rev-parse", "stage/production")


def test_hand_edited_stage_content_and_rewritten_stage_history_are_rejected(guarded, tmp_path):
    registry, _ = guarded
    root = registry.root
    registry.promote("m", "0.1.0", "production", push=True)
    registry.promote("m", "0.2.0", "production", push=True)
    worktree = tmp_path / "prod"
    git(root, "worktree", "add", "-q", str(worktree), "stage/production")
    card = worktree / "models" / "m" / "card.yaml"
    card.write_text(card.read_text().replace("accuracy: 0.97", "accuracy: 0.99"))
    git(worktree, "commit", "-qam", "better numbers")
    assert "m: models/m/ differs from m@v0.2.0" in rejected(root, "stage/production")
    git(worktree, "reset", "-q", "--hard", "stage/production~2")
    assert "never rewritten (non-fast-forward" in rejected(root, "--force", "stage/production")
    assert "a stage branch cannot be deleted" in rejected(root, ":stage/production")


def test_install_refuses_a_foreign_hook_and_a_non_repository(tmp_path, run):
    bare = tmp_path / "other.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    (bare / "hooks" / "pre-receive").write_text("#!/bin/sh\nexit 0\n")
    assert "is not gitreg's" in run("hook", "install", str(bare), expect=4, cwd=tmp_path).stderr
    run("hook", "install", str(bare), "--force", cwd=tmp_path)
    plain = tmp_path / "plain"
    plain.mkdir()
    assert "is not a Git repository" in run("hook", "install", str(plain), expect=3, cwd=tmp_path).stderr
