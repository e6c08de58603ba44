"""skops files: save an object, list the types a file holds, read its signature without loading it, and
load it trusting only named types. skops (and numpy) are imported only here, when needed."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from gitreg.errors import ArtifactError, MissingPackageError, UntrustedArtifactError

SCHEMA = "schema.json"
SIGNATURE_FIELDS = ("n_features_in_", "feature_names_in_", "classes_")


def _sio() -> Any:
    try:
        import skops.io as sio
    except ImportError as exc:
        raise MissingPackageError("skops saves and loads scikit-learn models and is not installed: "
                                  "pip install skops") from exc
    return sio


def dump(obj: Any, target: Path) -> tuple[str, ...]:
    """Save ``obj`` to ``target``; returns the types the file holds."""
    try:
        _sio().dump(obj, target)
        _canonical(target)
    except MissingPackageError:
        raise
    except Exception as exc:  # skops cannot represent every object (e.g. a lambda)
        target.unlink(missing_ok=True)
        raise ArtifactError(f"skops cannot save this {type(obj).__name__} ({str(exc).splitlines()[0][:200]}): "
                            "set `serialization: joblib` in .gitreg.yaml, or save it yourself and register the file"
                            ) from exc
    return types_of(target)


def _canonical(path: Path) -> None:
    """The same object saves to the same bytes (so two registrations of one model share them, and
    ``compare`` sees it): skops names nodes and array files by ``id()`` and stamps the zip with the time;
    ids are renumbered in schema order (shared references keep sharing one) and the time is fixed."""
    with zipfile.ZipFile(path) as archive:
        infos = {info.filename: info for info in archive.infolist()}
        members = {name: archive.read(name) for name in infos}
    schema = json.loads(members[SCHEMA])
    ids: dict = {}
    files: dict[str, str] = {}
    todo = [schema]
    while todo:
        node = todo.pop(0)
        if isinstance(node, dict):
            if "__id__" in node:
                node["__id__"] = ids.setdefault(node["__id__"], len(ids) + 1)
            if node.get("__loader__") == "NdArrayNode" and isinstance(node.get("file"), str):
                node["file"] = files.setdefault(node["file"], f"{len(files) + 1}.npy")
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)
    renamed = {files.get(name, name): (infos[name], data) for name, data in members.items() if name != SCHEMA}
    with zipfile.ZipFile(path, "w") as archive:
        for name in sorted(renamed):
            info, data = renamed[name]
            archive.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data, compress_type=info.compress_type)
        archive.writestr(zipfile.ZipInfo(SCHEMA, (1980, 1, 1, 0, 0, 0)), json.dumps(schema, indent=2),
                         compress_type=infos[SCHEMA].compress_type)


def _schema(path: Path) -> tuple[zipfile.ZipFile, dict]:
    try:
        archive = zipfile.ZipFile(path)
        return archive, json.loads(archive.read(SCHEMA))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ArtifactError(f"{path.name} is not a skops file ({exc}): save the model with skops.io.dump") from exc


def types_of(path: Path) -> tuple[str, ...]:
    """Every ``module.Class`` named in the file's schema, sorted: what a reviewer reads in the card."""
    archive, schema = _schema(path)
    archive.close()
    found, todo = set(), [schema]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            if isinstance(node.get("__module__"), str) and isinstance(node.get("__class__"), str):
                found.add(f"{node['__module__']}.{node['__class__']}")
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)
    return tuple(sorted(found))


def signature_source(path: Path) -> SimpleNamespace | None:
    """The fitted attributes a signature needs, read from the schema and ``.npy`` members (numpy with
    ``allow_pickle=False``): no object is built, no code of the file runs."""
    archive, schema = _schema(path)
    with archive:
        state = (schema.get("content") or {}).get("content") if schema.get("__loader__") == "ObjectNode" else None
        if not isinstance(state, dict):
            return None
        values = {key: _value(archive, state[key]) for key in SIGNATURE_FIELDS if isinstance(state.get(key), dict)}
    values = {key: value for key, value in values.items() if value is not None}
    return SimpleNamespace(**values) if values else None


def _value(archive: zipfile.ZipFile, node: dict) -> Any:
    loader = node.get("__loader__")
    if loader == "JsonNode" and isinstance(node.get("content"), str):
        return json.loads(node["content"])
    if loader != "NdArrayNode":
        return None
    if node.get("type") == "json" and isinstance(node.get("content"), list):
        return [_value(archive, item) for item in node["content"] if isinstance(item, dict)]
    if node.get("type") == "numpy" and isinstance(node.get("file"), str):
        import numpy as np

        try:
            with archive.open(node["file"]) as handle:
                return np.load(handle, allow_pickle=False).tolist()
        except (KeyError, ValueError, OSError):
            return None
    return None


def load(path: Path, types: tuple[str, ...], extra: list[str], tag: str) -> Any:
    """The object, if every type skops does not trust by default was recorded at registration
    (``types``) or is trusted by the caller (``extra``)."""
    sio = _sio()
    untrusted = sio.get_untrusted_types(file=path)
    allowed = set(types) | set(extra)
    refused = [name for name in untrusted if name not in allowed]
    if refused:
        listed = ", ".join(refused[:5]) + (f" and {len(refused) - 5} more" if len(refused) > 5 else "")
        raise UntrustedArtifactError(
            f"{tag} holds types its card does not list: {listed}; if you trust them, "
            f"load with trusted={refused[:5]!r}")
    return sio.load(path, trusted=untrusted)
