"""``promote --pr``: the promotion as a branch for review, pushed with its bytes, and a pull request."""

from __future__ import annotations

import shutil
import subprocess

from gitreg.domain.version import ModelVersion
from gitreg.io.git import Git, Identity
from gitreg.services import stage_plan, sync
from gitreg.services.stage_plan import StagePlan, StageResult


def open_review(git: Git, plan: StagePlan, version: ModelVersion, identity: Identity) -> StageResult:
    commit = stage_plan.create_promotion_branch(git, plan, identity)
    notes = [f"Created branch {plan.promotion_branch} (commit {commit[:8]}) for review into {plan.stage.branch}."]
    if sync.REMOTE in git.remotes():
        _push_for_review(git, plan, version)
        notes.append(_pull_request(plan))
    else:
        notes.append(f"No Git remote: merge it with `git merge --no-ff {plan.promotion_branch}` on "
                     f"{plan.stage.branch}, or push both branches and open a pull request.")
    return StageResult(plan, commit, branch=plan.promotion_branch, notes=tuple(notes))


def _push_for_review(git: Git, plan: StagePlan, version: ModelVersion) -> None:
    """Bytes before refs: the artifact goes to the DVC remote, then both branches in one push."""
    sync.push_artifacts(git, [version])
    git.push(sync.REMOTE, [f"refs/heads/{plan.promotion_branch}:refs/heads/{plan.promotion_branch}",
                           f"{plan.stage.ref}:{plan.stage.ref}"])


def _pull_request(plan: StagePlan) -> str:
    title = plan.change.subject()
    if shutil.which("gh") and subprocess.run(["gh", "auth", "status"], capture_output=True).returncode == 0:
        proc = subprocess.run(["gh", "pr", "create", "--base", plan.stage.branch, "--head", plan.promotion_branch,
                               "--title", title, "--body", plan.change.trailers()], capture_output=True, text=True)
        if proc.returncode == 0:
            return f"Opened pull request {proc.stdout.strip()}"
    return (f"Pushed. Open the pull request with: gh pr create --base {plan.stage.branch} "
            f"--head {plan.promotion_branch} --title \"{title}\"")
