"""Server-side protection: a ``pre-receive`` hook that applies the registry's rules to every push.

It uses the same judge as the client (:func:`gitreg.services.checks.check_promotion`): version tags are never
deleted or moved and must match their card; a stage branch only moves forward, and every commit a push
adds to it is judged in order, from its trees, with the gates committed on the main branch before the
push; an alias ref only moves forward, each change naming a version that exists
(:func:`gitreg.services.aliases.hook_problems`). Valid pushes pass untouched.
"""

from __future__ import annotations

import os
import shlex
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from gitreg.domain import config as config_module
from gitreg.domain import refs, versioning
from gitreg.domain.config import Config
from gitreg.domain.version import ModelVersion
from gitreg.errors import GitregError, InvalidInputError, NotARegistryError
from gitreg.io.git import Git
from gitreg.services import aliases, annotations, artifact_check, checks, config_source, deprecation, gto_tags, index
from gitreg.services import signatures as signing_rules
from gitreg.services.config_source import load as load_config

ZERO = "0" * 40
CONFIG_BRANCHES = ("refs/heads/main", "refs/heads/master")  # the names the configuration may come from
MARKER = "# installed by gitreg"
ARTIFACTS_KEY = "gitreg.artifacts"


@dataclass(frozen=True)
class Update:
    old: str
    new: str
    ref: str


def install(repo: Path, force: bool = False, artifacts: str | None = None) -> Path:
    """Write the pre-receive hook into the (bare) repository at ``repo``; with ``artifacts`` (a
    directory remote or a URL such as ``s3://bucket/prefix``) it also refuses version tags whose bytes
    that store does not hold. The store is recorded in the repository's Git config (``gitreg.artifacts``)."""
    if not (repo.is_dir() and Git(repo).is_repository()):
        raise NotARegistryError(f"{repo} is not a Git repository: give the path of the shared (bare) repository")
    store = _artifact_store(artifacts) if artifacts else None
    hook = Path(Git(repo).git_dir()) / "hooks" / "pre-receive"
    if hook.exists() and MARKER not in hook.read_text(errors="replace") and not force:
        raise InvalidInputError(f"{hook} exists and is not gitreg's: merge it by hand, or pass --force to replace it")
    if store:
        Git(repo).config_set(ARTIFACTS_KEY, store)
    hook.parent.mkdir(parents=True, exist_ok=True)
    hook.write_text(f"#!/bin/sh\n{MARKER}: rejects pushes that break the registry's rules\n"
                    f"exec {shlex.quote(sys.executable)} -m gitreg.services.hook\n")
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return hook


def _artifact_store(location: str) -> str:
    """An existing directory (made absolute) or a URL without credentials in it."""
    if "://" in location:
        if "@" in location.split("://", 1)[1].split("/", 1)[0]:
            raise InvalidInputError(f"{location.split('://')[0]}:// store URLs may not carry credentials: give the "
                                    "server its credentials in its environment (e.g. AWS_ACCESS_KEY_ID)")
        return location
    if not Path(location).is_dir():
        raise InvalidInputError(f"the artifact store {location} is not a directory: give the DVC remote's path or URL")
    return str(Path(location).resolve())


def check(git: Git, updates: list[Update]) -> list[str]:
    """Why each update breaks a rule; empty when the push may land."""
    raced = _raced(git, updates)
    if raced:
        return raced  # Git refuses these anyway; worded so that the client fetches and retries
    config, problems = _configuration(git, updates)
    if config is None:
        return problems
    marks: list = []
    versions, _ = index.read_versions(git, recheck=True, marks=marks)
    found, pushed = _check_tags(git, [u for u in updates if u.ref.startswith(refs.TAGS_PREFIX)])
    problems += found + _version_order(versions, pushed)
    versions += pushed
    withdrawn, deprecated = deprecation.hook_problems(git, updates, versions, marks, ZERO)
    problems += withdrawn + annotations.hook_problems(git, updates, versions, ZERO)
    stages = {stage.ref: stage for stage in config.stages}
    moved = {u.ref.removeprefix("refs/heads/"): u.new for u in updates if u.ref in stages and u.new != ZERO}
    for update in updates:
        if update.ref in stages:
            problems += _check_stage(git, config, versions, stages[update.ref], update, moved, deprecated)
    problems += aliases.hook_problems(git, updates, versions, [s.name for s in config.stages], deprecated, ZERO)
    problems += signing_rules.hook_problems(git, config, updates, ZERO)  # who may sign: main's, before the push
    return problems + gto_tags.hook_problems(git, config, versions, updates, moved)


def _raced(git: Git, updates: list[Update]) -> list[str]:
    """Updates planned on refs that moved since the pusher looked (another writer landed first)."""
    current = git.ref_values()  # one process, however many refs the push brings
    problems = []
    for update in updates:
        now = current.get(update.ref, ZERO)
        if now == update.old:
            continue
        if update.ref.startswith(refs.TAGS_PREFIX) and update.old == ZERO:
            problems.append(f"{update.ref[len(refs.TAGS_PREFIX):]}: (already exists) another writer registered it first")
        else:
            problems.append(f"{update.ref}: moved on the server while you pushed (fetch first)")
    return problems


