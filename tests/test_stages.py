"""Stages as branches: promotion by merge, rollback by revert, retirement, resolution, audit log."""

from __future__ import annotations

import json

import pytest

from gitreg import Registry
from gitreg.errors import ConflictError, NotFoundError
from tests.conftest import git, snapshot


@pytest.fixture
def three_versions(registry, artifact, clock):
    for n in range(1, 4):
        artifact.write_bytes(f"weights-v{n}".encode() * 50)
        registry.register("a", artifact, metrics={"accuracy": 0.8 + n / 100, "loss": 0.5 - n / 10})
        clock.tick()
    return registry


def stage_content(registry, stage: str) -> dict[str, str]:
    return {name: v.version for name, v in registry.stages()[stage].entries.items()}


def test_promote_is_a_no_ff_merge_with_trailers_and_touches_nothing_of_the_user(three_versions, run):
    registry = three_versions
    root = registry.root
    git(root, "checkout", "-q", "-b", "feature")
    (root / "notes.txt").write_text("dirty\n")
    (root / "dvc.yaml").write_text((root / "dvc.yaml").read_text() + "# user edit\n")
    git(root, "add", "notes.txt")
    before = snapshot(root)
    run("promote", "a", "0.1.0", "staging")
    run("promote", "a", "0.2.0", "staging")
    run("rollback", "a", "staging")
    run("retire", "a", "staging")
    after = snapshot(root)
    assert {k: v for k, v in after.items() if k != "refs"} == {k: v for k, v in before.items() if k != "refs"}
    assert git(root, "rev-parse", "--abbrev-ref", "HEAD").strip() == "feature"
    parents = git(root, "log", "-1", "--format=%P", "stage/staging~2").split()
    assert len(parents) == 2, "a promotion is a --no-ff merge"
    message = git(root, "log", "-1", "--format=%B", "stage/staging~2")
    assert "Gitreg-Action: promote" in message and "Gitreg-Version: 0.2.0" in message
    assert "Gitreg-From-Version: 0.1.0" in message and "Gitreg-Stage: staging" in message


def test_promotion_diff_holds_only_the_model_folder(registry, artifact, clock):
    registry.register("a", artifact)
    registry.register("b", artifact)
    clock.tick()
    artifact.write_bytes(b"second" * 100)
    registry.register("a", artifact, description="second", labels=["tabular"])
    registry.promote("b", "0.1.0", "production")
    registry.promote("a", "0.1.0", "production")
    registry.promote("a", "0.2.0", "production")
    root = registry.root
    promotion = "stage/production^2"
    changed = git(root, "diff", "--name-only", "stage/production^1", promotion).split()
    assert sorted(changed) == ["models/a/card.yaml", "models/a/model.bin.dvc"]
    # dvc.yaml stays as the stage branch was born (DVC and GTO read a version's entry at its tag), so
    # promotions of different models never conflict on a forge.
    assert git(root, "diff", "--name-only", "main~3", "stage/production", "--", "dvc.yaml") == ""
    assert git(root, "rev-parse", "stage/production:models/a") == git(root, "rev-parse", "a@v0.2.0:models/a")
    assert git(root, "rev-parse", "stage/production:models/b") == git(root, "rev-parse", "b@v0.1.0:models/b")


def test_three_promotions_two_rollbacks_in_one_second_give_v1_and_an_ordered_log(three_versions, run):
    registry = three_versions
    for version in ("0.1.0", "0.2.0", "0.3.0"):
        registry.promote("a", version, "production")
    assert registry.rollback("a", "production").plan.change.version == "0.2.0"
    assert registry.rollback("a", "production").plan.change.version == "0.1.0"
    assert stage_content(registry, "production") == {"a": "0.1.0"}
    events = json.loads(run("log", "a", "--stage", "production", "--json").output)
    assert [(e["action"], e["from_version"], e["version"]) for e in events] == [
        ("rollback", "0.2.0", "0.1.0"),
        ("rollback", "0.3.0", "0.2.0"),
        ("promote", "0.2.0", "0.3.0"),
        ("promote", "0.1.0", "0.2.0"),
        ("promote", None, "0.1.0"),
    ]
    assert {e["stage"] for e in events} == {"production"}
    assert events[0]["author"] == "Ada Lovelace <ada@example.com>"
    # A third rollback undoes the first promotion: the model leaves the stage.
    assert registry.rollback("a", "production").plan.change.version is None
    assert stage_content(registry, "production") == {}
    with pytest.raises(NotFoundError, match="no promotion in production to roll back"):
        registry.rollback("a", "production")


def test_rollback_of_one_model_leaves_another_as_it_was(registry, artifact, clock):
    registry.register("a", artifact)
    registry.register("b", artifact)
    clock.tick()
    artifact.write_bytes(b"v2" * 100)
    registry.register("a", artifact)
    registry.register("b", artifact)
    registry.promote("a", "0.1.0", "staging")
    registry.promote("a", "0.2.0", "staging")
    registry.promote("b", "0.1.0", "staging")
    registry.promote("b", "0.2.0", "staging")
    b_tree = git(registry.root, "rev-parse", "stage/staging:models/b")
    registry.rollback("a", "staging")
    assert stage_content(registry, "staging") == {"a": "0.1.0", "b": "0.2.0"}
    assert git(registry.root, "rev-parse", "stage/staging:models/b") == b_tree
    assert git(registry.root, "show", "stage/staging:dvc.yaml") == "artifacts: {}\n"
    assert registry.verify() == []


