"""Sharing a registry: pull, push, and publishing a change with ``--push``.

Bytes before refs: artifacts reach the DVC remote before any ref that names them is pushed, and
refs go in one ``git push --atomic``. When the push is rejected because someone else pushed first,
the local change is undone, the remote's state fetched, and the change made again on top of it:
nothing is forced and nothing is lost.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from gitreg.domain import refs
from gitreg.domain.config import Config, Stage
from gitreg.domain.stage_view import group_by_model
from gitreg.domain.trailers import StageChange
from gitreg.domain.version import ModelVersion
from gitreg.errors import (
    ArtifactError,
    ConflictError,
    IntegrityError,
    InvalidInputError,
    RemoteMovedError,
    TransferError,
)
from gitreg.io import artifact_store, dvc_layout, faults, journal, progress
from gitreg.io.git import Git, TreeEdit
from gitreg.services import (
    aliases,
    annotations,
    deprecation,
    gto_tags,
    history,
    index,
    leftovers,
    registration,
    stage_plan,
)
from gitreg.services.registration import RegisterPlan
from gitreg.services.snapshot import Snapshot
from gitreg.services.stage_plan import StagePlan, StageResult

REMOTE = "origin"
ATTEMPTS = 60
TRACKING = "refs/remotes/origin/"


@dataclass
class SyncReport:
    refs: list[str] = field(default_factory=list)
    artifacts: int = 0

    def to_dict(self) -> dict:
        return {"refs": self.refs, "artifacts": self.artifacts}


def require_remote(git: Git) -> None:
    if REMOTE not in git.remotes():
        raise InvalidInputError(
            f"this registry has no Git remote named {REMOTE!r}: add one with `git remote add {REMOTE} URL`"
        )


# ---------------------------------------------------------------------------------------- pull
def fetch_registry(git: Git) -> tuple[list[str], list[str]]:
    """Every version tag (tags never move, so none is overwritten), every branch and every alias, as tracking
    refs; local aliases follow origin's (see :func:`aliases.follow`, whose (followed, diverged) it returns)."""
    git.fetch(REMOTE, ["refs/tags/*:refs/tags/*", f"+refs/heads/*:{TRACKING}*", aliases.FETCH_REFSPEC])
    git.pack_tags_when_loose()  # a fetch writes each new tag as a loose file
    return aliases.follow(git)


def follow_stage_branches(git: Git, config: Config, report: SyncReport | None = None) -> None:
    """Fast-forward each local stage branch to the remote's; keep local ones that are ahead."""
    for stage in config.stages:
        remote_tip = git.rev_parse(f"{TRACKING}{stage.branch}")
        local_tip = git.rev_parse(stage.ref)
        if not remote_tip or remote_tip == local_tip:
            continue
        if local_tip and git.is_ancestor(remote_tip, local_tip):
            continue  # local stage changes not pushed yet
        if local_tip and not git.is_ancestor(local_tip, remote_tip):
            raise ConflictError(
                f"{stage.branch} has diverged from {REMOTE}: a stage branch is never rewritten; "
                f"inspect with `git log {stage.branch}...{TRACKING}{stage.branch}`"
            )
        git.update_ref(stage.ref, remote_tip, local_tip, f"gitreg: pull {stage.branch}")
        if report is not None:
            report.refs.append(stage.branch)


def follow_current_branch(git: Git) -> str | None:
    """Fast-forward the checked-out branch (and the working tree) to the remote's; None when current."""
    ref, head = git.head()
    if not ref or not head:
        return None
    remote_tip = git.rev_parse(f"{TRACKING}{ref.removeprefix('refs/heads/')}")
    if not remote_tip or remote_tip == head or git.is_ancestor(remote_tip, head):
        return None
    if not git.is_ancestor(head, remote_tip):
        raise ConflictError(
            f"{ref.removeprefix('refs/heads/')} has diverged from {REMOTE}: run `git pull --rebase`, then try again"
        )
    git.fast_forward_worktree(head, remote_tip, ref)
    return ref.removeprefix("refs/heads/")


