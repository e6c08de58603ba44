"""``annotate``: labels, notes and links added to a version after registration, as Git notes.

Each version's annotations are one note under ``refs/notes/gitreg`` on the version's *tag object*
(unique per version even when two tags share a commit, and as immutable as the tag; a note on the
commit would also show under deprecation tags and in every ``git log``). The note's format
(:mod:`gitreg.domain.annotation`) merges without conflict, so publishing is: push, and when another
writer pushed first, fetch, ``git notes merge -s cat_sort_uniq``, push again. The server's hook
(:func:`hook_problems`) keeps the record append-only and on version tags.
"""

from __future__ import annotations

import os
import random
import re
import time
from dataclasses import dataclass

from gitreg.domain import annotation
from gitreg.domain.annotation import Annotation
from gitreg.domain.version import ModelVersion
from gitreg.errors import ConflictError, GitregError, InvalidInputError, NotFoundError, RemoteMovedError
from gitreg.io.git import Git, Identity

NOTES_REF = "refs/notes/gitreg"
FETCH_SPEC = "+refs/notes/*:refs/gitreg/origin-notes/*"  # a glob: no error when origin has no notes yet
TRACKING = "refs/gitreg/origin-notes/gitreg"
REMOTE = "origin"
ATTEMPTS = 40
OID_RE = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})\Z")


@dataclass(frozen=True)
class AnnotateResult:
    version: ModelVersion
    added: Annotation
    annotations: list[Annotation]  # every annotation of the version now, oldest first
    pushed: bool = False

    def to_dict(self) -> dict:
        return {"name": self.version.name, "version": self.version.version, "tag": self.version.tag,
                "added": self.added.to_dict(), "annotations": [a.to_dict() for a in self.annotations],
                "pushed": self.pushed}


# ------------------------------------------------------------------------------------ reads
def of_version(git: Git, version: ModelVersion) -> tuple[list[Annotation], list[str]]:
    """The version's annotations, oldest first, and the lines that are not valid ones (one process)."""
    blob = git.note_of(NOTES_REF, version.tag_oid or version.ref)
    return annotation.read(blob) if blob else ([], [])


def labels_by_version(git: Git, versions) -> dict[tuple[str, str], tuple[str, ...]]:
    """``{(name, version): labels added later}``: one ``git notes list`` and, when there are notes on these
    versions, one ``cat-file --batch``, whatever the number of versions."""
    notes = git.notes_list(NOTES_REF)
    if not notes:
        return {}
    by_tag = {v.tag_oid: v for v in versions if v.tag_oid}
    wanted = [(blob, by_tag[obj]) for blob, obj in notes if obj in by_tag]
    blobs = git.read_blobs([blob for blob, _ in wanted])
    found = {}
    for blob, version in wanted:
        try:
            labels = annotation.labels_of(annotation.read(blobs.get(blob) or b"")[0])
        except GitregError:  # an over-limit note is no label; `show` names it
            continue
        if labels:
            found[(version.name, version.version)] = labels
    return found


def verify_problems(git: Git, versions) -> list[str]:
    """``verify``'s findings: notes under ``refs/notes/gitreg`` on objects that are no version's tag, and
    lines that are no valid annotation (made by hand, past no hook). Two processes at most."""
    notes = git.notes_list(NOTES_REF)
    if not notes:
        return []
    tags = {v.tag_oid: v.tag for v in versions if v.tag_oid}
    problems = [f"{NOTES_REF}: a note on object {obj[:12]}, which is not a version's tag"
                for _, obj in notes if obj not in tags]
    blobs = git.read_blobs([blob for blob, obj in notes if obj in tags])
    for blob, obj in notes:
        if obj in tags:
            try:
                bad = annotation.read(blobs.get(blob) or b"")[1]
            except GitregError as exc:
                bad = [str(exc)]
            problems += [f"{NOTES_REF}: an annotation of {tags[obj]} is not valid: {p}" for p in bad]
    return problems


