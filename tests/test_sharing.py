"""Shared registries: a bare repository as the Git remote, a directory as the DVC remote."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap

import pytest

from gitreg import Registry
from gitreg.errors import ConflictError
from tests.conftest import Invoker, git, snapshot


@pytest.fixture
def shared(tmp_path, new_registry, clock):
    """(bare Git remote, DVC store, first clone's registry)."""
    bare = tmp_path / "origin.git"
    store = tmp_path / "dvc-store"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    first = new_registry(tmp_path / "alice", remote=store)
    git(first.root, "remote", "add", "origin", str(bare))
    first.push()
    return bare, store, first


def clone(bare, path) -> Registry:
    subprocess.run(["git", "clone", "-q", str(bare), str(path)], check=True)
    return Registry(path)


def test_two_clones_take_turns_and_see_each_others_work(shared, tmp_path, artifact, run):
    bare, _, alice = shared
    bob = clone(bare, tmp_path / "bob")
    alice.register("churn", artifact, push=True)
    artifact.write_bytes(b"bob's weights" * 40)
    assert bob.register("churn", artifact, bump="patch", push=True).version == "0.1.1"
    assert alice.pull().refs == ["main"]
    assert [v.version for v in alice.history("churn")] == ["0.1.1", "0.1.0"]
    alice.promote("churn", "0.1.1", "production", push=True)
    bob.promote("churn", "0.1.0", "staging", push=True)  # bob's stage branches are behind: rebuilt on top
    report = bob.pull(artifacts=True)
    assert report.artifacts == 2  # the stage branches came with the promotion above
    assert bob.stage_versions("churn") == {"staging": "0.1.0", "production": "0.1.1"}
    alice.pull()
    assert alice.stage_versions("churn") == {"staging": "0.1.0", "production": "0.1.1"}
    assert git(alice.root, "status", "--porcelain") == ""
    fresh = clone(bare, tmp_path / "carol")
    out = fresh.get("churn#staging", tmp_path / "staging.bin")  # bytes come from the DVC remote
    assert out.read_bytes() == b"weights-v1" * 100


def test_an_explicit_version_another_writer_took_fails_clearly(shared, tmp_path, artifact):
    bare, _, alice = shared
    bob = clone(bare, tmp_path / "bob")
    alice.register("m", artifact, version="1.0.0", push=True)
    before = snapshot(bob.root)
    with pytest.raises(ConflictError, match="version 1.0.0 already exists"):
        bob.register("m", artifact, version="1.0.0", push=True)
    after = snapshot(bob.root)
    assert after["files"] == before["files"] and after["status"] == before["status"]
    assert "m@v1.0.0" in git(bob.root, "tag")  # what bob fetched is alice's version, not his


def test_a_lost_race_is_redone_on_the_new_tip(shared, tmp_path, artifact, monkeypatch):
    """Bob's push is overtaken by Alice's: his registration is undone and redone as the next version."""
    bare, _, alice = shared
    bob = clone(bare, tmp_path / "bob")
    from gitreg.services import sync

    real_push_artifacts = sync.push_artifacts
    overtaken = []

    def alice_pushes_first(git, versions):
        if git.root == bob.root and not overtaken:
            overtaken.append(True)
            alices = tmp_path / "alice.bin"
            alices.write_bytes(b"alice's weights" * 30)
            alice.register("m", alices, push=True)
        return real_push_artifacts(git, versions)

    monkeypatch.setattr(sync, "push_artifacts", alice_pushes_first)
    found = bob.register("m", artifact, bump="patch", push=True)
    assert found.version == "0.1.1"
    remote_tags = git(bare, "tag").split()
    assert remote_tags == ["m@v0.1.0", "m@v0.1.1"]
    log = git(bare, "log", "--format=%s", "main").splitlines()
    assert log[:2] == ["Register m v0.1.1", "Register m v0.1.0"]
    assert git(bob.root, "status", "--porcelain") == ""


WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from gitreg import Registry
    root, who = Path(sys.argv[1]), sys.argv[2]
    registry = Registry(root)
    for n in range(3):
        artifact = root.parent / f"{who}-{n}.bin"
        artifact.write_bytes(f"{who} {n} ".encode() * 64)
        registry.register("shared", artifact, bump="patch", push=True, description=f"{who} {n}")
""")


def test_four_writers_register_twelve_versions_without_losing_any(shared, tmp_path):
    bare, _, alice = shared
    clones = [clone(bare, tmp_path / f"writer{i}") for i in range(4)]
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(c.root), f"w{i}"], stderr=subprocess.PIPE)
             for i, c in enumerate(clones)]
    for proc in procs:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err.decode()[-2000:]
    fresh = clone(bare, tmp_path / "fresh")
    versions = fresh.history("shared")
    assert len(versions) == 12 and len({v.version for v in versions}) == 12
    assert {v.card.description for v in versions} == {f"w{i} {n}" for i in range(4) for n in range(3)}
    registrations = git(bare, "log", "--format=%s", "main").splitlines()
    assert len([s for s in registrations if s.startswith("Register shared")]) == 12
    for version in versions:
        who, n = version.card.description.split()
        out = fresh.get(f"shared@{version.version}", tmp_path / f"check-{version.version}.bin")
        assert out.read_bytes() == f"{who} {n} ".encode() * 64
    assert fresh.verify() == []


def test_a_folder_artifact_travels_through_the_remote(shared, tmp_path):
    bare, store, alice = shared
    folder = tmp_path / "bert"
    (folder / "sub").mkdir(parents=True)
    (folder / "config.json").write_text('{"layers": 2}')
    (folder / "sub" / "weights.bin").write_bytes(b"\x01\x02" * 300)
    alice.register("bert", folder, push=True)
    fresh = clone(bare, tmp_path / "fresh")
    out = fresh.get("bert", tmp_path / "out")
    assert (out / "config.json").read_text() == '{"layers": 2}'
    assert (out / "sub" / "weights.bin").read_bytes() == b"\x01\x02" * 300
    assert fresh.pull(artifacts=False).artifacts == 0


def test_push_refuses_to_publish_refs_whose_bytes_are_nowhere(shared, tmp_path, artifact):
    bare, store, alice = shared
    found = alice.register("m", artifact)  # not pushed
    md5 = found.card.artifact.md5
    cached = alice.root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    cached.chmod(0o644)
    cached.unlink()
    from gitreg.errors import ArtifactError

    with pytest.raises(ArtifactError, match="neither in the local DVC cache nor in the remote"):
        alice.push()
    assert "m@v0.1.0" not in git(bare, "tag")
    (store / "files").mkdir(parents=True, exist_ok=True)  # a directory remote that exists takes the fast path
    with pytest.raises(ArtifactError, match="neither in the local DVC cache nor in the remote"):
        alice.push()


def test_push_says_what_it_sent_and_when_there_was_nothing(shared, artifact, tmp_path):
    bare, store, alice = shared
    run = Invoker(alice.root)
    alice.register("m", artifact)
    assert run("push").output == "Pushed to origin: 1 artifact, main, m@v0.1.0\n"
    assert run("push").output == "Everything up to date with origin\n"


def test_long_transfers_say_what_is_happening(shared, artifact, tmp_path, monkeypatch):
    from gitreg.io import progress

    monkeypatch.setattr(progress, "LARGE", 1)  # every transfer counts as long here
    _, _, alice = shared
    run = Invoker(alice.root)
    pushed = run("register", "m", str(artifact), "--push")
    assert "Storing weights.bin in the DVC cache (1.0 kB)…" in pushed.stderr
    assert "Uploading 1 artifact(s) to the DVC remote (1.0 kB)…" in pushed.stderr
    shutil.rmtree(alice.root / ".dvc" / "cache")
    fetched = run("get", "m", "-o", str(tmp_path / "m.bin"))
    assert "Downloading the artifact from the DVC remote (1.0 kB)…" in fetched.stderr
    assert "done in" in fetched.stderr
