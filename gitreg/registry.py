"""``Registry``: the public Python API. The CLI is a thin shell over these methods.

Reads go through one pass over the version tags (:mod:`gitreg.services.index`) and never import DVC;
writes plan first, with no side effect, then apply in one reversible step.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitreg.domain import refs
from gitreg.domain.card import CARD_FILE, Card
from gitreg.domain.config import CONFIG_FILE, Config
from gitreg.domain.event import Event
from gitreg.domain.pointer import Pointer, read_pointer
from gitreg.domain.stage_view import StageView
from gitreg.domain.trailers import StageChange
from gitreg.domain.version import BrokenTag, ModelVersion
from gitreg.errors import (
    ArtifactError,
    CardError,
    ConflictError,
    IntegrityError,
    InvalidInputError,
    NotARegistryError,
    NotFoundError,
)
from gitreg.io import artifact_store
from gitreg.io.git import Git
from gitreg.services import audit, index, leftovers, provenance, recovery, registration, stage_change, sync
from gitreg.services.config_source import load as load_config
from gitreg.services.resolve import resolve_stages

LOADABLE_SUFFIXES = (".joblib", ".pkl", ".pickle")


class EnvironmentMismatchWarning(UserWarning):
    """The running Python or packages differ from those the model was registered with."""


@dataclass(frozen=True)
class ModelSummary:
    name: str
    latest: ModelVersion
    versions: int
    stages: dict[str, str]  # stage -> version in it

    def to_dict(self) -> dict[str, Any]:
        card = self.latest.card
        return {"name": self.name, "latest": self.latest.version, "versions": self.versions,
                "stages": self.stages, "labels": card.labels, "metrics": card.metrics,
                "description": card.description, "created": card.created}


class Registry:
    """A gitreg registry: a Git repository prepared by ``gitreg init``."""

    def __init__(self, path: str | os.PathLike = ".", *, remote_url: str | None = None):
        # remote_url: ``path`` is the read-only mirror of that registry (see Registry.open)
        self.remote_url = remote_url
        self.root = Path(path).resolve() if remote_url else Git.toplevel(path)
        self.git = Git(self.root)
        if not (self.root / CONFIG_FILE).is_file() and not self.git.read_blob("HEAD", CONFIG_FILE):
            fix = "`gitreg init` in a clone of it" if remote_url else f"`gitreg init {self.root}`"
            raise NotARegistryError(f"{remote_url or self.root} is a Git repository but not a gitreg registry: run {fix}")
        self.broken: list[BrokenTag] = []
        # a registration killed half-way is finished or undone before anything else reads the clone
        self.recovered: list[str] = [] if remote_url else recovery.recover(self.git)

    @classmethod
    def open(cls, url: str) -> Registry:
        """A remote registry, read without a working clone (``git`` URL or path of a shared repository).

        Refs are mirrored into a cache directory and reused on the next call; artifact bytes come
        from the registry's DVC remote. The result is read-only.
        """
        from gitreg.io import mirror

        return cls(mirror.sync(url), remote_url=url)

    @classmethod
    def init(cls, path: str | os.PathLike = ".", remote: str | None = None,
             remote_options: dict[str, str] | None = None,
             ci_install: str | None = None) -> tuple[Registry, bool]:
        """Prepare ``path`` as a registry (idempotent); returns the registry and whether anything changed.

        ``remote`` is the default DVC remote (a directory or a URL such as ``s3://bucket/prefix``);
        ``remote_options`` go to it (``endpointurl``, ``region``; credentials only to the
        uncommitted ``.dvc/config.local``). ``ci_install`` is the pip requirement the CI workflows
        install (``ci.install``; default for a new registry: this gitreg, ``gitreg-dvc==<version>``);
        given for an existing registry, it re-pins ``.gitreg.yaml`` and the workflows in one commit.
        """
        from gitreg.services import skeleton

        changed = skeleton.init(Path(path), remote, remote_options, ci_install=ci_install)
        return cls(path), changed

    @property
    def config(self) -> Config:
        """Stages and gates, from the ``.gitreg.yaml`` committed on the main branch."""
        return load_config(self.git)

    def _require_writable(self) -> None:
        if self.remote_url:
            raise InvalidInputError(
                f"{self.remote_url} was opened read-only: clone it (`git clone {self.remote_url}`) to change it"
            )

    def _dvc_root(self) -> Path:
        """Where DVC works for this registry: the clone itself, or a scratch project beside a mirror."""
        if not self.remote_url:
            return self.root
        return artifact_store.load().prepare_workspace(self.root.parent / f"{self.root.name}.dvc",
                                                     self.git.read_blob("HEAD", ".dvc/config"))

    # ------------------------------------------------------------------ writes
    def register(
        self,
        name: str,
        model_or_path: Any,
        *,
        version: str | None = None,
        bump: str | None = None,
        metrics: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        labels: Iterable[str] = (),
        description: str = "",
        data: Iterable[str] = (),
        base: str | None = None,
        dry_run: bool = False,
        push: bool = False,
    ) -> ModelVersion | registration.RegisterPlan:
        """Register a new version of ``name``; with ``dry_run`` return the plan and change nothing.

        With ``push`` the artifact goes to the DVC remote, then the commit and tag to ``origin`` in
        one atomic push; when another writer pushed first, the registration is redone on top of
        theirs (with ``bump``, as the next free version).
        """
        self._require_writable()
        self._refuse_registering_here(push)
        request = registration.RegisterRequest(
            name=refs.check_name(name),
            source=registration.source_from(model_or_path),
            version=version,
            bump=bump,
            metrics=dict(metrics or {}),
            params=dict(params or {}),
            labels=tuple(labels),
            description=description,
            data=tuple(data),
            base=base,
        )
        if dry_run:
            return self._plan_registration(request)
        if push:
            return sync.publish_registration(self, lambda: self._plan_registration(request),
                                             lambda plan: registration.apply(self.git, plan))
        return registration.apply(self.git, self._plan_registration(request))

    def _refuse_registering_here(self, push: bool) -> None:
        """A version is registered on a branch of its own history: not on a stage branch, and with --push
        not on a detached HEAD (there would be no branch to publish it with)."""
        head_ref, _ = self.git.head()
        branch = (head_ref or "").removeprefix("refs/heads/")
        if head_ref in {stage.ref for stage in self.config.stages}:
            raise InvalidInputError(f"{branch} is a stage branch, and versions are registered on the main branch: "
                                    "switch to it with `git switch main`, then register")
        if push and head_ref is None:
            raise InvalidInputError("register --push needs a branch checked out (HEAD is detached): "
                                    "switch to your main branch with `git switch main`")

    def _plan_registration(self, request: registration.RegisterRequest) -> registration.RegisterPlan:
        return registration.plan(self.git, request, self.history(request.name)[::-1])


    def promote(self, name: str, version: str, stage: str, *, force: bool = False,
                require: Iterable[str] = (), pr: bool = False, dry_run: bool = False, push: bool = False):
        """Put ``name`` ``version`` in ``stage`` (a --no-ff merge on the stage branch) if its gates pass.

        With ``pr`` only the promotion branch is made (and pushed when there is a Git remote).
        With ``push`` the stage branch is published to ``origin`` (redone on top of any concurrent change).
        """
        ref = refs.ModelRef(refs.check_name(name), refs.check_version(version))
        target = self.config.stage(stage)

        def change():
            return stage_change.promote(self, self.resolve(ref), target, force=force,
                                    require=tuple(require), pr=pr, dry_run=dry_run)

        intent = StageChange("promote", ref.name, target.name, ref.version, None)
        return self._stage_change(change, push and not (dry_run or pr), intent)

    def rollback(self, name: str, stage: str, *, to: str | None = None, dry_run: bool = False,
                 push: bool = False):
        """Revert the newest change of ``name`` in ``stage`` still in effect (or back to version ``to``)."""
        name, target, to = refs.check_name(name), self.config.stage(stage), refs.check_version(to) if to else None
        return self._stage_change(lambda: stage_change.rollback(self, name, target, to=to, dry_run=dry_run),
                                  push and not dry_run, StageChange("rollback", name, target.name, to, None))

    def retire(self, name: str, stage: str, *, dry_run: bool = False, push: bool = False):
        """Remove ``name`` from ``stage``, as a recorded stage change."""
        name, target = refs.check_name(name), self.config.stage(stage)
        return self._stage_change(lambda: stage_change.retire(self, name, target, dry_run=dry_run), push and not dry_run,
                                  StageChange("retire", name, target.name, None, None))

    def _stage_change(self, change, push: bool, intent: StageChange):
        self._require_writable()
        return sync.publish_stage_change(self, change, intent) if push else change()

    def push(self, all_artifacts: bool = False) -> sync.SyncReport:
        """Publish to ``origin``: artifacts first (of new and staged versions, or with ``all_artifacts`` of
        every version), then the branch, new version tags and stage branches."""
        self._require_writable()
        return sync.push(self, all_artifacts)

    def pull(self, artifacts: bool = False) -> sync.SyncReport:
        """Fetch the registry's refs from ``origin`` (and with ``artifacts`` every stage's artifacts)."""
        self._require_writable()
        return sync.pull(self, artifacts)

    def check_promotion(self, base: str, head: str, stage: str | None = None):
        """Would merging ``head`` into the stage branch ``base`` be a valid, gated promotion?"""
        from gitreg.services import checks

        target = self.config.stage(stage) if stage else checks.infer_stage(self.config, base)
        return checks.check_promotion(self.git, self.config, self.versions(), base, head, target)

    def verify(self, artifacts: bool = False, remote: bool = False) -> list[str]:
        """Every breach of the registry's invariants (empty when all is well); with ``artifacts`` also
        every version whose bytes are missing or corrupt in the local DVC cache, with ``remote`` in the
        DVC remote."""
        from gitreg.services import artifact_check, checks

        versions = self.versions()
        problems = checks.verify(self.git, self.config, versions, self.broken)
        if artifacts or remote:
            problems += artifact_check.check(self._dvc_root(), versions, local=artifacts, remote=remote)
        if not self.remote_url:
            problems += leftovers.problems(self.git)  # what interrupted writes left in this clone
        return problems

    def repair(self) -> leftovers.Repair:
        """Fix what interrupted writes left that is safe to fix (see :mod:`gitreg.services.leftovers`)."""
        self._require_writable()
        return leftovers.repair(self.git, self.recovered)

    # ------------------------------------------------------------------ reads
    def versions(self, name: str | None = None) -> list[ModelVersion]:
        """Every version (of ``name`` or of all models), ordered by name then semver, oldest first."""
        found, self.broken = index.read_versions(self.git, name)
        return found

    def history(self, name: str) -> list[ModelVersion]:
        """Every version of ``name``, newest first."""
        return self.versions(refs.check_name(name))[::-1]

    def models(self) -> list[ModelSummary]:
        """Every model with its latest version and the version in each stage."""
        versions = self.versions()
        views = resolve_stages(self.git, self.config, versions)
        by_name: dict[str, list[ModelVersion]] = {}
        for version in versions:
            by_name.setdefault(version.name, []).append(version)
        return [ModelSummary(name, found[-1], len(found), _stages_of(name, views))
                for name, found in sorted(by_name.items())]

    def resolve(self, ref: str | refs.ModelRef) -> ModelVersion:
        """The version a reference names: ``NAME`` (latest), ``NAME@VERSION``."""
        ref = ref if isinstance(ref, refs.ModelRef) else refs.ModelRef.parse(ref)
        if ref.stage:
            return self._in_stage(ref.name, ref.stage)
        history = self.history(ref.name)
        if not history:
            self._refuse_broken(ref.name, None)
            raise NotFoundError(f"no model named {ref.name!r}: `gitreg list` shows the registered models")
        if ref.version is None:
            return history[0]
        for candidate in history:
            if candidate.version == ref.version:
                return candidate
        self._refuse_broken(ref.name, ref.version)
        raise NotFoundError(
            f"{ref.name} has no version {ref.version}: `gitreg history {ref.name}` lists its versions"
        )

    def stages(self, name: str | None = None) -> dict[str, StageView]:
        """Each configured stage with the registered version of every model in it."""
        return resolve_stages(self.git, self.config, self.versions(name), name)  # only name's tags when given

    def stage_versions(self, name: str) -> dict[str, str]:
        """``{stage: version}`` for the stages that hold ``name``."""
        return _stages_of(name, self.stages(name))

    def log(self, name: str | None = None, stage: str | None = None) -> list[Event]:
        """Every registration and stage change (of ``name``, in ``stage``), newest first."""
        config = self.config
        if stage:
            config.stage(stage)
        versions = self.versions()
        if name and not any(version.name == refs.check_name(name) for version in versions):
            raise NotFoundError(f"no model named {name!r}: `gitreg list` shows the registered models")
        return audit.events(self.git, config, versions, name, stage)

    def _in_stage(self, name: str, stage: str) -> ModelVersion:
        self.config.stage(stage)
        view = self.stages(name)[stage]
        if name in view.breaches:
            raise IntegrityError(f"{view.breaches[name]}: run `gitreg verify` and repair the stage")
        if name not in view.entries:
            raise NotFoundError(f"{name} is not in {stage}: promote a version with `gitreg promote {name} VERSION {stage}`")
        return view.entries[name]

    def _refuse_broken(self, name: str, version: str | None) -> None:
        """A version tag that exists but cannot be read is a broken card, not an unknown version."""
        for item in self.broken:
            if version is None or item.tag == refs.format_version_tag(name, version):
                raise CardError(
                    f"{item.tag} is not a usable version ({item.reason}): "
                    f"register a new version with `gitreg register {name} PATH`"
                )

    def show(self, ref: str | refs.ModelRef) -> ModelVersion:
        """The version with its card read from the tagged tree (the source of truth)."""
        found = self.resolve(ref)
        blob = self.git.read_blob(found.commit, f"{refs.model_dir(found.name)}/{CARD_FILE}")
        if blob is None:
            raise CardError(f"{found.tag} has no {CARD_FILE}: run `gitreg verify` to see what is wrong")
        card = Card.from_yaml(blob, f"models/{found.name}/{CARD_FILE} at {found.tag}")
        if (card.name, card.version) != (found.name, found.version):
            raise CardError(
                f"models/{found.name}/{CARD_FILE} at {found.tag} says {card.name}@v{card.version}: "
                "the tag and its card disagree; run `gitreg verify` to see what is wrong"
            )
        return ModelVersion(found.name, found.version, found.tag, found.commit, card)

    # ------------------------------------------------------------------ bytes
    def load(self, name: str, version: str | None = None, stage: str | None = None) -> Any:
        """The Python object of a joblib artifact (latest, ``version`` or the one in ``stage``),
        after checking its bytes against the pointer."""
        found = self.resolve(refs.ModelRef(
            refs.check_name(name), refs.check_version(version) if version else None,
            refs.check_stage(stage) if stage else None))
        if not _loadable(found.card):
            raise ArtifactError(
                f"{found.tag} is a {found.card.artifact.kind} artifact, not a joblib file: "
                f"use `gitreg get {found.name}@{found.version} -o PATH` to write it out"
            )
        path = self._verified_bytes(found)
        for difference in provenance.environment_differences(found.card.environment):
            warnings.warn(f"{found.tag} was registered with {difference}", EnvironmentMismatchWarning, stacklevel=2)
        import joblib

        return joblib.load(path)

    def get(self, ref: str | refs.ModelRef, output: str | os.PathLike) -> Path:
        """Write the artifact of ``ref`` to ``output`` (a file, or a folder for folder artifacts)."""
        found = self.resolve(ref)
        output = Path(output)
        if output.is_dir():
            output = output / found.card.artifact.path
        if output.exists() or output.is_symlink():
            raise ConflictError(f"{output} already exists: remove it or choose another -o path")
        pointer = self._pointer(found)
        storage = artifact_store.load()
        storage.copy_out(storage.materialize(self._dvc_root(), pointer), pointer, output)
        return output

    def _pointer(self, found: ModelVersion) -> Pointer:
        path = f"{refs.model_dir(found.name)}/{found.card.artifact.path}.dvc"
        blob = self.git.read_blob(found.commit, path)
        if blob is None:
            raise ArtifactError(f"{found.tag} has no pointer {path}: run `gitreg verify` to see what is wrong")
        return read_pointer(blob, f"{path} at {found.tag}")

    def _verified_bytes(self, found: ModelVersion) -> Path:
        return artifact_store.load().materialize(self._dvc_root(), self._pointer(found))

    # ------------------------------------------------------------------ search, compare, stats
    def search(self, expression: str = "", *, sort: str | None = None, descending: bool = False,
               limit: int | None = None) -> list[ModelVersion]:
        """Every version whose card matches ``expression`` (the search language: ``gitreg search --help``),
        in name and version order or by ``sort``. Reads the tag index; the stage resolver runs once,
        only when the expression mentions ``stage``."""
        from gitreg.domain import predicate, query

        parsed, order = query.parse(expression), query.parse_sort(sort) if sort else None
        membership = None
        versions = self.versions()
        if parsed.uses_stage:
            config = self.config
            query.check_stages(parsed, [stage.name for stage in config.stages])
            membership = predicate.stage_membership(resolve_stages(self.git, config, versions))
        return predicate.run(parsed, versions, membership, order, descending, limit)

    def compare(self, references: Iterable[str | refs.ModelRef], *, data: str | os.PathLike | None = None,
                target: str | None = None, resamples: int | None = None, seed: int | None = None,
                confidence: float | None = None):
        """Versions side by side (the first is the baseline); with ``data`` (a CSV file) and ``target``
        each model is loaded (bytes verified) and evaluated on the same rows, with a paired bootstrap."""
        from dataclasses import replace

        from gitreg.domain import compare
        from gitreg.errors import InvalidInputError

        found = [self.resolve(reference) for reference in references]
        if len(found) < 2:
            raise InvalidInputError("compare needs two or more versions, e.g. `gitreg compare churn@1.0.0 churn`")
        report = compare.compare(found, self.config.metric_directions)
        options = {key: value for key, value in (("resamples", resamples), ("seed", seed),
                                                 ("confidence", confidence)) if value is not None}
        if data is None:
            if target or options:
                raise InvalidInputError("--target, --resamples, --seed and --confidence need --data FILE.csv")
            return report
        return replace(report, evaluation=self._evaluate(found, data, target, options))

    def _evaluate(self, found: list[ModelVersion], data, target: str | None, options: dict):
        from gitreg.errors import InvalidInputError

        try:
            from gitreg.services import evaluation
        except ImportError as exc:  # numpy: scikit-learn brings it, gitreg itself does not need it
            raise InvalidInputError(f"compare --data needs numpy ({exc}): pip install numpy") from exc
        dataset = evaluation.read_csv(data, target)
        models = [self.load(version.name, version=version.version) for version in found]
        return evaluation.evaluate([version.tag for version in found], models, dataset, **options)

    def stats(self):
        """Models, versions, versions per stage with each stage's newest change, artifact bytes, and
        registrations per month."""
        from gitreg.domain import stats

        versions, config = self.versions(), self.config
        views = resolve_stages(self.git, config, versions)
        last = {stage.name: next(iter(audit.events(self.git, config, versions, None, stage.name)), None)
                for stage in config.stages}
        return stats.compute(versions, views, last, len(self.broken))


def _stages_of(name: str, views: dict[str, StageView]) -> dict[str, str]:
    return {stage: view.entries[name].version for stage, view in views.items() if name in view.entries}


def _loadable(card: Card) -> bool:
    return card.artifact.kind == "joblib" or Path(card.artifact.path).suffix in LOADABLE_SUFFIXES