# ------------------------------------------------------------------------------------ annotate
def annotate(git: Git, target: ModelVersion, labels, note: str | None, link: str | None,
             push: bool) -> AnnotateResult:
    """Add one entry to ``target``'s note (checked first: nothing changes on bad input); with ``push``
    publish it, merging with whatever another writer pushed first; a push that fails takes it back."""
    return annotate_many(git, [target], labels, note, link, push)[0]


def annotate_many(git: Git, targets: list[ModelVersion], labels, note: str | None, link: str | None,
                  push: bool) -> list[AnnotateResult]:
    """The same entry on each of ``targets`` (``annotate --match``), published in one push; a push that
    fails takes back all of them."""
    identity = git.identity()
    entry = annotation.make(f"{identity.name} <{identity.email}>", identity.timestamp, labels, note, link)
    for target in targets if push else ():
        _require_published(git, target)
    before = git.ref_oid(NOTES_REF)
    for target in targets:
        _write(git, target, entry, identity)
    if push:
        try:
            _publish(git, identity)
        except BaseException:
            _take_back(git, before)
            raise
    return [AnnotateResult(target, entry, of_version(git, target)[0], push) for target in targets]


def _require_published(git: Git, target: ModelVersion) -> None:
    if REMOTE not in git.remotes():
        raise InvalidInputError(f"this registry has no Git remote named {REMOTE!r}: add one with "
                                f"`git remote add {REMOTE} URL`, or annotate without --push")
    if target.ref not in git.remote_refs(REMOTE, target.ref):
        raise NotFoundError(f"{target.tag} is not on {REMOTE} yet, so an annotation of it cannot be published: "
                            "publish it with `gitreg push`, then annotate")


def _write(git: Git, target: ModelVersion, entry: Annotation, identity: Identity) -> None:
    message = f"Annotate {target.tag}\n\n{entry.to_line()}\n"
    for _ in range(ATTEMPTS):
        try:
            git.write_note(NOTES_REF, target.tag_oid or target.ref,
                           lambda now: annotation.with_entry((now or b"").decode(errors="replace"), entry).encode(),
                           message, identity)
            return
        except ConflictError:  # another annotate in this clone moved the ref: add ours to theirs
            continue
    raise ConflictError(f"{NOTES_REF} kept moving while gitreg wrote to it: run the command again")


def _publish(git: Git, identity: Identity) -> None:
    for attempt in range(ATTEMPTS):
        try:
            git.push(REMOTE, [f"{NOTES_REF}:{NOTES_REF}"])
            return
        except RemoteMovedError:
            bring(git, identity)
            _back_off(attempt)
    raise ConflictError(f"{REMOTE} kept moving: {ATTEMPTS} attempts to publish the annotation were overtaken; "
                        "run the command again")


def _take_back(git: Git, before: str | None) -> None:
    """Unpublished: the notes ref goes back to where it was (what was merged from origin stays fetched)."""
    current = git.ref_oid(NOTES_REF)
    try:
        if before:
            git.update_ref(NOTES_REF, before, current, "gitreg: take back an unpublished annotation")
        elif current:
            git.delete_ref(NOTES_REF, current)
    except GitregError:
        pass  # another writer in this clone moved it since: theirs stays, and so does ours


def _back_off(attempt: int) -> None:
    scale = float(os.environ.get("GITREG_BACKOFF_SCALE") or 1)  # the knob services.sync reads too
    time.sleep(random.uniform(0, scale * min(1.0, 0.02 * 2 ** attempt)))


# ------------------------------------------------------------------------------------ sync
def bring(git: Git, identity: Identity | None = None) -> bool:
    """Fetch origin's annotations and merge them into ours (a union); whether ours changed."""
    git.fetch(REMOTE, [FETCH_SPEC])
    theirs, ours = git.ref_oid(TRACKING), git.ref_oid(NOTES_REF)
    if theirs is None or theirs == ours or (ours and git.is_ancestor(theirs, ours)):
        return False
    git.merge_notes(NOTES_REF, TRACKING, identity or git.identity())
    return True


