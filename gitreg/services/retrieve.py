"""A version's card as its tagged tree holds it, and its bytes: verified, written out, or loaded."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from gitreg.domain import formats, refs
from gitreg.domain.card import CARD_FILE, Card
from gitreg.domain.pointer import Pointer, read_pointer
from gitreg.domain.version import ModelVersion
from gitreg.errors import ArtifactError, CardError, ConflictError, GitregError, UntrustedArtifactError
from gitreg.io import artifact_store, dvc_layout, loaders, progress, shared_cache
from gitreg.io.git import Git
from gitreg.services import provenance


class EnvironmentMismatchWarning(UserWarning):
    """The running Python or packages differ from those the model was registered with."""


class PickleWarning(UserWarning):
    """A pickle-based artifact is being loaded: it can run any code it holds."""


def tagged_card(git: Git, found: ModelVersion) -> ModelVersion:
    """``found`` with its card read from the tagged tree (the source of truth, not the tag's index)."""
    blob = git.read_blob(found.commit, f"{refs.model_dir(found.name)}/{CARD_FILE}")
    if blob is None:
        raise CardError(f"{found.tag} has no {CARD_FILE}: run `gitreg verify` to see what is wrong")
    card = Card.from_yaml(blob, f"models/{found.name}/{CARD_FILE} at {found.tag}")
    if (card.name, card.version) != (found.name, found.version):
        raise CardError(
            f"models/{found.name}/{CARD_FILE} at {found.tag} says {card.name}@v{card.version}: "
            "the tag and its card disagree; run `gitreg verify` to see what is wrong"
        )
    return ModelVersion(found.name, found.version, found.tag, found.commit, card, found.tag_oid)


def pointer(git: Git, found: ModelVersion) -> Pointer:
    path = f"{refs.model_dir(found.name)}/{found.card.artifact.path}.dvc"
    blob = git.read_blob(found.commit, path)
    if blob is None:
        raise ArtifactError(f"{found.tag} has no pointer {path}: run `gitreg verify` to see what is wrong")
    artifact = found.card.artifact
    if blob in artifact.pointer_texts():  # exactly as written for the card: no YAML parser to import
        return Pointer(artifact.md5, artifact.size, artifact.nfiles)
    return read_pointer(blob, f"{path} at {found.tag}")


def load(git: Git, dvc_root: Path, found: ModelVersion, pickle_policy: str = "warn", trusted: Any = None) -> Any:
    """The object of an artifact, in the format its card records, after checking its bytes against the
    pointer. A pickle (which runs any code it holds) is refused or warned about by ``pickle_policy``
    before its bytes are read; a skops file loads only the types its card lists (and ``trusted``)."""
    artifact = found.card.artifact
    fmt = artifact.loader
    if fmt == "file":
        raise ArtifactError(
            f"{found.tag} is a {artifact.kind} artifact of no format gitreg loads: "
            f"use `gitreg get {found.name}@{found.version} -o PATH` (or Registry.path) to write it out"
        )
    if fmt == "directory":
        return local_path(git, dvc_root, found)
    _check_pickle(found, fmt, pickle_policy)
    path = artifact_store.load().materialize(dvc_root, pointer(git, found))
    try:
        loaded = loaders.load(fmt, path, artifact.types, trusted, found.tag)
    except GitregError:
        raise
    except Exception:
        _warn_environment(found, imported_only=False)  # what may explain the failure
        raise
    _warn_environment(found, imported_only=True)  # the packages the object needed, as loaded
    return loaded


def _check_pickle(found: ModelVersion, fmt: str, policy: str) -> None:
    if not formats.FORMATS[fmt].pickle or policy == "allow":
        return
    if policy == "refuse":
        raise UntrustedArtifactError(
            f"{found.tag} is a {fmt} pickle, which runs any code it holds when loaded, and this registry refuses "
            "pickles (load: {pickle: refuse} or trust_pickles=False): re-register it with skops, or allow it")
    warnings.warn(f"{found.tag} is a {fmt} pickle: loading it runs any code it holds; register objects with "
                  "skops, or set load: {pickle: allow} in .gitreg.yaml", PickleWarning, stacklevel=4)


def _warn_environment(found: ModelVersion, imported_only: bool) -> None:
    for difference in provenance.environment_differences(found.card.environment, imported_only):
        warnings.warn(f"{found.tag} was registered with {difference}", EnvironmentMismatchWarning, stacklevel=4)


def local_path(git: Git, dvc_root: Path, found: ModelVersion) -> Path:
    """The artifact in the machine's content-addressed cache, verified; DVC is asked for the bytes
    only when the cache lacks them (or they changed there)."""
    stored = pointer(git, found)

    def fill(target: Path) -> list[dict] | None:
        storage = artifact_store.load()
        source = storage.materialize(dvc_root, stored)
        storage.copy_out(source, stored, target)
        return dvc_layout.manifest(source) if stored.is_dir else None

    return shared_cache.place(stored.md5, found.card.artifact.path, fill)


def write_out(git: Git, dvc_root: Path, found: ModelVersion, output: str | os.PathLike) -> Path:
    """The artifact written to ``output`` (a file, or a folder for folder artifacts), bytes verified."""
    output = Path(output)
    if output.is_dir():
        output = output / found.card.artifact.path
    if output.exists() or output.is_symlink():
        raise ConflictError(f"{output} already exists: remove it or choose another -o path")
    stored = pointer(git, found)
    storage = artifact_store.load()
    source = storage.materialize(dvc_root, stored)
    with progress.step(f"Writing {output.name}", stored.size or 0):
        storage.copy_out(source, stored, output)
    return output
