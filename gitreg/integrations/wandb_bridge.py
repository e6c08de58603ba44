"""Weights & Biases: versions logged as W&B model artifacts, offline by default (``wandb sync`` uploads them
later, from a machine that may), and downloaded W&B artifact folders registered with their metadata.

wandb is imported here only, when one of these commands runs (``pip install 'gitreg-dvc[wandb]'``).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitreg.domain.version import ModelVersion
from gitreg.errors import InvalidInputError, MissingPackageError, StorageError

MAX_METADATA = 1024 * 1024  # bytes of a metadata file: W&B caps artifact metadata far below this


class WandbError(StorageError):
    """wandb refused or failed."""


@dataclass(frozen=True)
class WandbExport:
    run_dir: str  # the offline run: `wandb sync RUN_DIR` uploads it
    artifacts: dict[str, list[str]]  # tag -> aliases
    offline: bool

    def to_dict(self) -> dict:
        return {"run_dir": self.run_dir, "artifacts": self.artifacts, "offline": self.offline}


@dataclass(frozen=True)
class WandbFacts:
    path: Path
    metrics: dict[str, Any]
    params: dict[str, Any]
    labels: tuple[str, ...]
    description: str
    origin: dict[str, Any]


def _wandb():
    try:
        import wandb
    except ImportError as exc:
        raise MissingPackageError("wandb is not installed: `pip install 'gitreg-dvc[wandb]'`") from exc
    return wandb


def artifact_name(name: str) -> str:
    """W&B artifact names allow letters, digits, ``-``, ``_`` and ``.``."""
    return re.sub(r"[^\w.-]", "-", name)


def export(versions: list[tuple[ModelVersion, Path]], stages: dict[str, dict[str, str]], project: str,
           entity: str | None, directory: Path, online: bool) -> WandbExport:
    """One W&B run (job type ``gitreg-export``) logging each version as a model artifact: the card as
    metadata, ``gitreg-X.Y.Z`` and every stage and alias naming it as aliases."""
    wandb = _wandb()
    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ.setdefault("WANDB_DISABLE_GIT", "true")  # the commit is gitreg's to record, in the metadata
    directory.mkdir(parents=True, exist_ok=True)
    mode = "online" if online else "offline"
    logged: dict[str, list[str]] = {}
    try:
        run = wandb.init(project=project, entity=entity, dir=str(directory), mode=mode, job_type="gitreg-export",
                         settings=wandb.Settings(silent=True, console="off"))
        for version, path in versions:
            aliases = [f"gitreg-{version.version}",
                       *sorted(s for s, held in stages.get(version.name, {}).items() if held == version.version)]
            run.log_artifact(_artifact(wandb, version, path), aliases=aliases)
            logged[version.tag] = aliases
        run_dir = str(Path(run.dir).parent)
        run.finish()
    except (wandb.Error, OSError, ValueError) as exc:
        raise WandbError(f"wandb failed ({str(exc).splitlines()[0][:300]}): check --project and, online, the "
                         "login (`wandb login`)") from exc
    return WandbExport(run_dir, logged, not online)


def _artifact(wandb, version: ModelVersion, path: Path):
    card = version.card
    metadata = {"gitreg": {"tag": version.tag, "commit": version.commit, "card": version.card_data()}}
    artifact = wandb.Artifact(artifact_name(version.name), type="model", description=card.description or None,
                              metadata=metadata)
    if path.is_dir():
        artifact.add_dir(str(path))
    else:
        artifact.add_file(str(path), name=card.artifact.path)
    return artifact


def read_download(folder: Path, metadata_file: Path | None) -> WandbFacts:
    """A downloaded artifact folder (``artifact.download()`` or ``wandb artifact get``) and its metadata
    (``--metadata FILE.json``: ``artifact.metadata`` as JSON). Metadata that ``gitreg wandb export`` wrote
    gives back the card's metrics, params, labels and description; other metadata gives its ``metrics``
    and ``params`` mappings, or its numbers as metrics and its other plain values as params."""
    if not folder.is_dir():
        raise InvalidInputError(f"{folder} is not a folder: give the folder a W&B artifact was downloaded to")
    files = [p for p in folder.rglob("*") if p.is_file()]
    if not files:
        raise InvalidInputError(f"{folder} holds no file: download the artifact into it first")
    metadata = _metadata(metadata_file)
    path = files[0] if len(files) == 1 else folder
    card = (metadata.get("gitreg") or {}).get("card") if isinstance(metadata.get("gitreg"), dict) else None
    origin = {"wandb": {"folder": folder.name, **({"metadata": metadata_file.name} if metadata_file else {})}}
    if isinstance(card, dict):
        origin["wandb"]["exported_from"] = metadata["gitreg"].get("tag")
        return WandbFacts(path, dict(card.get("metrics") or {}), dict(card.get("params") or {}),
                          tuple(card.get("labels") or ()), str(card.get("description") or ""), origin)
    metrics, params = _split(metadata)
    return WandbFacts(path, metrics, params, (), str(metadata.get("description") or ""), origin)


def _metadata(path: Path | None) -> dict:
    if path is None:
        return {}
    if not path.is_file() or path.stat().st_size > MAX_METADATA:
        raise InvalidInputError(f"{path} is not a metadata file of at most {MAX_METADATA} bytes: save "
                                "`artifact.metadata` as JSON, e.g. json.dump(artifact.metadata, open(FILE, 'w'))")
    try:
        data = json.loads(path.read_text())
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInputError(f"{path} is not JSON ({exc}): save artifact.metadata with json.dump") from exc
    if not isinstance(data, dict):
        raise InvalidInputError(f"{path} holds a {type(data).__name__}, not the mapping W&B metadata is")
    return data


def _split(metadata: dict) -> tuple[dict, dict]:
    if isinstance(metadata.get("metrics"), dict) or isinstance(metadata.get("params"), dict):
        return dict(metadata.get("metrics") or {}), dict(metadata.get("params") or {})
    plain = {k: v for k, v in metadata.items() if k != "description" and isinstance(v, (int, float, str, bool))}
    metrics = {k: v for k, v in plain.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return metrics, {k: v for k, v in plain.items() if k not in metrics}
