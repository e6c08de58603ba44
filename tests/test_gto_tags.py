"""Stages that GTO, `dvc artifacts get --stage` and DVC Studio see: gitreg's stage branches mirrored as GTO's
assignment tags (issue 10, part 1). Real GTO and real DVC read what gitreg wrote."""

from __future__ import annotations

import hashlib
import subprocess
import threading

import pytest

from gitreg import Registry
from gitreg.errors import PushRejectedError
from tests.conftest import git, hooked_scene, snapshot
from tests.test_tree_truth import clone_of, forge, forge_merges  # noqa: F401  (fixture)


def gto_stages(root) -> dict[str, dict[str, str]]:
    """``{model: {stage: version}}`` as `gto show` prints it."""
    from gto.api import show

    stages = {name: {stage: version.lstrip("v") for stage, version in row["stage"].items() if version}
              for name, row in show(str(root), table=False).items()}
    return {name: held for name, held in stages.items() if held}


def gitreg_stages(registry: Registry) -> dict[str, dict[str, str]]:
    return {s.name: dict(s.stages) for s in registry.models() if s.stages}


def gto_version_stages(root, name: str) -> dict[str, list[str]]:
    """``{version: [stages]}`` from `gto show NAME`: a version GTO still holds in a stage it left would show here."""
    from gto.api import show

    return {row["version"].lstrip("v"): sorted(stage["stage"] for stage in row["stages"])
            for row in show(str(root), name, table=False)}


@pytest.fixture
def guarded(tmp_path, new_registry, clock, artifact, prebuilt):
    """m v0.1.0..v0.3.0 and n v0.1.0, registered with --push on a hooked bare remote (bytes in its store)."""
    prebuilt.copy(('hooked', 4), hooked_scene(new_registry, artifact, [('m', 0), ('m', 1), ('m', 2), ('n', 0)]), tmp_path)
    return Registry(tmp_path / "alice"), tmp_path / "origin.git"


def test_gto_and_dvc_see_every_stage_change_made_in_one_second(guarded, tmp_path):
    registry, bare = guarded  # the clock does not move: every change below shares one second
    steps = [lambda: registry.promote("m", "0.1.0", "production", push=True),
             lambda: registry.promote("m", "0.2.0", "production", push=True),
             lambda: registry.promote("n", "0.1.0", "staging", push=True),
             lambda: registry.rollback("m", "production", push=True),
             lambda: registry.promote("m", "0.3.0", "staging", push=True),
             lambda: registry.promote("m", "0.2.0", "staging", push=True),
             lambda: registry.retire("n", "staging", push=True)]
    for step in steps:
        step()
        assert gto_stages(registry.root) == gitreg_stages(registry)
    assert gitreg_stages(registry) == {"m": {"production": "0.1.0", "staging": "0.2.0"}}
    assert gto_version_stages(registry.root, "m") == {"0.1.0": ["production"], "0.2.0": ["staging"], "0.3.0": []}
    assert registry.verify() == []

    from gto.api import history

    events = [(e["event"], e["stage"], e["version"]) for e in history(str(registry.root), "m", table=False)
              if e["event"] in ("assignment", "unassignment")]
    assert events[:5] == [("assignment", "staging", "v0.2.0"), ("unassignment", "staging", "v0.3.0"),
                          ("assignment", "staging", "v0.3.0"), ("assignment", "production", "v0.1.0"),
                          ("unassignment", "production", "v0.2.0")]  # newest first, in the order they happened

    from dvc.repo.artifacts import Artifacts

    for stage, version in (("production", "0.1.0"), ("staging", "0.2.0")):
        out = tmp_path / f"{stage}.bin"
        Artifacts.get(str(bare), "m", stage=stage, out=str(out))  # from the shared remote, as a user would
        assert hashlib.md5(out.read_bytes()).hexdigest() == registry.resolve(f"m@{version}").card.artifact.md5


