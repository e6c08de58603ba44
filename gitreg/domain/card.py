"""The metadata card of one model version: schema, validation, YAML and the one-line JSON index."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from gitreg.domain import formats, yamlio
from gitreg.domain.pointer import is_md5, plain_texts
from gitreg.domain.refs import NAME_RE, SEMVER_RE
from gitreg.domain.values import assemble
from gitreg.errors import CardError, UnsafeCardError, UnsafeContentError

SCHEMA_VERSION = 1
CARD_RULES = f"schema-{SCHEMA_VERSION}.rules-2"  # change the rules number whenever _build accepts less
CARD_FILE = "card.yaml"
CARD_KEYS = ("schema", "name", "version", "created", "author", "artifact", "description", "labels", "metrics",
             "params", "lineage", "environment", "signature")
_CARD_KEY_SET = frozenset(CARD_KEYS)


@dataclass(frozen=True)
class Artifact:
    path: str  # relative to models/<name>/
    md5: str  # DVC's hash; a directory's ends in ".dir"
    size: int
    kind: str  # "joblib" or "skops" (an object gitreg saved), "file" or "directory"
    nfiles: int = 1
    format: str = ""  # how it loads (gitreg.domain.formats); "" in cards older than formats
    types: tuple[str, ...] = ()  # a skops file's types, as registered: what load trusts

    @property
    def loader(self) -> str:
        return formats.of_card(self.format, self.kind, self.path)

    def pointer_texts(self) -> tuple[bytes, ...]:
        """The DVC pointer files that name exactly these bytes, as gitreg and DVC write them."""
        return plain_texts(self.md5, self.size, self.path, self.nfiles if self.md5.endswith(".dir") else None)


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


@dataclass(frozen=True)
class Card:
    name: str
    version: str
    created: str  # ISO 8601 with offset
    author: dict[str, str]
    artifact: Artifact
    description: str = ""
    labels: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    lineage: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    signature: dict[str, Any] | None = None
    schema: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The card as plain data, in the card's key order (a copy: changing it changes no card). Written
        out field by field: ``dataclasses.asdict`` deep-copies every leaf and took a quarter of ``verify``."""
        a = self.artifact
        data = {"schema": self.schema, "name": self.name, "version": self.version, "created": self.created,
                "author": _copy(self.author),
                "artifact": _artifact_dict(a),
                "description": self.description, "labels": _copy(self.labels), "metrics": _copy(self.metrics),
                "params": _copy(self.params), "lineage": _copy(self.lineage),
                "environment": _copy(self.environment)}
        if self.signature is not None:
            data["signature"] = _copy(self.signature)
        return data

    def to_yaml(self) -> str:
        return yamlio.dump(self.to_dict())

    def to_json_line(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=False, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Any, where: str, numbers_checked: bool = False) -> Card:
        """``numbers_checked``: the data comes from :func:`yamlio.load_json`, which admits no NaN or Infinity,
        and nothing else holds it."""
        try:
            return _build(data, numbers_checked)
        except (KeyError, TypeError, ValueError) as exc:
            raise CardError(
                f"{where} is not a valid gitreg card ({_reason(exc)}): "
                "restore it with `git checkout` or fix the field by hand"
            ) from exc

    @classmethod
    def from_yaml(cls, text: str | bytes, where: str) -> Card:
        try:
            data = yamlio.load(text, where)
        except UnsafeContentError as exc:
            raise UnsafeCardError(str(exc)) from exc
        except yamlio.YAMLError as exc:
            first_line = str(exc).strip().splitlines()[0]
            raise CardError(
                f"{where} is not valid YAML ({first_line}): restore it with `git checkout` or fix it by hand"
            ) from exc
        return cls.from_dict(data, where)

    @classmethod
    def from_json(cls, text: str, where: str) -> Card:
        try:
            data = yamlio.load_json(text, where)
        except UnsafeContentError as exc:
            raise UnsafeCardError(str(exc)) from exc
        except ValueError as exc:
            raise CardError(f"{where} holds no valid card index ({exc})") from exc
        return cls.from_dict(data, where, numbers_checked=True)


