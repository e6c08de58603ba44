"""MLflow, both ways: gitreg versions become MLflow runs and registered model versions (stages and aliases as MLflow aliases),
and MLflow models or runs become gitreg versions with their metrics, params, signature and source.

MLflow is imported here only, when one of these commands runs (``pip install 'gitreg-dvc[mlflow]'``).
An exported version is recognised by its tags (``gitreg.tag``, ``gitreg.commit``), so exporting again
changes nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from gitreg.domain.version import ModelVersion
from gitreg.errors import GitregError, InvalidInputError, MissingPackageError, NotFoundError, StorageError

EXPERIMENT = "gitreg"
ARTIFACT_PATH = "model"
TAG, COMMIT, MD5 = "gitreg.tag", "gitreg.commit", "gitreg.md5"
_MODELS_URI = re.compile(r"models:/(?P<name>[^/@]+)(/(?P<version>\d+)|@(?P<alias>[\w-]+))\Z")
_RUNS_URI = re.compile(r"runs:/(?P<run>[0-9a-f]{8,64})(/(?P<path>.*))?\Z")


class MlflowError(StorageError):
    """MLflow refused or could not be reached."""


@dataclass(frozen=True)
class Exported:
    tag: str
    registered_model: str
    version: str  # MLflow's model version number
    run_id: str
    created: bool

    def to_dict(self) -> dict:
        return {"tag": self.tag, "registered_model": self.registered_model, "mlflow_version": self.version,
                "run_id": self.run_id, "created": self.created}


@dataclass(frozen=True)
class ExportReport:
    exported: list[Exported]
    aliases: dict[str, dict[str, str]] = field(default_factory=dict)  # registered model -> {alias: version}

    def to_dict(self) -> dict:
        return {"exported": [e.to_dict() for e in self.exported], "aliases": self.aliases}


@dataclass(frozen=True)
class RunFacts:
    """What a registration takes from MLflow: metrics, params, description and where it came from."""

    metrics: dict[str, float]
    params: dict[str, str]
    description: str
    origin: dict[str, Any]


def _mlflow():
    try:
        import mlflow
    except ImportError as exc:
        raise MissingPackageError("MLflow is not installed: `pip install 'gitreg-dvc[mlflow]'`") from exc
    # one attempt, a short timeout: an unreachable server is a clear error in seconds, not minutes of retries
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    import logging

    for name in ("mlflow", "alembic"):  # their INFO lines ("Creating initial MLflow database tables") are noise here
        logging.getLogger(name).setLevel(logging.WARNING)
    return mlflow


@contextmanager
def _client(tracking_uri: str | None) -> Iterator[Any]:
    mlflow = _mlflow()
    from mlflow.exceptions import MlflowException

    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        raise InvalidInputError("name the MLflow tracking server: --tracking-uri URI (or MLFLOW_TRACKING_URI)")
    try:
        yield mlflow.MlflowClient(tracking_uri=uri)
    except MlflowException as exc:
        raise _translate(exc, uri) from exc
    except OSError as exc:
        raise MlflowError(f"cannot reach MLflow at {redact(uri)} ({exc}): check --tracking-uri") from exc


def _translate(exc, uri: str) -> GitregError:
    code = getattr(exc, "error_code", "")
    message = str(exc).splitlines()[0][:300]
    if code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
        return NotFoundError(f"MLflow at {redact(uri)} has no such object: {message}")
    if code == "INVALID_PARAMETER_VALUE":
        return InvalidInputError(f"MLflow at {redact(uri)} refused: {message}")
    return MlflowError(f"MLflow at {redact(uri)} failed: {message}: check --tracking-uri and that the server runs")


def redact(uri: str) -> str:
    """A tracking URI without its password, as it is recorded and shown."""
    parts = urlsplit(uri)
    if parts.password:
        netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return uri


# ------------------------------------------------------------------------------------ export
def export(tracking_uri: str | None, versions: list[tuple[ModelVersion, Path]], stages: dict[str, dict[str, str]],
           registered_model: str | None, experiment: str = EXPERIMENT) -> ExportReport:
    """Each ``(version, artifact path)`` as a run and a model version (unless exported before); every stage
    holding an exported version becomes an alias of that model version."""
    with _client(tracking_uri) as client:
        experiment_id = _experiment(client, experiment)
        done = [_export_one(client, experiment_id, version, path, registered_model or version.name)
                for version, path in versions]
        return ExportReport(done, _stage_aliases(client, done, versions, stages))


def _experiment(client, name: str) -> str:
    found = client.get_experiment_by_name(name)
    return found.experiment_id if found else client.create_experiment(name, _artifact_location(client.tracking_uri))


def _artifact_location(uri: str) -> str | None:
    """Beside a sqlite store's file (``mlartifacts/``, as ``mlflow server`` does): MLflow's default, ``./mlruns``
    in the working directory, would put the artifacts into the registry's working tree."""
    if uri.startswith("sqlite:///"):
        return (Path(uri.removeprefix("sqlite:///")).absolute().parent / "mlartifacts").as_uri()
    return None