def pull(git: Git, config: Config, artifacts: bool) -> SyncReport:
    require_remote(git)
    report = SyncReport()
    followed, diverged = fetch_registry(git)
    if diverged:
        raise aliases.diverged_error(diverged[0])
    report.refs += [aliases.label(ref) for ref in followed]
    branch = follow_current_branch(git)
    if branch:
        report.refs.append(branch)
    if annotations.bring(git):
        report.refs.append(annotations.NOTES_REF)
    follow_stage_branches(git, config, report)
    if artifacts:
        views = Snapshot.read(git, config=config).stage_views
        md5s = sorted({v.card.artifact.md5 for view in views.values() for v in view.entries.values()})
        if md5s:
            artifact_store.load().fetch(git.root, md5s)
        report.artifacts = len(md5s)
    return report


# ---------------------------------------------------------------------------------------- push
def push(git: Git, config: Config, all_artifacts: bool = False) -> SyncReport:
    """Artifacts of everything about to be published (with ``all_artifacts``: of every version), then
    branch, new tags and stage branches atomically. The remote is asked, not assumed, to hold them."""
    require_remote(git)
    on_remote = git.remote_refs(REMOTE, "refs/")
    ref, _ = git.head()
    branches = [s.ref for s in config.stages if git.rev_parse(s.ref)] + ([ref] if ref else [])
    _refuse_untagged_registrations(git, branches, on_remote)
    snapshot = Snapshot.read(git, config=config)
    versions = list(snapshot.versions)
    new_versions = [v for v in versions if v.ref not in on_remote]
    staged = [v for view in snapshot.stage_views.values() for v in view.entries.values()]
    report = SyncReport()
    report.artifacts = push_artifacts(git, versions if all_artifacts else new_versions + staged)
    refspecs = [f"{v.ref}:{v.ref}" for v in new_versions] + [f"{branch}:{branch}" for branch in branches]
    refspecs += [f"{ref}:{ref}" for tag in gto_tags.read(git) if (ref := f"refs/tags/{tag.tag}") not in on_remote]
    refspecs += deprecation.unpublished(snapshot.deprecations, on_remote)
    refspecs += annotations.outgoing(git, on_remote)
    refspecs += aliases.unpublished(git, on_remote)
    changed = git.push(REMOTE, refspecs)
    for stage in config.stages:
        _PushMarker(git, stage).clear()  # what an interrupted --push left is published now, by this push
    report.refs = [aliases.label(ref).removeprefix("refs/tags/").removeprefix("refs/heads/") for ref in changed]
    return report


def _refuse_untagged_registrations(git: Git, branches: list[str], on_remote: dict[str, str]) -> None:
    """A registration commit no version tag points at is a version nobody finished: pushing the
    branch would publish it for good (``verify --repair`` drops it only while it is unpublished)."""
    known = [oid for ref, oid in on_remote.items() if ref.startswith("refs/heads/") and git.rev_parse(oid)]
    found = leftovers.untagged_registrations(git, (*branches, "--not", f"--remotes={REMOTE}", *known))
    if found:
        branch, oid, subject = found[0]
        raise IntegrityError(
            f"{branch} carries registration commit {oid[:8]} ({subject!r}) that no version tag points at, "
            f"so pushing would publish a version nobody finished; nothing was pushed: run `gitreg verify --repair`"
        )


def push_artifacts(git: Git, versions: list[ModelVersion]) -> int:
    """Make sure the DVC remote holds the versions' bytes, uploading what it lacks; how many objects
    were uploaded. Bytes before refs: any that the remote still cannot serve raise, naming the versions."""
    unique = {artifact.md5: artifact.size for v in versions for artifact in (v.card.artifact,)}
    md5s = sorted(unique)
    if not md5s:
        return 0
    with progress.step(f"Uploading {len(md5s)} artifact(s) to the DVC remote", sum(unique.values())):
        result = dvc_layout.push_to_directory_remote(git.root, md5s)
        if result is None:
            result = artifact_store.load().push(git.root, md5s)
    _refuse_unserved(versions, result)
    return result.uploaded