def _artifact_dict(a: Artifact) -> dict[str, Any]:
    data = {"path": a.path, "md5": a.md5, "size": a.size, "kind": a.kind, "nfiles": a.nfiles}
    if a.format:
        data["format"] = a.format
    if a.types:
        data["types"] = list(a.types)
    return data


_UNSIGNED_KEYS, _SIGNED_KEYS = list(CARD_KEYS[:-1]), list(CARD_KEYS)
_ARTIFACT_KEYS = ["path", "md5", "size", "kind", "nfiles"]
_ARTIFACT_FORMS = (_ARTIFACT_KEYS, [*_ARTIFACT_KEYS, "format"], [*_ARTIFACT_KEYS, "format", "types"])
ARTIFACT_KEY_SET = frozenset(_ARTIFACT_FORMS[-1])
_DICT, _STR = {dict}, {str}


def is_plain_form(data: dict) -> bool:
    """Whether a card that passed validation is, as data, exactly what ``Card.to_dict`` gives: every key,
    in order, nothing left to default or convert. The index lines ``register`` writes are."""
    keys = list(data)
    if keys != _UNSIGNED_KEYS and (keys != _SIGNED_KEYS or data["signature"] is None):
        return False
    artifact, labels = data["artifact"], data["labels"]
    return (type(artifact) is dict and list(artifact) in _ARTIFACT_FORMS and type(artifact["kind"]) is str
            and type(artifact.get("types", ())) in (list, tuple)
            and type(data["description"]) is str and type(labels) is list and (not labels or set(map(type, labels)) == _STR)
            and {type(data["author"]), type(data["metrics"]), type(data["params"]), type(data["lineage"]),
                 type(data["environment"])} == _DICT)


def _build(data: Any, fresh: bool) -> Card:
    """``fresh``: ``data`` was just decoded from the JSON index (finite numbers, nothing else holds it), so
    it is neither checked for NaN again nor copied; 100,000 index cards are built in every full read."""
    if type(data) is not dict:
        raise TypeError("the card is not a mapping")
    if data.get("schema") != SCHEMA_VERSION:
        raise ValueError(f"schema must be {SCHEMA_VERSION}, found {data.get('schema')!r}")
    _require(data, "name", str, _is_name)
    _require(data, "version", str, _is_semver)
    if hasattr(data.get("created"), "isoformat"):  # an unquoted timestamp typed by hand
        data = {**data, "created": data["created"].isoformat()}
    _require(data, "created", str)
    if not _CARD_KEY_SET.issuperset(data):
        unknown = next(key for key in data if key not in _CARD_KEY_SET)
        raise ValueError(f"unknown field {unknown!r} (schema {SCHEMA_VERSION} has {', '.join(CARD_KEYS)})")
    artifact = data["artifact"]
    if type(artifact) is not dict:
        raise TypeError("artifact must be a mapping")
    _check_artifact(artifact)
    parts = {key: data.get(key) or {} for key in ("author", "metrics", "params", "lineage", "environment")}
    for key, value in parts.items():
        if not isinstance(value, dict):
            raise TypeError(f"{key} must be a mapping")
        if not fresh:
            parts[key] = dict(value)
    if not fresh:
        check_finite(parts["metrics"], "metrics")
        check_finite(parts["params"], "params")
    labels = data.get("labels") or []
    if type(labels) is not list:
        raise TypeError("labels must be a list")
    if not fresh or not all(type(label) is str for label in labels):
        labels = [str(label) for label in labels]
    description = data.get("description") or ""
    kind = artifact.get("kind", "file")
    return assemble(
        Card,
        schema=SCHEMA_VERSION,
        name=data["name"],
        version=data["version"],
        created=data["created"],
        author=parts["author"],
        artifact=assemble(
            Artifact,
            path=artifact["path"],
            md5=artifact["md5"],
            size=artifact["size"],
            kind=kind if type(kind) is str else str(kind),
            nfiles=artifact.get("nfiles", 1),
            format=artifact.get("format", ""),
            types=tuple(artifact.get("types", ())),
        ),
        description=description if type(description) is str else str(description),
        labels=labels,
        metrics=parts["metrics"],
        params=parts["params"],
        lineage=parts["lineage"],
        environment=parts["environment"],
        signature=data.get("signature"),
    )