def _export_one(client, experiment_id: str, version: ModelVersion, path: Path, model: str) -> Exported:
    _registered_model(client, model)
    previous = _exported_version(client, model, version)
    if previous is not None:
        return Exported(version.tag, model, previous.version, previous.run_id, False)
    run = _run_of(client, experiment_id, version) or _log_run(client, experiment_id, version, path)
    made = client.create_model_version(model, source=f"{run.info.artifact_uri}/{ARTIFACT_PATH}", run_id=run.info.run_id,
                                       tags=_tags(version), description=version.card.description or None)
    return Exported(version.tag, model, str(made.version), run.info.run_id, True)


def _registered_model(client, name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description="Exported from a gitreg registry")


def _exported_version(client, model: str, version: ModelVersion):
    query = f"name = '{model}' and tags.`{TAG}` = '{version.tag}'"
    found = [v for v in client.search_model_versions(query) if (v.tags or {}).get(COMMIT) == version.commit]
    return found[0] if found else None


def _run_of(client, experiment_id: str, version: ModelVersion):
    """A run logged by an export that stopped before its model version was made."""
    runs = client.search_runs([experiment_id], filter_string=f"tags.`{TAG}` = '{version.tag}' and "
                                                            f"tags.`{COMMIT}` = '{version.commit}'")
    return runs[0] if runs else None


def _log_run(client, experiment_id: str, version: ModelVersion, path: Path):
    card = version.card
    run = client.create_run(experiment_id, run_name=version.tag, tags=_tags(version))
    run_id = run.info.run_id
    for key, value in card.metrics.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            client.log_metric(run_id, _key(key), float(value))
    for key, value in card.params.items():
        client.log_param(run_id, _key(key), str(value)[:6000])
    with tempfile.TemporaryDirectory(prefix="gitreg-mlflow-") as work:
        staged = Path(work) / card.artifact.path
        (shutil.copytree if path.is_dir() else shutil.copyfile)(path, staged)
        client.log_artifacts(run_id, work, ARTIFACT_PATH)
    client.set_terminated(run_id)
    return client.get_run(run_id)


def _tags(version: ModelVersion) -> dict[str, str]:
    return {TAG: version.tag, COMMIT: version.commit, MD5: version.card.artifact.md5,
            "gitreg.name": version.name, "gitreg.version": version.version}


def _key(key: str) -> str:
    """MLflow keys allow letters, digits and ``_-./ ``: anything else becomes ``_``."""
    return re.sub(r"[^\w\-./ ]", "_", key)[:250]


def _stage_aliases(client, done: list[Exported], versions, stages: dict[str, dict[str, str]]) -> dict:
    aliases: dict[str, dict[str, str]] = {}
    by_tag = {e.tag: e for e in done}
    for version, _ in versions:
        for stage, held in stages.get(version.name, {}).items():
            if held == version.version:
                exported = by_tag[version.tag]
                client.set_registered_model_alias(exported.registered_model, stage, exported.version)
                aliases.setdefault(exported.registered_model, {})[stage] = exported.version
    return aliases