def _refuse_unserved(versions: list[ModelVersion], result: dvc_layout.Transfer) -> None:
    def tags(md5s) -> str:
        return ", ".join(sorted({v.tag for v in versions if v.card.artifact.md5 in md5s}))

    if result.lost:
        raise ArtifactError(
            f"the bytes of {tags(result.lost)} are neither in the local DVC cache nor in the remote, so refs "
            "naming them cannot be pushed: fetch them (`gitreg pull --artifacts`) from where they are, then push"
        )
    if result.failed:
        md5, why = next(iter(sorted(result.failed.items())))
        raise TransferError(
            f"the DVC remote does not hold the bytes of {tags(result.failed)} ({md5[:12]}: {why}); no ref was "
            "pushed: fix the remote (URL, bucket, permissions, credentials; `dvc remote list`) and push again"
        )


# ------------------------------------------------------------------------ publishing one change
def publish_registration(git: Git, plan: Callable[[], RegisterPlan],
                         register: Callable[[RegisterPlan], ModelVersion]) -> ModelVersion:
    with journal.exclusive(git):
        return _publish_registration(git, plan, register)


def _publish_registration(git: Git, plan: Callable[[], RegisterPlan],
                          register: Callable[[RegisterPlan], ModelVersion]) -> ModelVersion:
    """Register on top of the remote's tip, then publish; when another writer pushed first, rebuild
    just the commit and tag on their tip (the bytes are stored and pushed once) and push again.

    ``plan`` (no side effect) runs on the fetched tags first, so that a version another writer
    took fails before this clone's branch is fast-forwarded.
    """
    require_remote(git)
    if dvc_layout.directory_remote(git.root) is None:
        artifact_store.preload()  # DVC will push; import it while the artifact is hashed and copied
    fetch_registry(git)
    planned = plan()
    if follow_current_branch(git):
        planned = plan()  # on the new HEAD
    version = register(planned)
    ref, _ = git.head()
    parent = git.rev_parse(f"{version.commit}^")
    # Killed from here on, the registration is complete locally: the next command keeps it (reported
    # as not pushed; `gitreg push` publishes it, bytes first), or undoes a half-made rebuild.
    entry = journal.Journal.begin(git, "publish", head_ref=ref, base=parent, model_dir=refs.model_dir(version.name),
                                  commits=[version.commit], tags=[version.tag])
    try:
        earlier = _unpublished_before(git, parent, ref)
        push_artifacts(git, [version, *earlier])
        faults.point("register:bytes-pushed")
        for attempt in range(ATTEMPTS):
            try:
                flags = git.push_flags(REMOTE, [f"{ref}:{ref}", f"{version.ref}:{version.ref}",
                                                *[f"{v.ref}:{v.ref}" for v in earlier]])
            except RemoteMovedError:
                _back_off(attempt)
            else:
                if flags.get(version.ref) == "*":
                    faults.point("register:refs-pushed")
                    return version
                # "=": the remote already held this very tag (another writer's identical registration),
                # so this push changed nothing and is not a new version: make it the next one
            version = _rebuild_on_remote(git, version, ref, parent, plan, entry)
        raise ConflictError(f"{REMOTE} kept moving: {ATTEMPTS} attempts to publish were overtaken; try again")
    except BaseException:
        _take_back(git, version, ref, parent)  # a registration that was not published is not kept
        raise
    finally:
        entry.close()


def _unpublished_before(git: Git, parent: str, ref: str) -> list[ModelVersion]:
    """Versions registered here earlier and never published (e.g. kept after a crash) whose commits
    pushing ``ref`` carries: their bytes and tags go with it, never their commits alone."""
    remote_tip = git.rev_parse(f"{TRACKING}{ref.removeprefix('refs/heads/')}")
    commits = set(git.commits_between(parent, remote_tip))
    return [v for v in index.read_versions(git)[0] if v.commit in commits] if commits else []


