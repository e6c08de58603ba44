"""Reading the running A/B tests from the stage branches (no write service: ``list`` and the other reads
use it; :mod:`gitreg.services.experiments` plans and makes the changes)."""

from __future__ import annotations

from gitreg.domain import experiment as rules
from gitreg.domain.experiment import Experiment
from gitreg.domain.stage_view import StageView
from gitreg.errors import ConflictError, UnsafeContentError
from gitreg.io.git import Git


def running(git: Git, tip: str | None, name: str, stage: str | None = None) -> Experiment | None:
    """The experiment running for ``name`` at stage tip ``tip`` (None: none); a broken record is an error."""
    blob = git.read_blob(tip, rules.path_of(name)) if tip else None
    if blob is None:
        return None
    return rules.Experiment.from_yaml(blob, f"{rules.path_of(name)} on {stage or tip}")


def all_running(git: Git, views: dict[str, StageView]) -> list[Experiment]:
    """Every running experiment, by stage then model (records that do not read are ``verify``'s)."""
    found = []
    with git.cat_file() as cat:
        for view in views.values():
            if not view.tip:
                continue
            for file, oid in sorted(cat.files(f"{view.tip}:{rules.EXPERIMENTS_DIR}").items()):
                blob = cat.blob(oid)
                try:
                    found.append(rules.Experiment.from_yaml(blob or b"", f"{rules.EXPERIMENTS_DIR}/{file}"))
                except UnsafeContentError:
                    continue
    return found


def refuse_running(git: Git, view: StageView, name: str, action: str) -> None:
    """While an experiment runs, ``models/<name>/`` holds its control: conclude it first."""
    if view.tip and git.read_blob(view.tip, rules.path_of(name)) is not None:
        raise ConflictError(
            f"an A/B test of {name} is running in {view.stage.name}: conclude it before a {action} "
            f"(`gitreg ab conclude {name} --stage {view.stage.name} --stop`, or --promote)")
