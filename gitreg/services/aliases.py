"""Aliases: read them (one ``for-each-ref``), change them (a commit on the alias's own ref, moved by
compare-and-swap), and judge them (``verify`` and the server's hook use :func:`problems_of`).

The rules and the record format are in :mod:`gitreg.domain.aliases`; publishing is in
:mod:`gitreg.services.alias_publish`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone

from gitreg.domain import aliases as rules
from gitreg.domain import refs
from gitreg.domain.aliases import AliasRecord
from gitreg.domain.event import Event
from gitreg.domain.version import ModelVersion
from gitreg.errors import ConflictError, InvalidInputError, NotFoundError
from gitreg.io.git import Git, RefCommit

TRACKING = "refs/gitreg/origin/aliases/"  # where a fetch puts the remote's alias refs
ALIAS_CHANGE = 2  # sorts after registrations and stage changes of the same second (see audit)


def record_of(commit: RefCommit) -> AliasRecord:
    return rules.record(rules.fields_of(commit.trailers), commit.oid, commit.parents, commit.author, commit.timestamp)


# ---------------------------------------------------------------------------------------- reads
def current(git: Git, name: str | None = None) -> dict[tuple[str, str], AliasRecord]:
    """``{(name, alias): the alias's newest change}`` of every alias (of ``name``), removed ones included."""
    prefix = refs.format_alias_ref(name, "") if name else refs.ALIASES_PREFIX
    found = {}
    for tip in git.ref_commits(prefix):
        parsed = refs.parse_alias_ref(tip.ref)
        if parsed and tip.kind == "commit":
            found[parsed] = record_of(tip)
    return found


def pointing(records: Mapping[tuple[str, str], AliasRecord]) -> dict[tuple[str, str], str]:
    """``{(name, alias): version}`` of the aliases that point at a version now."""
    return {key: record.version for key, record in records.items() if record.version}


def by_version(records: Mapping[tuple[str, str], AliasRecord]) -> dict[tuple[str, str], frozenset]:
    """``{(name, version): aliases}``: what the search field ``aliases`` sees of each version."""
    held: dict[tuple[str, str], set] = {}
    for (name, alias), version in pointing(records).items():
        held.setdefault((name, version), set()).add(alias)
    return {key: frozenset(names) for key, names in held.items()}


def events(git: Git, model: str | None) -> list[tuple[tuple, Event]]:
    """Every alias change (of ``model``) as a log event, keyed for the log's order; one ``git log``."""
    tips = [tip.ref for tip in git.ref_commits(refs.ALIASES_PREFIX)
            if refs.parse_alias_ref(tip.ref) and (model is None or refs.parse_alias_ref(tip.ref)[0] == model)]
    chains: dict[str, list[AliasRecord]] = {}
    for commit in git.ref_histories(tips):
        chains.setdefault(commit.ref, []).append(record_of(commit))
    keyed = []
    for ref, chain in chains.items():
        name, alias = refs.parse_alias_ref(ref)
        for depth, record in enumerate(reversed(chain)):  # oldest first: each knows the one before
            before = chain[len(chain) - depth] if depth else None
            keyed.append(((record.timestamp, ALIAS_CHANGE, 0, depth), _event(record, name, alias, before)))
    return keyed


def _event(record: AliasRecord, name: str, alias: str, before: AliasRecord | None) -> Event:
    return Event(f"alias-{record.action}", name, record.version, before.version if before else None, None,
                 record.author, datetime.fromtimestamp(record.timestamp, timezone.utc).isoformat(), record.commit,
                 alias=alias)


# ---------------------------------------------------------------------------------------- writes
@dataclass(frozen=True)
class AliasChange:
    """A change of one alias, planned (``old``: the tip it builds on) or made (``commit``)."""

    name: str
    alias: str
    version: ModelVersion | None  # None: remove the alias
    old: str | None
    previous: str | None  # the version it pointed at before
    commit: str | None = None

    @property
    def ref(self) -> str:
        return refs.format_alias_ref(self.name, self.alias)

    @property
    def changed(self) -> bool:
        return self.commit is not None

    def to_dict(self) -> dict:
        return {"name": self.name, "alias": self.alias, "version": self.version.version if self.version else None,
                "previous": self.previous, "commit": self.commit, "changed": self.changed}


def plan_set(snapshot, name: str, alias: str, target: str) -> AliasChange:
    """Point ``name@alias`` at ``target`` (a version, ``latest``, another alias, or ``#STAGE``); refuses a bad
    alias name, an unknown version and a deprecated one. No side effect."""
    refs.check_name(name)
    rules.check_alias(alias, [stage.name for stage in snapshot.config.stages])
    wanted = refs.ModelRef.parse(f"{name}{target}" if target.startswith("#") else f"{name}@{target}")
    version = snapshot.resolve(wanted)
    withdrawn = snapshot.deprecated(version)
    if withdrawn:
        raise ConflictError(f"{version.tag} is deprecated ({withdrawn.describe()}), and an alias is what consumers "
                            f"load: point {name}@{alias} at a version that is not (`gitreg history {name}`)")
    found = snapshot.aliases.get((name, alias))
    return AliasChange(name, alias, version, found.commit if found else None, found.version if found else None)


def plan_rm(snapshot, name: str, alias: str) -> AliasChange:
    refs.check_name(name)
    rules.check_alias(alias)
    found = snapshot.aliases.get((name, alias))
    if found is None or found.version is None:
        raise NotFoundError(f"{name} has no alias {alias!r}" + (" (it was removed)" if found else "")
                            + f": `gitreg alias list {name}` shows its aliases")
    return AliasChange(name, alias, None, found.commit, found.version)


def apply(git: Git, change: AliasChange) -> AliasChange:
    """One commit on the alias's ref, moved by compare-and-swap from the tip it was planned on. Pointing an
    alias where it already points changes nothing."""
    version = change.version
    if version is not None and version.version == change.previous:
        return change
    message = rules.message(change.name, change.alias, version.version if version else None,
                            version.commit if version else None, change.previous)
    commit = git.commit_tree(git.empty_tree(), [change.old] if change.old else [], message, git.identity())
    git.update_ref(change.ref, commit, change.old, f"gitreg: alias {change.name}@{change.alias}")
    return AliasChange(change.name, change.alias, version, change.old, change.previous, commit)


def take_back(git: Git, change: AliasChange) -> None:
    """Undo an unpublished change (its commit stays unreachable, for Git's gc)."""
    if change.commit is None:
        return
    if change.old:
        git.update_ref(change.ref, change.old, change.commit, "gitreg: drop an unpublished alias change")
    else:
        git.delete_ref(change.ref, change.commit)


# ---------------------------------------------------------------------------------------- judging
def problems_of(commits: Iterable[RefCommit], versions: Iterable[ModelVersion], stages: Iterable[str],
                deprecated: Mapping | None = None) -> list[str]:
    """Why each commit of an alias ref is not a valid change of that alias: the ref's name, the record its
    commit carries (a version that exists, named by its commit), and, with ``deprecated``, that the tip
    points at no withdrawn version. Used by ``verify`` (every record) and the hook (the ones pushed)."""
    registered = {(v.name, v.version): v.commit for v in versions}
    stage_names = list(stages)
    problems = []
    for commit in commits:
        where = f"alias ref {commit.ref}"
        parsed = refs.parse_alias_ref(commit.ref)
        try:
            if parsed is None:
                raise InvalidInputError(f"is not {refs.ALIASES_PREFIX}NAME/ALIAS with a valid name and alias")
            rules.check_alias(parsed[1], stage_names)
        except InvalidInputError as exc:
            problems.append(f"{where}: {exc}")
            continue
        if commit.kind != "commit":
            problems.append(f"{where}: names a {commit.kind}, not a commit made by `gitreg alias`")
            continue
        record = record_of(commit)
        problem = rules.record_problem(record, rules.fields_of(commit.trailers), *parsed, registered)
        if problem is None and deprecated and record.version and (parsed[0], record.version) in deprecated:
            problem = f"points it at v{record.version}, which is deprecated"
        if problem:
            problems.append(f"{where}: {problem}")
    return problems


def verify_problems(git: Git, versions: list[ModelVersion], stages: Iterable[str]) -> list[str]:
    """``verify``'s findings: every alias ref and every record in its history (one ``git log``)."""
    stage_names = list(stages)
    tips = git.ref_commits(refs.ALIASES_PREFIX)
    problems = problems_of([t for t in tips if t.kind != "commit" or not refs.parse_alias_ref(t.ref)],
                           versions, stage_names)
    history = git.ref_histories([t.ref for t in tips if t.kind == "commit" and refs.parse_alias_ref(t.ref)])
    problems += problems_of(history, versions, stage_names)
    # origin's hook refuses all of these, so a broken alias ref was made here (by hand): dropping it is the fix
    return [f"{problem} (drop the ref with `git update-ref -d {problem.split()[2].rstrip(':')}`, then set the alias "
            "again)" for problem in problems]


# ---------------------------------------------------------------------------------------- sharing
FETCH_REFSPEC = f"+{refs.ALIASES_PREFIX}*:{TRACKING}*"


def label(ref: str) -> str:
    """``refs/gitreg/aliases/m/champion`` -> ``m@champion`` (what push and pull report); other refs as they are."""
    parsed = refs.parse_alias_ref(ref)
    return f"{parsed[0]}@{parsed[1]}" if parsed else ref


def tracking_ref(ref: str) -> str:
    return TRACKING + ref.removeprefix(refs.ALIASES_PREFIX)


def follow(git: Git) -> tuple[list[str], list[str]]:
    """Fast-forward each local alias ref to the fetched one of ``origin`` (made when missing); keep local ones
    that are ahead. (followed refs, diverged refs): a diverged one has a change made here that origin's overtook."""
    values = git.ref_values(refs.ALIASES_PREFIX, TRACKING)
    followed, diverged = [], []
    for tracked, remote in values.items():
        if not tracked.startswith(TRACKING):
            continue
        ref = refs.ALIASES_PREFIX + tracked[len(TRACKING):]
        local = values.get(ref)
        if local == remote or (local and git.is_ancestor(remote, local)):
            continue
        if local and not git.is_ancestor(local, remote):
            diverged.append(ref)
            continue
        git.update_ref(ref, remote, local, "gitreg: follow origin's alias")
        followed.append(ref)
    return followed, diverged


def diverged_error(ref: str) -> ConflictError:
    return ConflictError(f"{ref} has a change made here that never reached origin, and origin's alias changed since: "
                         f"drop yours with `git update-ref {ref} {tracking_ref(ref)}`, then change the alias again")


def unpublished(git: Git, on_remote: Mapping[str, str]) -> list[str]:
    """Refspecs of the local alias refs holding changes made here that origin lacks (``gitreg push`` publishes
    them). A ref that only lags behind origin is not pushed (``gitreg pull`` brings it up to date); one with a
    change made here that origin's overtook is, so that its refusal says so."""
    values = git.ref_values(refs.ALIASES_PREFIX, TRACKING)
    specs = []
    for ref, oid in sorted(values.items()):
        if not refs.parse_alias_ref(ref):
            continue
        remote, fetched = on_remote.get(ref), values.get(tracking_ref(ref))
        if oid in (remote, fetched) or any(known and git.is_ancestor(oid, known) for known in (fetched, remote)):
            continue  # nothing made here since origin's state was last seen
        specs.append(f"{ref}:{ref}")
    return specs


def hook_problems(git: Git, updates, versions: list[ModelVersion], stages: Iterable[str], deprecated: Mapping,
                  zero: str) -> list[str]:
    """The server's rule for pushed alias refs: never deleted, only fast-forwarded along one line, and every
    change pushed a valid record of that alias (a version that exists, or arrives in the same push, and that
    is not deprecated), under a valid name."""
    stage_names = list(stages)
    problems = []
    for update in updates:
        if not update.ref.startswith(refs.ALIASES_PREFIX):
            continue
        if update.new == zero:
            problems.append(f"alias ref {update.ref}: an alias's history is its record and is never deleted; "
                            "remove the alias with `gitreg alias rm`")
            continue
        kind = git.object_type(update.new)
        if kind != "commit":
            problems += problems_of([RefCommit(update.ref, update.new, kind or "missing object", (), "", 0, "")],
                                    versions, stage_names)
            continue
        if update.old != zero and not (git.is_ancestor(update.old, update.new)
                                       and git.on_first_parent_line(update.old, update.new)):
            problems.append(f"alias ref {update.ref}: an alias's history is never rewritten, only added to; "
                            "fetch, then change the alias again")
            continue
        added = git.ref_histories([update.new], exclude=(update.old,) if update.old != zero else ())
        problems += problems_of([replace(commit, ref=update.ref) for commit in added], versions, stage_names,
                                deprecated)
    return problems