def _take_back(git: Git, version: ModelVersion, ref: str, parent: str) -> None:
    registration.drop_tag(git, version)
    if git.rev_parse(ref) == version.commit:
        registration.drop_commit(git, version, ref, parent)


def _rebuild_on_remote(git: Git, version: ModelVersion, ref: str, parent: str,
                       plan: Callable[[], RegisterPlan], entry: journal.Journal) -> ModelVersion:
    registration.drop_tag(git, version)  # unpublished, and in the way of fetching the remote's tags
    fetch_registry(git)
    remote_tip = git.rev_parse(f"{TRACKING}{ref.removeprefix('refs/heads/')}")
    if remote_tip and not git.is_ancestor(parent, remote_tip):
        raise ConflictError(
            f"{ref.removeprefix('refs/heads/')} has commits that are not on {REMOTE} and {REMOTE} moved: "
            "run `git pull --rebase`, then register again"
        )
    return registration.rebuild(git, version, plan().version, ref, remote_tip or parent, entry)


def publish_stage_change(git: Git, config: Config, change: Callable[[], StageResult],
                         intent: StageChange) -> StageResult:
    """Make a stage change on the remote's state and publish it; when another writer pushed first, plan
    it again on theirs only while the model's own state in the stage is unchanged (StageMovedError
    otherwise). A change made here earlier whose push never finished (a crash) is published, not
    made twice."""
    require_remote(git)
    first = None
    stage = config.stage(intent.stage)
    marker = _PushMarker(git, stage)
    for attempt in range(ATTEMPTS):
        fetch_registry(git)
        _drop_overtaken(git, stage, intent)
        follow_stage_branches(git, config)
        landed = marker.landed(intent)
        if landed:
            return landed
        pending = _pending_change(git, stage, intent)
        result = pending or change()
        if result.commit is None:
            return result
        faults.point("stage-change:applied")
        plan = result.plan
        made = dict(result.tags)
        try:
            if first is not None and pending is None:
                stage_plan.refuse_if_moved(first, plan)
            first = first or plan
            snapshot = Snapshot.read(git, plan.change.model, config)
            if pending is not None:  # its tags may not have been made before the crash
                made = gto_tags.mirror(git, snapshot, plan.change.model, stage.name)
                result = replace(result, tags={**made, **_unpublished_tags(git, stage, plan.change.model)})
            published = [v for v in snapshot.versions if v.version == plan.change.version]
            push_artifacts(git, published)
            marker.write(intent, result.commit, plan.change.subject())
            faults.point("stage-change:pushing")
            faults.pause("stage-change:pushing")
            git.push(REMOTE, [f"{plan.stage.ref}:{plan.stage.ref}"] + [f"{v.ref}:{v.ref}" for v in published]
                     + [f"refs/tags/{tag}:refs/tags/{tag}" for tag in result.tags])
            faults.point("stage-change:pushed")
            marker.clear()
            return result
        except RemoteMovedError:
            _drop_unpublished(git, result, made, pending is None)
            _back_off(attempt)
        except BaseException:
            _drop_unpublished(git, result, made, pending is None)  # a change not published is not kept
            raise
    raise ConflictError(f"{REMOTE} kept moving: {ATTEMPTS} attempts to publish were overtaken; try again")


