"""The tree is the truth: every merge method reads as the same stage event, and the server judges every
pushed commit by its trees (issue 8: "The audit trail depends on the merge method", "Server gates can be
bypassed")."""

from __future__ import annotations

import subprocess

import pytest

from gitreg import Registry
from gitreg.errors import NotFoundError, PushRejectedError
from tests.conftest import Invoker, git

GATED = """\
schema: 1
stages:
  - name: staging
  - name: production
    gates:
      metrics:
        accuracy: ">= 0.9"
"""


def clone_of(bare, where):
    subprocess.run(["git", "clone", "-q", str(bare), str(where)], check=True)
    return where


@pytest.fixture
def forge(tmp_path, new_registry, clock, artifact, prebuilt):
    """Three versions of m (0.95, 0.97, 0.5 accuracy) and one of n, v1 of m in production, on a bare
    'forge' remote."""

    def build(folder):
        bare = folder / "forge.git"
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
        registry = new_registry(folder / "alice", remote=folder / "store")
        (registry.root / ".gitreg.yaml").write_text(GATED)
        git(registry.root, "commit", "-qam", "Gate production")
        git(registry.root, "remote", "add", "origin", str(bare))
        for n, accuracy in enumerate((0.95, 0.97, 0.5)):
            artifact.write_bytes(f"m{n}".encode() * 100)
            registry.register("m", artifact, metrics={"accuracy": accuracy})
            clock.tick()
        artifact.write_bytes(b"n0" * 100)
        registry.register("n", artifact, metrics={"accuracy": 0.99})
        registry.promote("m", "0.1.0", "production")
        registry.push()

    start = clock.now
    prebuilt.copy(("forge",), build, tmp_path)
    while clock.now < start + 3 * 60:  # the test goes on at the time the scene was built up to
        clock.tick()
    return Registry(tmp_path / "alice"), tmp_path / "forge.git"


def forge_merges(bare, tmp_path, branch: str, how: str) -> None:
    """What a forge does with a pull request: a merge commit, a squash with only the PR title, a rebase."""
    clone = clone_of(bare, tmp_path / f"forge-{how}-{branch.replace('/', '-')}")
    git(clone, "checkout", "-q", "stage/production")
    if how == "merge":
        git(clone, "merge", "-q", "--no-ff", "-m", "Merge pull request #7 from acme/promote", f"origin/{branch}")
    elif how == "squash":
        git(clone, "merge", "-q", "--squash", f"origin/{branch}")
        git(clone, "commit", "-q", "-m", "Promote the new model (#8)")
    else:  # rebase: the promotion commit replayed on the tip, trailers and all
        git(clone, "cherry-pick", f"origin/{branch}")
    git(clone, "push", "-q", "origin", "stage/production")


@pytest.mark.parametrize("how", ["merge", "squash", "rebase"])
def test_every_merge_method_reads_as_the_same_event_and_rolls_back_exactly(forge, tmp_path, how):
    registry, bare = forge
    registry.promote("m", "0.2.0", "production", pr=True)
    forge_merges(bare, tmp_path, "promote/production/m-v0.2.0", how)
    registry.pull()
    assert registry.show("m#production").version == "0.2.0"
    newest = registry.log("m", "production")[0]
    assert (newest.action, newest.from_version, newest.version) == ("promote", "0.1.0", "0.2.0")
    assert registry.rollback("m", "production").plan.change.version == "0.1.0"
    assert registry.stage_versions("m") == {"production": "0.1.0"}
    assert registry.verify() == []


def test_a_squashed_rollback_and_a_fast_forward_are_events_too(forge, tmp_path):
    registry, bare = forge
    registry.promote("m", "0.2.0", "production", push=True)
    clone = clone_of(bare, tmp_path / "operator")
    git(clone, "checkout", "-q", "stage/production")
    git(clone, "checkout", "-q", "stage/production~1", "--", "models/m")  # restore by hand, no trailers
    git(clone, "commit", "-qm", "revert to the old model")
    git(clone, "push", "-q", "origin", "stage/production")
    registry.pull()
    actions = [(e.action, e.from_version, e.version) for e in registry.log("m", "production")]
    assert actions == [("rollback", "0.2.0", "0.1.0"), ("promote", "0.1.0", "0.2.0"), ("promote", None, "0.1.0")]
    assert registry.rollback("m", "production").plan.change.version is None  # undoes the first promotion
    with pytest.raises(NotFoundError, match="no promotion in production to roll back"):
        registry.rollback("m", "production")


