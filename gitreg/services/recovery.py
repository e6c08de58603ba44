"""Finishing or undoing a registration that was interrupted (killed), from its journal entry.

The rule is the tag: a registration whose version tag exists, on the commit the branch points at,
is complete and is kept (with ``--push`` it stays local until ``gitreg push`` publishes it, bytes
first). Anything short of that is undone: journaled tags deleted, the branch moved back by
compare-and-swap when it still points at a journaled commit, ``models/<name>/`` and ``dvc.yaml``
put back from the backup (or from the base commit), the index as before. Nothing is pushed here.
Temp files the operation left in the DVC cache and in a directory DVC remote are removed.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from gitreg.domain import dvcyaml, refs
from gitreg.errors import ConflictError, GitregError
from gitreg.io import dvc_layout, journal
from gitreg.io.git import Git
from gitreg.io.journal import Entry
from gitreg.services import registration

log = logging.getLogger("gitreg")


def recover(git: Git) -> list[str]:
    """Settle every interrupted registration of this clone; one line per thing done."""
    notes = []
    for entry in _batches_last(git):
        try:
            notes.append(settle(git, entry))
        except (GitregError, OSError) as exc:  # kept for `gitreg verify` to report; the command goes on
            notes.append(f"could not settle the interrupted registration of {entry.model_dir} "
                         f"(.git/{journal.JOURNAL_DIR}/{entry.id}.json): {exc}")
            continue
        remove_temps(git.root, entry.id)
        journal.discard(git, entry)
    for note in notes:
        log.warning("gitreg: %s", note)
    return notes


def _batches_last(git: Git):
    """A batch's own registrations settle first (a half-made one is undone), then the batch as a whole."""
    for batches in (False, True):
        for entry in journal.interrupted(git):
            if entry.kind.startswith("batch") == batches:
                yield entry


def settle(git: Git, entry: Entry) -> str:
    if entry.kind.startswith("batch"):
        return _settle_batch(git, entry)
    tip = git.rev_parse(entry.head_ref)
    tagged = _own_tags(git, entry)
    on_branch = [tag for tag, commit in tagged.items() if tip and (commit == tip or git.is_ancestor(commit, tip))]
    if on_branch:
        return _finish(git, entry, tagged, on_branch[-1])
    if tip not in entry.commits and tip != entry.base:
        saved = f"; your earlier files are in {entry.backup}" if entry.backup else ""
        raise ConflictError(
            f"{entry.head_ref} moved since{saved}: once you have what you need, "
            f"delete .git/{journal.JOURNAL_DIR}/{entry.id}.json"
        )
    _drop_tags(git, tagged)
    if tip in entry.commits:
        if entry.kind == "publish":
            registration.unregister_files(git, entry.model_dir, tip, entry.base)
        git.update_ref(entry.head_ref, entry.base, tip, "gitreg: undo interrupted register")
    _restore_files(git, entry)
    return (f"undid an interrupted registration of {entry.model_dir}/ ({', '.join(entry.tags)}): "
            "branch, index and files as before; register again")


def _settle_batch(git: Git, entry: Entry) -> str:
    """``register-many``: every version tagged is kept (``gitreg push`` publishes them); short of that, all go."""
    tip = git.rev_parse(entry.head_ref)
    tagged = _own_tags(git, entry)
    if entry.kind == "batch-registered" and len(tagged) == len(entry.tags):
        return (f"kept {', '.join(entry.tags)}, registered by a register-many that was interrupted while pushing: "
                "`gitreg push` publishes them (bytes first)")
    if tip not in entry.commits and tip != entry.base:
        raise ConflictError(f"{entry.head_ref} moved since an interrupted register-many: once you have what you need, "
                            f"delete .git/{journal.JOURNAL_DIR}/{entry.id}.json")
    _drop_tags(git, tagged)
    if tip in entry.commits:
        names = [refs.model_dir(parsed[0]) for tag in entry.tags if (parsed := refs.parse_version_tag(tag))]
        registration.unregister_commits(git, names, tip, entry.base)
        git.update_ref(entry.head_ref, entry.base, tip, "gitreg: undo interrupted register-many")
    return f"undid an interrupted register-many ({', '.join(entry.tags) or 'nothing tagged yet'}): register them again"


def _drop_tags(git: Git, tags) -> None:
    for tag in tags:
        git.delete_ref(f"{refs.TAGS_PREFIX}{tag}", git.ref_oid(f"{refs.TAGS_PREFIX}{tag}"))


def _own_tags(git: Git, entry: Entry) -> dict[str, str]:
    """``{tag: commit}`` of the journaled tags that exist and point at a journaled commit."""
    found = {tag: git.rev_parse(f"{refs.TAGS_PREFIX}{tag}") for tag in entry.tags}
    return {tag: commit for tag, commit in found.items() if commit in entry.commits}


def _finish(git: Git, entry: Entry, tagged: dict[str, str], kept: str) -> str:
    """The registration tagged ``kept`` is complete: the user's index catches up with it."""
    _drop_tags(git, [tag for tag in tagged if tag != kept])
    git.reset_paths([entry.model_dir, dvcyaml.DVC_YAML])
    if entry.backup:
        shutil.rmtree(git.root / entry.backup, ignore_errors=True)
    if entry.kind == "publish":
        return (f"kept {kept}, registered here by a command that was interrupted while pushing it: "
                "`gitreg push` publishes it (bytes first) if it is not on the remote yet")
    return f"finished the interrupted registration of {kept}"


def _restore_files(git: Git, entry: Entry) -> None:
    """A local registration never touches the user's index before its tag exists, so only the files
    need putting back; an interrupted publish was undone with its commit (``switch_worktree``)."""
    if entry.backup:
        registration.restore_workspace(git.root / entry.model_dir, git.root / dvcyaml.DVC_YAML,
                                       git.root / entry.backup, entry.had_model_dir, entry.had_dvc_yaml)


def remove_temps(root: Path, entry_id: str) -> int:
    """Delete the temp files operation ``entry_id`` left in the DVC cache and a directory remote."""
    removed = 0
    pattern = f"*/{journal.TEMP_PREFIX}{entry_id}-*"
    for store in (dvc_layout.default_layout(root), _remote_objects(root)):
        if store is not None and store.is_dir():
            for leftover in store.glob(pattern):
                leftover.unlink(missing_ok=True)
                removed += 1
    shutil.rmtree(registration.backup_dir(root, entry_id), ignore_errors=True)
    return removed


def _remote_objects(root: Path) -> Path | None:
    remote = dvc_layout.directory_remote(root)
    return remote / "files" / "md5" if remote else None