def sync_stage_tags(git: Git, config: Config, model: str | None, stage: str | None, *, dry_run: bool,
                    push: bool, bundle: str | None = None) -> gto_tags.TagSync:
    """Make GTO's assignment tags agree with the stage branches (``gitreg sync-tags``); with ``push``,
    with the remote's branches, publishing the tags in one atomic push (made anew when raced); with
    ``bundle``, also writing the tags made to that Git bundle (for a CI job that may push, and runs
    nothing but git)."""
    if not push:
        result = _sync_here(git, config, model, stage, dry_run)
        if bundle and result.tags and not dry_run:
            git.write_bundle(bundle, [f"refs/tags/{t.tag}" for t in result.tags],
                             sorted({t.target for t in result.tags}))
        return result
    require_remote(git)
    for attempt in range(ATTEMPTS):
        fetch_registry(git)
        follow_stage_branches(git, config)
        _refuse_unpublished_stages(git, config)
        result = _sync_here(git, config, model, stage, dry_run)
        if dry_run:
            return result
        made = {t.tag: git.ref_oid(f"refs/tags/{t.tag}") for t in result.tags}
        on_remote = git.remote_refs(REMOTE, "refs/tags/")
        refspecs = [f"{ref}:{ref}" for tag in gto_tags.read(git) if (ref := f"refs/tags/{tag.tag}") not in on_remote]
        try:
            pushed = git.push(REMOTE, refspecs) if refspecs else []
        except RemoteMovedError:
            git.delete_tags(made)
            _back_off(attempt)
            continue
        except BaseException:
            git.delete_tags(made)
            raise
        return replace(result, pushed=tuple(ref.removeprefix("refs/tags/") for ref in pushed))
    raise ConflictError(f"{REMOTE} kept moving: {ATTEMPTS} attempts to publish the tags were overtaken; try again")


def _sync_here(git: Git, config: Config, model: str | None, stage: str | None, dry_run: bool) -> gto_tags.TagSync:
    snapshot = Snapshot.read(git, model, config)
    planned = gto_tags.plan(git, snapshot, model, stage)
    if not dry_run:
        gto_tags.create(git, planned)
    return gto_tags.TagSync(tuple(planned), created=not dry_run)


def _refuse_unpublished_stages(git: Git, config: Config) -> None:
    for stage in config.stages:
        local, remote = git.rev_parse(stage.ref), git.rev_parse(f"{TRACKING}{stage.branch}")
        if local and local != remote:
            raise InvalidInputError(f"{stage.branch} has changes that are not on {REMOTE}: publish them with "
                                    "`gitreg push` (it pushes their GTO tags too), then sync the tags")


class _PushMarker:
    """``.git/gitreg/pushing-<stage>.json``: the stage change whose push is under way. A push killed
    after the remote took it leaves the marker, so the rerun reports that change instead of making
    a second one (a second rollback would fall one version too far)."""

    def __init__(self, git: Git, stage: Stage):
        self.git, self.stage = git, stage
        self.path = Path(git.git_dir()) / "gitreg" / f"pushing-{stage.name}.json"

    def write(self, intent: StageChange, commit: str, subject: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"action": intent.action, "model": intent.model, "version": intent.version,
                                   "commit": commit, "subject": subject}))
        os.replace(tmp, self.path)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)

    def landed(self, intent: StageChange) -> StageResult | None:
        """The interrupted change, when the remote has it and it is what ``intent`` asks again."""
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        remote = self.git.rev_parse(f"{TRACKING}{self.stage.branch}")
        if not remote or not self.git.is_ancestor(data["commit"], remote):
            return None  # still only here: the unpublished change is published by _pending_change
        self.clear()
        if remote != data["commit"]:
            return None  # the stage moved on since: this command plans against what it is now
        if (data["action"], data["model"]) != (intent.action, intent.model) or \
                (intent.version and data["version"] != intent.version):
            return None
        change = StageChange(data["action"], data["model"], self.stage.name, data["version"], None)
        plan = StagePlan(change, self.stage, remote, remote, remote, TreeEdit())
        return StageResult(plan, data["commit"], notes=(
            f"{data['subject']}: already published by the earlier run that was interrupted; nothing changed",))


def _drop_overtaken(git: Git, stage: Stage, intent: StageChange) -> None:
    """A change made here whose push never finished, while others changed the stage on the remote: when it
    is the very change asked for again, it is dropped here and made anew on the remote's state."""
    local, remote = git.rev_parse(stage.ref), git.rev_parse(f"{TRACKING}{stage.branch}")
    if not local or not remote or git.is_ancestor(remote, local) or git.is_ancestor(local, remote):
        return
    fork = git.merge_base(local, remote)
    if not fork or not git.on_first_parent_line(fork, local):
        return  # not ours to judge: follow_stage_branches reports the divergence
    unpublished, pending = _unpublished_events(git, stage, local, fork)
    if pending and _is_intent(pending, intent) and len(pending) == len(unpublished):
        git.update_ref(stage.ref, remote, local, "gitreg: drop an unpublished change the remote overtook")
        git.delete_tags({tag.tag: tag.oid for tag in gto_tags.read_of(git, intent.model, stage.name)
                         if tag.mirrors in unpublished})  # they mirror the dropped commits


