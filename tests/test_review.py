"""Promotion through review: --pr branches, forge merges, check-promotion and verify."""

from __future__ import annotations

import json
import subprocess

import pytest

from gitreg import Registry
from tests.conftest import git


@pytest.fixture
def shared(registry, artifact, tmp_path, clock):
    """A registry with two versions, pushed to a bare repository that plays the forge."""
    bare = tmp_path / "forge.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    Registry.init(registry.root, remote=str(tmp_path / "dvc-store"))  # bytes before refs: a store to push to
    registry.register("m", artifact, metrics={"accuracy": 0.9})
    clock.tick()
    artifact.write_bytes(b"v2" * 100)
    registry.register("m", artifact, metrics={"accuracy": 0.95})
    registry.promote("m", "0.1.0", "production")
    git(registry.root, "remote", "add", "origin", str(bare))
    git(registry.root, "push", "-q", "origin", "main", "stage/production", "--tags")
    return registry, bare


def forge_merge(bare, tmp_path, branch: str, into: str) -> None:
    """What a forge does when a pull request is merged: a plain merge commit without our trailers."""
    clone = tmp_path / "forge-merge"
    subprocess.run(["git", "clone", "-q", str(bare), str(clone)], check=True)
    git(clone, "checkout", "-q", into)
    git(clone, "merge", "-q", "--no-ff", "-m", f"Merge pull request #7 from {branch}", f"origin/{branch}")
    git(clone, "push", "-q", "origin", into)


def test_pr_branch_passes_check_and_a_forge_merge_is_seen_by_every_command(shared, tmp_path, run):
    registry, bare = shared
    result = run("promote", "m", "0.2.0", "production", "--pr")
    assert "promote/production/m-v0.2.0" in result.output and "gh pr create" in result.output
    assert registry.stage_versions("m") == {"production": "0.1.0"}, "--pr does not merge"
    report = run("check-promotion", "stage/production", "promote/production/m-v0.2.0")
    assert "passed" in report.output and "| accuracy | 0.9 | 0.95 | +0.05 |" in report.output
    forge_merge(bare, tmp_path, "promote/production/m-v0.2.0", "stage/production")
    git(registry.root, "fetch", "-q", "origin", "stage/production:stage/production")
    assert registry.stage_versions("m") == {"production": "0.2.0"}
    assert json.loads(run("show", "m#production", "--json").output)["version"] == "0.2.0"
    event = registry.log("m", "production")[0]
    assert (event.action, event.from_version, event.version) == ("promote", "0.1.0", "0.2.0")
    assert registry.rollback("m", "production").plan.change.version == "0.1.0"
    assert registry.verify() == []


def test_check_promotion_rejects_a_hand_edited_card(shared, tmp_path, run):
    registry, _ = shared
    root = registry.root
    git(root, "checkout", "-q", "-b", "sneaky", "stage/production")
    card = root / "models" / "m" / "card.yaml"
    card.write_text(card.read_text().replace("accuracy: 0.9", "accuracy: 0.99"))
    git(root, "commit", "-qam", "better numbers")
    result = run("check-promotion", "stage/production", "sneaky", expect=13)
    assert "FAILED" in result.output and "differs from m@v0.1.0 (edited by hand?)" in result.output
    data = json.loads(run("check-promotion", "stage/production", "sneaky", "--json", expect=13).output)
    assert data["passed"] is False and data["models"][0]["problems"]


def test_check_promotion_applies_the_stage_gates(shared, run):
    registry, _ = shared
    registry.promote("m", "0.2.0", "production", pr=True)  # gates tightened after the PR was opened
    (registry.root / ".gitreg.yaml").write_text(
        "stages:\n  - name: production\n    gates:\n      metrics:\n        accuracy: '>= 0.99'\n")
    git(registry.root, "commit", "-qam", "Tighten production")
    result = run("check-promotion", "origin/stage/production", "promote/production/m-v0.2.0", expect=13)
    assert "| accuracy >= 0.99 | 0.95 | >= 0.99 | **FAIL** |" in result.output
    assert "not a stage branch" in run("check-promotion", "main", "HEAD", expect=4).stderr


def test_verify_reports_a_tag_whose_index_disagrees_with_its_card(registry, artifact, run):
    found = registry.register("m", artifact)
    root = registry.root
    message = git(root, "for-each-ref", "--format=%(contents)", "refs/tags/m@v0.1.0")
    tampered = message.replace('"size":', '"size":1', 1)
    git(root, "tag", "-f", "-a", "m@v0.1.0", "-m", tampered, found.commit)
    assert run("verify", expect=13).output.startswith("breach: tag m@v0.1.0: its message index")
    assert "Registry OK" not in run("verify", expect=13).output


def test_init_installs_the_workflows(registry):
    workflow = (registry.root / ".github/workflows/gitreg-promotion.yml").read_text()
    assert "gitreg check-promotion" in workflow and "stage/**" in workflow
    assert "gitreg verify" in (registry.root / ".github/workflows/gitreg-verify.yml").read_text()
    assert Registry(registry.root).verify() == []


def test_check_promotion_in_a_checkout_of_the_promotion_branch_applies_the_main_branch_gates(shared, run):
    """What the bundled workflow does: check out the PR head, then run check-promotion there."""
    registry, _ = shared
    registry.promote("m", "0.2.0", "production", pr=True)
    (registry.root / ".gitreg.yaml").write_text(
        "stages:\n  - name: production\n    gates:\n      metrics:\n        accuracy: '>= 0.99'\n")
    git(registry.root, "commit", "-qam", "Tighten production")
    git(registry.root, "checkout", "-q", "--detach", "promote/production/m-v0.2.0")
    result = run("check-promotion", "stage/production", "HEAD", expect=13)
    assert "| accuracy >= 0.99 | 0.95 | >= 0.99 | **FAIL** |" in result.output
