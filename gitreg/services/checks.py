"""``check-promotion`` (CI on pull requests into a stage) and ``verify`` (the whole registry)."""

from __future__ import annotations

from dataclasses import dataclass, field

from gitreg.domain import gates, refs, three_way, yamlio
from gitreg.domain.card import CARD_FILE, Artifact, Card
from gitreg.domain.config import Config, Stage
from gitreg.domain.experiment import EXPERIMENTS_DIR
from gitreg.domain.pointer import read_pointer
from gitreg.domain.stage_view import group_by_model
from gitreg.domain.version import BrokenTag, ModelVersion
from gitreg.errors import CardError, GitregError, InvalidInputError, NotFoundError
from gitreg.io.git import CatFile, Git
from gitreg.services import deprecation, experiment_checks, history
from gitreg.services.config_source import main_rev
from gitreg.services.resolve import resolve_stages


@dataclass
class ModelCheck:
    model: str
    from_version: str | None
    to_version: str | None
    action: str = "promote"
    commit: str | None = None  # the stage commit judged (None: the merge a pull request would make)
    problems: list[str] = field(default_factory=list)
    checks: list[gates.GateCheck] = field(default_factory=list)
    deltas: dict[str, tuple] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    allowed_override: bool = False  # gates failed, and a --force by an identity under overrides: accepts it

    @property
    def passed(self) -> bool:
        return not self.problems and (all(check.passed for check in self.checks) or self.allowed_override)


@dataclass
class PromotionReport:
    stage: str
    base: str
    head: str
    models: list[ModelCheck]
    problems: list[str] = field(default_factory=list)  # not about one model: files outside models/

    @property
    def passed(self) -> bool:
        return not self.problems and all(model.passed for model in self.models)

    def to_dict(self) -> dict:
        return {"stage": self.stage, "base": self.base, "head": self.head, "passed": self.passed,
                "problems": self.problems,
                "models": [{"model": m.model, "action": m.action, "commit": m.commit,
                            "from_version": m.from_version, "to_version": m.to_version,
                            "passed": m.passed, "problems": m.problems, "notes": m.notes,
                            "gates": [vars(c) for c in m.checks],
                            "deltas": {k: list(v) for k, v in m.deltas.items()}} for m in self.models]}


def infer_stage(config: Config, base: str) -> Stage:
    """The stage whose branch ``base`` names (``stage/prod``, ``origin/stage/prod``, ``refs/…``)."""
    for stage in config.stages:
        if base == stage.branch or base.endswith(f"/{stage.branch}"):
            return stage
    raise InvalidInputError(f"{base} is not a stage branch: name the target with --stage STAGE")


def check_promotion(git: Git, config: Config, versions: list[ModelVersion], base: str | None, head: str,
                    stage: Stage, moved: dict[str, str] | None = None,
                    deprecated: deprecation.Deprecations | None = None) -> PromotionReport:
    """The one judge of stage changes (pull-request CI, the server hook): every first-parent commit
    from ``base`` to ``head``, in order, may change only ``models/<name>/`` folders; each change is
    classified from the trees (:mod:`gitreg.services.history`); a new state must be a registered version; a
    promotion must pass the stage's gates (``--force`` counts only from identities under
    ``overrides:``); a rollback is one exactly when it restores the state before the promotion it
    undoes. When ``head`` does not contain ``base`` (a pull request opened from an older tip), the
    merge a forge would make is judged instead. ``base`` None: a new stage branch, judged from where it
    leaves the main branch's history, which must hold no models. ``moved`` gives stage branches' tips
    after a push; a version in ``deprecated`` cannot be promoted."""
    head_commit = _commit(git, head)
    base_commit = _commit(git, base) if base else None
    registered = group_by_model(versions)
    views = resolve_stages(git, config, versions, moved=moved)
    main = main_rev(git)
    report = PromotionReport(stage.name, base_commit or "", head_commit, [])
    with git.cat_file() as cat:
        ledger = history.Ledger()
        if base_commit is None:
            base_commit = _birth(git, cat, main, head_commit, report)
        if base_commit:
            history.replay(cat, history.steps(git, cat, base_commit), stage.name, registered, ledger)
        for step, outside in _steps_between(git, cat, base_commit, head_commit):
            outside = [path for path in outside if not _as_on_main(cat, main, step.oid or head_commit, path)]
            if outside:
                where = f"commit {step.oid[:8]}" if step.oid else "the pull request"
                report.problems.append(f"{where} changes files outside the models it promotes: "
                                       f"{', '.join(outside[:5])}; a stage change touches only models/<name>/")
            for event in history.replay(cat, [step], stage.name, registered, ledger):
                report.models.append(_judge(event, config, stage, views, deprecated or {}))
            report.problems += _judge_experiments(git, cat, step, base_commit, head_commit, config, stage,
                                                  registered, views, deprecated or {})
    return report


