"""Stage branches mirrored into GTO's assignment tags, and the tags judged against the branches.

``plan`` finds the tags that make GTO, ``dvc artifacts get --stage`` and DVC Studio see what the stage
branches hold (see :mod:`gitreg.domain.assignments`); ``create`` makes them. Every stage change made by
gitreg mirrors itself; ``gitreg sync-tags`` mirrors the rest (a forge's merge makes no tags). A mirror tag
is a pure function of the branch and the tags before it (its tagger is the event's author, its time the
event's), so two clones that mirror one event make the same tag object and their pushes agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from gitreg.domain import refs
from gitreg.domain.assignments import MIRROR_TRAILER, NewTag, StageEventFacts, StageTag, disagreement
from gitreg.domain.assignments import plan as plan_model
from gitreg.domain.config import Config, Stage
from gitreg.domain.version import ModelVersion
from gitreg.io.git import Git, Identity, StageTagRecord
from gitreg.services import history
from gitreg.services.resolve import resolve_stages
from gitreg.services.snapshot import Snapshot


@dataclass(frozen=True)
class TagSync:
    """What ``sync-tags`` made (or, with ``dry_run``, would make)."""

    tags: tuple[NewTag, ...]
    created: bool
    pushed: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"created": self.created, "pushed": list(self.pushed),
                "tags": [{"tag": t.tag, "commit": t.target, "time": t.time} for t in self.tags]}


def read(git: Git, pattern: str = "refs/tags/*#*") -> list[StageTag]:
    return [stage_tag(record) for record in git.stage_tags(MIRROR_TRAILER, pattern)]


def read_of(git: Git, model: str, stage: str) -> list[StageTag]:
    """``model``'s stage tags in ``stage`` (``refs/tags/m#prod*`` also matches the stage ``prod-eu``)."""
    return [tag for tag in read(git, f"refs/tags/{model}#{stage}*")
            if tag.parsed and (tag.parsed.name, tag.parsed.stage) == (model, stage)]


def stage_tag(record: StageTagRecord) -> StageTag:
    return StageTag(record.name, record.oid, refs.parse_assignment_tag(record.name), record.target,
                    record.annotated, record.time, record.mirrors)


def plan(git: Git, snapshot: Snapshot, model: str | None = None, stage: str | None = None) -> list[NewTag]:
    """The tags that bring GTO's view to the branches' (of ``model``, in ``stage``; default every one)."""
    tags = read(git, f"refs/tags/{model}#*" if model else "refs/tags/*#*")
    label = {v.commit: f"v{v.version}" for v in snapshot.versions}
    views = snapshot.model_stages if model else snapshot.stage_views
    by_model = snapshot.by_model
    new: list[NewTag] = []
    for target in ([snapshot.stage(stage)] if stage else snapshot.config.stages):
        view = views[target.name]
        events, _ = history.stage_events(git, view.tip, target.name, by_model, model=model)
        facts = _facts_by_model(events)
        entries = {name: version.commit for name, version in view.entries.items()}
        names = {model} if model else set(facts) | set(entries) | {
            t.parsed.name for t in tags if t.parsed and t.parsed.stage == target.name}
        for name in sorted(names):
            mine = [t for t in tags if t.parsed and t.parsed.name == name]
            made = plan_model(name, target.name, facts.get(name, []), entries.get(name), mine, label,
                              _correction(git, target, view.tip))
            tags += [_as_stage_tag(t) for t in made]  # later stages count on from these
            new += made
    return new


def _facts_by_model(events: list[history.StageEvent]) -> dict[str, list[StageEventFacts]]:
    facts: dict[str, list[StageEventFacts]] = {}
    for event in events:
        record = event.step.record
        author = _split_author(event.step.trailer_author) or (record.author_name, record.author_email)
        after = event.version.commit if event.version else None
        facts.setdefault(event.model, []).append(StageEventFacts(record.oid, record.timestamp, author, after))
    return facts


def _split_author(text: str | None) -> tuple[str, str] | None:
    if not text or "<" not in text:
        return None
    name, _, email = text.partition("<")
    return name.strip(), email.rstrip(">").strip()


def _correction(git: Git, stage: Stage, tip: str | None):
    """Who and when a tag correcting a hand-made one is stamped with when no event of the model is left:
    the stage branch's newest commit (or, without a branch, whoever runs the command, now)."""
    def facts() -> StageEventFacts:
        if tip:
            record = git.commit_record(tip)
            return StageEventFacts(tip, record.timestamp, (record.author_name, record.author_email), None)
        identity = git.identity()
        return StageEventFacts("", identity.timestamp, (identity.name, identity.email), None)
    return _Lazy(facts)


class _Lazy:
    """A correction's facts, read only when a correction is made (almost never)."""

    def __init__(self, make):
        self._make, self._value = make, None

    def __getattr__(self, name):
        if self._value is None:
            self._value = self._make()
        return getattr(self._value, name)


