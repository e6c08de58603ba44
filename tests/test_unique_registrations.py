"""Every registration is its own version: parallel CI jobs with one Git identity, one file and one
clock second never collapse into the same commit and tag, and a push that changed nothing on the
remote is not taken for a published version."""

from __future__ import annotations

import subprocess
import sys

import joblib
import pytest

from gitreg import Registry
from gitreg.errors import ConflictError
from gitreg.services import registration, sync
from tests.conftest import git, snapshot


@pytest.fixture
def shared(tmp_path, new_registry, clock):
    """(bare Git remote, DVC store, first clone's registry, the one model file every job registers)."""
    bare, store = tmp_path / "origin.git", tmp_path / "dvc-store"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    first = new_registry(tmp_path / "alice", remote=store)
    git(first.root, "remote", "add", "origin", str(bare))
    first.push()
    model = tmp_path / "m.joblib"
    joblib.dump({"weights": [0.25, 0.5, 0.25]}, model)
    return bare, store, first, model


def clone(bare, path) -> Registry:
    subprocess.run(["git", "clone", "-q", str(bare), str(path)], check=True)
    return Registry(path)


def _register(root, model, *options: str) -> list[str]:
    return [sys.executable, "-m", "gitreg", "-C", str(root), "register", "m", str(model), *options, "--push"]


def test_two_clones_three_jobs_each_same_identity_file_and_second_make_six_versions(shared, tmp_path):
    """Six processes at once: three in each of two clones (jobs sharing a checkout take turns)."""
    six_jobs(shared, tmp_path)


def test_six_jobs_make_six_versions_through_the_server_hook_too(shared, tmp_path):
    """The hook words a version another writer took first as Git does, so the loser retries."""
    bare, store, _, _ = shared
    store.mkdir(exist_ok=True)
    subprocess.run([sys.executable, "-m", "gitreg", "hook", "install", str(bare), "--artifacts", str(store)],
                   check=True, capture_output=True)
    six_jobs(shared, tmp_path)


def six_jobs(shared, tmp_path) -> None:
    bare, _, _, model = shared
    clones = [clone(bare, tmp_path / f"ci{i}") for i in range(2)]
    procs = [subprocess.Popen(_register(c.root, model, "--bump", "patch"), stderr=subprocess.PIPE,
                              stdout=subprocess.PIPE) for c in clones for _ in range(3)]
    for proc in procs:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err.decode()[-2000:]
    remote_tags = git(bare, "tag").split()
    assert len(remote_tags) == 6
    commits = {git(bare, "rev-parse", f"{tag}^{{commit}}").strip() for tag in remote_tags}
    assert len(commits) == 6  # six distinct registration commits, one per job
    fresh = clone(bare, tmp_path / "fresh")
    versions = fresh.history("m")
    assert len({v.version for v in versions}) == 6
    for version in versions:
        assert fresh.load("m", version=version.version) == {"weights": [0.25, 0.5, 0.25]}
        out = fresh.get(f"m@{version.version}", tmp_path / f"check-{version.version}.joblib")
        assert out.read_bytes() == model.read_bytes()
    assert fresh.verify() == []


def test_one_explicit_version_raced_by_two_identical_writers_one_wins_the_other_leaves_nothing(shared, tmp_path):
    bare, _, _, model = shared
    clones = [clone(bare, tmp_path / f"ci{i}") for i in range(2)]
    before = [snapshot(c.root) for c in clones]
    procs = [subprocess.Popen(_register(c.root, model, "--version", "1.0.0"), stderr=subprocess.PIPE)
             for c in clones]
    results = [(proc.wait(timeout=120), proc.stderr.read().decode()) for proc in procs]
    assert sorted(code for code, _ in results) == [0, 6], results
    loser = next(i for i, (code, _) in enumerate(results) if code == 6)
    assert "version 1.0.0 already exists" in results[loser][1]
    assert git(bare, "tag").split() == ["m@v1.0.0"]
    root, winner = clones[loser].root, git(bare, "rev-parse", "m@v1.0.0^{commit}").strip()
    after = snapshot(root)
    assert after["status"] == before[loser]["status"] and after["files"] == before[loser]["files"]
    assert git(root, "rev-parse", "m@v1.0.0^{commit}").strip() == winner  # the winner's tag, fetched
    assert git(root, "log", "--format=%H", "main", "--not", "--remotes").strip() == ""  # nothing of its own
    assert list((root / ".git" / "gitreg" / "journal").glob("*")) == []
    assert Registry(root).verify() == []


@pytest.fixture
def identical_writers(shared, tmp_path, monkeypatch):
    """Alice publishes, in the middle of Bob's register --push, the very same commit and tag objects
    Bob made (same file, identity, second, parent and registration id): Bob's push then changes nothing."""
    bare, _, alice, model = shared
    bob = clone(bare, tmp_path / "bob")
    monkeypatch.setattr(registration, "registration_id", lambda: "same-id-for-both")
    real_push_artifacts = sync.push_artifacts
    overtaken = []

    def alice_pushes_first(git, versions):
        if git.root == bob.root and not overtaken:
            overtaken.append(alice.register("m", model, **bob_options, push=True))
        return real_push_artifacts(git, versions)

    bob_options: dict = {}
    monkeypatch.setattr(sync, "push_artifacts", alice_pushes_first)
    return bare, bob, model, bob_options, overtaken


def test_a_push_that_changed_nothing_is_rebuilt_as_the_next_version(identical_writers):
    bare, bob, model, options, overtaken = identical_writers
    options["bump"] = "patch"
    found = bob.register("m", model, bump="patch", push=True)
    assert overtaken[0].commit == git(bare, "rev-parse", "m@v0.1.0^{commit}").strip()
    assert found.version == "0.1.1"  # not a second "success" for Alice's 0.1.0
    assert git(bare, "tag").split() == ["m@v0.1.0", "m@v0.1.1"]
    assert git(bob.root, "status", "--porcelain") == ""


def test_a_push_that_changed_nothing_with_an_explicit_version_is_refused(identical_writers):
    bare, bob, model, options, overtaken = identical_writers
    options["version"] = "1.0.0"
    with pytest.raises(ConflictError, match="version 1.0.0 already exists"):
        bob.register("m", model, version="1.0.0", push=True)
    assert git(bare, "tag").split() == ["m@v1.0.0"]
    assert git(bob.root, "status", "--porcelain") == ""
    assert git(bob.root, "log", "--format=%H", "main", "--not", "--remotes").strip() == ""