def _unpublished_events(git: Git, stage: Stage, local: str, since: str | None):
    """(commits, stage events) on the local stage branch's first-parent line after ``since``."""
    unpublished = set(git.commits_between(local, since, first_parent=True))
    events, _ = history.stage_events(git, local, stage.name, group_by_model(index.read_versions(git)[0]))
    return unpublished, [event for event in events if event.step.oid in unpublished]


def _is_intent(pending: list, intent: StageChange) -> bool:
    newest = pending[-1]
    return (newest.action == intent.action and {e.model for e in pending} == {intent.model}
            and (intent.version is None or (newest.version is not None and newest.version.version == intent.version)))


def _pending_change(git: Git, stage: Stage, intent: StageChange) -> StageResult | None:
    """The unpublished change of the stage branch (made here, its push interrupted), when it is what
    ``intent`` asks for; ConflictError when the branch holds other unpublished changes."""
    local, remote = git.rev_parse(stage.ref), git.rev_parse(f"{TRACKING}{stage.branch}")
    if not local or local == remote or (remote and not git.is_ancestor(remote, local)):
        return None
    _, pending = _unpublished_events(git, stage, local, remote)
    if not pending:
        return None
    newest = pending[-1]
    if not _is_intent(pending, intent):
        raise ConflictError(
            f"{stage.branch} has {len(pending)} change(s) made here that never reached {REMOTE}: publish them "
            f"with `gitreg push`, or drop them with `git update-ref {stage.ref} {remote or 'origin/' + stage.branch}`, "
            "then run the command again"
        )
    change = StageChange(newest.action, newest.model, stage.name,
                         newest.version.version if newest.version else None,
                         pending[0].from_version.version if pending[0].from_version else None)
    plan = StagePlan(change, stage, remote, remote, remote or local, TreeEdit())
    return StageResult(plan, local, notes=(f"{change.subject()}: published the change made here earlier, "
                                           f"whose push had not finished; {stage.branch} at {local[:8]}",))


def _unpublished_tags(git: Git, stage: Stage, model: str) -> dict[str, str]:
    """The model's GTO tags in ``stage`` that mirror commits the remote's stage branch does not have yet."""
    local, remote = git.rev_parse(stage.ref), git.rev_parse(f"{TRACKING}{stage.branch}")
    unpublished = set(git.commits_between(local, remote, first_parent=True)) if local else set()
    return {tag.tag: tag.oid for tag in gto_tags.read_of(git, model, stage.name) if tag.mirrors in unpublished}


def _drop_unpublished(git: Git, result: StageResult, made: dict[str, str], change_too: bool) -> None:
    """Take back the GTO tags made for an unpublished change (they would mirror a commit that is
    dropped, and block the fetch of the remote's own tags of the same name), and the change itself."""
    git.delete_tags(made)
    if not change_too:
        return
    plan = result.plan
    if plan.expected:
        git.update_ref(plan.stage.ref, plan.expected, result.commit, "gitreg: drop unpublished stage change")
    else:
        git.delete_ref(plan.stage.ref, result.commit)


def _back_off(attempt: int) -> None:
    # Exponential back-off with full jitter: writers that lost a race retry at different moments
    # instead of colliding again, and a crowd of writers thins out quickly.
    SLEEP(random.uniform(0, BACKOFF_SCALE * min(1.0, 0.02 * 2 ** attempt)))


# The sleeper and its scale are injectable: tests (and their gitreg subprocesses, through the environment)
# race writers without waiting on the wall clock.
SLEEP = time.sleep
BACKOFF_SCALE = float(os.environ.get("GITREG_BACKOFF_SCALE") or 1)