def _judge_experiments(git, cat, step, base, head, config, stage, registered, views, deprecated) -> list[str]:
    """The A/B test records the step adds, ends or keeps (:mod:`gitreg.services.experiment_checks`)."""
    files = experiment_checks.step_files(git, cat, step.record, base, head)
    if not files[0] and not files[1]:
        return []
    author = experiment_checks.author_of(cat, step.record or git.commit_record(head))

    def in_stage(name: str) -> dict:
        return {s: (v.version_of(name).version if v.version_of(name) else None) for s, v in views.items()}

    return experiment_checks.judge_step(cat, step, files, config, stage, registered, in_stage, deprecated, author)


def _birth(git: Git, cat: CatFile, main: str | None, head: str, report: PromotionReport) -> str | None:
    """Where a new stage branch leaves the main branch's history (None: it shares none of it, and every
    commit is judged from an empty stage). Born there, it must hold no models: a model is in a stage
    only once promoted there."""
    fork = git.merge_base(main, head) if main else None
    if fork and not git.on_first_parent_line(fork, head):
        fork = None
    if fork and cat.subtrees(f"{fork}:{refs.MODELS_DIR}"):
        report.problems.append(f"the branch starts from commit {fork[:8]}, which already holds models: a stage "
                               "branch is born from the registry skeleton (let gitreg create it with a promotion)")
    report.base = fork or ""
    return fork


def _steps_between(git: Git, cat, base: str | None, head: str) -> list[tuple[history.Step, list[str]]]:
    if base is None or (git.is_ancestor(base, head) and git.on_first_parent_line(base, head)):
        records = git.first_parent_log(f"{base}..{head}" if base else head)[::-1]
        return [(history.step_of(cat, r), _outside(git.changed_paths(r.parents[0], r.oid) if r.parents else []))
                for r in records]
    fork = git.merge_base(base, head)
    proposed = cat.subtrees(f"{head}:{refs.MODELS_DIR}")
    forked = cat.subtrees(f"{fork}:{refs.MODELS_DIR}") if fork else {}
    before = cat.subtrees(f"{base}:{refs.MODELS_DIR}")
    after = three_way.merged(before, forked, proposed)
    record = git.commit_record(head)
    step = history.Step(None, before, after, history.trailers_of(cat, record),
                        history.trailer_author(cat, record))
    return [(step, _outside(git.changed_paths(fork, head) if fork else []))]


def _as_on_main(cat: CatFile, main: str | None, commit: str, path: str) -> bool:
    """A file brought to a stage branch exactly as the main branch has it (e.g. updated workflows)."""
    if not main:
        return False
    here, there = cat.get(f"{commit}:{path}"), cat.get(f"{main}:{path}")
    return (here[0] if here else None) == (there[0] if there else None)


def _outside(paths: list[str]) -> list[str]:
    """Changed paths that are not inside a ``models/<name>/`` folder."""
    return [p for p in paths if not (p.startswith(f"{refs.MODELS_DIR}/") and p.count("/") >= 2)
            and not p.startswith(f"{EXPERIMENTS_DIR}/")]  # judged as A/B test records


