"""``deprecate``: withdraw versions without deleting anything, and the rules deprecation tags obey.

A deprecation is GTO's tag ``NAME@vX.Y.Z!``: annotated, pointing at the version's commit, its message
the reason. It is read in the same pass as the version tags (:func:`gitreg.services.index.versions_from`
collects the records); one judge (:func:`judge`) decides which are valid for every reader, ``verify``
and the server's hook. A deprecated version stays where it is (tags, stages) but cannot be promoted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from gitreg.domain import deprecation, refs
from gitreg.domain.deprecation import Deprecation
from gitreg.domain.version import ModelVersion
from gitreg.errors import ConflictError, GitregError, InvalidInputError, NotFoundError, RemoteMovedError
from gitreg.io.git import Git, TagRecord

REMOTE = "origin"
DEPRECATION_PATTERN = "refs/tags/*!"
Deprecations = Mapping[tuple[str, str], Deprecation]


MATCH_CONFIRM = 10  # more versions than this by --match need --yes


@dataclass(frozen=True)
class DeprecateResult:
    deprecations: list[Deprecation]
    in_stages: dict[str, list[str]] = field(default_factory=dict)  # version tag -> stages still holding it
    pushed: bool = False
    dry_run: bool = False

    def to_dict(self) -> dict:
        return {"deprecated": [{"name": d.name, "version": d.version, **d.to_dict(),
                                "stages": self.in_stages.get(refs.format_version_tag(d.name, d.version), [])}
                               for d in self.deprecations],
                "pushed": self.pushed, "dry_run": self.dry_run}


# ------------------------------------------------------------------------------------ the judge
def judge(versions: Iterable[ModelVersion], records: Iterable[TagRecord]) -> tuple[dict, list[str]]:
    """The valid deprecations ``{(name, version): Deprecation}`` and why each other record is not one."""
    commits = {(v.name, v.version): v.commit for v in versions}
    valid, problems = {}, []
    for record in records:
        problem = _problem(record, commits)
        if problem:
            problems.append(f"deprecation tag {record.name}: {problem}")
            continue
        name, version = refs.parse_deprecation_tag(record.name)
        valid[(name, version)] = deprecation.from_tag(name, version, record.name, record.message, record.tagger,
                                                       record.commit)
    return valid, problems


def _problem(record: TagRecord, commits: dict) -> str | None:
    parsed = refs.parse_deprecation_tag(record.name)
    if parsed is None:
        return None if not record.name.endswith("!") else "is not NAME@vX.Y.Z! (GTO's deprecation grammar)"
    name, version = parsed
    if parsed not in commits:
        return f"{name} has no version {version}: a deprecation names a registered version"
    if record.target_type != "commit" or record.commit != commits[parsed]:
        return (f"points at {record.target_type} {record.commit[:8]}, not at the commit of "
                f"{refs.format_version_tag(name, version)} ({commits[parsed][:8]})")
    if not record.message.strip():
        return "carries no reason (its message is empty)"
    return None


def lightweight(kinds: Mapping[str, str]) -> list[str]:
    """Deprecation tags that are not annotated (no reason, no author): GTO and gitreg read none of them."""
    return [f"deprecation tag {name}: a deprecation must be an annotated tag (made by `gitreg deprecate`)"
            for name, kind in kinds.items() if refs.parse_deprecation_tag(name) and kind != "tag"]


def verify_problems(git: Git, versions: list[ModelVersion], records: Iterable[TagRecord]) -> list[str]:
    """``verify``'s findings: deprecation tags that are lightweight, name no version or another commit."""
    return judge(versions, records)[1] + lightweight(git.tag_kinds(DEPRECATION_PATTERN))


def hook_problems(git: Git, updates, versions: list[ModelVersion], marks: list[TagRecord],
                  zero: str) -> tuple[list[str], dict]:
    """The server's rule for pushed deprecation tags: never deleted or moved, annotated, on the commit of a
    version that exists (or that the same push brings). Also the deprecations in force after the push."""
    problems, records = [], []
    for update in updates:
        tag = update.ref.removeprefix(refs.TAGS_PREFIX)
        if not (update.ref.startswith(refs.TAGS_PREFIX) and tag.endswith("!")):
            continue
        if update.old != zero:
            action = "deleted" if update.new == zero else "moved"
            problems.append(f"deprecation tag {tag}: a deprecation is never {action}; it is the record that "
                            "the version was withdrawn")
            continue
        record = git.tag_object(tag, update.new)
        if record is None:
            problems.append(f"deprecation tag {tag}: a deprecation must be an annotated tag (made by `gitreg deprecate`)")
            continue
        records.append(record)
    problems += judge(versions, records)[1]
    return problems, judge(versions, [*marks, *records])[0]


