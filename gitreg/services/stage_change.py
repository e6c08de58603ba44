"""Promote, roll back and retire: resolve the stage, check gates, plan, apply; retry when raced.

Every attempt re-reads the stage branch, so a change someone else pushed meanwhile is built upon,
never lost; nothing is forced.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from typing import TYPE_CHECKING

from gitreg.domain import gates
from gitreg.domain.config import Stage
from gitreg.domain.stage_view import StageView
from gitreg.domain.version import ModelVersion
from gitreg.errors import ConflictError, IntegrityError, InvalidInputError
from gitreg.services import stage_plan, sync
from gitreg.services.stage_plan import StagePlan, StageResult

if TYPE_CHECKING:
    from gitreg.registry import Registry


def promote(registry: Registry, version: ModelVersion, stage: Stage, *, force: bool,
            require: tuple[str, ...], pr: bool, dry_run: bool) -> StageResult:
    _refuse_checked_out(registry, stage)
    extra = gates.parse_requirements(require)
    identity = registry.git.identity()

    def build(views: dict[str, StageView]) -> StagePlan | StageResult:
        view = views[stage.name]
        _refuse_breaches(view, version.name)
        in_stage = {name: (v.version_of(version.name).version if v.version_of(version.name) else None)
                    for name, v in views.items()}
        if in_stage[stage.name] == version.version:
            plan = stage_plan.plan_promote(registry.git, view, version, [], None)
            return StageResult(plan, None, notes=(f"{version.tag} is already in {stage.name}: nothing changed",))
        checks = gates.evaluate(version.card, stage, registry.config, in_stage,
                                stage_plan.replaced_card(view, version.name), extra)
        failing = [check for check in checks if not check.passed]
        if failing and not force:
            raise stage_plan.gate_failure(checks, version, stage.name)
        override = f"forced by {identity.name} <{identity.email}>" if failing else None
        return stage_plan.plan_promote(registry.git, view, version, checks, override, for_review=pr)

    if pr and not dry_run:
        return _open_review(registry, build(registry.stages()), identity)
    return _run(registry, build, dry_run)


def rollback(registry: Registry, name: str, stage: Stage, *, to: str | None, dry_run: bool) -> StageResult:
    _refuse_checked_out(registry, stage)

    def build(views: dict[str, StageView]) -> StagePlan:
        view = views[stage.name]
        _refuse_breaches(view, name)
        versions = {v.version: v for v in registry.history(name)}
        return stage_plan.plan_rollback(registry.git, view, name, versions, to)

    return _run(registry, build, dry_run)


def retire(registry: Registry, name: str, stage: Stage, *, dry_run: bool) -> StageResult:
    _refuse_checked_out(registry, stage)

    def build(views: dict[str, StageView]) -> StagePlan:
        return stage_plan.plan_retire(registry.git, views[stage.name], name)

    return _run(registry, build, dry_run)


def _run(registry: Registry, build: Callable, dry_run: bool) -> StageResult:
    identity = registry.git.identity()
    first = None
    for _ in range(stage_plan.RETRIES):
        planned = build(registry.stages())
        if isinstance(planned, StageResult) or dry_run:
            return planned if isinstance(planned, StageResult) else StageResult(planned, None)
        if first is not None:
            stage_plan.refuse_if_moved(first, planned)
        first = first or planned
        try:
            return StageResult(planned, stage_plan.apply(registry.git, planned, identity))
        except ConflictError:
            continue  # the stage branch moved under us: plan again on its new tip
    raise ConflictError("the stage branch kept moving while gitreg worked: run the command again")


def _refuse_checked_out(registry: Registry, stage: Stage) -> None:
    """Stage changes never touch the working tree, so they cannot move the branch it has checked out."""
    if registry.git.head()[0] == stage.ref:
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


def _open_review(registry: Registry, planned: StagePlan | StageResult, identity) -> StageResult:
    if isinstance(planned, StageResult):
        return planned
    git = registry.git
    commit = stage_plan.create_promotion_branch(git, planned, identity)
    notes = [f"Created branch {planned.promotion_branch} (commit {commit[:8]}) for review into {planned.stage.branch}."]
    if "origin" in git.remotes():
        _push_for_review(registry, planned)
        notes.append(_pull_request(planned))
    else:
        notes.append(f"No Git remote: merge it with `git merge --no-ff {planned.promotion_branch}` on "
                     f"{planned.stage.branch}, or push both branches and open a pull request.")
    return StageResult(planned, commit, branch=planned.promotion_branch, notes=tuple(notes))


def _push_for_review(registry: Registry, plan: StagePlan) -> None:
    """Bytes before refs: the artifact goes to the DVC remote, then both branches in one push."""
    version = next(v for v in registry.history(plan.change.model) if v.version == plan.change.version)
    sync.push_artifacts(registry, [version])
    refspecs = [f"refs/heads/{plan.promotion_branch}:refs/heads/{plan.promotion_branch}",
                f"{plan.stage.ref}:{plan.stage.ref}"]
    registry.git.push("origin", refspecs)


def _pull_request(plan: StagePlan) -> str:
    title = plan.change.subject()
    if shutil.which("gh") and subprocess.run(["gh", "auth", "status"], capture_output=True).returncode == 0:
        proc = subprocess.run(["gh", "pr", "create", "--base", plan.stage.branch, "--head", plan.promotion_branch,
                               "--title", title, "--body", plan.change.trailers()], capture_output=True, text=True)
        if proc.returncode == 0:
            return f"Opened pull request {proc.stdout.strip()}"
    return (f"Pushed. Open the pull request with: gh pr create --base {plan.stage.branch} "
            f"--head {plan.promotion_branch} --title \"{title}\"")