def outgoing(git: Git, on_remote: dict[str, str]) -> list[str]:
    """The refspec that publishes our annotations with ``gitreg push`` (merged first with origin's when it
    has some we lack, so that the push is a fast-forward); none when there is nothing to publish."""
    ours = git.ref_oid(NOTES_REF)
    theirs = on_remote.get(NOTES_REF)
    if ours is None or theirs == ours:
        return []
    if theirs and not (git.rev_parse(theirs) and git.is_ancestor(theirs, ours)):
        bring(git)
        if git.ref_oid(NOTES_REF) == theirs:
            return []
    return [f"{NOTES_REF}:{NOTES_REF}"]


# ------------------------------------------------------------------------------------ the hook
def hook_problems(git: Git, updates, versions: list[ModelVersion], zero: str) -> list[str]:
    """The server's rule for ``refs/notes/gitreg``: never deleted or rewritten, no annotation ever dropped,
    notes only on version tags (those there and those the same push brings), every new entry valid."""
    problems = []
    for update in updates:
        if update.ref == NOTES_REF:
            problems += [f"{NOTES_REF}: {p}" for p in _judge(git, update, versions, zero)]
    return problems


def _judge(git: Git, update, versions: list[ModelVersion], zero: str) -> list[str]:
    if update.new == zero:
        return ["annotations are never deleted; they are the record of what was said of each version"]
    if update.old != zero and not git.is_ancestor(update.old, update.new):
        return ["annotations are only ever added, and this push rewrites their history (non-fast-forward): "
                "fetch and merge them with `gitreg pull`, then push"]
    old, _ = _notes_at(git, update.old if update.old != zero else None)  # what the server already holds
    new, problems = _notes_at(git, update.new)
    if problems:
        return problems
    tags = {v.tag_oid: v.tag for v in versions if v.tag_oid}
    dropped = sorted(set(old) - set(new))
    problems += [f"drops every annotation of {tags.get(obj, obj[:12])}; annotations are never removed"
                 for obj in dropped]
    changed = [obj for obj, blob in new.items() if old.get(obj) != blob]
    problems += [f"annotates object {obj[:12]}, which is not a version's tag: annotate a version with "
                 "`gitreg annotate NAME@VERSION`" for obj in changed if obj not in tags]
    blobs = git.read_blobs([new[obj] for obj in changed] + [old[obj] for obj in changed if obj in old])
    for obj in (o for o in changed if o in tags):
        problems += [f"{tags[obj]}: {p}" for p in _entry_problems(blobs.get(old.get(obj, "")) or b"",
                                                                  blobs.get(new[obj]) or b"")]
    return problems


def _notes_at(git: Git, commit: str | None) -> tuple[dict[str, str], list[str]]:
    """``{annotated object: note blob}`` of a notes commit, and what in its tree is not a note."""
    if commit is None:
        return {}, []
    notes, problems = {}, []
    for path, (_, kind, oid) in git.tree_files(commit).items():
        obj = path.replace("/", "")
        if kind != "blob" or not OID_RE.match(obj):
            problems.append(f"holds {path!r}, which is not a note on an object")
        else:
            notes[obj] = oid
    return notes, problems


def _entry_problems(old: bytes, new: bytes) -> list[str]:
    if len(new) > annotation.MAX_BLOB:
        return [f"a note of {len(new):,} bytes is over the limit of {annotation.MAX_BLOB:,}"]
    before = set(annotation.lines(old.decode(errors="replace")))
    after = set(annotation.lines(new.decode(errors="replace")))
    problems = ["drops annotations made earlier; annotations are never removed or edited"] if before - after else []
    for line in sorted(after - before):
        try:
            annotation.parse_line(line)
        except InvalidInputError as exc:
            problems.append(f"an added annotation is not valid ({exc}): add annotations with `gitreg annotate`")
    return problems