def promotion_problem(deprecations: Deprecations, version: ModelVersion) -> str | None:
    """The one rule for promoting a withdrawn version (``promote``, ``check-promotion``, the hook)."""
    found = deprecations.get((version.name, version.version))
    if found is None:
        return None
    return (f"{version.name} v{version.version} is deprecated ({found.describe()}) and cannot be promoted: "
            f"choose another (`gitreg history {version.name}` lists the versions not deprecated)")


def refuse_promotion(deprecations: Deprecations, version: ModelVersion) -> None:
    problem = promotion_problem(deprecations, version)
    if problem:
        raise ConflictError(problem)


# ------------------------------------------------------------------------------------ deprecate
def plan(snapshot, name: str, version: str | None, all_versions: bool) -> list[ModelVersion]:
    """The versions to deprecate; refuses a missing version and one already deprecated."""
    known = snapshot.deprecations
    if all_versions:
        if version is not None:
            raise InvalidInputError(f"--all-versions deprecates every version of {name}: name the model alone")
        snapshot.version(name)  # an unknown model is NotFoundError
        targets = [v for v in snapshot.history(name)[::-1] if (v.name, v.version) not in known]
        if not targets:
            raise ConflictError(f"every version of {name} is already deprecated: nothing to do")
        return targets
    if version is None:
        raise InvalidInputError(f"name the version to deprecate, {name}@VERSION, or pass --all-versions")
    target = snapshot.version(name, version)
    if (name, version) in known:
        raise ConflictError(f"{target.tag} is already deprecated: {known[(name, version)].describe()}; "
                            "a deprecation is a tag and never changes")
    return [target]


def matching(found: list[ModelVersion], expression: str, yes: bool, dry_run: bool) -> list[ModelVersion]:
    """``--match`` (deprecate, annotate): the versions the search found (none deprecated), confirmed beyond
    ``MATCH_CONFIRM``."""
    if not found:
        raise NotFoundError(f"no version that is not deprecated matches {expression!r}: "
                            f"`gitreg search {expression!r}` shows what it selects")
    if len(found) > MATCH_CONFIRM and not (yes or dry_run):
        raise InvalidInputError(f"{len(found)} versions match {expression!r}: check them with --dry-run, then add --yes")
    return found


def apply(git: Git, snapshot, targets: list[ModelVersion], reason: str, push: bool,
          dry_run: bool = False) -> DeprecateResult:
    identity = git.identity()
    message = deprecation.tag_message(reason)
    tags = [(refs.format_deprecation_tag(v.name, v.version), v.commit, message) for v in targets]
    if dry_run:
        return DeprecateResult(_planned(identity, targets, tags, message), _in_stages(snapshot, targets), dry_run=True)
    made_tags = git.create_tags([(*tag, identity) for tag in tags])
    if push:
        try:
            git.push(REMOTE, [f"refs/tags/{tag}:refs/tags/{tag}" for tag, _, _ in tags])
        except GitregError as exc:
            git.delete_tags(made_tags)  # unpublished: leave nothing
            if isinstance(exc, RemoteMovedError):  # the only tag a push can find taken is the same name
                raise ConflictError(f"{REMOTE} already holds a deprecation of {', '.join(t for t, _, _ in tags)} "
                                    "made by another writer: `gitreg pull` brings it (nothing was changed "
                                    "here)") from exc
            raise
    return DeprecateResult(_planned(identity, targets, tags, message), _in_stages(snapshot, targets), push)


def _planned(identity, targets: list[ModelVersion], tags, message: str) -> list[Deprecation]:
    author = f"{identity.name} <{identity.email}>"
    return [deprecation.from_tag(v.name, v.version, tag, message, f"{author} {identity.git_date}", v.commit)
            for v, (tag, _, _) in zip(targets, tags)]


def _in_stages(snapshot, targets: list[ModelVersion]) -> dict[str, list[str]]:
    """The stages still holding a version just deprecated: it stays there until rolled back or retired."""
    found: dict[str, list[str]] = {}
    tags = {t.tag for t in targets}
    for name in dict.fromkeys(t.name for t in targets):
        for stage, version in snapshot.stages_of(name).items():
            if refs.format_version_tag(name, version) in tags:
                found.setdefault(refs.format_version_tag(name, version), []).append(stage)
    return found


def unpublished(deprecations: Deprecations, on_remote: Mapping[str, str]) -> list[str]:
    """Refspecs of the valid deprecation tags the remote lacks (``gitreg push`` publishes them)."""
    refs_ = [f"{refs.TAGS_PREFIX}{d.tag}" for d in deprecations.values()]
    return [f"{ref}:{ref}" for ref in sorted(refs_) if ref not in on_remote]
