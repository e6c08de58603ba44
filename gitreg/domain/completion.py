"""Shell completion from ref names alone (pure): model names, versions, aliases and stages.

The CLI reads every ref with one ``git for-each-ref`` and hands the names here; nothing reads a tag's
message, a card or ``.gitreg.yaml``, so completing stays fast at any number of versions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from gitreg.domain import refs

DEFAULT_STAGES = ("dev", "staging", "production")  # what `gitreg init` configures
STAGE_BRANCHES = ("refs/heads/stage/", "refs/remotes/origin/stage/")


@dataclass
class Catalog:
    versions: dict[str, list[str]] = field(default_factory=dict)  # name -> versions, in semver order
    aliases: dict[str, list[str]] = field(default_factory=dict)
    stages: list[str] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return sorted(set(self.versions) | set(self.aliases))


def catalog(ref_names: Iterable[str]) -> Catalog:
    """What the refs say: version tags, alias refs and stage branches (the default stages when none exist)."""
    found = Catalog()
    stages: set[str] = set()
    for ref in ref_names:
        if ref.startswith(refs.TAGS_PREFIX):
            parsed = refs.parse_version_tag(ref[len(refs.TAGS_PREFIX):])
            if parsed:
                found.versions.setdefault(parsed[0], []).append(parsed[1])
        elif ref.startswith(refs.ALIASES_PREFIX):
            parsed = refs.parse_alias_ref(ref)
            if parsed:
                found.aliases.setdefault(parsed[0], []).append(parsed[1])
        else:
            for prefix in STAGE_BRANCHES:
                if ref.startswith(prefix) and refs.STAGE_RE.match(ref[len(prefix):]):
                    stages.add(ref[len(prefix):])
    for versions in found.versions.values():
        versions.sort(key=_semver_key)
    found.stages = sorted(stages) or list(DEFAULT_STAGES)
    return found


def _semver_key(version: str) -> tuple:
    core = version.split("+")[0].split("-")[0]
    try:
        return tuple(int(part) for part in core.split(".")), version
    except ValueError:
        return (), version


def names(found: Catalog, incomplete: str) -> list[str]:
    return [name for name in found.names if name.startswith(incomplete)]


def references(found: Catalog, incomplete: str) -> list[str]:
    """``NAME``, then after ``NAME@`` its versions, ``latest`` and aliases, after ``NAME#`` the stages."""
    if "@" in incomplete:
        name, _, part = incomplete.partition("@")
        options = [*reversed(found.versions.get(name, [])), refs.LATEST, *found.aliases.get(name, [])]
        return [f"{name}@{option}" for option in options if option.startswith(part)]
    if "#" in incomplete:
        name, _, part = incomplete.partition("#")
        return [f"{name}#{stage}" for stage in found.stages if stage.startswith(part)]
    return names(found, incomplete)


def versions(found: Catalog, name: str | None, incomplete: str) -> list[str]:
    return [v for v in reversed(found.versions.get(name or "", [])) if v.startswith(incomplete)]


def aliases(found: Catalog, name: str | None, incomplete: str) -> list[str]:
    return [a for a in found.aliases.get(name or "", []) if a.startswith(incomplete)]


def stages(found: Catalog, incomplete: str) -> list[str]:
    return [stage for stage in found.stages if stage.startswith(incomplete)]
