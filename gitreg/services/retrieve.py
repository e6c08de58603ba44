"""A version's card as its tagged tree holds it, and its bytes: verified, written out, or loaded."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from gitreg.domain import refs
from gitreg.domain.card import CARD_FILE, Card
from gitreg.domain.pointer import Pointer, read_pointer
from gitreg.domain.version import ModelVersion
from gitreg.errors import ArtifactError, CardError, ConflictError
from gitreg.io import artifact_store
from gitreg.io.git import Git
from gitreg.services import provenance

LOADABLE_SUFFIXES = (".joblib", ".pkl", ".pickle")


class EnvironmentMismatchWarning(UserWarning):
    """The running Python or packages differ from those the model was registered with."""


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


def load(git: Git, dvc_root: Path, found: ModelVersion) -> Any:
    """The Python object of a joblib artifact, after checking its bytes against the pointer."""
    if not loadable(found.card):
        raise ArtifactError(
            f"{found.tag} is a {found.card.artifact.kind} artifact, not a joblib file: "
            f"use `gitreg get {found.name}@{found.version} -o PATH` to write it out"
        )
    path = artifact_store.load().materialize(dvc_root, pointer(git, found))
    import joblib

    try:
        loaded = joblib.load(path)
    except Exception:
        _warn_environment(found, imported_only=False)  # what may explain the failure
        raise
    _warn_environment(found, imported_only=True)  # the packages the object needed, as loaded
    return loaded


def _warn_environment(found: ModelVersion, imported_only: bool) -> None:
    for difference in provenance.environment_differences(found.card.environment, imported_only):
        warnings.warn(f"{found.tag} was registered with {difference}", EnvironmentMismatchWarning, stacklevel=4)


def write_out(git: Git, dvc_root: Path, found: ModelVersion, output: str | os.PathLike) -> Path:
    """The artifact written to ``output`` (a file, or a folder for folder artifacts), bytes verified."""
    output = Path(output)
    if output.is_dir():
        output = output / found.card.artifact.path
    if output.exists() or output.is_symlink():
        raise ConflictError(f"{output} already exists: remove it or choose another -o path")
    stored = pointer(git, found)
    storage = artifact_store.load()
    storage.copy_out(storage.materialize(dvc_root, stored), stored, output)
    return output


def loadable(card: Card) -> bool:
    return card.artifact.kind == "joblib" or Path(card.artifact.path).suffix in LOADABLE_SUFFIXES
