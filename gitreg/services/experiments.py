"""A/B tests as stage-branch commits: start, conclude (promote or stop), and their rollback.

The running experiment of a model in a stage is ``experiments/<name>.yaml`` at the tip of the stage
branch (:mod:`gitreg.domain.experiment`); ``models/<name>/`` keeps the control version meanwhile. Each
change is planned on a snapshot with no side effect, then applied with plumbing and a compare-and-swap
of the stage branch; with ``push`` it is published atomically (bytes first) and, when another writer
moved the stage first, taken back and planned again on theirs (a second start then finds the first).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

from gitreg.domain import experiment as rules
from gitreg.domain import gates
from gitreg.domain.abstats import CANDIDATE_WINS
from gitreg.domain.config import Stage
from gitreg.domain.experiment import Experiment
from gitreg.domain.stage_view import StageView
from gitreg.domain.trailers import StageChange
from gitreg.domain.version import ModelVersion
from gitreg.errors import (
    ConflictError,
    GateError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
    RemoteMovedError,
    UnsafeContentError,
)
from gitreg.io import faults
from gitreg.io.git import Git, Identity, TreeEdit
from gitreg.services import deprecation, gto_tags, stage_plan, sync
from gitreg.services.ab_records import all_running, refuse_running, running  # noqa: F401 (callers use them here)
from gitreg.services.snapshot import Snapshot
from gitreg.services.stage_plan import StagePlan


@dataclass(frozen=True)
class AbPlan:
    action: str  # start, stop, conclude
    record: Experiment
    stage: Stage
    parent: str
    expected: str | None
    edit: TreeEdit
    message: str
    promotion: StagePlan | None = None  # conclude --promote: the promotion it makes
    report: dict | None = None  # the outcomes' report the conclusion records
    checks: tuple = ()

    @property
    def review_branch(self) -> str:
        return f"ab/{self.stage.name}/{self.record.model}-{self.record.id}"

    def to_dict(self) -> dict:
        return {"action": f"ab-{self.action}", "model": self.record.model, "stage": self.stage.name,
                "experiment": self.record.to_dict(), "verdict": (self.report or {}).get("verdict"),
                "gates": [vars(c) for c in self.checks]}


@dataclass(frozen=True)
class AbResult:
    plan: AbPlan
    commit: str | None
    branch: str | None = None
    notes: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {**self.plan.to_dict(), "commit": self.commit, "branch": self.branch,
                "changed": self.commit is not None, "notes": list(self.notes), "gto_tags": sorted(self.tags)}


# ------------------------------------------------------------------------------------ reading
# ------------------------------------------------------------------------------------ planning
def plan_start(git: Git, snapshot: Snapshot, stage: Stage, name: str, candidate: str, *, split: float,
               metric: str, direction: str, key_field: str, min_samples: int, force: bool,
               require: tuple[str, ...], identity: Identity, experiment_id: str | None = None) -> AbPlan:
    view = snapshot.stage_views[stage.name]
    control = view.version_of(name)
    if control is None:
        raise NotFoundError(f"{name} is not in {stage.name}: an A/B test compares a candidate with the version "
                            f"there; promote one first (`gitreg promote {name} VERSION {stage.name}`)")
    existing = _existing(git, view, name)
    if existing:
        raise ConflictError(
            f"an experiment is already running for {name} in {stage.name} ({existing}): conclude it first "
            f"(`gitreg ab conclude {name} --stage {stage.name} --stop`), or see `gitreg ab status {name}`")
    version = snapshot.version(name, candidate)
    if version.version == control.version:
        raise InvalidInputError(f"v{candidate} is the control (the version in {stage.name}): give another "
                                f"candidate (`gitreg history {name}` lists the versions)")
    deprecation.refuse_promotion(snapshot.deprecations, version)
    checks = gates.evaluate(version.card, stage, snapshot.config, _in_stage(snapshot, name), control.card,
                            gates.parse_requirements(require))
    failing = [check for check in checks if not check.passed]
    if failing and not force:
        raise stage_plan.gate_failure(checks, version, stage.name)
    started = datetime.fromtimestamp(identity.timestamp, timezone.utc)
    record = rules.make(
        id=experiment_id or f"{name}-{stage.name}-{started.strftime('%Y%m%dT%H%M%SZ')}", model=name,
        stage=stage.name, control=control.version, candidate=version.version, split=split, metric=metric,
        direction=direction, key_field=key_field, min_samples=min_samples, started=started.isoformat(),
        author=f"{identity.name} <{identity.email}>", gates=[str(c) for c in checks],
        override=f"forced by {identity.name} <{identity.email}>" if failing else None)
    edit = TreeEdit(put={rules.path_of(name): record.to_yaml()})
    message = f"{rules.subject(rules.START, record)}\n\n{rules.trailers(rules.START, record)}\n"
    return AbPlan(rules.START, record, stage, view.tip, view.expected, edit, message, checks=tuple(checks))


def _existing(git: Git, view: StageView, name: str) -> str | None:
    blob = git.read_blob(view.tip, rules.path_of(name)) if view.tip else None
    if blob is None:
        return None
    try:
        return rules.Experiment.from_yaml(blob, rules.path_of(name)).id
    except UnsafeContentError:
        return f"a record {rules.path_of(name)} that does not read"


def _in_stage(snapshot: Snapshot, name: str) -> dict[str, str | None]:
    return {s: (v.version_of(name).version if v.version_of(name) else None) for s, v in snapshot.stage_views.items()}


def plan_conclude(git: Git, snapshot: Snapshot, stage: Stage, name: str, *, promote: bool,
                  report: Callable[[Experiment], dict] | None, force: bool, identity: Identity) -> AbPlan:
    view = snapshot.stage_views[stage.name]
    record = running(git, view.tip, name, stage.name)
    if record is None:
        raise NotFoundError(f"no A/B test of {name} is running in {stage.name}: `gitreg ab status {name}` "
                            "lists the experiments")
    result = report(record) if report else None
    extra = _verdict_trailers(result)
    if not promote:
        message = (f"{rules.subject(rules.STOP, record)}\n\n"
                   f"{rules.trailers(rules.STOP, record, **extra)}\n")
        return AbPlan(rules.STOP, record, stage, view.tip, view.expected,
                      TreeEdit(remove=[rules.path_of(name)]), message, report=result)
    version = snapshot.version(name, record.candidate)
    deprecation.refuse_promotion(snapshot.deprecations, version)
    doubts = _doubts(result)
    if doubts and not force:
        raise GateError(f"not promoting v{record.candidate}: {'; '.join(doubts)}. Let the test run on, conclude "
                        f"with --stop, or override with --force (the override is recorded)")
    control = view.version_of(name)
    checks = gates.evaluate(version.card, stage, snapshot.config, _in_stage(snapshot, name),
                            control.card if control else None)
    failing = [check for check in checks if not check.passed]
    if failing and not force:
        raise stage_plan.gate_failure(checks, version, stage.name)
    override = f"forced by {identity.name} <{identity.email}>" if failing or doubts else None
    promotion = stage_plan.plan_promote(git, view, version, checks, override)
    promotion.edit.remove.append(rules.path_of(name))
    message = rules.subject(rules.CONCLUDE, record, (result or {}).get("verdict"))
    return AbPlan(rules.CONCLUDE, record, stage, view.tip, view.expected, promotion.edit, message, promotion,
                  result, tuple(checks))


def _doubts(result: dict | None) -> list[str]:
    if result is None:
        return ["no outcomes were given (--outcomes FILE.csv), so there is no verdict"]
    doubts = []
    if result["verdict"] != CANDIDATE_WINS:
        doubts.append(f"the verdict is {result['verdict']!r}, not 'candidate wins'")
    if result["srm"]["mismatch"]:
        doubts.append(f"the counts do not match the split (sample ratio mismatch, p={result['srm']['p_value']:.2g})")
    return doubts


def _verdict_trailers(result: dict | None) -> dict:
    if result is None:
        return {}
    seq = result["sequential"]
    variants = result["variants"]
    return {"verdict": result["verdict"], "method": seq["method"],
            "p_value": None if seq["p_value"] is None else f"{seq['p_value']:.4g}",
            "difference": f"{result['difference']:.6g}",
            "samples": f"control={variants['control']['n']} candidate={variants['candidate']['n']}",
            "srm_p_value": f"{result['srm']['p_value']:.4g}", "outcomes": result.get("outcomes_sha256")}


def plan_rollback(git: Git, view: StageView, name: str, to: str | None) -> StagePlan | None:
    """``rollback`` where A/B tests are involved (None: an ordinary rollback). While an experiment runs,
    a rollback ends it (the control stays); otherwise, when the model's newest change in the stage was a
    conclusion, it is undone exactly: a --stop resumes the experiment, a --promote restores the control
    and resumes it (the ordinary rollback, plus the record put back)."""
    if not view.tip:
        return None
    current = running(git, view.tip, name, view.stage.name)
    control = view.version_of(name)
    held = control.version if control else None
    if current is not None:
        if to:
            raise InvalidInputError(f"an A/B test of {name} is running in {view.stage.name}: roll back without "
                                    "--to (it ends the test), or conclude it first")
        change = StageChange("rollback", name, view.stage.name, held, held)
        body = rules.trailers(rules.STOP, current, made_by="rollback")
        return StagePlan(change, view.stage, view.tip, view.expected, view.tip,
                         TreeEdit(remove=[rules.path_of(name)]), body=body)
    newest = git.first_parent_log(view.tip, rules.path_of(name))
    models = git.first_parent_log(view.tip, f"models/{name}")
    if not newest or to:
        return None
    last = newest[0]
    parent = last.parents[0] if last.parents else None
    before = git.read_blob(parent, rules.path_of(name)) if parent else None
    if before is None:
        return None
    if models and models[0].oid == last.oid:
        return None  # a conclusion that promoted: the caller's ordinary rollback, then restore_record
    if models and git.is_ancestor(last.oid, models[0].oid):
        return None  # the model changed since the experiment ended
    record = rules.Experiment.from_yaml(before, rules.path_of(name))
    change = StageChange("rollback", name, view.stage.name, held, held)
    body = f"This reverts commit {last.oid}.\n\n" + rules.trailers(rules.RESUME, record)
    return StagePlan(change, view.stage, view.tip, view.expected, view.tip,
                     TreeEdit(put={rules.path_of(name): before}), body=body)


def restore_record(git: Git, plan: StagePlan, name: str) -> StagePlan:
    """An ordinary rollback that undoes a conclusion which promoted: the experiment record comes back too."""
    undone = plan.change.reverts[:1]
    if len(plan.change.reverts) != 1 or not git.rev_parse(f"{undone[0]}^"):
        return plan
    before = git.read_blob(f"{undone[0]}^", rules.path_of(name))
    after = git.read_blob(undone[0], rules.path_of(name))
    if before is None or after is not None:
        return plan
    record = rules.Experiment.from_yaml(before, rules.path_of(name))
    plan.edit.put[rules.path_of(name)] = before
    return replace(plan, body=f"{plan.body}\n\n{rules.trailers(rules.RESUME, record)}")


# ------------------------------------------------------------------------------------ applying
def apply(git: Git, plan: AbPlan, identity: Identity) -> str:
    if plan.promotion is None:
        commit = git.commit(plan.parent, plan.edit, plan.message, identity)
    else:
        change = replace(plan.promotion.change, clock=time.time_ns())
        block = f"{change.trailers()}\n{_ab_block(plan)}"
        commit = git.commit(plan.parent, plan.edit, f"{plan.message}\n\n{block}\n", identity)
        message = f"Merge branch '{plan.promotion.promotion_branch}' into {plan.stage.branch}\n\n{block}\n"
        commit = git.commit_tree(git.tree_of(commit), [plan.parent, commit], message, identity)
    git.update_ref(plan.stage.ref, commit, plan.expected, f"gitreg: {plan.message.splitlines()[0]}")
    return commit


def _ab_block(plan: AbPlan) -> str:
    lines = rules.trailers(rules.CONCLUDE, plan.record, **_verdict_trailers(plan.report)).splitlines()
    return "\n".join(line for line in lines if not line.startswith(("Gitreg-Model:", "Gitreg-Stage:")))


def run(git: Git, read: Callable[[], Snapshot], build: Callable[[Snapshot], AbPlan], identity: Identity,
        dry_run: bool) -> AbResult:
    """Plan and apply here, planning again when the local stage branch moved under us."""
    for _ in range(stage_plan.RETRIES):
        snapshot = read()
        planned = build(snapshot)
        if dry_run:
            return AbResult(planned, None)
        try:
            commit = apply(git, planned, identity)
        except ConflictError:
            continue
        tags = _mirror(git, snapshot, planned)
        return AbResult(planned, commit, tags=tags)
    raise ConflictError("the stage branch kept moving while gitreg worked: run the command again")


def _mirror(git: Git, snapshot: Snapshot, planned: AbPlan) -> dict[str, str]:
    if planned.promotion is None:
        return {}
    try:
        return gto_tags.mirror(git, Snapshot.read(git, planned.record.model, snapshot.config), planned.record.model,
                               planned.stage.name)
    except ConflictError:
        return {}


def publish(git: Git, config, stage: Stage, attempt: Callable[[], AbResult]) -> AbResult:
    """``attempt`` on the remote's state, then one atomic push (the variants' bytes first); a push another
    writer overtook is taken back here and attempted again on theirs."""
    sync.require_remote(git)
    marker = Path(git.git_dir()) / "gitreg" / f"ab-pushing-{stage.name}.json"
    for number in range(sync.ATTEMPTS):
        sync.fetch_registry(git)
        _drop_interrupted(git, stage, marker)
        sync.follow_stage_branches(git, config)
        result = attempt()
        if result.commit is None:
            return result
        try:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(json.dumps({"commit": result.commit, "before": result.plan.expected or result.plan.parent,
                                          "tags": result.tags}))
            faults.point("ab:applied")
            snapshot = Snapshot.read(git, result.plan.record.model, config)
            record = result.plan.record
            sync.push_artifacts(git, [v for v in snapshot.versions if v.version in (record.control, record.candidate)])
            faults.pause("ab:pushing")
            git.push(sync.REMOTE, [f"{stage.ref}:{stage.ref}"] + [f"refs/tags/{t}:refs/tags/{t}" for t in result.tags])
            marker.unlink(missing_ok=True)
            return result
        except RemoteMovedError:
            _take_back(git, stage, result)
            marker.unlink(missing_ok=True)
            sync._back_off(number)
        except BaseException:
            _take_back(git, stage, result)
            marker.unlink(missing_ok=True)
            raise
    raise ConflictError(f"{sync.REMOTE} kept moving: {sync.ATTEMPTS} attempts to publish were overtaken; try again")


def _drop_interrupted(git: Git, stage: Stage, marker: Path) -> None:
    """A change whose push was killed: kept when the remote took it, otherwise taken back here (a change
    not published is not kept), so that this command plans on what the remote holds."""
    try:
        data = json.loads(marker.read_text())
    except (OSError, ValueError):
        return
    remote = git.rev_parse(f"{sync.TRACKING}{stage.branch}")
    if not (remote and git.is_ancestor(data["commit"], remote)) and git.rev_parse(stage.ref) == data["commit"]:
        if data.get("tags"):
            git.delete_tags(data["tags"])
        git.update_ref(stage.ref, data["before"], data["commit"], "gitreg: take back an interrupted A/B change")
    marker.unlink(missing_ok=True)


def _take_back(git: Git, stage: Stage, result: AbResult) -> None:
    if result.tags:
        git.delete_tags(result.tags)
    previous = result.plan.expected or result.plan.parent
    if git.rev_parse(stage.ref) == result.commit and previous:
        git.update_ref(stage.ref, previous, result.commit, "gitreg: take back an unpublished A/B change")


def open_review(git: Git, plan: AbPlan, identity: Identity, versions: list[ModelVersion]) -> AbResult:
    """``ab start --pr``: the start commit on a branch of its own, pushed (bytes first) for a pull request."""
    commit = git.commit(plan.parent, plan.edit, plan.message, identity)
    ref = f"refs/heads/{plan.review_branch}"
    if git.rev_parse(ref):
        raise ConflictError(f"branch {plan.review_branch} already exists: delete it (`git branch -D "
                            f"{plan.review_branch}`) and run the command again")
    git.update_ref(ref, commit, None, f"gitreg: {plan.message.splitlines()[0]}")
    notes = [f"Created branch {plan.review_branch} (commit {commit[:8]}) for review into {plan.stage.branch}."]
    if sync.REMOTE in git.remotes():
        sync.push_artifacts(git, versions)
        git.push(sync.REMOTE, [f"{ref}:{ref}", f"{plan.stage.ref}:{plan.stage.ref}"])
        notes.append(f"Pushed. Open the pull request with: gh pr create --base {plan.stage.branch} "
                     f"--head {plan.review_branch} --title \"{plan.message.splitlines()[0]}\"")
    else:
        notes.append(f"No Git remote: merge it with `git merge --no-ff {plan.review_branch}` on {plan.stage.branch}, "
                     "or push both branches and open a pull request.")
    return AbResult(plan, commit, branch=plan.review_branch, notes=tuple(notes))


def check_integrity(record: Experiment, view: StageView) -> None:
    control = view.version_of(record.model)
    if control is None or control.version != record.control:
        raise IntegrityError(f"{rules.path_of(record.model)} on {view.stage.branch} says the control is "
                             f"v{record.control}, but the stage holds {control.tag if control else 'nothing'}: "
                             "`gitreg verify` explains; conclude or roll back the experiment")