def _judge(event: history.StageEvent, config: Config, stage: Stage, views, deprecated) -> ModelCheck:
    result = ModelCheck(event.model, _version(event.from_version), _version(event.version), event.action,
                        event.step.oid)
    if event.breach:
        result.problems.append(f"models/{event.model}/ {event.breach}")
        return result
    if event.claimed and event.claimed != event.action:
        result.notes.append(f"its trailers say {event.claimed}, but its tree makes it a {event.action}")
    if event.action != history.PROMOTE:
        return result  # rollbacks restore a state that was gated; retirements need no gates
    withdrawn = deprecation.promotion_problem(deprecated, event.version)
    if withdrawn:
        result.problems.append(withdrawn)
    in_stage = {s: (v.version_of(event.model).version if v.version_of(event.model) else None)
                for s, v in views.items()}
    replaced = event.from_version.card if event.from_version else None
    result.checks = gates.evaluate(event.version.card, stage, config, in_stage, replaced)
    if event.from_version:
        result.deltas = _deltas(event.from_version.card, event.version.card)
    if not all(check.passed for check in result.checks) and event.override:
        who = event.step.trailer_author or ""
        result.allowed_override = _may_override(who, config.overrides)
        result.notes.append(f"--force by {who or 'an unknown author'}: "
                            + ("allowed by overrides in .gitreg.yaml" if result.allowed_override
                               else "not listed under overrides: in .gitreg.yaml"))
    return result


def _may_override(author: str, allowed: tuple[str, ...]) -> bool:
    """``author`` ("Name <email>") is listed whole, or by its email alone."""
    email = author.rpartition("<")[2].rstrip(">").strip().lower()
    return bool(author) and any(entry.lower() == author.lower() or ("<" not in entry and entry.lower() == email)
                                for entry in allowed)


def _version(found: ModelVersion | None) -> str | None:
    return found.version if found else None


def _deltas(old: Card, new: Card) -> dict[str, tuple]:
    deltas = {}
    for metric in sorted(set(old.metrics) | set(new.metrics)):
        a, b = old.metrics.get(metric), new.metrics.get(metric)
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b))
        deltas[metric] = (a, b, b - a if numeric else None)
    return deltas


def markdown(report: PromotionReport) -> str:
    verdict = "passed" if report.passed else "FAILED"
    lines = [f"## gitreg promotion check into `{report.stage}`: {verdict}", ""]
    lines += [f"- ❌ {problem}" for problem in report.problems]
    if not report.models:
        lines.append("No model changes.")
    for model in report.models:
        mark = "✅" if model.passed else "❌"
        was = f"v{model.from_version}" if model.from_version else "—"
        change = f"{was} → v{model.to_version}" if model.to_version else "—"
        lines += [f"### {mark} `{model.model}`: {model.action} {change}", ""]
        lines += [f"- ❌ {problem}" for problem in model.problems]
        lines += [f"- {note}" for note in model.notes]
        if model.deltas:
            lines += ["", "| metric | before | after | delta |", "|---|---|---|---|"]
            lines += [f"| {k} | {_cell(a)} | {_cell(b)} | {_cell(d, signed=True)} |" for k, (a, b, d) in model.deltas.items()]
        if model.checks:
            lines += ["", "| gate | actual | required | result |", "|---|---|---|---|"]
            lines += [f"| {c.name} | {c.actual} | {c.required} | {'pass' if c.passed else '**FAIL**'} |"
                      for c in model.checks]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _cell(value, signed: bool = False) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:+.4g}" if signed else f"{value:.4g}"
    return f"{value:+}" if signed and isinstance(value, int) else str(value)