def test_rollback_to_an_earlier_version_in_one_commit_then_step_back(three_versions):
    registry = three_versions
    for version in ("0.1.0", "0.2.0", "0.3.0"):
        registry.promote("a", version, "staging")
    tip = git(registry.root, "rev-parse", "stage/staging").strip()
    result = registry.rollback("a", "staging", to="0.1.0")
    assert result.plan.change.version == "0.1.0"
    assert git(registry.root, "rev-parse", "stage/staging^").strip() == tip, "one commit"
    assert len(result.plan.change.reverts) == 2
    with pytest.raises(NotFoundError, match="was not in staging"):
        registry.rollback("a", "staging", to="0.3.0")
    registry.rollback("a", "staging")
    assert stage_content(registry, "staging") == {}


def test_promoting_the_version_already_in_the_stage_changes_nothing(three_versions, run):
    registry = three_versions
    registry.promote("a", "0.1.0", "dev")
    before = snapshot(registry.root)
    result = run("promote", "a", "0.1.0", "dev")
    assert "already in dev: nothing changed" in result.output
    assert snapshot(registry.root) == before


def test_retire_and_resolution_by_stage(three_versions, tmp_path, run):
    registry = three_versions
    registry.promote("a", "0.2.0", "production")
    assert registry.resolve("a#production").version == "0.2.0"
    assert json.loads(run("show", "a#production", "--json").output)["version"] == "0.2.0"
    out = registry.get("a#production", tmp_path / "prod.bin")
    assert out.read_bytes() == b"weights-v2" * 50
    assert json.loads(run("list", "--json").output)[0]["stages"] == {"production": "0.2.0"}
    registry.retire("a", "production")
    with pytest.raises(NotFoundError, match="not in production"):
        registry.resolve("a#production")
    with pytest.raises(NotFoundError, match="nothing to retire"):
        registry.retire("a", "production")
    events = registry.log("a", "production")
    assert [(e.action, e.version) for e in events] == [("retire", None), ("promote", "0.2.0")]


def test_load_by_stage(registry, make_model, dataset):
    model = make_model()
    registry.register("cancer", model)
    registry.promote("cancer", "0.1.0", "production")
    x, _ = dataset
    assert (registry.load("cancer", stage="production").predict(x[:3]) == model.predict(x[:3])).all()


def test_unknown_model_version_or_stage_change_nothing(three_versions, run):
    before = snapshot(three_versions.root)
    assert "no model named 'zz'" in run("promote", "zz", "0.1.0", "staging", expect=5).stderr
    assert "has no version 9.9.9" in run("promote", "a", "9.9.9", "staging", expect=5).stderr
    assert "unknown stage 'qa'" in run("promote", "a", "0.1.0", "qa", expect=4).stderr
    assert "unknown stage 'qa'" in run("rollback", "a", "qa", expect=4).stderr
    assert "no promotion in staging" in run("rollback", "a", "staging", expect=5).stderr
    assert snapshot(three_versions.root) == before


def test_a_stage_branch_moved_by_someone_else_is_built_upon(three_versions, artifact, monkeypatch):
    registry = three_versions
    registry.register("b", artifact)
    other = Registry(registry.root)
    from gitreg.io.git import Git

    real_update_ref = Git.update_ref
    raced = []

    def racing_update_ref(self, ref, new, old, reason):
        if ref == "refs/heads/stage/staging" and not raced:
            raced.append(True)
            other.promote("b", "0.1.0", "staging")  # lands first: our compare-and-swap must fail
        return real_update_ref(self, ref, new, old, reason)

    monkeypatch.setattr(Git, "update_ref", racing_update_ref)
    registry.promote("a", "0.3.0", "staging")
    assert stage_content(registry, "staging") == {"a": "0.3.0", "b": "0.1.0"}
    subjects = git(registry.root, "log", "--first-parent", "--format=%s", "stage/staging").splitlines()
    assert subjects[:2] == ["Merge branch 'promote/staging/a-v0.3.0' into stage/staging",
                            "Merge branch 'promote/staging/b-v0.1.0' into stage/staging"]


def test_compare_and_swap_refuses_a_stale_expected_value(three_versions):
    git_ = three_versions.git
    tip = git_.rev_parse("HEAD")
    with pytest.raises(ConflictError, match="moved while gitreg was working"):
        git_.update_ref("refs/heads/main", tip, "0" * 39 + "1", "test")


def test_hand_edited_stage_is_reported_and_blocks_promotion_until_repaired(three_versions, run):
    registry = three_versions
    root = registry.root
    registry.promote("a", "0.1.0", "production")
    worktree = root.parent / "prod-worktree"
    git(root, "worktree", "add", "-q", str(worktree), "stage/production")
    card = worktree / "models" / "a" / "card.yaml"
    card.write_text(card.read_text().replace("accuracy: 0.81", "accuracy: 0.99"))
    git(worktree, "commit", "-qam", "tweak the card by hand")
    problems = registry.verify()
    assert problems == ["production: models/a/ differs from a@v0.1.0 (edited by hand?)"]
    result = run("verify", expect=13)
    assert "breach: production: models/a/ differs from a@v0.1.0" in result.output
    before = snapshot(root)
    error = run("promote", "a", "0.2.0", "production", expect=13).stderr
    assert "not in a valid state" in error and "gitreg retire a production" in error
    assert snapshot(root) == before
    registry.retire("a", "production")
    registry.promote("a", "0.2.0", "production")
    assert registry.verify() == []


def test_a_retired_model_does_not_come_back_by_rollback(three_versions):
    registry = three_versions
    registry.promote("a", "0.1.0", "production")
    registry.promote("a", "0.2.0", "production")
    registry.retire("a", "production")
    with pytest.raises(NotFoundError, match="no promotion in production to roll back"):
        registry.rollback("a", "production")
    registry.promote("a", "0.3.0", "production")
    assert registry.rollback("a", "production").plan.change.version is None  # back to retired, not to 0.2.0
    assert stage_content(registry, "production") == {}
