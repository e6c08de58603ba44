"""Loose tag refs are packed once there are enough of them (narrow tag reads scan loose ones)."""

from __future__ import annotations

import subprocess

from gitreg.io.git import Git


def _tag(root, name):
    subprocess.run(["git", "tag", "-a", name, "-m", name], cwd=root, check=True, capture_output=True)


def test_tags_are_packed_past_the_threshold_and_not_before(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", "start"], cwd=tmp_path, check=True)
    git = Git(tmp_path)
    for i in range(3):
        _tag(tmp_path, f"m@v0.{i}.0")
    assert not git.pack_tags_when_loose(threshold=3)
    assert len(list((tmp_path / ".git/refs/tags").iterdir())) == 3
    _tag(tmp_path, "m@v0.3.0")
    assert git.pack_tags_when_loose(threshold=3)
    assert not list((tmp_path / ".git/refs/tags").iterdir())
    assert (tmp_path / ".git/packed-refs").read_text().count("refs/tags/m@v") == 4
    assert [r.name for r in git.version_tags()] == ["m@v0.0.0", "m@v0.1.0", "m@v0.2.0", "m@v0.3.0"]
