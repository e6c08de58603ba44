"""``Registry``: the public Python API. The CLI is a thin shell over these methods.

Reads go through one pass over the version tags (:mod:`gitreg.index`) and never import DVC;
writes plan first, with no side effect, then apply in one reversible step.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from gitreg import index, metadata, refs, registration, storage_lazy
from gitreg.card import CARD_FILE, Card
from gitreg.config import CONFIG_FILE, Config
from gitreg.errors import ArtifactError, NotARegistryError, NotFoundError
from gitreg.git import Git
from gitreg.index import BrokenTag, ModelVersion
from gitreg.pointer import Pointer, read_pointer

LOADABLE_SUFFIXES = (".joblib", ".pkl", ".pickle")


class EnvironmentMismatchWarning(UserWarning):
    """The running Python or packages differ from those the model was registered with."""


@dataclass(frozen=True)
class ModelSummary:
    name: str
    latest: ModelVersion
    versions: int

    def to_dict(self) -> dict[str, Any]:
        card = self.latest.card
        return {"name": self.name, "latest": self.latest.version, "versions": self.versions,
                "labels": card.labels, "metrics": card.metrics, "description": card.description,
                "created": card.created}


class Registry:
    """A gitreg registry: a Git repository prepared by ``gitreg init``."""

    def __init__(self, path: str | os.PathLike = "."):
        self.root = Git.toplevel(path)
        self.git = Git(self.root)
        if not (self.root / CONFIG_FILE).is_file() and not self.git.read_blob("HEAD", CONFIG_FILE):
            raise NotARegistryError(
                f"{self.root} is a Git repository but not a gitreg registry: run `gitreg init {self.root}`"
            )
        self.broken: list[BrokenTag] = []

    @classmethod
    def init(cls, path: str | os.PathLike = ".", remote: str | None = None) -> tuple[Registry, bool]:
        """Prepare ``path`` as a registry (idempotent); returns the registry and whether anything changed."""
        from gitreg import skeleton

        changed = skeleton.init(Path(path), remote)
        return cls(path), changed

    @property
    def config(self) -> Config:
        path = self.root / CONFIG_FILE
        return Config.parse(path.read_bytes() if path.is_file() else None)

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
    ) -> ModelVersion | registration.RegisterPlan:
        """Register a new version of ``name``; with ``dry_run`` return the plan and change nothing."""
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
        plan = registration.plan(self.git, request, self.history(name)[::-1])
        if dry_run:
            return plan
        return registration.apply(self.git, plan)

    # ------------------------------------------------------------------ reads
    def versions(self, name: str | None = None) -> list[ModelVersion]:
        """Every version (of ``name`` or of all models), ordered by name then semver, oldest first."""
        found, self.broken = index.read_versions(self.git, name)
        return found

    def history(self, name: str) -> list[ModelVersion]:
        """Every version of ``name``, newest first."""
        return self.versions(refs.check_name(name))[::-1]

    def models(self) -> list[ModelSummary]:
        by_name: dict[str, list[ModelVersion]] = {}
        for version in self.versions():
            by_name.setdefault(version.name, []).append(version)
        return [ModelSummary(name, found[-1], len(found)) for name, found in sorted(by_name.items())]

    def resolve(self, ref: str | refs.ModelRef) -> ModelVersion:
        """The version a reference names: ``NAME`` (latest), ``NAME@VERSION``."""
        ref = ref if isinstance(ref, refs.ModelRef) else refs.ModelRef.parse(ref)
        history = self.history(ref.name)
        if not history:
            raise NotFoundError(f"no model named {ref.name!r}: `gitreg list` shows the registered models")
        if ref.version is None:
            return history[0]
        for candidate in history:
            if candidate.version == ref.version:
                return candidate
        raise NotFoundError(
            f"{ref.name} has no version {ref.version}: `gitreg history {ref.name}` lists its versions"
        )

    def show(self, ref: str | refs.ModelRef) -> ModelVersion:
        """The version with its card read from the tagged tree (the source of truth)."""
        found = self.resolve(ref)
        blob = self.git.read_blob(found.commit, f"{refs.model_dir(found.name)}/{CARD_FILE}")
        if blob is None:
            raise NotFoundError(f"{found.tag} has no {CARD_FILE}: run `gitreg verify` to see what is wrong")
        card = Card.from_yaml(blob, f"models/{found.name}/{CARD_FILE} at {found.tag}")
        return ModelVersion(found.name, found.version, found.tag, found.commit, card)

    # ------------------------------------------------------------------ bytes
    def load(self, name: str, version: str | None = None) -> Any:
        """The Python object of a joblib artifact, after checking its bytes against the pointer."""
        found = self.resolve(refs.ModelRef(refs.check_name(name), refs.check_version(version) if version else None))
        if not _loadable(found.card):
            raise ArtifactError(
                f"{found.tag} is a {found.card.artifact.kind} artifact, not a joblib file: "
                f"use `gitreg get {found.name}@{found.version} -o PATH` to write it out"
            )
        path = self._verified_bytes(found)
        for difference in metadata.environment_differences(found.card.environment):
            warnings.warn(f"{found.tag} was registered with {difference}", EnvironmentMismatchWarning, stacklevel=2)
        import joblib

        return joblib.load(path)

    def get(self, ref: str | refs.ModelRef, output: str | os.PathLike) -> Path:
        """Write the artifact of ``ref`` to ``output`` (a file, or a folder for folder artifacts)."""
        found = self.resolve(ref)
        output = Path(output)
        if output.is_dir():
            output = output / found.card.artifact.path
        if output.exists():
            raise ArtifactError(f"{output} already exists: remove it or choose another -o path")
        self._verified_bytes(found)
        storage = storage_lazy.load()
        storage.copy_out(storage.cache_dir(self.root), self._pointer(found), output)
        return output

    def _pointer(self, found: ModelVersion) -> Pointer:
        path = f"{refs.model_dir(found.name)}/{found.card.artifact.path}.dvc"
        blob = self.git.read_blob(found.commit, path)
        if blob is None:
            raise ArtifactError(f"{found.tag} has no pointer {path}: run `gitreg verify` to see what is wrong")
        return read_pointer(blob, f"{path} at {found.tag}")

    def _verified_bytes(self, found: ModelVersion) -> Path:
        return storage_lazy.load().materialize(self.root, self._pointer(found))


def _loadable(card: Card) -> bool:
    return card.artifact.kind == "joblib" or Path(card.artifact.path).suffix in LOADABLE_SUFFIXES