def _as_stage_tag(tag: NewTag) -> StageTag:
    mirrors = tag.message.rsplit(f"{MIRROR_TRAILER}: ", 1)[-1].strip() or None
    return StageTag(tag.tag, "", refs.parse_assignment_tag(tag.tag), tag.target, True, tag.time, mirrors)


def create(git: Git, tags: list[NewTag]) -> dict[str, str]:
    """Make the tags (all or none); ``{tag: object id}``."""
    return git.create_tags([(t.tag, t.target, t.message, Identity(*t.author, t.time, "+0000")) for t in tags])


def mirror(git: Git, snapshot_of: Snapshot, model: str, stage: str) -> dict[str, str]:
    """Mirror ``model``'s events in ``stage`` (after a stage change); ``{tag: object id}`` made."""
    return create(git, plan(git, snapshot_of, model, stage))


# ------------------------------------------------------------------------------------- judging
def problems(git: Git, snapshot: Snapshot) -> list[str]:
    """Every stage tag GTO would misread or that disagrees with the branches (``verify``)."""
    tags = read(git)
    judge = _Judge(snapshot.config, list(snapshot.versions))
    found = [problem for tag in tags if (problem := judge.tag_problem(tag))]
    for stage in snapshot.config.stages:
        names = set(snapshot.stage_views[stage.name].entries) | {
            t.parsed.name for t in tags if t.parsed and t.parsed.stage == stage.name}
        found += [f"{problem}: run `gitreg sync-tags --push`" for problem in
                  judge.disagreements(tags, snapshot.stage_views, [(name, stage.name) for name in sorted(names)])]
    return found


def hook_problems(git: Git, config: Config, versions: list[ModelVersion], updates, moved: dict[str, str]) -> list[str]:
    """The server's rule for pushed stage tags: never moved or deleted, each one of the kind gitreg writes,
    naming a version's commit, and leaving GTO's view of its model and stage equal to the branch's after
    the push (a branch moved without tags, as a forge's merge is, is judged by ``verify``, not refused)."""
    found, pushed = [], []
    for update in updates:
        name = update.ref.removeprefix(refs.TAGS_PREFIX)
        if not update.ref.startswith(refs.TAGS_PREFIX) or not refs.is_gto_stage_tag(name):
            continue
        if update.old != _ZERO:
            found.append(f"{name}: GTO's stage tags record what happened and are never moved or deleted; "
                         "run `gitreg sync-tags` to correct what they say")
            continue
        pushed.append(stage_tag(git.stage_tag_object(name, update.new, MIRROR_TRAILER)))
    if not pushed:
        return found
    judge = _Judge(config, versions)
    found += [problem for tag in pushed if (problem := judge.tag_problem(tag))]
    views = resolve_stages(git, config, versions, moved=moved)
    touched = sorted({(t.parsed.name, t.parsed.stage) for t in pushed if t.parsed and t.parsed.stage in views})
    return found + [f"{problem}: pushed stage tags must say what the stage branch holds; make them with "
                    "`gitreg sync-tags`" for problem in judge.disagreements(read(git) + pushed, views, touched)]


_ZERO = "0" * 40


class _Judge:
    def __init__(self, config: Config, versions: list[ModelVersion]):
        self.stages = {stage.name for stage in config.stages}
        self.commits = {(v.name, v.commit) for v in versions}
        self.label = {v.commit: f"v{v.version}" for v in versions}

    def tag_problem(self, tag: StageTag) -> str | None:
        """Why one stage tag cannot stand (it is not what gitreg means by a stage tag), or None."""
        if tag.parsed is None:
            return (f"tag {tag.tag}: GTO would read it as a stage tag, but it is not one gitreg writes "
                    "(NAME#STAGE#N or NAME#STAGE!#N): delete it with `git tag -d`")
        if not tag.annotated:
            return f"tag {tag.tag}: a lightweight stage tag, which GTO ignores: delete it and run `gitreg sync-tags`"
        if tag.parsed.stage not in self.stages:
            return f"tag {tag.tag}: {tag.parsed.stage} is not a stage of this registry (.gitreg.yaml)"
        if (tag.parsed.name, tag.target) not in self.commits:
            return (f"tag {tag.tag}: points at commit {(tag.target or 'none')[:12]}, not at a version of "
                    f"{tag.parsed.name}: a stage tag names the commit a version tag points at")
        return None

    def disagreements(self, tags: list[StageTag], views: dict, pairs: list[tuple[str, str]]) -> list[str]:
        found = []
        for name, stage in pairs:
            if name in views[stage].breaches:
                continue  # the content matches no version: reported as that breach, once
            entry = views[stage].entries.get(name)
            problem = disagreement(name, stage, tags, entry.commit if entry else None, self.label)
            if problem:
                found.append(problem)
        return found