def test_two_promotion_branches_from_one_tip_merge_cleanly_in_either_order(forge, tmp_path):
    registry, bare = forge
    registry.promote("m", "0.2.0", "production", pr=True)
    registry.promote("n", "0.1.0", "production", pr=True)
    git(registry.root, "push", "-q", "origin", "promote/production/m-v0.2.0", "promote/production/n-v0.1.0")
    for order in (("m-v0.2.0", "n-v0.1.0"), ("n-v0.1.0", "m-v0.2.0")):
        clone = clone_of(bare, tmp_path / f"merge-{order[0]}")
        git(clone, "checkout", "-q", "stage/production")
        for branch in order:
            git(clone, "merge", "-q", "--no-ff", "-m", f"Merge {branch}", f"origin/promote/production/{branch}")
    git(clone, "push", "-q", "origin", "stage/production")
    registry.pull()
    assert registry.stage_versions("m") == {"production": "0.2.0"}
    assert registry.stage_versions("n") == {"production": "0.1.0"}
    # a forge's merges make no GTO tags: verify names each stage GTO misreads until sync-tags mirrors them
    assert registry.verify() == [
        "GTO's tags put v0.1.0 of m in production, the stage branch holds v0.2.0: run `gitreg sync-tags --push`",
        "GTO's tags put nothing of n in production, the stage branch holds v0.1.0: run `gitreg sync-tags --push`"]
    assert registry.sync_tags(push=True).pushed
    assert registry.verify() == []


@pytest.fixture
def guarded(forge, tmp_path):
    registry, bare = forge
    Invoker(tmp_path)("hook", "install", str(bare))
    return registry, bare


def hand_commit(root, message: str, version_commit: str, model: str = "m") -> None:
    """A commit made with plain Git on the stage branch, installing a tagged subtree."""
    git(root, "checkout", "-q", "stage/production")
    git(root, "rm", "-rq", f"models/{model}")
    git(root, "checkout", "-q", version_commit, "--", f"models/{model}")
    git(root, "commit", "-qm", message)
    git(root, "checkout", "-q", "main")


