"""What happens to a version after registration: deprecation, annotations, aliases, the model's page.

A mixin of :class:`gitreg.registry.Registry` (the facade is one class; its methods live by topic).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from gitreg.domain import refs
from gitreg.errors import InvalidInputError
from gitreg.services.snapshot import Snapshot

if TYPE_CHECKING:
    from gitreg.domain.aliases import AliasRecord
    from gitreg.domain.annotation import Annotation
    from gitreg.domain.version import ModelVersion
    from gitreg.services.aliases import AliasChange
    from gitreg.services.annotations import AnnotateResult
    from gitreg.services.deprecation import DeprecateResult
    from gitreg.services.model_page import ModelPage


class Lifecycle:
    def deprecate(self, ref: str | refs.ModelRef | None, reason: str, *, all_versions: bool = False,
                  push: bool = False, match: str | None = None, dry_run: bool = False,
                  yes: bool = False, sign: bool | None = None) -> DeprecateResult:
        """Withdraw ``NAME@VERSION`` (or with ``all_versions`` every version of ``NAME``, or with ``match``
        every version the search expression selects) for ``reason``: a GTO deprecation tag
        ``NAME@vX.Y.Z!`` on the version's commit; nothing is deleted. A deprecated version stays in the
        stages that hold it until rolled back or retired, and cannot be promoted. With ``push`` the tags
        go to ``origin`` in one atomic push (and are removed here when it is refused). More than 10
        versions by ``match`` need ``yes``; ``dry_run`` says what would be deprecated. ``sign`` signs the tags
        (default: as ``signing: {versions: true}`` says)."""
        with self._signing(False if dry_run else sign, versions=True):
            return self._deprecate(ref, reason, all_versions, push, match, dry_run, yes)

    def _deprecate(self, ref, reason, all_versions, push, match, dry_run, yes) -> DeprecateResult:
        from gitreg.domain import deprecation as rules
        from gitreg.services import deprecation

        self._require_writable()
        reason = rules.check_reason(reason)
        if match is not None:
            if ref is not None or all_versions:
                raise InvalidInputError("--match selects the versions itself: give no NAME@VERSION or --all-versions")
            snapshot = self.snapshot()
            targets = deprecation.matching(self.search(match, snapshot=snapshot), match, yes, dry_run)
            return deprecation.apply(self.git, snapshot, targets, reason, push, dry_run)
        if ref is None:
            raise InvalidInputError("name the version to deprecate, NAME@VERSION, or select versions with --match")
        ref = self._ref(ref)
        if ref.stage or ref.alias:
            raise InvalidInputError(f"deprecate names a version, {ref.name}@VERSION, not a stage or an alias")
        snapshot = self.snapshot(ref.name)
        targets = deprecation.plan(snapshot, ref.name, ref.version, all_versions)
        return deprecation.apply(self.git, snapshot, targets, reason, push, dry_run)

    def deprecations(self, name: str | None = None, *, snapshot: Snapshot | None = None) -> dict:
        """``{(name, version): Deprecation}`` for the withdrawn versions (of ``name``, or of every model)."""
        found = (snapshot or self.snapshot(name)).deprecations
        return {key: value for key, value in found.items() if name is None or key[0] == name}

    def annotate(self, ref: str | refs.ModelRef, *, labels: Iterable[str] = (), note: str | None = None,
                 link: str | None = None, push: bool = False) -> AnnotateResult:
        """Add labels, a note and/or a link to ``NAME@VERSION`` after registration: one entry (author, time)
        appended to the version's Git note under ``refs/notes/gitreg``; the tag and card never change.
        With ``push`` it is published to ``origin`` (merged with annotations another writer pushed first)."""
        from gitreg.domain import annotation
        from gitreg.services import annotations

        self._require_writable()
        ref = ref if isinstance(ref, refs.ModelRef) else refs.ModelRef.parse(ref)
        if ref.stage or ref.version is None:
            raise InvalidInputError(f"annotate names a version, {ref.name}@VERSION (`gitreg history {ref.name}` "
                                    "lists them)")
        labels = tuple(labels)
        annotation.make("", 0, labels, note, link)  # bad input fails before anything is read or written
        target = self.snapshot(ref.name).version(ref.name, ref.version)
        return annotations.annotate(self.git, target, labels, note, link, push)

    def annotate_matching(self, match: str, *, labels: Iterable[str] = (), note: str | None = None,
                          link: str | None = None, push: bool = False, dry_run: bool = False,
                          yes: bool = False) -> list[AnnotateResult | ModelVersion]:
        """``annotate`` every version the search expression ``match`` selects, in one push; more than 10 need
        ``yes``; ``dry_run`` returns the versions it would annotate and changes nothing."""
        from gitreg.domain import annotation
        from gitreg.services import annotations, deprecation

        self._require_writable()
        labels = tuple(labels)
        annotation.make("", 0, labels, note, link)
        targets = deprecation.matching(self.search(match), match, yes, dry_run)
        return targets if dry_run else annotations.annotate_many(self.git, targets, labels, note, link, push)

    def annotations(self, version: str | refs.ModelRef | ModelVersion) -> list[Annotation]:
        """What was added to a version after registration (``annotate``), oldest first."""
        from gitreg.domain.version import ModelVersion
        from gitreg.services import annotations

        found = version if isinstance(version, ModelVersion) else self.resolve(version)
        return annotations.of_version(self.git, found)[0]

    def readme(self, name: str) -> ModelPage:
        """The model's page, ``models/NAME/README.md`` as committed on the main branch (``text`` None when
        there is none)."""
        from gitreg.services import model_page

        return model_page.read(self.git, refs.check_name(name))

    def alias_set(self, name: str, alias: str, version: str, *, push: bool = False,
                  sign: bool | None = None) -> AliasChange:
        """Point ``name@alias`` at ``version`` (``1.2.0``, ``v1.2.0``, ``latest``, another alias, or ``#STAGE``):
        one recorded commit on ``refs/gitreg/aliases/NAME/ALIAS``. Refuses an alias named like a stage or a
        version, and a deprecated version. With ``push`` it is published at once (the alias's bytes first); when
        someone else changed that alias on ``origin`` meanwhile, nothing changes and ConflictError says so."""
        from gitreg.services import aliases

        return self._alias_change(lambda snapshot: aliases.plan_set(snapshot, name, alias, version), push, sign)

    def alias_rm(self, name: str, alias: str, *, push: bool = False, sign: bool | None = None) -> AliasChange:
        """Remove ``name@alias``: a recorded commit that points it at nothing (its history stays for ``log``)."""
        from gitreg.services import aliases

        return self._alias_change(lambda snapshot: aliases.plan_rm(snapshot, name, alias), push, sign)

    def _alias_change(self, plan: Callable[[Snapshot], AliasChange], push: bool, sign: bool | None = None) -> AliasChange:
        from gitreg.services import alias_publish, aliases

        self._require_writable()
        config = self.config

        def attempt() -> AliasChange:
            return aliases.apply(self.git, plan(Snapshot.read(self.git, None, config)))

        with self._signing(sign):
            return alias_publish.publish(self.git, attempt) if push else attempt()

    def aliases(self, name: str | None = None, *, snapshot: Snapshot | None = None) -> list[AliasRecord]:
        """The aliases that point at a version now (of ``name``, or of every model), by model then alias."""
        snapshot = snapshot or self.snapshot(name)
        if name:
            snapshot.version(name)  # an unknown model is refused, not shown as one without aliases
        return [record for key, record in sorted(snapshot.aliases.items())
                if record.version and (name is None or key[0] == name)]
