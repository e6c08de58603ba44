"""What interrupted or failed writes can leave behind, for ``gitreg verify`` (and ``--repair``).

- registration commits on a local branch that no version tag points at (a version nobody finished:
  a later push would publish it);
- uncommitted changes under ``models/`` (a registration replaces that folder);
- journal entries that could not be settled, ``.dvc/tmp/gitreg-undo-*`` backups, gitreg temp files in
  the DVC cache and private index files in ``.git/``;
- a temp file of ``.git/gitreg/checked-tags`` that a read killed while saving it left;
- Git's lock files on refs (``packed-refs.lock``, ``refs/**.lock``) left by a Git process killed while it
  moved or packed refs, as gitreg's own ``pack-refs`` can be: Git refuses to touch those refs again
  until the lock goes. A lock or temp file is only removed once it is ``STALE_LOCK_SECONDS`` old (no
  ref update or save takes that long; a younger one may belong to a command running now).

``repair`` does only what is safe: it settles the journal, removes temp files and private index
files while no gitreg command runs in this clone, and takes an untagged registration commit off the
tip of a branch when no remote-tracking branch holds it. Backups of the user's files and dirty model
folders are reported, never deleted.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from gitreg.io import checked_tags, dvc_layout, journal
from gitreg.io.git import Git
from gitreg.services import recovery, registration

REGISTRATION_SUBJECT = re.compile(r"^Register \S+ v\S+")
STALE_LOCK_SECONDS = 600


@dataclass
class Repair:
    done: list[str] = field(default_factory=list)
    remaining: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"done": self.done, "remaining": self.remaining}


def problems(git: Git) -> list[str]:
    """Every leftover, one line each (empty when there is none)."""
    found = [f"{branch}: registration commit {oid[:8]} ({subject!r}) has no version tag: "
             "`gitreg verify --repair` drops it when it is the unpublished tip"
             for branch, oid, subject in untagged_registrations(git)]
    found += [f"uncommitted change under models/: {line}: commit or remove it before registering"
              for line in dirty_model_folders(git)]
    found += [f"leftover: {path}" for path in leftover_files(git)]
    found += [f"leftover: {_rel(git.root, lock)} (a Git process was killed while it moved refs; Git refuses to "
              f"change those refs until it goes): {_lock_advice(lock)}" for lock in ref_locks(git)]
    found += [f"leftover: {_rel(git.root, temp)} (a read was killed while it saved the tags it checked): "
              f"{_lock_advice(temp)}" for temp in checked_tags.leftover_temps(git)]
    return found


def ref_locks(git: Git) -> list[Path]:
    dot_git = journal.git_dir(git)
    return sorted([*dot_git.glob("packed-refs.lock"), *(dot_git / "refs").rglob("*.lock")])


def _stale(lock: Path) -> bool:
    try:
        return time.time() - lock.stat().st_mtime >= STALE_LOCK_SECONDS
    except FileNotFoundError:
        return False


def _lock_advice(lock: Path) -> str:
    if _stale(lock):
        return "`gitreg verify --repair` removes it"
    return (f"if no command is running in this clone, `gitreg verify --repair` removes it once it is "
            f"{STALE_LOCK_SECONDS // 60} minutes old (or delete it by hand)")


def untagged_registrations(git: Git, revs: tuple[str, ...] = ("--branches",)) -> list[tuple[str, str, str]]:
    """(branch, commit, subject) of registration commits reachable from local branches (or from
    ``revs``, as ``git log`` takes them) that no annotated tag points at (a broken tag still counts
    as a tag: verify reports it apart)."""
    tagged_commits = git.tagged_commits()
    found = []
    for oid, source, subject, trailer in git.commits_with_source(revs, registration.REGISTRATION_TRAILER):
        if oid not in tagged_commits and (trailer or REGISTRATION_SUBJECT.match(subject)):
            found.append((source.removeprefix("refs/heads/"), oid, subject))
    return found


def dirty_model_folders(git: Git) -> list[str]:
    """``git status`` lines of paths inside a model's folder (``models/<name>/...``)."""
    lines = git.status_lines("models/")
    return [line for line in lines if line[3:].strip('"').count("/") >= 2]


def leftover_files(git: Git) -> list[str]:
    root, live = git.root, journal.running(git)
    where = journal.directory(git)
    found = [_rel(root, path) for path in sorted(where.glob("*.json"))
             if path.name.removesuffix(".json") not in live] if where.is_dir() else []
    tmp = root / ".dvc" / "tmp"
    found += [_rel(root, path) for path in sorted(tmp.glob(f"{registration.UNDO_PREFIX}*"))
              if path.name.removeprefix(registration.UNDO_PREFIX) not in live]
    found += [_rel(root, path) for path in _temp_files(root) if not _owned_by(path.name, live)]
    found += [_rel(root, path) for path in sorted(journal.git_dir(git).glob("gitreg-index-*"))] if not live else []
    return found


def repair(git: Git, recovered: list[str]) -> Repair:
    """Fix what is safe to fix (``recovered``: what opening the registry already settled)."""
    report = Repair(done=list(recovered) + recovery.recover(git))
    if not journal.running(git):
        stale_locks = [path for path in [*ref_locks(git), *checked_tags.leftover_temps(git)] if _stale(path)]
        for path in [*_temp_files(git.root), *journal.git_dir(git).glob("gitreg-index-*"), *stale_locks]:
            path.unlink(missing_ok=True)
            report.done.append(f"removed {_rel(git.root, path)}")
    while droppable := [found for found in untagged_registrations(git) if _droppable(git, *found[:2])]:
        for branch, oid, subject in droppable:  # a dropped tip may uncover another untagged one
            report.done.append(_drop_tip(git, branch, oid, subject))
    report.remaining = problems(git)
    return report


def _droppable(git: Git, branch: str, oid: str) -> bool:
    return git.rev_parse(f"refs/heads/{branch}") == oid and not git.on_a_remote(oid)


def _drop_tip(git: Git, branch: str, oid: str, subject: str) -> str:
    ref, parent = f"refs/heads/{branch}", git.rev_parse(f"{oid}^")
    if git.head()[0] == ref:
        git.switch_worktree(oid, parent)
    git.update_ref(ref, parent, oid, "gitreg: drop an untagged, unpublished registration")
    return f"{branch}: dropped untagged registration commit {oid[:8]} ({subject!r}); {branch} is at {parent[:8]}"


def _temp_files(root: Path) -> list[Path]:
    store = dvc_layout.default_layout(root)
    return sorted(store.glob(f"*/{journal.TEMP_PREFIX}*")) if store is not None and store.is_dir() else []


def _owned_by(name: str, live: list[str]) -> bool:
    return any(name.startswith(f"{journal.TEMP_PREFIX}{entry_id}-") for entry_id in live) or (
        bool(live) and not re.match(rf"^{re.escape(journal.TEMP_PREFIX)}[0-9a-f]{{32}}-", name))


def _rel(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