# ------------------------------------------------------------------------------------ import
@dataclass(frozen=True)
class Download:
    path: Path  # the artifact to register (a file or folder), inside a temporary folder the caller removes
    facts: RunFacts
    folder: Path


def download(tracking_uri: str | None, uri: str) -> Download:
    """The artifact ``uri`` names (``models:/NAME/VERSION``, ``models:/NAME@ALIAS``, ``runs:/RUN_ID/PATH``)
    downloaded to a temporary folder, with its run's facts."""
    models, runs = _MODELS_URI.match(uri), _RUNS_URI.match(uri)
    if not (models or runs):
        raise InvalidInputError(f"{uri!r} is not an MLflow model URI: give models:/NAME/VERSION, models:/NAME@ALIAS "
                                "or runs:/RUN_ID/PATH")
    with _client(tracking_uri) as client:
        if models:
            found = (client.get_model_version(models["name"], models["version"]) if models["version"]
                     else client.get_model_version_by_alias(models["name"], models["alias"]))
            run_id, description = found.run_id, found.description or ""
            origin = {"registered_model": found.name, "version": str(found.version)}
        else:
            run_id, description, origin = runs["run"], "", {}
        facts = _facts(client, run_id, description, {"model_uri": uri, **origin}, tracking_uri)
        folder = Path(tempfile.mkdtemp(prefix="gitreg-mlflow-"))
        try:  # every lookup through this client: MLflow's module-level helpers would ask the default registry
            if models:
                source = client.get_model_version_download_uri(found.name, found.version)
                path = Path(_mlflow().artifacts.download_artifacts(artifact_uri=source, dst_path=str(folder)))
            else:
                path = Path(client.download_artifacts(run_id, runs["path"] or "", str(folder)))
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
    path = _single_file(path)
    signature = _signature(path)
    if signature:
        facts.origin["mlflow"]["signature"] = signature
    return Download(path, facts, folder)


def _single_file(path: Path) -> Path:
    """A downloaded folder holding one file and no MLflow model (what `gitreg mlflow export` logs) is that file,
    so a file comes back a file."""
    entries = list(path.iterdir()) if path.is_dir() else []
    return entries[0] if len(entries) == 1 and entries[0].is_file() and entries[0].name != "MLmodel" else path


def run_facts(tracking_uri: str | None, run_id: str) -> RunFacts:
    """``register --mlflow-run RUN_ID``: the run's metrics, params and note, and the run as the source."""
    if not re.fullmatch(r"[0-9a-f]{8,64}", run_id or ""):
        raise InvalidInputError(f"{run_id!r} is not an MLflow run id (32 hex digits)")
    with _client(tracking_uri) as client:
        return _facts(client, run_id, "", {}, tracking_uri)


def _facts(client, run_id: str, description: str, origin: dict, tracking_uri: str | None) -> RunFacts:
    run = client.get_run(run_id)
    data = run.data
    note = description or data.tags.get("mlflow.note.content", "")
    source = {"tracking_uri": redact(client.tracking_uri), "run_id": run_id,
              "experiment_id": run.info.experiment_id, **origin}
    return RunFacts(dict(data.metrics), dict(data.params), note.strip().splitlines()[0] if note.strip() else "",
                    {"mlflow": source})


def _signature(path: Path) -> dict | None:
    """The ``signature`` of an MLflow model folder's ``MLmodel`` file (inputs and outputs as MLflow wrote them)."""
    mlmodel = path / "MLmodel" if path.is_dir() else None
    if mlmodel is None or not mlmodel.is_file():
        return None
    from gitreg.domain import yamlio

    try:
        data = yamlio.load(mlmodel.read_text(), "MLmodel") or {}
    except Exception:  # a model folder whose MLmodel does not read simply has no signature to record
        return None
    signature = data.get("signature") if isinstance(data, dict) else None
    return {key: str(value) for key, value in signature.items()} if isinstance(signature, dict) else None
