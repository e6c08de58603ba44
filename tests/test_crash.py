"""kill -9 at every step of ``register`` (and ``register --push``): the next gitreg command finishes
the registration (its tag was made) or undoes it (no tag yet), from the journal under .git/gitreg/.

Each case runs ``python -m gitreg register`` in a subprocess with GITREG_FAULT naming the step, so
the process really dies there (SIGKILL: no ``finally``, no ``atexit``), then checks what is left.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.io.git import Git
from gitreg.services import leftovers
from tests.conftest import Invoker, git, snapshot

UNDONE, KEPT, PUBLISHED = "undone", "kept locally", "published"
KILLS = [  # (step, --push, what the next command makes of it)
    ("cache:copy", False, UNDONE),
    ("register:stored", False, UNDONE),
    ("register:card-written", False, UNDONE),
    ("register:committed", False, UNDONE),
    ("register:branch-moved", False, UNDONE),
    ("register:tagged", False, KEPT),
    ("cache:copy", True, UNDONE),
    ("register:committed", True, UNDONE),
    ("register:branch-moved", True, UNDONE),
    ("register:tagged", True, KEPT),
    ("remote:copy", True, KEPT),
    ("register:bytes-pushed", True, KEPT),
    ("register:refs-pushed", True, PUBLISHED),
]


@pytest.fixture
def busy_clone(tmp_path, new_registry, clock):
    """A clone of a shared registry with m@v0.1.0 published, and a user in the middle of their work."""
    bare, store = tmp_path / "origin.git", tmp_path / "dvc-store"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    registry = new_registry(tmp_path / "alice", remote=store)
    git(registry.root, "remote", "add", "origin", str(bare))
    first = tmp_path / "v1.bin"
    first.write_bytes(b"weights-v1" * 100)
    registry.register("m", first, push=True)
    clock.tick()
    root = registry.root
    (root / "models" / "NOTES.md").write_text("untracked, the user's\n")
    (root / "dvc.yaml").write_text("# local comment\n" + (root / "dvc.yaml").read_text())
    (root / "README.md").write_text("staged, not committed\n")
    git(root, "add", "README.md")
    artifact = tmp_path / "v2.bin"
    artifact.write_bytes(b"weights-v2" * 300)
    return root, bare, store, artifact


def _killed_register(root: Path, artifact: Path, step: str, push: bool) -> None:
    env = {**os.environ, "GITREG_FAULT": step}
    args = [sys.executable, "-m", "gitreg", "register", "m", str(artifact), "--bump", "minor"]
    proc = subprocess.run(args + (["--push"] if push else []), cwd=root, env=env, capture_output=True, text=True)
    assert proc.returncode == -9, f"{step}: exited {proc.returncode}, not killed:\n{proc.stderr}"


def _temp_files(root: Path, store: Path) -> list[Path]:
    cache = root / ".dvc" / "cache"
    return [*cache.rglob(".gitreg-*"), *store.rglob(".gitreg-*"), *(root / ".dvc" / "tmp").glob("gitreg-undo-*"),
            *(root / ".git" / "gitreg" / "journal").glob("*")]


def _store_has(store: Path, md5: str) -> bool:
    return (store / "files" / "md5" / md5[:2] / md5[2:]).is_file()


@pytest.mark.parametrize("step, push, outcome", KILLS, ids=[f"{s}{'+push' if p else ''}" for s, p, _ in KILLS])
def test_a_register_killed_at_any_step_is_finished_or_undone_by_the_next_command(busy_clone, step, push, outcome):
    root, bare, store, artifact = busy_clone
    before, remote_before = snapshot(root), git(bare, "for-each-ref")
    _killed_register(root, artifact, step, push)
    assert list((root / ".git" / "gitreg" / "journal").glob("*.json")), "the kill left no journal to recover from"

    verify = Invoker(root)("verify")  # the first command after the crash settles it, then checks
    assert f"Registry OK: {'1 version,' if outcome == UNDONE else '2 versions'}" in verify.output
    assert ("undid an interrupted registration" if outcome == UNDONE else "m@v0.2.0") in verify.stderr
    assert verify.stdout.startswith("repaired: ")  # verify says what opening the registry settled

    after = snapshot(root)
    assert after["status"] == before["status"]  # the user's untracked, staged and unstaged work as it was
    assert _temp_files(root, store) == []
    assert leftovers.untagged_registrations(Git(root)) == []
    if outcome == UNDONE:
        assert after == before
        assert git(bare, "for-each-ref") == remote_before
    else:
        assert git(root, "rev-parse", "HEAD") == git(root, "rev-parse", "m@v0.2.0^{commit}")
        assert "# local comment" in (root / "dvc.yaml").read_text()
    registry = Registry(root)
    assert git(bare, "tag").split() == ["m@v0.1.0", "m@v0.2.0"][:2 if outcome == PUBLISHED else 1]
    if outcome == KEPT and not push:  # published by the next push, bytes first
        registry.push()
        assert git(bare, "tag").split() == ["m@v0.1.0", "m@v0.2.0"]

    again = registry.register("m", artifact, bump="minor", push=push)  # the retry succeeds
    assert again.version == ("0.2.0" if outcome == UNDONE else "0.3.0")
    if push:  # a kept registration travels with the next register --push, its bytes and tag too
        assert git(bare, "tag").split() == ["m@v0.1.0", "m@v0.2.0", "m@v0.3.0"][:3 if outcome != UNDONE else 2]
    for tag in git(bare, "tag").split():  # nothing on the remote without its bytes
        assert _store_has(store, registry.resolve(tag).card.artifact.md5), tag
    assert leftovers.untagged_registrations(Git(bare)) == []  # no version on the remote that nobody finished
    assert registry.get(f"m@{again.version}", root.parent / "back.bin").read_bytes() == artifact.read_bytes()
    assert registry.verify() == []


def test_verify_repair_drops_an_untagged_registration_commit_and_temp_files(busy_clone):
    """What older versions of gitreg (or a hand-made commit) can leave: a tagless "Register" commit at the
    tip of main, nothing of it on the remote, and a temp file in the DVC cache."""
    root, bare, store, artifact = busy_clone
    registry, run = Registry(root), Invoker(root)
    version = registry.register("m", artifact, bump="minor")
    git(root, "tag", "-d", "m@v0.2.0")
    stray = root / ".dvc" / "cache" / "files" / "md5" / "00" / ".gitreg-stray"
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"half a model")
    (root / "models" / "m" / "scratch.txt").write_text("the user's\n")

    broken = run("verify", expect=13)
    assert f"registration commit {version.commit[:8]} ('Register m v0.2.0') has no version tag" in broken.output
    assert "uncommitted change under models/: ?? models/m/scratch.txt" in broken.output
    assert "leftover: .dvc/cache/files/md5/00/.gitreg-stray" in broken.output

    repaired = run("verify", "--repair", expect=13)  # the user's file is theirs to decide on
    assert f"repaired: main: dropped untagged registration commit {version.commit[:8]}" in repaired.output
    assert "repaired: removed .dvc/cache/files/md5/00/.gitreg-stray" in repaired.output
    assert "has no version tag" not in repaired.output and "scratch.txt" in repaired.output
    assert git(root, "rev-parse", "HEAD") == git(root, "rev-parse", "m@v0.1.0^{commit}")
    assert not stray.exists()
    (root / "models" / "m" / "scratch.txt").unlink()
    assert "Registry OK" in run("verify").output
    assert git(root, "status", "--porcelain", "--", "models/m", "dvc.yaml") == " M dvc.yaml\n"


def test_a_command_running_in_the_same_clone_is_not_recovered_under_its_feet(busy_clone):
    """An entry whose process is alive (its lock held) is left alone by the next command."""
    from gitreg.io import journal

    root, _, _, _ = busy_clone
    head = git(root, "rev-parse", "HEAD")
    live = journal.Journal.begin(Git(root), "register", head_ref="refs/heads/main", base=head, model_dir="models/m")
    try:
        child = subprocess.run([sys.executable, "-m", "gitreg", "verify"], cwd=root, capture_output=True, text=True)
        assert "interrupted" not in child.stderr
        assert (root / ".git" / "gitreg" / "journal" / f"{live.entry.id}.json").exists()
    finally:
        live.close()
    assert list((root / ".git" / "gitreg" / "journal").iterdir()) == []


def test_a_register_killed_while_rebuilding_on_a_remote_that_moved_is_undone(busy_clone, tmp_path):
    """Another writer publishes while this push is under way (a pre-push hook makes it happen at that
    moment); the registration is rebuilt on their tip, and the process is killed before tagging it."""
    root, bare, store, artifact = busy_clone
    other = tmp_path / "bob"
    subprocess.run(["git", "clone", "-q", str(bare), str(other)], check=True)
    bobs = tmp_path / "bob.bin"
    bobs.write_bytes(b"bob's weights" * 50)
    hook = root / ".git" / "hooks" / "pre-push"
    bob_registers = subprocess.list2cmdline([sys.executable, "-m", "gitreg", "-C", str(other), "register", "m",
                                             str(bobs), "--bump", "minor", "--push"])
    hook.write_text(f"#!/bin/sh\n[ -e {tmp_path}/raced ] && exit 0\ntouch {tmp_path}/raced\n"
                    f"env -u GITREG_FAULT {bob_registers} >/dev/null\n")
    hook.chmod(0o755)
    before, head = snapshot(root), git(root, "rev-parse", "HEAD")
    _killed_register(root, artifact, "register:rebuilt", push=True)
    assert (tmp_path / "raced").exists()
    bobs_commit = git(bare, "rev-parse", "m@v0.2.0^{commit}")
    assert git(root, "rev-parse", "HEAD") != head  # the rebuilt commit, tagless, on main

    verify = Invoker(root)("verify")
    assert "undid an interrupted registration" in verify.stderr
    after = snapshot(root)
    assert (after["status"], after["files"], after["index"]) == (before["status"], before["files"], before["index"])
    assert git(root, "rev-parse", "HEAD") == head
    assert leftovers.untagged_registrations(Git(root)) == [] and _temp_files(root, store) == []
    assert git(bare, "tag").split() == ["m@v0.1.0", "m@v0.2.0"]
    assert git(bare, "rev-parse", "main") == bobs_commit
    again = Registry(root).register("m", artifact, bump="minor", push=True)
    assert again.version == "0.3.0" and git(bare, "rev-parse", "main^") == bobs_commit


def test_a_branch_that_moved_after_the_crash_is_not_rewound_and_the_backup_is_kept(busy_clone):
    """The user committed on top of the half-made registration before running gitreg again: recovery
    does not move their branch or drop the backup of their files; verify says what remains."""
    root, _, _, artifact = busy_clone
    _killed_register(root, artifact, "register:branch-moved", push=False)
    git(root, "commit", "-q", "--allow-empty", "-m", "the user's own commit")
    head = git(root, "rev-parse", "HEAD")
    verify = Invoker(root)("verify", expect=13)
    assert "could not settle the interrupted registration of models/m" in verify.stderr
    assert "refs/heads/main moved since; your earlier files are in .dvc/tmp/gitreg-undo-" in verify.stderr
    assert "('Register m v0.2.0') has no version tag" in verify.output
    assert "leftover: .git/gitreg/journal/" in verify.output and "leftover: .dvc/tmp/gitreg-undo-" in verify.output
    assert git(root, "rev-parse", "HEAD") == head
    assert list((root / ".dvc" / "tmp").glob("gitreg-undo-*/model/card.yaml"))


def test_a_ref_lock_left_by_a_killed_pack_refs_is_named_and_removed_once_stale(registry, artifact, run):
    """What kill -9 during the `git pack-refs` gitreg runs every 64 tags leaves: packed-refs.lock. Git then
    refuses to delete a packed tag; verify names the lock, and --repair removes it once no ref update could
    still own it (a younger lock may be a Git command running now: it is named, not removed)."""
    import os
    import time

    from gitreg.services.leftovers import STALE_LOCK_SECONDS

    registry.register("m", artifact)
    git(registry.root, "pack-refs", "--all")
    lock = registry.root / ".git" / "packed-refs.lock"
    lock.write_bytes((registry.root / ".git" / "packed-refs").read_bytes()[:40])  # half written
    assert subprocess.run(["git", "tag", "-d", "m@v0.1.0"], cwd=registry.root, capture_output=True).returncode != 0

    fresh = run("verify", expect=13)
    assert "leftover: .git/packed-refs.lock" in fresh.output and "once it is 10 minutes old" in fresh.output
    run("verify", "--repair", expect=13)
    assert lock.exists()  # too young to be sure nobody holds it

    old = time.time() - STALE_LOCK_SECONDS - 1
    os.utime(lock, (old, old))
    repaired = run("verify", "--repair")
    assert "repaired: removed .git/packed-refs.lock" in repaired.output and not lock.exists()
    assert registry.verify() == []
    git(registry.root, "tag", "-d", "m@v0.1.0")  # Git moves the packed ref again


def test_a_checked_tags_temp_left_by_a_killed_read_is_named_and_removed_once_stale(registry, artifact, run):
    import os
    import time

    from gitreg.io import checked_tags
    from gitreg.services.leftovers import STALE_LOCK_SECONDS

    registry.register("m", artifact)
    registry.versions()
    saved = registry.root / ".git" / checked_tags.FILE
    assert saved.stat().st_mode & 0o777 == 0o644
    temp = saved.parent / f"{checked_tags.TEMP_PREFIX}k9"
    temp.write_text(checked_tags.HEADER)  # what kill -9 between write and rename leaves
    assert "leftover: .git/gitreg/.checked-tags-k9" in run("verify", expect=13).output
    old = time.time() - STALE_LOCK_SECONDS - 1
    os.utime(temp, (old, old))
    assert "repaired: removed .git/gitreg/.checked-tags-k9" in run("verify", "--repair").output
    assert not temp.exists() and saved.exists()

