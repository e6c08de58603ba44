"""Happy paths of the core registry: init, register, read commands, get and load."""

from __future__ import annotations

import json

import pytest

from gitreg import Registry
from gitreg.registry import EnvironmentMismatchWarning
from tests.conftest import git, snapshot


def test_init_creates_skeleton_and_is_idempotent(registry):
    root = registry.root
    for rel in (".gitreg.yaml", "dvc.yaml", "models/.gitkeep", ".dvc/config",
                ".github/workflows/gitreg-promotion.yml", ".github/workflows/gitreg-verify.yml"):
        assert (root / rel).exists(), rel
    assert git(root, "log", "--format=%s") == "Initialize gitreg registry\n"
    assert git(root, "status", "--porcelain") == ""
    before = snapshot(root)
    _, changed = Registry.init(root)
    assert not changed
    assert snapshot(root) == before


def test_register_object_commits_only_its_paths_and_tags(registry, make_model, run):
    root = registry.root
    (root / "notes.txt").write_text("user's uncommitted work\n")
    (root / ".gitreg.yaml").write_text((root / ".gitreg.yaml").read_text() + "# local edit\n")
    found = registry.register("cancer", make_model(), metrics={"accuracy": 0.9}, params={"C": 1.0},
                              labels=["tabular"], description="first")
    assert found.tag == "cancer@v0.1.0"
    changed = git(root, "show", "--name-only", "--format=", "HEAD").split()
    assert sorted(changed) == ["dvc.yaml", "models/cancer/.gitignore", "models/cancer/card.yaml",
                               "models/cancer/model.skops.dvc"]  # objects are saved with skops
    status = git(root, "status", "--porcelain")
    assert status.splitlines() == [" M .gitreg.yaml", "?? notes.txt"]
    assert git(root, "cat-file", "-t", "cancer@v0.1.0") == "tag\n"
    assert git(root, "rev-parse", "cancer@v0.1.0^{commit}") == git(root, "rev-parse", "HEAD")
    card = found.card
    assert card.signature == {"n_features": 30, "classes": [0, 1]}
    assert card.artifact.kind == "skops" and card.artifact.format == "skops" and len(card.artifact.md5) == 32
    assert "sklearn.linear_model._logistic.LogisticRegression" in card.artifact.types
    assert card.author == {"name": "Ada Lovelace", "email": "ada@example.com"}
    assert card.created == "2026-01-01T00:00:00+00:00"
    assert card.environment["packages"]["scikit-learn"]
    assert "cancer:" in (root / "dvc.yaml").read_text()


def test_versions_bump_and_auto_detects_signature_change(registry, make_model, artifact, clock):
    assert registry.register("m", make_model()).version == "0.1.0"
    clock.tick()
    assert registry.register("m", make_model(c=0.5)).version == "0.2.0"  # auto, same signature
    clock.tick()
    assert registry.register("m", make_model(n_features=10)).version == "1.0.0"  # signature changed
    clock.tick()
    assert registry.register("m", make_model(n_features=10), bump="patch").version == "1.0.1"
    clock.tick()
    assert registry.register("m", make_model(n_features=10), version="2.0.0-rc.1").version == "2.0.0-rc.1"
    clock.tick()
    assert registry.register("m", make_model(n_features=10), bump="patch").version == "2.0.0"
    assert [v.version for v in registry.history("m")] == ["2.0.0", "2.0.0-rc.1", "1.0.1", "1.0.0",
                                                          "0.2.0", "0.1.0"]


def test_register_file_and_folder(registry, artifact, tmp_path):
    folder = tmp_path / "bert"
    (folder / "sub").mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "sub" / "weights.bin").write_bytes(b"\x00\x01" * 500)
    assert registry.register("blob", artifact, version="1.0.0").card.artifact.path == "model.bin"
    found = registry.register("bert", folder)
    assert found.card.artifact.kind == "directory" and found.card.artifact.nfiles == 2
    out = registry.get("bert", tmp_path / "out")
    assert (out / "sub" / "weights.bin").read_bytes() == b"\x00\x01" * 500
    assert registry.get("blob@1.0.0", tmp_path / "blob.bin").read_bytes() == artifact.read_bytes()