def _configuration(git: Git, updates: list[Update]) -> tuple[Config | None, list[str]]:
    """The gates committed on the main branch before the push, and what the push does to that branch: a
    second branch that would take over as the main one is refused, and so is a new .gitreg.yaml that
    does not read. When the committed one does not read, only a push that repairs it is accepted."""
    main = config_source.main_rev(git)
    problems = []
    for update in updates:
        if update.ref not in CONFIG_BRANCHES:
            continue
        if update.ref != main and update.old == ZERO and main is not None:
            problems.append(f"{update.ref}: this registry's main branch is {_branch_of(git, main)}; a "
                            "branch of this name would change where the gates are read from: name it otherwise")
        elif update.new == ZERO and update.ref == main:
            problems.append(f"{update.ref}: the main branch holds the gates and cannot be deleted")
        elif update.new != ZERO:
            problems += _readable_config(git, update)
    try:
        return load_config(git), problems
    except GitregError as exc:
        if problems or not any(u.ref == main for u in updates):
            problems.append(f"{exc} (only a push to the main branch that repairs it is accepted)")
            return None, problems
        return config_module.Config.parse(git.read_blob(next(u.new for u in updates if u.ref == main),
                                                        config_module.CONFIG_FILE)), problems


def _branch_of(git: Git, rev: str) -> str:
    """The branch name a configuration revision stands for (``HEAD`` of a bare repository resolved)."""
    if rev == "HEAD":
        rev = git.symbolic_ref("HEAD") or rev
    return rev.removeprefix("refs/heads/")


def _readable_config(git: Git, update: Update) -> list[str]:
    try:
        config_module.Config.parse(git.read_blob(update.new, config_module.CONFIG_FILE))
    except GitregError as exc:
        return [f"{update.ref}: {exc}"]
    return []


def _check_tags(git: Git, updates: list[Update]) -> tuple[list[str], list[ModelVersion]]:
    problems, records = [], []
    for update in updates:
        tag = update.ref[len(refs.TAGS_PREFIX):]
        if not refs.parse_version_tag(tag):
            continue
        if update.old != ZERO:
            action = "deleted" if update.new == ZERO else "moved"
            problems.append(f"{tag}: version tags are immutable and cannot be {action}; register a new version")
            continue
        record = git.tag_object(tag, update.new)
        if record is None:
            problems.append(f"{tag}: a version tag must be annotated (made by `gitreg register`)")
            continue
        records.append(record)
    pushed, broken = index.versions_from(git, records)
    problems += [f"{b.tag}: {b.reason}" for b in broken]
    with git.cat_file() as cat:
        for version in pushed:
            problems += checks.verify_version(cat, version)
    return problems + _check_bytes(git, pushed), pushed


def _check_bytes(git: Git, pushed: list[ModelVersion]) -> list[str]:
    """Bytes before refs, on the server: a version tag lands only when the artifact store holds its bytes."""
    store = git.config_get(ARTIFACTS_KEY) or ""
    if not store or not pushed:
        return []
    try:
        missing = artifact_check.check_store(store, pushed)
    except GitregError as exc:  # a store that cannot be asked cannot vouch for the bytes
        missing = [f"{v.tag}: {exc}" for v in pushed]
    return [f"{line}; push with `gitreg push`, which uploads the bytes before the refs" for line in missing]


def _version_order(existing: list[ModelVersion], pushed: list[ModelVersion]) -> list[str]:
    """The client's rule on the server (:func:`versioning.order_problem`): a new version is greater than the
    latest of its line, and no two versions of one model pushed together have the same precedence (1.0.0+a, 1.0.0+b)."""
    problems = []
    taken = {v.tag for v in existing}
    for version in pushed:
        out_of_order = versioning.order_problem(version.version, (v.version for v in existing if v.name == version.name))
        if version.tag in taken:  # landed while this hook ran: Git's wording, so the client retries
            problems.append(f"{version.tag}: (already exists) another writer registered it first")
        elif out_of_order:
            problems.append(f"{version.tag}: {out_of_order}, and a line is never reordered; "
                            f"register it with `gitreg register {version.name} PATH --bump patch`")
        twins = [v.tag for v in pushed if v.name == version.name and v.tag != version.tag
                 and versioning.precedence(v.version) == versioning.precedence(version.version)]
        if twins:
            problems.append(f"{version.tag}: pushed together with {', '.join(twins)} of the same precedence; "
                            "versions of a model must be ordered: push one of them")
    return problems


def _check_stage(git: Git, config: Config, versions: list[ModelVersion], stage, update: Update,
                 moved: dict[str, str], deprecated=None) -> list[str]:
    branch = stage.branch
    if update.new == ZERO:
        return [f"{branch}: a stage branch cannot be deleted; retire its models instead"]
    if update.old != ZERO and not (git.is_ancestor(update.old, update.new)
                                   and git.on_first_parent_line(update.old, update.new)):
        return [f"{branch}: stage history is never rewritten (non-fast-forward, or the old tip left off the "
                "new tip's first-parent line); roll back instead"]
    base = update.old if update.old != ZERO else None
    report = checks.check_promotion(git, config, versions, base, update.new, stage, moved=moved, deprecated=deprecated)
    problems = [f"{branch}: {problem}" for problem in report.problems]
    for model in report.models:
        where = f"{branch}: commit {model.commit[:8]}: {model.model}"
        problems += [f"{where}: {problem}" for problem in model.problems]
        if model.checks and not model.passed:
            failing = "; ".join(str(c) for c in model.checks if not c.passed)
            notes = f" ({'; '.join(model.notes)})" if model.notes else ""
            problems.append(f"{where} v{model.to_version} fails the gates of {stage.name}: {failing}{notes}; "
                            "promote a version that passes, or list who may force under overrides: "
                            "in .gitreg.yaml on the main branch")
    return problems


def main() -> int:
    updates = [Update(*line.split()) for line in sys.stdin.read().splitlines() if line.strip()]
    try:
        problems = check(Git(Path(os.getcwd())), updates)
    except GitregError as exc:  # one line, never a traceback: the pusher cannot read the server's stack
        problems = [str(exc)]
    for problem in problems:
        print(f"gitreg: rejected: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