def test_a_second_sync_changes_nothing_and_a_clone_agrees(guarded, tmp_path, run):
    registry, bare = guarded
    registry.promote("m", "0.2.0", "production", push=True)
    before = snapshot(registry.root)
    assert registry.sync_tags().tags == ()
    assert registry.sync_tags(push=True).tags == ()
    assert snapshot(registry.root) == before
    clone = clone_of(bare, tmp_path / "bob")
    assert Registry(clone).sync_tags(push=True).tags == ()  # another clone mirrors the same way: nothing to add
    assert gto_stages(clone) == {"m": {"production": "0.2.0"}}


@pytest.mark.parametrize("how", ["merge", "squash", "rebase"])
def test_a_forge_merge_is_mirrored_by_sync_tags(forge, tmp_path, how):  # noqa: F811
    registry, bare = forge
    registry.promote("m", "0.2.0", "production", pr=True)
    forge_merges(bare, tmp_path, "promote/production/m-v0.2.0", how)
    registry.pull()
    assert gto_stages(registry.root) == {"m": {"production": "0.1.0"}}  # the forge made no tags
    assert registry.verify() == ["GTO's tags put v0.1.0 of m in production, the stage branch holds v0.2.0: "
                                 "run `gitreg sync-tags --push`"]
    made = registry.sync_tags(push=True)
    assert [t.tag for t in made.tags] == ["m#production!#2", "m#production#3"]
    assert sorted(made.pushed) == ["m#production!#2", "m#production#3"]
    clone = clone_of(bare, tmp_path / "reader")
    assert gto_stages(clone) == {"m": {"production": "0.2.0"}} == gitreg_stages(Registry(clone))
    assert Registry(clone).verify() == []
    assert registry.sync_tags(push=True).tags == ()


def test_a_stage_tag_made_by_hand_with_gto_is_reported_refused_and_corrected(guarded, tmp_path):
    registry, bare = guarded
    registry.promote("m", "0.2.0", "production", push=True)
    from gto.api import assign

    assign(str(registry.root), "m", "production", version="v0.3.0", push=False)  # GTO's own command
    assert registry.verify() == ["GTO's tags put v0.2.0, v0.3.0 of m in production, the stage branch holds "
                                 "v0.2.0: run `gitreg sync-tags --push`"]
    with pytest.raises(PushRejectedError, match="pushed stage tags must say what the stage branch holds"):
        registry.push()
    corrected = registry.sync_tags()
    assert [t.tag for t in corrected.tags] == ["m#production!#3"]
    assert registry.verify() == []
    registry.push()  # the hand-made tag and its correction agree with the branch together
    assert gto_stages(clone_of(bare, tmp_path / "reader")) == {"m": {"production": "0.2.0"}}


def rejected(root, *args) -> str:
    proc = subprocess.run(["git", "push", "origin", *args], cwd=root, capture_output=True, text=True)
    assert proc.returncode != 0, f"push {args} was accepted"
    return proc.stderr


def test_the_hook_refuses_stage_tags_that_are_not_gitregs_or_rewrite_history(guarded):
    registry, _ = guarded
    root = registry.root
    registry.promote("m", "0.1.0", "production", push=True)
    v2 = git(root, "rev-parse", "m@v0.2.0^{commit}").strip()
    git(root, "tag", "m#production#7", v2)
    assert "a lightweight stage tag" in rejected(root, "refs/tags/m#production#7")
    git(root, "tag", "-a", "-m", "x", "m#production#8", "HEAD")
    assert "not at a version of m" in rejected(root, "refs/tags/m#production#8")
    git(root, "tag", "-a", "-m", "x", "m#canary#9", v2)
    assert "canary is not a stage of this registry" in rejected(root, "refs/tags/m#canary#9")
    git(root, "tag", "-a", "-m", "x", "m#production#10", v2)
    assert "pushed stage tags must say what the stage branch holds" in rejected(root, "refs/tags/m#production#10")
    assert "never moved or deleted" in rejected(root, ":refs/tags/m#production#1")
    git(root, "tag", "-f", "-a", "-m", "moved", "m#production#1", v2)
    assert "never moved or deleted" in rejected(root, "--force", "refs/tags/m#production#1")


