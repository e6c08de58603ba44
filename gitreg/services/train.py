"""Release trains: several models promoted to a stage in one merge commit, all or nothing, and rolled
back as one unit.

Every model's gates are checked before anything is written; one failing gate stops the whole train
(``--force`` records the override per model, as ``promote`` does). The train is one promotion commit
changing every ``models/<name>/`` it carries, merged ``--no-ff`` into the stage; both commits carry one
group of ``Gitreg-*`` trailers per model, so ``log``, the hook, GTO's tags and a per-model ``rollback``
see one event per model. ``rollback_train`` restores every model of the newest train in one commit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from gitreg.domain import gates, refs
from gitreg.domain.config import Stage
from gitreg.domain.gates import GateCheck
from gitreg.domain.stage_view import StageView
from gitreg.domain.trailers import StageChange, parse_all, train_message
from gitreg.domain.version import ModelVersion
from gitreg.errors import ConflictError, GateError, InvalidInputError, NotFoundError, RemoteMovedError
from gitreg.io import faults
from gitreg.io.git import Git, TreeEdit
from gitreg.services import deprecation, gto_tags, stage_plan, sync
from gitreg.services.resolve import birth_commit, match_tree
from gitreg.services.snapshot import Snapshot


@dataclass(frozen=True)
class TrainPlan:
    stage: Stage
    changes: tuple[StageChange, ...]
    expected: str | None  # the stage branch's value for compare-and-swap (None: create it)
    parent: str
    edit: TreeEdit
    notes: tuple[str, ...] = ()

    def subject(self, verb: str = "Promote a release train to") -> str:
        members = ", ".join(f"{c.model} v{c.version}" if c.version else f"{c.model} out" for c in self.changes)
        return f"{verb} {self.stage.name}: {members}"

    def to_dict(self) -> dict:
        return {"stage": self.stage.name, "changes": [{"action": c.action, "model": c.model, "version": c.version,
                                                       "from_version": c.from_version, "gates": list(c.gates),
                                                       "override": c.override} for c in self.changes]}


@dataclass(frozen=True)
class TrainResult:
    plan: TrainPlan
    commit: str | None  # the new stage tip; None: a dry run, or nothing to do
    tags: dict[str, str] = field(default_factory=dict)
    pushed: bool = False

    def to_dict(self) -> dict:
        return {**self.plan.to_dict(), "commit": self.commit, "gto_tags": sorted(self.tags), "pushed": self.pushed,
                "notes": list(self.plan.notes)}


# ------------------------------------------------------------------------------------ planning
def plan_promote(git: Git, snapshot: Snapshot, versions: list[ModelVersion], stage: Stage, *, force: bool,
                 extra: list, identity) -> TrainPlan:
    names = [v.name for v in versions]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InvalidInputError(f"a train carries one version per model; {', '.join(twice)} appears more than once")
    view = snapshot.stage_views[stage.name]
    _refuse_breaches(view)
    moving = [v for v in versions if (held := view.version_of(v.name)) is None or held.version != v.version]
    notes = tuple(f"{v.tag} is already in {stage.name}" for v in versions if v not in moving)
    if not moving:
        raise ConflictError(f"every version of the train is already in {stage.name}: nothing to do")
    changes, failing = [], []
    for version in moving:
        deprecation.refuse_promotion(snapshot.deprecations, version)
        checks = _checks(snapshot, version, stage, extra)
        failed = [str(c) for c in checks if not c.passed]
        failing += [f"{version.tag}: {'; '.join(failed)}"] if failed else []
        current = view.version_of(version.name)
        changes.append(StageChange("promote", version.name, stage.name, version.version,
                                   current.version if current else None, gates=tuple(str(c) for c in checks),
                                   override=f"forced by {identity.name} <{identity.email}>" if failed else None))
    if failing and not force:
        raise GateError(f"the train did not pass the gates of {stage.name}, so nothing was promoted: "
                        + " | ".join(failing) + ". Fix those models, or override with --force (recorded)")
    parent = view.tip or birth_commit(git, moving[0].commit)
    edit = _combined(git, parent, {v.name: git.tree_id(v.commit, refs.model_dir(v.name)) for v in moving})
    return TrainPlan(stage, tuple(changes), view.expected, parent, edit, notes)


def _checks(snapshot: Snapshot, version: ModelVersion, stage: Stage, extra: list) -> list[GateCheck]:
    in_stage = {name: (held.version if (held := v.version_of(version.name)) else None)
                for name, v in snapshot.stage_views.items()}
    return gates.evaluate(version.card, stage, snapshot.config, in_stage,
                          stage_plan.replaced_card(snapshot.stage_views[stage.name], version.name), extra)


def _combined(git: Git, parent: str, subtrees: dict[str, str | None]) -> TreeEdit:
    """Every model's ``models/<name>/`` swapped at once, and the main branch's workflows (as one promote)."""
    edits = [stage_plan.swap_edit(git, parent, name, tree, carry_workflows=n == 0)
             for n, (name, tree) in enumerate(subtrees.items())]
    return TreeEdit(remove=[p for e in edits for p in e.remove], graft={k: v for e in edits for k, v in e.graft.items()},
                    put={k: v for e in edits for k, v in e.put.items()})


def _refuse_breaches(view: StageView) -> None:
    if view.breaches:
        model, breach = next(iter(view.breaches.items()))
        raise ConflictError(f"{view.stage.branch} is not in a valid state ({breach}): repair it first with "
                            f"`gitreg retire {model} {view.stage.name}`")


def plan_rollback(git: Git, snapshot: Snapshot, stage: Stage) -> TrainPlan:
    """Undo the newest release train of ``stage``: every model it carried back to what it replaced, in one
    commit; refused when a model of the train changed in the stage since (roll that one back alone)."""
    view = snapshot.stage_views[stage.name]
    if not view.tip:
        raise NotFoundError(f"{stage.name} has no history: there is no train to roll back")
    record, changes = _newest_train(git, view.tip)
    moved = [c.model for c in changes if (held := view.version_of(c.model)) is None or held.version != c.version]
    if moved:
        raise ConflictError(f"{', '.join(moved)} changed in {stage.name} after the train {record[:8]}: roll back "
                            f"each model on its own (`gitreg rollback {moved[0]} {stage.name}`)")
    before = git.rev_parse(f"{record}^1")
    restored = {c.model: git.tree_id(before, refs.model_dir(c.model)) for c in changes}
    registered = {c.model: {v.version: v for v in snapshot.history(c.model)} for c in changes}
    with git.cat_file() as cat:
        back = {m: (match_tree(cat, m, tree, registered[m]) if tree else None) for m, tree in restored.items()}
    reverted = [StageChange("rollback", c.model, stage.name,
                            back[c.model].version if isinstance(back[c.model], ModelVersion) else None,
                            c.version, reverts=(record,)) for c in changes]
    edit = _combined(git, view.tip, restored)
    edit.put = {}  # a rollback restores models only
    return TrainPlan(stage, tuple(reverted), view.expected, view.tip, edit)


def _newest_train(git: Git, tip: str) -> tuple[str, list[StageChange]]:
    for record in git.first_parent_log(tip, refs.MODELS_DIR):
        changes = parse_all(record.message)
        if len(changes) > 1 and all(c.action == "promote" for c in changes):
            return record.oid, changes
    raise NotFoundError("no release train on this stage: roll back models one at a time with `gitreg rollback`")


# ------------------------------------------------------------------------------------ applying
def apply(git: Git, plan: TrainPlan, identity, config, push: bool) -> TrainResult:
    now = time.time_ns()
    changes = [replace(c, clock=now + n) for n, c in enumerate(plan.changes)]
    is_rollback = changes[0].action == "rollback"
    subject = plan.subject("Roll back the release train of") if is_rollback else plan.subject()
    commit = git.commit(plan.parent, plan.edit, train_message(subject, changes), identity)
    if not is_rollback:
        merge = train_message(f"Merge release train into {plan.stage.branch}", changes)
        commit = git.commit_tree(git.tree_of(commit), [plan.parent, commit], merge, identity)
    git.update_ref(plan.stage.ref, commit, plan.expected, f"gitreg: {subject}")
    tags = _mirror(git, config, plan)
    result = TrainResult(plan, commit, tags)
    if push:
        _publish(git, config, result)
        result = replace(result, pushed=True)
    return result


def _mirror(git: Git, config, plan: TrainPlan) -> dict[str, str]:
    made: dict[str, str] = {}
    for change in plan.changes:
        try:
            made |= gto_tags.mirror(git, Snapshot.read(git, change.model, config), change.model, plan.stage.name)
        except ConflictError:  # another writer here made them first: `sync-tags` finds none missing
            continue
    return made


def _publish(git: Git, config, result: TrainResult) -> None:
    """Bytes first, then the stage branch, the versions' tags and GTO's tags in one atomic push; refused,
    the train is taken back here (nothing is retried: run it again on the new state)."""
    plan = result.plan
    snapshot = Snapshot.read(git, None, config)
    published = [snapshot.version(c.model, c.version) for c in plan.changes if c.version]
    try:
        sync.push_artifacts(git, published)
        faults.pause("train:pushing")
        git.push(sync.REMOTE, [f"{plan.stage.ref}:{plan.stage.ref}", *[f"{v.ref}:{v.ref}" for v in published],
                               *[f"refs/tags/{tag}:refs/tags/{tag}" for tag in result.tags]])
    except BaseException as exc:
        git.delete_tags(result.tags)
        if plan.expected:
            git.update_ref(plan.stage.ref, plan.expected, result.commit, "gitreg: take back a train")
        else:
            git.delete_ref(plan.stage.ref, result.commit)
        if isinstance(exc, RemoteMovedError):
            raise ConflictError(f"{sync.REMOTE} moved while the train was pushed, so it was taken back: run "
                                "the command again") from exc
        raise
