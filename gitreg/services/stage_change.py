"""Promote, roll back and retire: resolve the stage, check gates, plan, apply; retry when raced.

Every attempt reads a new snapshot of the model and its stages, so a change someone else made
meanwhile is built upon, never lost; nothing is forced.
"""

from __future__ import annotations

from collections.abc import Callable

from gitreg.domain import gates
from gitreg.domain.config import Stage
from gitreg.domain.stage_view import StageView
from gitreg.domain.version import ModelVersion
from gitreg.errors import ConflictError, IntegrityError, InvalidInputError
from gitreg.io.git import Git
from gitreg.services import deprecation, experiments, gto_tags, review, stage_plan
from gitreg.services.snapshot import Snapshot
from gitreg.services.stage_plan import StagePlan, StageResult

Build = Callable[[Snapshot], "StagePlan | StageResult"]


def promote(git: Git, snapshot: Snapshot, version: ModelVersion, stage: Stage, *, force: bool,
            require: tuple[str, ...], pr: bool, dry_run: bool) -> StageResult:
    refuse_checked_out(git, stage)
    extra = gates.parse_requirements(require)
    identity = git.identity()

    def build(current: Snapshot) -> StagePlan | StageResult:
        views = current.stage_views
        view = views[stage.name]
        _refuse_breaches(view, version.name)
        experiments.refuse_running(git, view, version.name, "promotion")
        in_stage = {name: (v.version_of(version.name).version if v.version_of(version.name) else None)
                    for name, v in views.items()}
        if in_stage[stage.name] == version.version:
            plan = stage_plan.plan_promote(git, view, version, [], None)
            return StageResult(plan, None, notes=(f"{version.tag} is already in {stage.name}: nothing changed",))
        deprecation.refuse_promotion(current.deprecations, version)
        checks = gates.evaluate(version.card, stage, current.config, in_stage,
                                stage_plan.replaced_card(view, version.name), extra)
        failing = [check for check in checks if not check.passed]
        if failing and not force:
            raise stage_plan.gate_failure(checks, version, stage.name)
        override = f"forced by {identity.name} <{identity.email}>" if failing else None
        return stage_plan.plan_promote(git, view, version, checks, override, for_review=pr)

    if pr and not dry_run:
        planned = build(snapshot)
        return planned if isinstance(planned, StageResult) else review.open_review(git, planned, version, identity)
    return _run(git, snapshot, build, dry_run)


def rollback(git: Git, snapshot: Snapshot, name: str, stage: Stage, *, to: str | None, dry_run: bool) -> StageResult:
    refuse_checked_out(git, stage)

    def build(current: Snapshot) -> StagePlan:
        view = current.stage_views[stage.name]
        _refuse_breaches(view, name)
        ab = experiments.plan_rollback(git, view, name, to)  # an A/B test ended, resumed or restored
        if ab is not None:
            return ab
        versions = {v.version: v for v in current.history(name)}
        return experiments.restore_record(git, stage_plan.plan_rollback(git, view, name, versions, to), name)

    return _run(git, snapshot, build, dry_run)


def retire(git: Git, snapshot: Snapshot, name: str, stage: Stage, *, dry_run: bool) -> StageResult:
    refuse_checked_out(git, stage)
    def build(current: Snapshot) -> StagePlan:
        experiments.refuse_running(git, current.stage_views[stage.name], name, "retirement")
        return stage_plan.plan_retire(git, current.stage_views[stage.name], name)

    return _run(git, snapshot, build, dry_run)


def _run(git: Git, snapshot: Snapshot, build: Build, dry_run: bool) -> StageResult:
    identity = git.identity()
    first = None
    current = snapshot
    for _ in range(stage_plan.RETRIES):
        planned = build(current)
        if isinstance(planned, StageResult) or dry_run:
            return planned if isinstance(planned, StageResult) else StageResult(planned, None)
        if first is not None:
            stage_plan.refuse_if_moved(first, planned)
        first = first or planned
        try:
            commit = stage_plan.apply(git, planned, identity)
        except ConflictError:  # the stage branch moved under us: plan again on its new tip
            current = Snapshot.read(git, snapshot.scope, snapshot.config)
            continue
        return StageResult(planned, commit, tags=_mirror(git, snapshot, planned))
    raise ConflictError("the stage branch kept moving while gitreg worked: run the command again")


def _mirror(git: Git, snapshot: Snapshot, planned: StagePlan) -> dict[str, str]:
    """GTO's tags for the change just made (a failure here leaves only tags missing, which ``verify``
    names and ``sync-tags`` makes)."""
    model = planned.change.model
    try:
        return gto_tags.mirror(git, Snapshot.read(git, model, snapshot.config), model, planned.stage.name)
    except ConflictError:  # another writer here made them first
        return {}


def refuse_checked_out(git: Git, stage: Stage) -> None:
    """Stage changes never touch the working tree, so they cannot move the branch it has checked out."""
    if git.head()[0] == stage.ref:
        raise InvalidInputError(
            f"stage {stage.name} uses {stage.branch}, which is checked out here: switch to your main branch "
            f"(`git switch main`), and give stages branches of their own in .gitreg.yaml (default stage/<name>)"
        )


def _refuse_breaches(view: StageView, name: str) -> None:
    others = [breach for model, breach in view.breaches.items() if model != name]
    if others:
        first = others[0]
        raise IntegrityError(
            f"{view.stage.branch} is not in a valid state ({first}): repair it first with "
            f"`gitreg retire {first.model} {view.stage.name}` or `gitreg rollback {first.model} {view.stage.name}`"
        )
    if name in view.breaches:
        raise IntegrityError(
            f"{view.stage.branch} is not in a valid state ({view.breaches[name]}): "
            f"repair it first with `gitreg retire {name} {view.stage.name}`"
        )