def test_cli_register_list_show_history_json(run, artifact, tmp_path, clock):
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"accuracy": 0.91, "loss": {"val": 0.2}}))
    run("register", "churn", str(artifact), "--metrics", str(metrics), "--metric", "f1=0.8",
        "--param", "C=1.0", "--param", "kernel=rbf", "--label", "tabular", "--description", "first one")
    clock.tick()
    run("register", "churn", str(artifact), "--bump", "patch")
    listed = json.loads(run("list", "--json").output)
    assert listed == [{"name": "churn", "latest": "0.1.1", "versions": 2, "stages": {}, "labels": [], "metrics": {},
                       "description": "", "created": "2026-01-01T00:01:00+00:00", "deprecated": False}]
    shown = json.loads(run("show", "churn@v0.1.0", "--json").output)
    assert shown["card"]["metrics"] == {"accuracy": 0.91, "loss.val": 0.2, "f1": 0.8}
    assert shown["card"]["params"] == {"C": 1.0, "kernel": "rbf"}
    assert json.loads(run("show", "churn@0.1.0", "--json").output) == shown
    history = json.loads(run("history", "churn", "--json").output)
    assert [h["version"] for h in history] == ["0.1.1", "0.1.0"]
    assert "churn  0.1.1" in run("list").output
    assert "0.1.0" in run("history", "churn").output
    assert "version: 0.1.0" in run("show", "churn@0.1.0").output


def test_dry_run_changes_nothing(registry, artifact, run):
    before = snapshot(registry.root)
    result = run("register", "m", str(artifact), "--dry-run")
    assert "Would register m@v0.1.0" in result.output
    assert snapshot(registry.root) == before


def test_load_verifies_and_warns_on_environment_difference(registry, make_model, dataset):
    model = make_model()
    found = registry.register("cancer", model)
    x, _ = dataset
    loaded = registry.load("cancer")
    assert (loaded.predict(x[:5]) == model.predict(x[:5])).all()
    # Rewrite history as if the model came from another numpy: load must name the difference.
    card = found.card
    assert card.environment["packages"]["numpy"]
    from dataclasses import replace

    from gitreg.domain.version import ModelVersion

    odd = replace(card, environment={"python": "2.7.0", "packages": {"numpy": "0.0.1"}})
    registry.resolve = lambda ref: ModelVersion(found.name, found.version, found.tag, found.commit, odd)
    with pytest.warns(EnvironmentMismatchWarning, match=r"numpy 0\.0\.1 -> "):
        registry.load("cancer")


def test_load_refuses_corrupted_cache(registry, make_model):
    found = registry.register("cancer", make_model())
    md5 = found.card.artifact.md5
    cached = registry.root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    cached.chmod(0o644)
    cached.write_bytes(b"cos" + b"\x00" * 10)  # a pickle that must never be loaded
    from gitreg.errors import ArtifactError

    with pytest.raises(ArtifactError, match="do not match their pointer"):
        registry.load("cancer")


def test_get_fetches_from_remote_when_cache_is_empty(tmp_path, new_registry, clock, artifact):
    remote = tmp_path / "dvc-remote"
    reg = new_registry(tmp_path / "reg", remote=remote)
    reg.register("m", artifact)
    from gitreg.io import dvc

    dvc.push(reg.root)
    import shutil

    shutil.rmtree(reg.root / ".dvc" / "cache")
    out = reg.get("m", tmp_path / "out.bin")
    assert out.read_bytes() == artifact.read_bytes()


def test_init_takes_the_remote_as_a_path_too(tmp_path):
    store = tmp_path / "store"
    registry, changed = Registry.init(tmp_path / "repo", remote=store)
    assert changed and f"url = {store}" in (registry.root / ".dvc" / "config").read_text()


def test_load_names_only_the_differences_of_packages_the_object_needed(registry, tmp_path):
    """A plain dict needs neither scikit-learn nor its version (a fresh process, which has not imported it)."""
    import json
    import subprocess
    import sys

    import joblib

    path = tmp_path / "plain.joblib"
    joblib.dump({"weights": [1.0, 2.0]}, path)
    registry.register("plain", path)
    script = f"""
import json, sys, warnings
from dataclasses import replace
from gitreg import Registry
from gitreg.domain.version import ModelVersion
registry = Registry({str(registry.root)!r})
found = registry.resolve("plain")
odd = replace(found.card, environment={{"python": found.card.environment["python"],
                                        "packages": {{"scikit-learn": "0.0.1", "joblib": "0.0.2"}}}})
registry.resolve = lambda ref: ModelVersion(found.name, found.version, found.tag, found.commit, odd)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    loaded = registry.load("plain")
print(json.dumps([loaded, "sklearn" in sys.modules, [str(w.message) for w in caught]]))
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    loaded, sklearn_imported, said = json.loads(proc.stdout)
    assert loaded == {"weights": [1.0, 2.0]} and not sklearn_imported
    assert any("joblib 0.0.2 -> " in text for text in said)
    assert not any("scikit-learn" in text for text in said)
