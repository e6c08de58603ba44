"""Aliases: free-form named pointers at a model's versions (``champion``, ``challenger``, ``shadow``).

Unlike a stage (ordered, gated, a branch holding the model's files), an alias is only a name for a
version. Each alias is one ref, ``refs/gitreg/aliases/NAME/ALIAS``, whose commits form its history:
every change is a commit on an empty tree whose parent is the alias's previous change and whose
trailers say what happened (``set`` to a version, or ``rm``). Removing keeps the ref, so the record stays.
This module holds the rules (names, messages, what a record must say); reading and writing is in
:mod:`gitreg.services.aliases`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from gitreg.domain import refs
from gitreg.errors import InvalidInputError

SET, RM = "set", "rm"
TRAILERS = ("Gitreg-Model", "Gitreg-Alias", "Gitreg-Action", "Gitreg-Version", "Gitreg-Version-Commit")


def check_alias(alias: str, stages: Iterable[str] = ()) -> str:
    """An alias name: a lower-case identifier that no reference could read as a version or a stage."""
    if alias == refs.LATEST or refs.SEMVER_RE.match(alias.removeprefix("v")):
        raise InvalidInputError(f"invalid alias {alias!r}: NAME@{alias} already means a version; "
                                "name the alias otherwise, e.g. champion")
    if not refs.ALIAS_RE.match(alias or ""):
        raise InvalidInputError(f"invalid alias {alias!r}: use 2 to 64 lower-case letters, digits, '-' and '_', "
                                "starting with a letter and not like a version (v2), e.g. champion")
    if alias in set(stages):
        raise InvalidInputError(f"invalid alias {alias!r}: {alias} is a stage of this registry (NAME#{alias}); "
                                "an alias is not a stage: name it otherwise, e.g. champion")
    return alias


@dataclass(frozen=True)
class AliasRecord:
    """One change of an alias, as its commit records it; ``version`` None: the alias was removed."""

    model: str
    alias: str
    version: str | None
    version_commit: str | None
    commit: str
    parents: tuple[str, ...]
    author: str  # "Name <email>"
    timestamp: int

    @property
    def action(self) -> str:
        return SET if self.version else RM

    def to_dict(self) -> dict:
        return {"name": self.model, "alias": self.alias, "version": self.version, "commit": self.version_commit,
                "record": self.commit, "author": self.author, "timestamp": self.timestamp}


def message(model: str, alias: str, version: str | None, version_commit: str | None,
            previous: str | None) -> str:
    """The commit message of an alias change: a subject, then the trailers readers use."""
    if version:
        subject = f"Point {model}@{alias} at v{version}" + (f" (was v{previous})" if previous else "")
    else:
        subject = f"Remove {model}@{alias}" + (f" (was v{previous})" if previous else "")
    lines = [f"Gitreg-Model: {model}", f"Gitreg-Alias: {alias}", f"Gitreg-Action: {SET if version else RM}"]
    if version:
        lines += [f"Gitreg-Version: {version}", f"Gitreg-Version-Commit: {version_commit}"]
    return f"{subject}\n\n" + "\n".join(lines) + "\n"


def fields_of(trailers: str) -> dict[str, str]:
    """``{key: value}`` of the gitreg trailers in a trailer block (the last value of a key wins)."""
    found = {}
    for line in trailers.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in TRAILERS:
            found[key.strip()] = value.strip()
    return found


def record(fields: Mapping[str, str], commit: str, parents: tuple[str, ...], author: str,
           timestamp: int) -> AliasRecord:
    return AliasRecord(fields.get("Gitreg-Model", ""), fields.get("Gitreg-Alias", ""),
                       fields.get("Gitreg-Version") or None, fields.get("Gitreg-Version-Commit") or None,
                       commit, parents, author, timestamp)


def record_problem(found: AliasRecord, fields: Mapping[str, str], model: str, alias: str,
                   commits: Mapping[tuple[str, str], str]) -> str | None:
    """Why a commit of ``refs/gitreg/aliases/model/alias`` is not a valid change of that alias (None: it is).
    ``commits``: ``{(name, version): commit}`` of the registered versions. The one judge of verify and the hook."""
    action = fields.get("Gitreg-Action")
    if (found.model, found.alias) != (model, alias) or action not in (SET, RM):
        return (f"commit {found.commit[:8]} is not a change of {model}@{alias} (its trailers say "
                f"model {found.model or '-'}, alias {found.alias or '-'}, action {action or '-'})")
    if len(found.parents) > 1:
        return f"commit {found.commit[:8]} is a merge: an alias's history is one line of changes"
    if action == RM:
        return None if found.version is None else f"commit {found.commit[:8]} removes the alias yet names a version"
    if found.version is None:
        return f"commit {found.commit[:8]} sets the alias to no version"
    registered = commits.get((model, found.version))
    if registered is None:
        return f"commit {found.commit[:8]} points it at v{found.version}, which {model} does not have"
    if found.version_commit != registered:
        return (f"commit {found.commit[:8]} names commit {(found.version_commit or '-')[:8]} for v{found.version}, "
                f"whose tag names {registered[:8]}")
    return None
