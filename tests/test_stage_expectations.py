"""Stage changes state what they expect, and a rerun after a crash publishes instead of repeating (issue 8:
"Stage changes are not idempotent")."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from gitreg import Registry
from tests.conftest import git


@pytest.fixture
def production(tmp_path, new_registry, clock, artifact):
    """m v0.1.0 → v0.2.0 → v0.3.0 promoted in turn to production, and n v0.1.0 registered, on a bare remote."""
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    registry = new_registry(tmp_path / "alice", remote=tmp_path / "store")
    git(registry.root, "remote", "add", "origin", str(bare))
    for n in range(3):
        artifact.write_bytes(f"m{n}".encode() * 100)
        registry.register("m", artifact)
        clock.tick()
    artifact.write_bytes(b"n" * 100)
    registry.register("n", artifact)
    for version in ("0.1.0", "0.2.0", "0.3.0"):
        registry.promote("m", version, "production")
    registry.push()
    return registry, bare


def operator(tmp_path, bare, name: str):
    clone = tmp_path / name
    subprocess.run(["git", "clone", "-q", str(bare), str(clone)], check=True)
    return clone


def gitreg(cwd, *args, **env):
    return subprocess.Popen([sys.executable, "-m", "gitreg", *args], cwd=cwd, env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def remote_production(bare, tmp_path, model="m"):
    registry = Registry.open(str(bare))
    return registry.stage_versions(model).get("production")


def lined_up(folder, count: int) -> None:
    deadline = time.monotonic() + 60
    while len(list(folder.glob("*.waiting"))) < count:
        assert time.monotonic() < deadline, "the writers never reached the push"
        time.sleep(0.02)
    (folder / "go").touch()


def test_three_operators_rolling_back_at_once_fall_one_version_not_three(production, tmp_path):
    _, bare = production
    gate = tmp_path / "gate"
    gate.mkdir()
    clones = [operator(tmp_path, bare, f"op{i}") for i in range(3)]
    procs = [gitreg(clone, "rollback", "m", "production", "--push", GITREG_PAUSE=f"stage-change:pushing@{gate}")
             for clone in clones]
    lined_up(gate, 3)  # all three planned against v0.3.0 before anyone pushed
    results = [(proc.wait(), proc.stderr.read()) for proc in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 16, 16], results
    refused = [err for code, err in results if code == 16]
    assert all("production changed while gitreg worked: m is now v0.2.0, it was v0.3.0" in err for err in refused)
    assert remote_production(bare, tmp_path) == "0.2.0"
    for clone in clones:  # and nothing unpublished is left behind in the refused clones
        local = git(clone, "rev-parse", "stage/production").strip()
        assert git(clone, "merge-base", "--is-ancestor", local, "origin/stage/production") == ""


def test_a_promotion_is_planned_again_when_only_another_model_moved(production, tmp_path):
    _, bare = production
    gate = tmp_path / "gate"
    gate.mkdir()
    alice = operator(tmp_path, bare, "alice2")
    slow = gitreg(alice, "rollback", "m", "production", "--push", GITREG_PAUSE=f"stage-change:pushing@{gate}")
    lined_up(gate, 1)
    (gate / "go").unlink()
    fast = subprocess.run([sys.executable, "-m", "gitreg", "promote", "n", "0.1.0", "production", "--push"],
                          cwd=operator(tmp_path, bare, "bob"), capture_output=True, text=True)
    assert fast.returncode == 0, fast.stderr
    (gate / "go").touch()
    assert slow.wait() == 0, slow.stderr.read()
    registry = Registry.open(str(bare))
    assert registry.stage_versions("m") == {"production": "0.2.0"}
    assert registry.stage_versions("n") == {"production": "0.1.0"}


@pytest.mark.parametrize("point", ["stage-change:applied", "stage-change:pushing", "stage-change:pushed"])
def test_a_rollback_killed_at_any_step_and_run_again_rolls_back_once(production, tmp_path, point):
    _, bare = production
    clone = operator(tmp_path, bare, "op")
    killed = gitreg(clone, "rollback", "m", "production", "--push", GITREG_FAULT=point)
    assert killed.wait() == -9
    again = subprocess.run([sys.executable, "-m", "gitreg", "rollback", "m", "production", "--push"], cwd=clone,
                           capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert remote_production(bare, tmp_path) == "0.2.0"
    rollbacks = [e for e in Registry.open(str(bare)).log("m", "production") if e.action == "rollback"]
    assert len(rollbacks) == 1
    if point != "stage-change:applied":  # killed after the local change: its rerun says what it did
        assert "earlier" in again.stdout, again.stdout


def test_a_promotion_killed_before_its_push_reaches_the_remote_on_the_rerun(production, tmp_path):
    _, bare = production
    clone = operator(tmp_path, bare, "op")
    killed = gitreg(clone, "promote", "n", "0.1.0", "production", "--push", GITREG_FAULT="stage-change:pushing")
    assert killed.wait() == -9
    assert remote_production(bare, tmp_path, "n") is None
    again = subprocess.run([sys.executable, "-m", "gitreg", "promote", "n", "0.1.0", "production", "--push"],
                           cwd=clone, capture_output=True, text=True)
    assert again.returncode == 0 and "nothing changed" not in again.stdout, again.stdout
    assert remote_production(bare, tmp_path, "n") == "0.1.0"


def test_other_unpublished_changes_are_not_pushed_behind_the_users_back(production, tmp_path):
    _, bare = production
    clone = operator(tmp_path, bare, "op")
    Registry(clone).promote("n", "0.1.0", "production")  # local only
    result = subprocess.run([sys.executable, "-m", "gitreg", "rollback", "m", "production", "--push"], cwd=clone,
                            capture_output=True, text=True)
    assert result.returncode == 6 and "never reached origin: publish them with `gitreg push`" in result.stderr
    assert remote_production(bare, tmp_path) == "0.3.0"


def test_after_gitreg_push_published_an_interrupted_rollback_a_new_rollback_is_made(production, tmp_path):
    _, bare = production
    clone = operator(tmp_path, bare, "op")
    killed = gitreg(clone, "rollback", "m", "production", "--push", GITREG_FAULT="stage-change:pushed")
    assert killed.wait() == -9
    assert subprocess.run([sys.executable, "-m", "gitreg", "push"], cwd=clone).returncode == 0
    again = subprocess.run([sys.executable, "-m", "gitreg", "rollback", "m", "production", "--push"], cwd=clone,
                           capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert remote_production(bare, tmp_path) == "0.1.0", "the user asked for a second rollback, after the push"


def test_an_interrupted_promotion_overtaken_by_another_models_change_is_made_anew(production, tmp_path):
    _, bare = production
    clone = operator(tmp_path, bare, "op")
    killed = gitreg(clone, "rollback", "m", "production", "--push", GITREG_FAULT="stage-change:pushing")
    assert killed.wait() == -9
    other = subprocess.run([sys.executable, "-m", "gitreg", "promote", "n", "0.1.0", "production", "--push"],
                           cwd=operator(tmp_path, bare, "bob"), capture_output=True, text=True)
    assert other.returncode == 0, other.stderr
    again = subprocess.run([sys.executable, "-m", "gitreg", "rollback", "m", "production", "--push"], cwd=clone,
                           capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    registry = Registry.open(str(bare))
    assert registry.stage_versions("m") == {"production": "0.2.0"}
    assert registry.stage_versions("n") == {"production": "0.1.0"}
