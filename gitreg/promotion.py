"""Stage changes: promote (a promotion commit merged with --no-ff), roll back (a revert), retire.

Trees are built directly: ``models/<name>/`` is swapped for the tagged subtree (or removed) and only
that model's ``dvc.yaml`` entry is regenerated, so two models' changes never conflict. The commits
have the parents and messages a clean merge or revert would have. The stage branch moves by
compare-and-swap; when someone else moved it meanwhile, the change is planned again on the new tip.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from gitreg import dvcyaml, refs
from gitreg.card import CARD_FILE, Card
from gitreg.config import Stage
from gitreg.errors import ConflictError, GateError, NotFoundError
from gitreg.gates import GateCheck
from gitreg.git import CommitRecord, Git, Identity, TreeEdit
from gitreg.index import ModelVersion
from gitreg.stages import StageView, birth_commit
from gitreg.trailers import StageChange, parse

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

    def to_dict(self) -> dict:
        return {**self.plan.to_dict(), "commit": self.commit, "branch": self.branch,
                "changed": self.commit is not None}


# ------------------------------------------------------------------------------------ planning
def swap_edit(git: Git, parent: str, name: str, version: ModelVersion | None, subtree: str | None) -> TreeEdit:
    """``models/<name>/`` := ``subtree`` (None: removed); ``name``'s dvc.yaml entry to match."""
    model_dir = refs.model_dir(name)
    current = git.read_blob(parent, dvcyaml.DVC_YAML)
    entry = dvcyaml.entry(version.card) if version else None
    edit = TreeEdit(remove=[model_dir], put={dvcyaml.DVC_YAML: dvcyaml.with_entry(current, name, entry).encode()})
    if subtree:
        edit.graft[model_dir] = subtree
    return edit


def plan_promote(git: Git, view: StageView, version: ModelVersion, checks: list[GateCheck],
                 override: str | None) -> StagePlan:
    current = view.version_of(version.name)
    change = StageChange(
        action="promote", model=version.name, stage=view.stage.name, version=version.version,
        from_version=current.version if current else None,
        gates=tuple(str(c) for c in checks), override=override,
    )
    parent = view.tip or birth_commit(git, version.commit)
    subtree = git.tree_id(version.commit, refs.model_dir(version.name))
    return StagePlan(change, view.stage, view.tip, view.expected, parent,
                     swap_edit(git, parent, version.name, version, subtree), tuple(checks))


def plan_retire(git: Git, view: StageView, name: str) -> StagePlan:
    current = view.version_of(name)
    if current is None and name not in view.breaches:
        raise NotFoundError(f"{name} is not in {view.stage.name}: nothing to retire")
    change = StageChange(action="retire", model=name, stage=view.stage.name, version=None,
                         from_version=current.version if current else None)
    return StagePlan(change, view.stage, view.tip, view.expected, view.tip,
                     swap_edit(git, view.tip, name, None, None))


def plan_rollback(git: Git, view: StageView, name: str, versions: dict[str, ModelVersion],
                  to: str | None) -> StagePlan:
    """Revert the newest change of ``name`` still in effect (or every one back to version ``to``)."""
    events = _in_effect(git, view, name)
    if not events:
        raise NotFoundError(f"{name} has no promotion in {view.stage.name} to roll back")
    reverted = _events_to_revert(events, to, view.stage.name, name)
    oldest_oid, _ = reverted[-1]
    target_parent = git.rev_parse(f"{oldest_oid}^1")
    subtree = git.tree_id(target_parent, refs.model_dir(name)) if target_parent else None
    target = _version_at(git, target_parent, name, versions) if subtree else None
    current = view.version_of(name)
    change = StageChange(
        action="rollback", model=name, stage=view.stage.name,
        version=target.version if target else None, from_version=current.version if current else None,
        reverts=tuple(oid for oid, _ in reverted),
    )
    body = "\n".join(f"This reverts commit {oid}." for oid, _ in reverted)
    return StagePlan(change, view.stage, view.tip, view.expected, view.tip,
                     swap_edit(git, view.tip, name, target, subtree), body=body)


def _version_at(git: Git, commit: str, name: str, versions: dict[str, ModelVersion]) -> ModelVersion | None:
    blob = git.read_blob(commit, f"{refs.model_dir(name)}/{CARD_FILE}")
    card = Card.from_yaml(blob, f"{refs.model_dir(name)}/{CARD_FILE} at {commit[:8]}") if blob else None
    return versions.get(card.version) if card else None


def _in_effect(git: Git, view: StageView, name: str) -> list[tuple[str, StageChange]]:
    """Promotions of ``name`` still in effect, newest first: not reverted, and not before a retirement
    (retiring ends every earlier promotion; bringing a model back takes a new, gated promotion)."""
    if not view.tip:
        return []
    reverted: set[str] = set()
    found = []
    for record, change in stage_changes(git, view.tip, name):
        if change.action == "rollback":
            reverted.update(change.reverts)
        elif change.action == "retire":
            break
        elif record.oid not in reverted:
            found.append((record.oid, change))
    return found


def _events_to_revert(events, to: str | None, stage: str, name: str):
    if to is None:
        return events[:1]
    for position, (_, change) in enumerate(events):
        if change.from_version == to:
            return events[: position + 1]
    held = sorted({c.from_version for _, c in events if c.from_version})
    raise NotFoundError(
        f"{name} v{to} was not in {stage} before the changes still in effect; "
        f"--to accepts: {', '.join(held) or 'nothing (use rollback without --to)'}"
    )


def stage_changes(git: Git, tip: str, name: str | None = None) -> list[tuple[CommitRecord, StageChange]]:
    """(commit record, change) for each first-parent commit from ``tip`` that changed a stage, newest first.

    A merge made by a forge carries no trailers: its second parent, the promotion commit, does.
    """
    path = refs.model_dir(name) if name else refs.MODELS_DIR
    changes: list[tuple[CommitRecord, StageChange]] = []
    records = git.first_parent_log(tip, path)
    untagged = [r for r in records if parse(r.message) is None and len(r.parents) > 1]
    second_parents = {}
    if untagged:
        with git.cat_file() as cat:
            for record in untagged:
                found = cat.get(record.parents[1])
                second_parents[record.oid] = found[2].decode(errors="replace").split("\n\n", 1)[-1] if found else ""
    for record in records:
        change = parse(record.message) or parse(second_parents.get(record.oid, ""))
        if change and (name is None or change.model == name):
            changes.append((record, change))
    return changes


# ------------------------------------------------------------------------------------- applying
def apply(git: Git, plan: StagePlan, identity: Identity) -> str:
    """Write the change's commit(s) and move the stage branch; returns the new tip."""
    plan = replace(plan, change=replace(plan.change, clock=time.time_ns()))
    commit = git.commit(plan.parent, plan.edit, plan.change.message(plan.body), identity)
    if plan.is_merge:
        tree = git.out("rev-parse", f"{commit}^{{tree}}")
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


def gate_failure(plan_checks: list[GateCheck], version: ModelVersion, stage: str) -> GateError:
    failing = [str(check) for check in plan_checks if not check.passed]
    return GateError(
        f"{version.tag} did not pass the gates of {stage}: " + "; ".join(failing)
        + ". Fix the model, or override with --force (the override is recorded)"
    )


def replaced_card(view: StageView, name: str) -> Card | None:
    current = view.version_of(name)
    return current.card if current else None