def verify(git: Git, config: Config, versions: list[ModelVersion], broken: list[BrokenTag],
           marks: tuple = ()) -> list[str]:
    """Every breach of the registry's invariants; empty when all is well. ``marks``: the deprecation tags."""
    problems = [f"tag {b.tag}: {b.reason}" for b in broken]
    problems += deprecation.verify_problems(git, versions, marks)
    with git.cat_file() as cat:
        for start in range(0, len(versions), VERIFY_CHUNK):
            chunk = versions[start:start + VERIFY_CHUNK]
            cat.prefetch(spec for version in chunk for spec in _files_of(version))
            for version in chunk:
                problems += verify_version(cat, version)
            cat.forget()
    views = resolve_stages(git, config, versions)
    for view in views.values():
        problems += [str(breach) for breach in view.breaches.values()]
    problems += _stage_births(git, views)
    return problems + experiment_checks.verify_problems(git, views, group_by_model(versions))


def _stage_births(git: Git, views) -> list[str]:
    """Each stage branch's first-parent line starts from the registry skeleton, with no models: a history
    substituted or begun elsewhere holds events nobody judged."""
    main = main_rev(git)
    problems = []
    with git.cat_file() as cat:
        for view in views.values():
            if not view.tip or not main:
                continue
            report = PromotionReport(view.stage.name, "", view.tip, [])
            if _birth(git, cat, main, view.tip, report) is None:
                report.problems.append("its first-parent history does not start from the main branch's")
            problems += [f"{view.stage.branch}: {problem}" for problem in report.problems]
    return problems


VERIFY_CHUNK = 2000  # versions whose files are read in one exchange (about 2 MB)


def _files_of(version: ModelVersion) -> tuple[str, str]:
    """The card and the pointer that the version's index names, as ``cat-file`` specs."""
    folder = f"{version.commit}:{refs.model_dir(version.name)}"
    return f"{folder}/{CARD_FILE}", f"{folder}/{version.card_data()['artifact']['path']}.dvc"


def verify_version(cat: CatFile, version: ModelVersion) -> list[str]:
    """The tagged tree's card.yaml is the index's card, and its DVC pointer names the card's bytes. Files
    exactly as gitreg writes them for the index's data are compared as bytes; anything else is parsed."""
    where = f"models/{version.name}/{CARD_FILE} at {version.tag}"
    blob = cat.blob(f"{version.commit}:{refs.model_dir(version.name)}/{CARD_FILE}")
    if blob is None:
        return [f"tag {version.tag}: no {CARD_FILE} in its tree"]
    indexed = version.card_data()
    if blob != (yamlio.dump_plain(indexed) or "").encode():
        try:
            card = Card.from_yaml(blob, where)
        except CardError as exc:
            return [f"tag {version.tag}: {exc}"]
        if card != version.card:
            return [f"tag {version.tag}: its message index and {where} disagree", *_pointer_agrees(cat, version, card.artifact)]
        indexed = card.to_dict()
    return _pointer_agrees(cat, version, Artifact(**indexed["artifact"]))


def _pointer_agrees(cat: CatFile, version: ModelVersion, artifact: Artifact) -> list[str]:
    """The DVC pointer names the same bytes as the card (and so as the tag's index): md5 and size."""
    name = f"{artifact.path}.dvc"
    blob = cat.blob(f"{version.commit}:{refs.model_dir(version.name)}/{name}")
    if blob is None:
        return [f"tag {version.tag}: no DVC pointer {name} in its tree"]
    if blob in artifact.pointer_texts():
        return []
    try:
        pointer = read_pointer(blob, f"{name} at {version.tag}")
    except GitregError as exc:
        return [f"tag {version.tag}: {exc}"]
    if (pointer.md5, pointer.size) != (artifact.md5, artifact.size):
        return [f"tag {version.tag}: its pointer {name} says md5 {pointer.md5} size {pointer.size}, its card "
                f"md5 {artifact.md5} size {artifact.size}: the version is not what its card says"]
    return []


def _commit(git: Git, rev: str) -> str:
    found = git.rev_parse(rev)
    if not found:
        raise NotFoundError(f"{rev} is not a commit here: fetch it first (`git fetch origin {rev}`)")
    return found