def test_two_writers_changing_stages_at_once_both_land_with_their_tags(guarded, tmp_path):
    _, bare = guarded
    writers = [Registry(clone_of(bare, tmp_path / name)) for name in ("alice2", "bob")]
    for writer in writers:
        git(writer.root, "config", "user.name", writer.root.name)
    barrier = threading.Barrier(2)
    errors = []

    def promote(writer, name):
        barrier.wait()
        try:
            writer.promote(name, "0.1.0", "production", push=True)
        except Exception as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=promote, args=(w, n)) for w, n in zip(writers, ("m", "n"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    reader = Registry(clone_of(bare, tmp_path / "reader"))
    assert gto_stages(reader.root) == {"m": {"production": "0.1.0"}, "n": {"production": "0.1.0"}}
    assert reader.verify() == []
    for writer in writers:  # the loser's first tags were taken back; nothing is left only here
        local = set(git(writer.root, "tag", "-l", "*#*").split())
        assert local and local <= set(git(bare, "tag", "-l", "*#*").split())


def test_a_promotion_killed_before_its_push_publishes_its_tags_on_the_rerun(guarded, tmp_path):
    import os
    import sys

    _, bare = guarded
    clone = clone_of(bare, tmp_path / "op")
    killed = subprocess.run([sys.executable, "-m", "gitreg", "promote", "m", "0.1.0", "production", "--push"],
                            cwd=clone, env={**os.environ, "GITREG_FAULT": "stage-change:pushing"})
    assert killed.returncode == -9
    again = subprocess.run([sys.executable, "-m", "gitreg", "promote", "m", "0.1.0", "production", "--push"],
                           cwd=clone, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert git(bare, "tag", "-l", "*#*").split() == ["m#production#1"]
    assert Registry(clone_of(bare, tmp_path / "reader")).verify() == []


@pytest.mark.parametrize("args, code, message", [
    (["sync-tags", "--stage", "canary"], 4, "unknown stage"),
    (["sync-tags", "no/such"], 4, "invalid model name"),
    (["sync-tags", "--push"], 4, "no Git remote named 'origin'"),
])
def test_bad_sync_tags_input_changes_nothing(registry, run, args, code, message):
    before = snapshot(registry.root)
    result = run(*args, expect=code)
    assert message in result.stderr
    assert snapshot(registry.root) == before


def test_the_workflow_mirrors_a_forge_merge_in_a_read_only_job_and_pushes_with_git_alone(forge, tmp_path):  # noqa: F811
    """The verify workflow's two jobs, run here: `sync-tags --bundle` in a clone that cannot push, then the
    push job's own script (git only) against the shared repository."""
    import json
    import os

    import yaml

    from gitreg.services import ci

    registry, bare = forge
    registry.promote("m", "0.2.0", "production", pr=True)
    forge_merges(bare, tmp_path, "promote/production/m-v0.2.0", "merge")
    runner = clone_of(bare, tmp_path / "runner")
    git(runner, "checkout", "-q", "stage/production")
    made = Registry(runner).sync_tags(bundle=tmp_path / "runner" / "gto-tags.bundle")
    assert [t.tag for t in made.tags] == ["m#production!#2", "m#production#3"]
    workflow = yaml.safe_load(ci.workflow_files("gitreg-dvc==0.1.0")[f"{ci.WORKFLOW_DIR}/gitreg-verify.yml"])
    script = workflow["jobs"]["push-tags"]["steps"][0]["run"]
    subprocess.run(["git", "config", "uploadpack.allowAnySHA1InWant", "true"], cwd=bare, check=True)  # as GitHub
    job = tmp_path / "push-job"
    job.mkdir()
    bundle = (tmp_path / "runner" / "gto-tags.bundle").read_bytes()
    import base64

    env = {**os.environ, "BUNDLE": base64.b64encode(bundle).decode(), "GH_TOKEN": "unused-here",
           "COMMITS": " ".join(sorted({t.target for t in made.tags})), "REPOSITORY_URL": f"file://{bare}"}
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=job, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    reader = Registry(clone_of(bare, tmp_path / "reader"))
    assert gto_stages(reader.root) == {"m": {"production": "0.2.0"}}
    assert reader.verify() == []
    assert json.loads(json.dumps(made.to_dict()))["tags"][1]["tag"] == "m#production#3"
