"""Small refusals from the adversarial sweep: one line, a distinct exit code, nothing changed."""

from __future__ import annotations

import pytest

from tests.conftest import git, snapshot


@pytest.mark.parametrize("branch", ["../../x", "stage/a b", "stage/x.lock", "promote/production/m-v1.0.0",
                                    "stage//x", "stage/.hidden"])
def test_a_stage_branch_that_is_no_ref_name_is_refused_when_the_config_is_read(registry, artifact, run, branch):
    root = registry.root
    registry.register("m", artifact)
    (root / ".gitreg.yaml").write_text(f"schema: 1\nstages:\n  - name: production\n    branch: '{branch}'\n")
    git(root, "commit", "-qam", "odd branch")
    before = snapshot(root)
    result = run("promote", "m", "0.1.0", "production", expect=4)
    assert "cannot use the branch" in result.output and snapshot(root) == before


@pytest.mark.parametrize("metrics, labels", [({"a\nb": 1.0}, []), ({"": 1.0}, []), ({"ok": 1.0}, ["x\nGitreg-Model: n"])])
def test_names_and_labels_are_one_line(registry, artifact, metrics, labels):
    before = snapshot(registry.root)
    with pytest.raises(Exception, match="on one line"):
        registry.register("m", artifact, metrics=metrics, labels=labels)
    assert snapshot(registry.root) == before


def test_get_refuses_a_dangling_symlink_as_output(registry, artifact, tmp_path, run):
    registry.register("m", artifact)
    outside = tmp_path / "outside.bin"
    link = tmp_path / "dangling"
    link.symlink_to(outside)
    assert "already exists" in run("get", "m@0.1.0", "-o", str(link), expect=6).output
    assert not outside.exists()


def test_the_hook_runs_from_a_python_whose_path_has_a_space(tmp_path, new_registry, run):
    import subprocess
    import sys

    spaced = tmp_path / "my venv"
    spaced.symlink_to(__import__("pathlib").Path(sys.prefix))
    bare = tmp_path / "srv.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    subprocess.run([str(spaced / "bin" / "python"), "-m", "gitreg", "hook", "install", str(bare)], check=True,
                   capture_output=True)
    registry = new_registry(tmp_path / "alice")
    git(registry.root, "remote", "add", "origin", str(bare))
    git(registry.root, "push", "-q", "origin", "main")  # the hook ran and let it through