@lru_cache(maxsize=8192)  # a registry has few distinct names and version numbers, each seen 100s of times
def _is_name(value: str) -> bool:
    return NAME_RE.match(value) is not None


@lru_cache(maxsize=8192)
def _is_semver(value: str) -> bool:
    return SEMVER_RE.match(value) is not None


def _check_artifact(artifact: dict) -> None:
    """The hash and the file name become paths: only a DVC hash and a plain name in the model folder."""
    if not is_md5(artifact.get("md5")):
        raise ValueError(f"artifact.md5 {str(artifact.get('md5'))[:80]!r} is not a DVC hash "
                         "(32 hex digits, '.dir' for a folder)")
    if not is_plain_name(artifact.get("path")):
        raise ValueError(f"artifact.path {str(artifact.get('path'))[:80]!r} is not a file name inside the model folder")
    for key in ("size", "nfiles"):
        value = artifact.get(key, 1)
        if type(value) is not int or value < 0:  # bool is an int subclass, and no size
            raise ValueError(f"artifact.{key} {value!r} is not a non-negative whole number")
    _check_format(artifact)


def _check_format(artifact: dict) -> None:
    """What ``load`` acts on: a known format, and skops types that are plain names none of which can run
    commands (a hand-edited card must not make ``load`` trust ``os.system``)."""
    unknown = next((key for key in artifact if key not in ARTIFACT_KEY_SET), None)
    if unknown is not None:
        raise ValueError(f"unknown field artifact.{str(unknown)[:40]!r} (artifact has {', '.join(_ARTIFACT_FORMS[-1])})")
    name = artifact.get("format", "")
    if name != "" and name not in formats.FORMATS:
        raise ValueError(f"artifact.format {str(name)[:40]!r} is not one of {', '.join(formats.FORMATS)}")
    types = artifact.get("types", [])
    if type(types) is not list or not all(formats.is_type_name(t) for t in types):
        raise ValueError("artifact.types must be a list of dotted type names, e.g. sklearn.linear_model.Ridge")
    dangerous = next((t for t in types if formats.is_dangerous(t)), None)
    if dangerous is not None:
        raise ValueError(f"artifact.types lists {dangerous}, which no model needs and could run commands")


def is_plain_name(value: object) -> bool:
    """One path component: no separator, not ``.`` or ``..``, nothing that could leave a folder."""
    return (isinstance(value, str) and value not in ("", ".", "..")
            and "/" not in value and "\\" not in value and "\0" not in value)


def check_finite(values: dict[str, Any], what: str) -> None:
    """NaN and infinities are no JSON and compare with nothing: refused wherever they hide."""
    todo = list(values.items())
    while todo:
        key, value = todo.pop()
        kind = type(value)
        if kind is float and not math.isfinite(value):
            raise ValueError(f"{what} {key} is {value}: record a finite number")
        if kind is dict or isinstance(value, dict):
            todo += [(f"{key}.{k}", v) for k, v in value.items()]
        elif kind is list or isinstance(value, list):
            todo += [(f"{key}[{i}]", v) for i, v in enumerate(value)]


def _require(data: dict, key: str, typ: type, valid=lambda v: True) -> None:
    if key not in data:
        raise KeyError(key)
    value = data[key]
    if not isinstance(value, typ) or not valid(value):
        raise ValueError(f"{key}: {value!r} is not valid")


def _reason(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}"
    return str(exc)