def test_hook_judges_a_fake_rollback_as_the_promotion_it_is(guarded, tmp_path):
    registry, bare = guarded
    root = registry.root
    message = ("Roll back m in production\n\nGitreg-Model: m\nGitreg-Version: 0.1.0\nGitreg-Stage: production\n"
               "Gitreg-Action: rollback\n")
    hand_commit(root, message, "m@v0.3.0")  # accuracy 0.5: ungated it would pass as a "rollback"
    proc = subprocess.run(["git", "push", "origin", "stage/production"], cwd=root, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "m v0.3.0 fails the gates of production" in proc.stderr
    assert "its trailers say rollback, but its tree makes it a promote" in proc.stderr
    assert git(bare, "rev-parse", "stage/production") == git(root, "rev-parse", "origin/stage/production")


def test_hook_checks_every_commit_so_a_forced_promotion_cannot_hide_behind_later_ones(guarded):
    registry, bare = guarded
    before = git(bare, "rev-parse", "stage/production")
    registry.promote("m", "0.3.0", "production", force=True)  # fails the gate: forced locally
    registry.promote("m", "0.2.0", "production")  # passes
    registry.rollback("m", "production")  # back to the forced 0.3.0
    assert registry.stage_versions("m") == {"production": "0.3.0"}
    with pytest.raises(PushRejectedError, match=r"m v0\.3\.0 fails the gates of production.*not listed under overrides"):
        registry.push()
    assert git(bare, "rev-parse", "stage/production") == before


def test_an_override_lands_only_from_an_identity_listed_under_overrides(guarded, tmp_path):
    registry, bare = guarded
    root = registry.root
    (root / ".gitreg.yaml").write_text(GATED + "overrides:\n  - ada@example.com\n")
    git(root, "commit", "-qam", "Ada may force")
    registry.push()
    registry.promote("m", "0.3.0", "production", force=True, push=True)
    assert git(bare, "show", "-s", "--format=%B", "stage/production^2").count("Gitreg-Override: forced by Ada") == 1
    event = registry.log("m", "production")[0]
    assert event.override and event.version == "0.3.0"


def test_hook_refuses_files_outside_the_models_on_a_stage_branch(guarded):
    registry, _ = guarded
    root = registry.root
    git(root, "checkout", "-q", "stage/production")
    (root / ".github" / "workflows" / "gitreg-promotion.yml").write_text("name: nothing\n")
    git(root, "commit", "-qam", "quietly disable the check")
    git(root, "checkout", "-q", "main")
    proc = subprocess.run(["git", "push", "origin", "stage/production"], cwd=root, capture_output=True, text=True)
    assert proc.returncode != 0 and ".github/workflows/gitreg-promotion.yml" in proc.stderr


def test_check_promotion_names_files_beyond_the_promoted_model(forge, tmp_path):
    registry, _ = forge
    root = registry.root
    run = Invoker(root)
    registry.promote("m", "0.2.0", "production", pr=True)
    git(root, "checkout", "-q", "promote/production/m-v0.2.0")
    (root / ".github" / "workflows" / "gitreg-promotion.yml").write_text("name: nothing\n")
    (root / "notes.txt").write_text("unrelated\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "more")
    git(root, "checkout", "-q", "main")
    result = run("check-promotion", "stage/production", "promote/production/m-v0.2.0", expect=13)
    assert ".github/workflows/gitreg-promotion.yml" in result.output and "notes.txt" in result.output


def test_check_promotion_of_a_pull_request_from_an_older_tip_judges_the_merge(forge, tmp_path):
    registry, bare = forge
    run = Invoker(registry.root)
    registry.promote("n", "0.1.0", "production", pr=True)  # opened from the tip with m v0.1.0
    registry.promote("m", "0.2.0", "production")  # meanwhile the stage moved on
    result = run("check-promotion", "stage/production", "promote/production/n-v0.1.0")
    assert "passed" in result.output and "n`: promote — → v0.1.0" in result.output
    assert "`m`" not in result.output, "the other model's state on the older tip is not part of this merge"


def forged_tag(root, version: str, pointer_md5: str | None = None) -> str:
    """A version tag made by hand with plain Git: card, pointer and tag message as the caller wants them."""
    from dataclasses import replace

    from gitreg import Registry as Reg
    from gitreg.domain.version import tag_message

    latest = Reg(root).show("m")
    card = replace(latest.card, version=version)
    git(root, "checkout", "-q", latest.tag, "--", "models/m")
    (root / "models" / "m" / "card.yaml").write_text(card.to_yaml())
    if pointer_md5:
        pointer = root / "models" / "m" / f"{card.artifact.path}.dvc"
        pointer.write_text(pointer.read_text().replace(card.artifact.md5, pointer_md5))
    git(root, "add", "models/m")
    git(root, "commit", "-qm", f"Register m v{version}")
    tag = f"m@v{version}"
    git(root, "tag", "-a", tag, "-m", tag_message(card))
    return tag


def test_hook_refuses_a_version_whose_pointer_names_other_bytes_than_its_card(guarded):
    registry, _ = guarded
    tag = forged_tag(registry.root, "0.4.0", pointer_md5="ab" * 16)
    proc = subprocess.run(["git", "push", "origin", "main", tag], cwd=registry.root, capture_output=True, text=True)
    assert proc.returncode != 0 and f"tag {tag}: its pointer" in proc.stderr
    assert "m@v0.4.0" not in git(guarded[1], "tag")


def test_hook_refuses_a_version_that_is_not_greater_than_the_latest(guarded):
    registry, _ = guarded
    tag = forged_tag(registry.root, "0.0.9")
    proc = subprocess.run(["git", "push", "origin", "main", tag], cwd=registry.root, capture_output=True, text=True)
    assert proc.returncode != 0 and "version 0.0.9 is not greater than the latest version 0.3.0" in proc.stderr


def test_a_stage_branch_may_take_files_exactly_as_the_main_branch_has_them(guarded):
    registry, bare = guarded
    root = registry.root
    workflow = root / ".github" / "workflows" / "gitreg-verify.yml"
    workflow.write_text(workflow.read_text() + "# reviewed on main\n")
    git(root, "commit", "-qam", "Update the verify workflow")
    git(root, "push", "-q", "origin", "main")
    git(root, "checkout", "-q", "stage/production")
    git(root, "checkout", "-q", "main", "--", ".github")
    git(root, "commit", "-qm", "Bring the workflows of main")
    git(root, "checkout", "-q", "main")
    git(root, "push", "-q", "origin", "stage/production")  # accepted: the same bytes main has
    assert "# reviewed on main" in git(bare, "show", "stage/production:.github/workflows/gitreg-verify.yml")


def test_a_new_pin_on_main_reaches_the_stage_branch_with_the_next_stage_change(guarded, tmp_path):
    registry, bare = guarded
    root = registry.root
    Invoker(root)("init", "--ci-install", "gitreg-dvc==9.9.9")
    registry.push()
    registry.promote("m", "0.2.0", "production", push=True)  # the hook accepts the carried workflows
    for name in ("gitreg-promotion.yml", "gitreg-verify.yml"):
        path = f".github/workflows/{name}"
        assert git(bare, "show", f"stage/production:{path}") == git(bare, "show", f"main:{path}")
        assert "gitreg-dvc==9.9.9" in git(bare, "show", f"stage/production:{path}")


def push_refused(root, *args) -> str:
    proc = subprocess.run(["git", "push", "origin", *args], cwd=root, capture_output=True, text=True)
    assert proc.returncode != 0, f"push {args} was accepted"
    assert "Traceback" not in proc.stderr
    return proc.stderr


def with_clinical_stage(registry) -> None:
    """A gated stage the server has no branch of yet."""
    root = registry.root
    (root / ".gitreg.yaml").write_text(GATED + "  - name: clinical\n    gates:\n      metrics:\n"
                                       "        accuracy: \">= 0.9\"\n")
    git(root, "commit", "-qam", "A clinical stage")
    git(root, "push", "-q", "origin", "main")


def test_a_new_stage_branch_made_of_an_orphan_commit_is_judged_from_an_empty_stage(guarded):
    registry, bare = guarded
    root = registry.root
    with_clinical_stage(registry)
    models = git(root, "rev-parse", "m@v0.3.0^{commit}:models").strip()  # accuracy 0.5
    tree = subprocess.run(["git", "mktree"], cwd=root, input=f"040000 tree {models}\tmodels\n",
                          capture_output=True, text=True, check=True).stdout.strip()
    orphan = git(root, "commit-tree", tree, "-m", "anything").strip()
    assert "m v0.3.0 fails the gates of clinical" in push_refused(root, f"{orphan}:refs/heads/stage/clinical")
    born = git(root, "commit-tree", "HEAD^{tree}", "-p", "HEAD", "-m", "Initialize gitreg registry").strip()
    assert "already holds models" in push_refused(root, f"{born}:refs/heads/stage/clinical")
    assert "stage/clinical" not in git(bare, "branch")


def history_put_first(root, tip: str) -> str:
    """A merge whose first parent is a new root commit with the same tree: a substituted audit trail."""
    orphan = git(root, "commit-tree", f"{tip}^{{tree}}", "-m", "a fresh history").strip()
    return git(root, "commit-tree", f"{tip}^{{tree}}", "-p", orphan, "-p", tip, "-m", "Merge").strip()


def test_a_merge_that_puts_a_new_history_first_cannot_replace_the_audit_trail(guarded):
    registry, bare = guarded
    root = registry.root
    tip = git(root, "rev-parse", "origin/stage/production").strip()
    merge = history_put_first(root, tip)
    assert "never rewritten" in push_refused(root, f"{merge}:refs/heads/stage/production")
    assert git(bare, "rev-parse", "stage/production").strip() == tip


def test_a_second_main_branch_cannot_take_over_the_gates(guarded):
    registry, _ = guarded
    root = registry.root
    git(root, "checkout", "-q", "-b", "master")
    (root / ".gitreg.yaml").write_text("schema: 1\nstages:\n  - name: staging\n  - name: production\n")
    git(root, "commit", "-qam", "harmless")
    git(root, "checkout", "-q", "main")
    assert "main branch is main" in push_refused(root, "master")


def test_a_config_that_does_not_read_is_refused_and_a_broken_one_can_still_be_repaired(forge, tmp_path):
    registry, bare = forge
    root = registry.root
    Invoker(tmp_path)("hook", "install", str(bare))
    registry.promote("m", "0.2.0", "staging")  # made while the configuration still reads
    (root / ".gitreg.yaml").write_text(GATED.replace("gates:", "gate:"))
    git(root, "commit", "-qam", "typo")
    assert "did you mean 'gates'" in push_refused(root, "main")
    # The same typo reached the server before the hook was installed: only its repair gets through.
    (bare / "hooks" / "pre-receive").rename(bare / "hooks" / "off")
    git(root, "push", "-q", "origin", "main")
    (bare / "hooks" / "off").rename(bare / "hooks" / "pre-receive")
    assert "only a push to the main branch that repairs it" in push_refused(root, "stage/staging")
    (root / ".gitreg.yaml").write_text(GATED)
    git(root, "commit", "-qam", "fix the typo")
    git(root, "push", "-q", "origin", "main")
    git(root, "push", "-q", "origin", "stage/staging")


def test_versions_of_one_model_pushed_together_must_be_ordered(guarded):
    registry, bare = guarded
    root = registry.root
    tags = [forged_tag(root, version) for version in ("1.0.0+a", "1.0.0+b")]
    assert "of the same precedence" in push_refused(root, "main", *tags)
    assert "1.0.0" not in git(bare, "tag")


def test_a_version_tag_must_point_at_a_commit(guarded):
    registry, _ = guarded
    root = registry.root
    tree = git(root, "rev-parse", "m@v0.3.0^{tree}").strip()
    message = git(root, "cat-file", "-p", "m@v0.3.0").split("\n\n", 1)[1].replace("v0.3.0", "v0.7.0")
    tag = subprocess.run(["git", "mktag"], cwd=root, capture_output=True, text=True, check=True,
                         input=f"object {tree}\ntype tree\ntag m@v0.7.0\ntagger A <a@b> 1767225600 +0000\n\n{message}"
                         ).stdout.strip()
    git(root, "update-ref", "refs/tags/m@v0.7.0", tag)
    assert "not at the commit that registered it" in push_refused(root, "refs/tags/m@v0.7.0")
    assert any("m@v0.7.0" in problem and "not at the commit" in problem for problem in registry.verify())


def test_verify_reports_a_stage_branch_whose_history_was_begun_elsewhere(forge):
    registry, _ = forge
    root = registry.root
    tip = git(root, "rev-parse", "stage/production").strip()
    merge = history_put_first(root, tip)
    git(root, "update-ref", "refs/heads/stage/production", merge, tip)
    assert "stage/production: its first-parent history does not start from the main branch's" in registry.verify()


def test_promotion_branches_opened_under_different_ci_pins_still_merge_cleanly(forge, tmp_path):
    registry, bare = forge
    root = registry.root
    run = Invoker(root)
    run("init", "--ci-install", "gitreg-dvc==9.0.1")
    registry.promote("m", "0.2.0", "production", pr=True)
    run("init", "--ci-install", "gitreg-dvc==9.0.2")
    registry.promote("n", "0.1.0", "production", pr=True)
    registry.push()
    git(root, "push", "-q", "origin", "promote/production/m-v0.2.0", "promote/production/n-v0.1.0")
    clone = clone_of(bare, tmp_path / "pinned-merge")
    git(clone, "checkout", "-q", "stage/production")
    for branch in ("n-v0.1.0", "m-v0.2.0"):
        git(clone, "merge", "-q", "--no-ff", "-m", f"Merge {branch}", f"origin/promote/production/{branch}")


def test_a_branch_named_main_cannot_take_the_gates_from_a_registry_on_trunk(tmp_path, new_registry, clock, artifact):
    bare = tmp_path / "trunk.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "trunk", str(bare)], check=True)
    Invoker(tmp_path)("hook", "install", str(bare))
    registry = new_registry(tmp_path / "carol")
    root = registry.root
    git(root, "branch", "-m", "trunk")
    (root / ".gitreg.yaml").write_text(GATED)
    git(root, "commit", "-qam", "Gate production")
    git(root, "remote", "add", "origin", str(bare))
    git(root, "push", "-q", "origin", "trunk")
    git(root, "checkout", "-q", "-b", "main")
    (root / ".gitreg.yaml").write_text("schema: 1\nstages:\n  - name: staging\n  - name: production\n")
    git(root, "commit", "-qam", "harmless")
    assert "main branch is trunk" in push_refused(root, "main")
