"""Stage changes: promote (a promotion commit merged with --no-ff), roll back (a revert), retire.

Trees are built directly: ``models/<name>/`` is swapped for the tagged subtree (or removed) and nothing
else changes, so two models' changes never conflict. The commits
have the parents and messages a clean merge or revert would have. The stage branch moves by
compare-and-swap; when someone else moved it meanwhile, the change is planned again on the new tip.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from gitreg.domain import refs
from gitreg.domain.card import Card
from gitreg.domain.config import Stage
from gitreg.domain.gates import GateCheck
from gitreg.domain.stage_view import StageView
from gitreg.domain.trailers import StageChange
from gitreg.domain.version import ModelVersion
from gitreg.errors import ConflictError, GateError, NotFoundError, StageMovedError
from gitreg.io.git import CatFile, Git, Identity, TreeEdit
from gitreg.services import ci, history
from gitreg.services.config_source import main_rev
from gitreg.services.resolve import birth_commit, match_tree

RETRIES = 5


@dataclass(frozen=True)
class StagePlan:
    change: StageChange
    stage: Stage
    tip: str | None  # the stage's content as planned on (None: the branch is born with this change)
    expected: str | None  # the local stage branch's value for compare-and-swap (None: create it)
    parent: str  # the commit the change is built on
    edit: TreeEdit
    checks: tuple[GateCheck, ...] = ()
    body: str = ""

    @property
    def is_merge(self) -> bool:
        return self.change.action == "promote"

    @property
    def promotion_branch(self) -> str:
        return f"promote/{self.stage.name}/{self.change.model}-v{self.change.version}"

    def to_dict(self) -> dict:
        change = self.change
        return {"action": change.action, "model": change.model, "stage": change.stage,
                "version": change.version, "from_version": change.from_version,
                "gates": [vars(c) for c in self.checks], "override": change.override}


@dataclass(frozen=True)
class StageResult:
    plan: StagePlan
    commit: str | None  # the new stage tip, or the promotion commit with --pr; None: nothing changed
    branch: str | None = None  # the promotion branch with --pr
    notes: tuple[str, ...] = field(default_factory=tuple)
    tags: dict[str, str] = field(default_factory=dict)  # GTO's assignment tags made to mirror it: {tag: oid}

    def to_dict(self) -> dict:
        return {**self.plan.to_dict(), "commit": self.commit, "branch": self.branch,
                "changed": self.commit is not None, "gto_tags": sorted(self.tags)}


# ------------------------------------------------------------------------------------ planning
def swap_edit(git: Git, parent: str, name: str, subtree: str | None, carry_workflows: bool = True) -> TreeEdit:
    """``models/<name>/`` := ``subtree`` (None: removed), and gitreg's workflows as the main branch has
    them (a pull request into a stage runs the stage branch's workflows, so a new pin on main must reach
    it). Nothing else changes on a stage branch, not even dvc.yaml, whose adjacent entries would make
    two promotions from one tip conflict on a forge: DVC and GTO read a version's entry at its tag."""
    model_dir = refs.model_dir(name)
    edit = TreeEdit(remove=[model_dir], put=_workflows_from_main(git, parent) if carry_workflows else {})
    if subtree:
        edit.graft[model_dir] = subtree
    return edit


def _workflows_from_main(git: Git, parent: str) -> dict[str, bytes]:
    main = main_rev(git)
    if not main:
        return {}
    paths = [f"{ci.WORKFLOW_DIR}/{name}" for name in ci.WORKFLOWS]
    blobs = git.read_blobs([f"{rev}:{path}" for rev in (main, parent) for path in paths])
    return {path: blobs[f"{main}:{path}"] for path in paths
            if blobs[f"{main}:{path}"] is not None and blobs[f"{main}:{path}"] != blobs[f"{parent}:{path}"]}


def plan_promote(git: Git, view: StageView, version: ModelVersion, checks: list[GateCheck],
                 override: str | None, for_review: bool = False) -> StagePlan:
    """``for_review``: a branch for a pull request, which carries only the model (two pull requests from
    one tip must merge in any order; the workflows of main reach the stage with direct changes)."""
    current = view.version_of(version.name)
    change = StageChange(
        action="promote", model=version.name, stage=view.stage.name, version=version.version,
        from_version=current.version if current else None,
        gates=tuple(str(c) for c in checks), override=override,
    )
    parent = view.tip or birth_commit(git, version.commit)
    subtree = git.tree_id(version.commit, refs.model_dir(version.name))
    edit = swap_edit(git, parent, version.name, subtree, carry_workflows=not for_review)
    return StagePlan(change, view.stage, view.tip, view.expected, parent, edit, tuple(checks))


def plan_retire(git: Git, view: StageView, name: str) -> StagePlan:
    current = view.version_of(name)
    if current is None and name not in view.breaches:
        raise NotFoundError(f"{name} is not in {view.stage.name}: nothing to retire")
    change = StageChange(action="retire", model=name, stage=view.stage.name, version=None,
                         from_version=current.version if current else None)
    return StagePlan(change, view.stage, view.tip, view.expected, view.tip, swap_edit(git, view.tip, name, None))


