"""What one command reads, once: the committed configuration, the version index, the broken tags
and (when asked) each stage's content.

A snapshot is frozen: services receive it instead of re-reading state, and a command that must see
the registry anew (a retry after a race) takes a new one. ``Snapshot.read(git, model=NAME)`` reads
only NAME's version tags; its stage views still hold every model in each stage, read through the
exact tags the stage branches claim, so a stage change costs the same whatever the number of versions.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from gitreg.domain import refs
from gitreg.domain.config import Config, Stage
from gitreg.domain.deprecation import Deprecation
from gitreg.domain.stage_view import StageView, group_by_model
from gitreg.domain.version import BrokenTag, ModelVersion
from gitreg.errors import CardError, IntegrityError, InvalidInputError, NotFoundError
from gitreg.io.git import Git, TagRecord
from gitreg.services import aliases, config_source, deprecation, index
from gitreg.services.resolve import claimed_tags, resolve_stages


@dataclass(frozen=True)
class Snapshot:
    git: Git
    versions: tuple[ModelVersion, ...]  # of ``scope`` (or of every model), by name then semver
    broken: tuple[BrokenTag, ...]
    scope: str | None = None  # the model whose tags were read; None: every model's
    given_config: Config | None = None
    marks: tuple[TagRecord, ...] = ()  # the deprecation tags read with the versions

    @classmethod
    def read(cls, git: Git, model: str | None = None, config: Config | None = None, recheck: bool = False) -> Snapshot:
        """``recheck``: build every card now, trusting no earlier read of this clone (``verify``)."""
        marks: list[TagRecord] = []
        versions, broken = index.read_versions(git, model, recheck, marks)
        return cls(git, tuple(versions), tuple(broken), model, config, tuple(marks))

    @cached_property
    def deprecations(self) -> dict[tuple[str, str], Deprecation]:
        """``{(name, version): Deprecation}``: the valid deprecation tags (``verify`` names the others)."""
        return deprecation.judge(self.versions, self.marks)[0]

    def deprecated(self, version: ModelVersion) -> Deprecation | None:
        return self.deprecations.get((version.name, version.version))

    def visible(self, versions, include_deprecated: bool = False) -> list[ModelVersion]:
        """``versions`` without the deprecated ones (all of them with ``include_deprecated``)."""
        if include_deprecated or not self.deprecations:
            return list(versions)
        return [v for v in versions if (v.name, v.version) not in self.deprecations]

    @cached_property
    def config(self) -> Config:
        """The committed ``.gitreg.yaml`` (read when first needed: a search of the index needs none)."""
        return self.given_config or config_source.load(self.git)

    # ------------------------------------------------------------------ versions
    @cached_property
    def by_model(self) -> dict[str, dict[str, ModelVersion]]:
        return group_by_model(list(self.versions))

    def history(self, name: str) -> list[ModelVersion]:
        """Every version of ``name``, newest first."""
        self._covers(name)
        return list(self.by_model.get(name, {}).values())[::-1]

    def version(self, name: str, version: str | None = None) -> ModelVersion:
        """``name``'s latest version, or ``version``; NotFoundError (or CardError for an unreadable tag)."""
        history = self.history(name)
        if not history:
            self._refuse_broken(name, None)
            raise NotFoundError(f"no model named {name!r}: `gitreg list` shows the registered models")
        if version is None:  # the latest: the highest version not withdrawn (or, all withdrawn, the highest)
            return next((v for v in history if (name, v.version) not in self.deprecations), history[0])
        found = self.by_model[name].get(version)
        if found is None:
            self._refuse_broken(name, version)
            raise NotFoundError(f"{name} has no version {version}: `gitreg history {name}` lists its versions")
        return found

    def resolve(self, ref: refs.ModelRef) -> ModelVersion:
        """The version a reference names: ``NAME`` (latest), ``NAME@VERSION``, ``NAME@ALIAS``, ``NAME#STAGE``."""
        if ref.stage:
            return self.in_stage(ref.name, ref.stage)
        if ref.alias:
            return self.aliased(ref.name, ref.alias)
        return self.version(ref.name, ref.version)

    # ------------------------------------------------------------------ aliases
    @cached_property
    def aliases(self) -> dict:
        """``{(name, alias): AliasRecord}``, the newest change of each alias (of ``scope``), removed ones too:
        one ``for-each-ref``, read when first needed."""
        return aliases.current(self.git, self.scope)

    @property
    def alias_membership(self) -> dict:
        """``{(name, version): aliases}``: what the search field ``aliases`` sees."""
        return aliases.by_version(self.aliases)

    def aliases_of(self, name: str) -> dict[str, str]:
        """``{alias: version}`` of ``name``'s aliases that point at a version."""
        return {alias: version for (model, alias), version in aliases.pointing(self.aliases).items() if model == name}

    def aliased(self, name: str, alias: str) -> ModelVersion:
        found = self.aliases.get((name, alias))
        if found is None or found.version is None:
            self.version(name)  # an unknown model is that, not an unknown alias
            hint = (f"{alias} is a stage: write {name}#{alias}" if alias in {s.name for s in self.config.stages}
                    else f"`gitreg alias list {name}` shows its aliases")
            raise NotFoundError(f"{name} has no alias {alias!r}{' (it was removed)' if found else ''}: {hint}")
        if found.version not in self.by_model.get(name, {}):
            raise IntegrityError(f"{name}@{alias} points at v{found.version}, which {name} does not have: "
                                 "run `gitreg verify`, then point the alias anew with `gitreg alias set`")
        return self.version(name, found.version)

    def _covers(self, name: str) -> None:
        if self.scope is not None and self.scope != name:
            raise InvalidInputError(f"this snapshot read only {self.scope}'s versions, not {name}'s: "
                                    f"take one with `Registry.snapshot()` or `Registry.snapshot({name!r})`")

    def _refuse_broken(self, name: str, version: str | None) -> None:
        """A version tag that exists but cannot be read is a broken card, not an unknown version."""
        for item in self.broken:
            if version is None or item.tag == refs.format_version_tag(name, version):
                raise CardError(f"{item.tag} is not a usable version ({item.reason}): "
                                f"register a new version with `gitreg register {name} PATH`")

    # ------------------------------------------------------------------ stages
    def stage(self, name: str) -> Stage:
        return self.config.stage(name)

    @cached_property
    def stage_views(self) -> dict[str, StageView]:
        """Each stage with every model in it (and any content that matches no version)."""
        if self.scope is None:
            return resolve_stages(self.git, self.config, list(self.versions))
        # the other models' versions in the stages, by the exact tags their cards' plain lines claim
        others = sorted(tag for tag in claimed_tags(self.git, self.config)
                        if refs.parse_version_tag(tag)[0] != self.scope)
        views = resolve_stages(self.git, self.config, [*self.versions, *index.read_tags(self.git, others)[0]])
        if any(view.breaches for view in views.values()):
            # content the claims could not name (a card formatted by hand, or a real breach): judge it
            # against every tag, exactly as the full resolver does
            views = resolve_stages(self.git, self.config, index.read_versions(self.git)[0])
        return views

    @cached_property
    def model_stages(self) -> dict[str, StageView]:
        """Each stage with only the snapshot's model in it (cheaper than ``stage_views``)."""
        if self.scope is None:
            return self.stage_views
        return resolve_stages(self.git, self.config, list(self.versions), self.scope)

    def stages_of(self, name: str) -> dict[str, str]:
        """``{stage: version}`` for the stages that hold ``name``."""
        views = self.model_stages if name == self.scope else self.stage_views
        return {stage: view.entries[name].version for stage, view in views.items() if name in view.entries}

    def in_stage(self, name: str, stage: str) -> ModelVersion:
        self.config.stage(stage)
        views = self.model_stages if name == self.scope else self.stage_views
        view = views[stage]
        if name in view.breaches:
            raise IntegrityError(f"{view.breaches[name]}: run `gitreg verify` and repair the stage")
        if name not in view.entries:
            raise NotFoundError(f"{name} is not in {stage}: promote a version with `gitreg promote {name} VERSION {stage}`")
        return view.entries[name]
