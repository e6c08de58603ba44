"""`register-many` (issue 12, part 4): many versions from one manifest, all or nothing, one push; a kill -9
midway undoes the whole batch on the next command."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from gitreg import Registry
from tests.conftest import Invoker, git, snapshot
from tests.test_gto_tags import guarded  # noqa: F401  (fixture)
from tests.test_tree_truth import clone_of


def write_manifest(folder, entries) -> str:
    import yaml

    path = folder / "release.yaml"
    path.write_text(yaml.safe_dump({"models": entries}))
    return str(path)


@pytest.fixture
def artifacts(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "churn.bin").write_bytes(b"churn" * 100)
    (tmp_path / "out" / "fraud").mkdir()
    (tmp_path / "out" / "fraud" / "weights.bin").write_bytes(b"fraud" * 100)
    return tmp_path


def test_a_manifest_registers_every_model_with_its_metadata(registry, artifacts, run):
    manifest = write_manifest(artifacts, [
        {"name": "churn", "path": "out/churn.bin", "metrics": {"auc": 0.91}, "params": {"C": 1.0},
         "labels": ["tabular"], "description": "weekly"},
        {"name": "fraud", "path": "out/fraud", "version": "2.0.0"},
    ])
    planned = json.loads(run("register-many", manifest, "--dry-run", "--json").stdout)
    assert [v["tag"] for v in planned["versions"]] == ["churn@v0.1.0", "fraud@v2.0.0"] and planned["dry_run"]
    assert registry.versions() == []
    out = run("register-many", manifest).stdout
    assert "Registered churn@v0.1.0" in out and "Registered fraud@v2.0.0" in out
    churn = registry.show("churn").card
    assert (churn.metrics, churn.params, churn.labels, churn.description) == ({"auc": 0.91}, {"C": 1.0},
                                                                              ["tabular"], "weekly")
    assert registry.show("fraud").card.artifact.kind == "directory"
    assert registry.verify() == []


@pytest.mark.parametrize("entries, code, message", [
    ([{"name": "churn", "path": "out/churn.bin"}, {"name": "fraud", "path": "out/missing.bin"}], 9, "does not exist"),
    ([{"name": "churn", "path": "out/churn.bin"}, {"name": "fraud"}], 4, "entry 2 of the manifest has no path"),
    ([{"name": "churn", "path": "out/churn.bin", "metric": {"a": 1}}], 4, "unknown keys metric"),
    ([{"name": "churn", "path": "out/churn.bin"}, {"name": "churn", "path": "out/fraud"}], 4, "more than once"),
    ([{"name": "Bad Name", "path": "out/churn.bin"}], 4, "invalid model name"),
    ([{"name": "churn", "path": "out/churn.bin", "metrics": {"auc": float("nan")}}], 4, "auc"),
    ([{"name": "churn", "path": "out/churn.bin"}, {"name": "fraud", "path": "out/fraud", "version": "0.0.1"}], 6,
     "not greater than"),
])
def test_a_bad_entry_anywhere_changes_nothing(registry, artifacts, run, artifact, entries, code, message):
    registry.register("fraud", artifact, version="1.0.0")
    before = snapshot(registry.root)
    result = run("register-many", write_manifest(artifacts, entries), expect=code)
    assert message in result.stderr
    assert snapshot(registry.root) == before


def test_a_failure_midway_takes_back_the_versions_made_before_it(registry, artifacts, run):
    manifest = write_manifest(artifacts, [{"name": "churn", "path": "out/churn.bin"},
                                          {"name": "fraud", "path": "out/fraud"}])
    before = snapshot(registry.root)
    env = {**os.environ, "GITREG_FAULT": "register-many:one-registered"}
    killed = subprocess.run([sys.executable, "-m", "gitreg", "register-many", manifest], cwd=registry.root, env=env,
                            capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr
    assert "churn@v0.1.0" in git(registry.root, "tag")  # what the kill left, until the next command
    reopened = Registry(registry.root)
    assert any("undid an interrupted register-many (churn@v0.1.0)" in line for line in reopened.recovered)
    assert snapshot(registry.root)["refs"] == before["refs"] and snapshot(registry.root)["status"] == ""
    run("register-many", manifest)
    assert [v.tag for v in reopened.versions()] == ["churn@v0.1.0", "fraud@v0.1.0"]


def test_push_publishes_the_batch_at_once_and_a_refused_push_keeps_nothing(guarded, tmp_path, artifacts):  # noqa: F811
    registry, bare = guarded
    manifest = write_manifest(artifacts, [{"name": "m", "path": "out/churn.bin", "bump": "patch"},
                                          {"name": "fresh", "path": "out/fraud"}])
    out = json.loads(Invoker(registry.root)("register-many", manifest, "--push", "--json").stdout)
    assert out["pushed"] and [v["tag"] for v in out["versions"]] == ["m@v0.3.1", "fresh@v0.1.0"]
    remote = git(bare, "tag")
    assert "m@v0.3.1" in remote and "fresh@v0.1.0" in remote

    (artifacts / "out" / "churn.bin").write_bytes(b"second" * 100)
    second = write_manifest(artifacts, [{"name": "m", "path": "out/churn.bin", "bump": "patch"},
                                        {"name": "n", "path": "out/fraud"}])
    gate = tmp_path / "gate"
    gate.mkdir()
    env = {**os.environ, "GITREG_PAUSE": f"register-many:bytes-pushed@{gate}"}
    before = snapshot(registry.root)
    batch = subprocess.Popen([sys.executable, "-m", "gitreg", "register-many", second, "--push"], cwd=registry.root,
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while not list(gate.glob("*.waiting")) and batch.poll() is None:
        pass
    other = Registry(clone_of(bare, tmp_path / "other"))  # lands first, while the batch waits to push
    (tmp_path / "other.bin").write_bytes(b"other" * 100)
    other.register("m", tmp_path / "other.bin", bump="patch", push=True)
    (gate / "go").touch()
    _, stderr = batch.communicate(timeout=120)
    assert batch.returncode == 6 and "moved while the batch was pushed, so none of it was kept" in stderr
    after = snapshot(registry.root)
    changed = {k for k in set(before["files"]) | set(after["files"]) if before["files"].get(k) != after["files"].get(k)}
    assert not changed, changed
    assert after == before