def plan_rollback(git: Git, view: StageView, name: str, versions: dict[str, ModelVersion],
                  to: str | None) -> StagePlan:
    """Undo the newest promotion of ``name`` still in effect (or every one back to version ``to``),
    restoring exactly the subtree it replaced."""
    _, ledger = history.stage_events(git, view.tip, view.stage.name, {name: versions}, name)
    in_effect = ledger.in_effect(name)
    if not in_effect:
        raise NotFoundError(f"{name} has no promotion in {view.stage.name} to roll back")
    with git.cat_file() as cat:
        undone = _to_undo(cat, in_effect, to, versions, view.stage.name, name)
        restored = undone[-1].before
        target = _version_of_tree(cat, name, restored, versions) if restored else None
    current = view.version_of(name)
    change = StageChange(
        action="rollback", model=name, stage=view.stage.name,
        version=target.version if target else None, from_version=current.version if current else None,
        reverts=tuple(entry.oid for entry in undone if entry.oid),
    )
    body = "\n".join(f"This reverts commit {entry.oid}." for entry in undone if entry.oid)
    return StagePlan(change, view.stage, view.tip, view.expected, view.tip, swap_edit(git, view.tip, name, restored), body=body)


def _to_undo(cat: CatFile, in_effect: list, to: str | None, versions, stage: str, name: str) -> list:
    if to is None:
        return in_effect[:1]
    held = []
    for depth, entry in enumerate(in_effect):
        version = _version_of_tree(cat, name, entry.before, versions) if entry.before else None
        if version and version.version == to:
            return in_effect[: depth + 1]
        if version:
            held.append(version.version)
    raise NotFoundError(
        f"{name} v{to} was not in {stage} before the changes still in effect; "
        f"--to accepts: {', '.join(sorted(set(held))) or 'nothing (use rollback without --to)'}"
    )


def _version_of_tree(cat: CatFile, name: str, tree: str, versions: dict[str, ModelVersion]) -> ModelVersion | None:
    found = match_tree(cat, name, tree, versions)
    return found if isinstance(found, ModelVersion) else None


# ------------------------------------------------------------------------------------- applying
def apply(git: Git, plan: StagePlan, identity: Identity) -> str:
    """Write the change's commit(s) and move the stage branch; returns the new tip."""
    plan = replace(plan, change=replace(plan.change, clock=time.time_ns()))
    commit = git.commit(plan.parent, plan.edit, plan.change.message(plan.body), identity)
    if plan.is_merge:
        tree = git.tree_of(commit)
        message = f"Merge branch '{plan.promotion_branch}' into {plan.stage.branch}\n\n{plan.change.trailers()}\n"
        commit = git.commit_tree(tree, [plan.parent, commit], message, identity)
    git.update_ref(plan.stage.ref, commit, plan.expected, f"gitreg: {plan.change.subject()}")
    return commit


def create_promotion_branch(git: Git, plan: StagePlan, identity: Identity) -> str:
    """For review: the promotion commit on its own branch; the stage branch is only born if missing."""
    plan = replace(plan, change=replace(plan.change, clock=time.time_ns()))
    commit = git.commit(plan.parent, plan.edit, plan.change.message(plan.body), identity)
    if plan.expected is None:
        git.update_ref(plan.stage.ref, plan.parent, None, f"gitreg: create {plan.stage.branch}")
    ref = f"refs/heads/{plan.promotion_branch}"
    existing = git.rev_parse(ref)
    if existing and git.tree_id(existing, "") != git.tree_id(commit, ""):
        raise ConflictError(
            f"branch {plan.promotion_branch} already exists with other content: "
            f"delete it (`git branch -D {plan.promotion_branch}`) and run the command again"
        )
    if not existing:
        git.update_ref(ref, commit, None, f"gitreg: {plan.change.subject()}")
    return existing or commit


def refuse_if_moved(first: StagePlan, again: StagePlan) -> None:
    """A change is planned again on a stage that moved only when the model's own state there is what the
    first plan saw: a rollback or retire is never re-aimed at another version, nor a promotion made
    over a version someone else just put there."""
    was, now = first.change.from_version, again.change.from_version
    if was == now:
        return
    model, stage = first.change.model, first.stage.name
    raise StageMovedError(
        f"{stage} changed while gitreg worked: {model} is now {_held(now)}, it was {_held(was)} when this "
        f"{first.change.action} was planned, so nothing was done; see `gitreg log {model} --stage {stage}` and "
        "run the command again if it is still what you want"
    )


def _held(version: str | None) -> str:
    return f"v{version}" if version else "not in the stage"


def gate_failure(plan_checks: list[GateCheck], version: ModelVersion, stage: str) -> GateError:
    failing = [str(check) for check in plan_checks if not check.passed]
    return GateError(
        f"{version.tag} did not pass the gates of {stage}: " + "; ".join(failing)
        + ". Fix the model, or override with --force (the override is recorded)"
    )


def replaced_card(view: StageView, name: str) -> Card | None:
    current = view.version_of(name)
    return current.card if current else None
