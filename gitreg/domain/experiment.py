"""An A/B test of a model in a stage: the record that lives on the stage branch while it runs.

``experiments/<name>.yaml`` on the stage branch, beside ``models/<name>/`` (which keeps holding the
control version's subtree): the file exists exactly while the experiment runs. Its commits carry
``Gitreg-Ab-*`` trailers (:func:`trailers`, :func:`parse_trailers`); a conclusion that promotes the
candidate also carries the usual promotion trailers.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from gitreg.domain import refs, yamlio
from gitreg.errors import GitregError, InvalidInputError, UnsafeContentError

EXPERIMENTS_DIR = "experiments"
SCHEMA = 1
DIRECTIONS = ("higher", "lower")
START, STOP, CONCLUDE, RESUME = "start", "stop", "conclude", "resume"
AB_ACTIONS = (START, STOP, CONCLUDE, RESUME)
DEFAULT_MIN_SAMPLES = 1000
_FIELD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}\Z")
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z")
_KEYS = ("schema", "id", "model", "stage", "control", "candidate", "split", "metric", "direction", "key_field",
         "min_samples", "started", "author", "gates", "override")


def path_of(model: str) -> str:
    return f"{EXPERIMENTS_DIR}/{model}.yaml"


def model_of_path(path: str) -> str | None:
    """The model an ``experiments/<name>.yaml`` path is the record of (None: not such a path)."""
    folder, _, file = path.partition("/")
    if folder != EXPERIMENTS_DIR or "/" in file or not file.endswith(".yaml"):
        return None
    return file[: -len(".yaml")]


@dataclass(frozen=True)
class Experiment:
    id: str
    model: str
    stage: str
    control: str
    candidate: str
    split: float  # percent of keys routed to the candidate
    metric: str
    direction: str  # "higher" or "lower": which way the metric is better
    key_field: str
    min_samples: int  # per variant, before any verdict
    started: str  # ISO 8601, UTC
    author: str  # "Name <email>"
    gates: tuple[str, ...] = ()
    override: str | None = None
    schema: int = SCHEMA

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["gates"] = list(self.gates)
        return data

    def to_yaml(self) -> bytes:
        data = {key: self.to_dict()[key] for key in _KEYS}
        return "".join(f"{key}: {json.dumps(value, ensure_ascii=False)}\n" for key, value in data.items()).encode()

    @classmethod
    def from_yaml(cls, blob: bytes, where: str) -> Experiment:
        try:
            data = yamlio.load(blob, where)
        except GitregError:
            raise
        except Exception as exc:  # the YAML library's syntax errors
            reason = " ".join(str(exc).split())[:200]
            raise UnsafeContentError(f"{where} is not valid YAML ({reason})") from None
        if not isinstance(data, dict):
            raise UnsafeContentError(f"{where} is not a mapping of an experiment's fields")
        unknown = sorted(set(map(str, data)) - set(_KEYS))
        if unknown:
            raise UnsafeContentError(f"{where} has unknown keys: {', '.join(unknown)}")
        missing = [key for key in _KEYS if key not in data and key not in ("gates", "override")]
        if missing:
            raise UnsafeContentError(f"{where} misses {', '.join(missing)}")
        try:
            return make(schema=data["schema"], id=data["id"], model=data["model"], stage=data["stage"],
                        control=data["control"], candidate=data["candidate"], split=data["split"],
                        metric=data["metric"], direction=data["direction"], key_field=data["key_field"],
                        min_samples=data["min_samples"], started=data["started"], author=data["author"],
                        gates=data.get("gates") or [], override=data.get("override"))
        except InvalidInputError as exc:
            raise UnsafeContentError(f"{where}: {exc}") from None


def check_split(split: Any) -> float:
    """Percent of keys for the candidate: more than 0, less than 100, in steps of 0.01."""
    if isinstance(split, bool) or not isinstance(split, (int, float)):
        try:
            split = float(str(split).strip().rstrip("%"))
        except ValueError:
            raise InvalidInputError(f"--split {split!r} is not a number: give a percent, e.g. --split 10") from None
    split = float(split)
    if not 0 < split < 100 or split != split:
        raise InvalidInputError(f"--split {split:g} is outside 0-100: give the candidate's percent of keys, "
                                "more than 0 and less than 100, e.g. --split 10")
    if abs(split * 100 - round(split * 100)) > 1e-6:
        raise InvalidInputError(f"--split {split:g} has more than two decimals: routing has 10,000 buckets")
    return round(split, 2)


def check_field(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _FIELD_RE.match(value):
        raise InvalidInputError(f"{what} {value!r} is not a column name (letters, digits, _ . -; up to 64)")
    return value


def check_id(value: Any) -> str:
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise InvalidInputError(f"experiment id {value!r} must be letters, digits, . _ - (up to 100)")
    return value


def check_min_samples(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10**9:
        raise InvalidInputError(f"--min-samples {value!r} must be a whole number from 1 to 1,000,000,000")
    return value


def make(*, schema: Any = SCHEMA, id: Any, model: Any, stage: Any, control: Any, candidate: Any, split: Any,
         metric: Any, direction: Any, key_field: Any, min_samples: Any, started: Any, author: Any,
         gates: Any = (), override: Any = None) -> Experiment:
    """A validated record (every field checked: the record is repository content)."""
    if schema != SCHEMA:
        raise InvalidInputError(f"schema {schema!r} is not one this gitreg reads ({SCHEMA})")
    if direction not in DIRECTIONS:
        raise InvalidInputError(f"direction {direction!r} must be higher or lower")
    texts = {"started": started, "author": author}
    for key, value in texts.items():
        if not isinstance(value, str) or not value or len(value) > 200 or "\n" in value:
            raise InvalidInputError(f"{key} must be one line of text")
    if not isinstance(gates, (list, tuple)) or not all(isinstance(g, str) and len(g) < 500 for g in gates):
        raise InvalidInputError("gates must be a list of text lines")
    if override is not None and (not isinstance(override, str) or "\n" in override or len(override) > 300):
        raise InvalidInputError("override must be one line of text")
    for value in (control, candidate):
        if not isinstance(value, str):
            raise InvalidInputError(f"version {value!r} is not text")
    return Experiment(id=check_id(id), model=refs.check_name(model), stage=refs.check_stage(stage),
                      control=refs.check_version(control), candidate=refs.check_version(candidate),
                      split=check_split(split), metric=check_field(metric, "--metric"), direction=direction,
                      key_field=check_field(key_field, "--key-field"), min_samples=check_min_samples(min_samples),
                      started=started, author=author, gates=tuple(gates), override=override)


# ----------------------------------------------------------------------------------- trailers
@dataclass(frozen=True)
class AbTrailers:
    """What an experiment commit's ``Gitreg-Ab-*`` trailers say."""

    action: str
    model: str
    stage: str
    experiment: str
    fields: dict[str, str] = field(default_factory=dict)  # Control, Candidate, Split, Verdict, Method...


def trailers(action: str, record: Experiment, **extra: Any) -> str:
    lines = [f"Gitreg-Model: {record.model}", f"Gitreg-Stage: {record.stage}", f"Gitreg-Ab-Action: {action}",
             f"Gitreg-Experiment: {record.id}", f"Gitreg-Ab-Control: {record.control}",
             f"Gitreg-Ab-Candidate: {record.candidate}", f"Gitreg-Ab-Split: {record.split:g}"]
    for key, value in extra.items():
        if value is not None:
            lines.append(f"Gitreg-Ab-{key.replace('_', '-').title()}: {' '.join(str(value).split())}")
    if action == START and record.override:
        lines.append(f"Gitreg-Override: {record.override}")
    return "\n".join(lines)


def parse_trailers(message: str) -> AbTrailers | None:
    values: dict[str, str] = {}
    for line in message.splitlines():
        key, sep, value = line.partition(": ")
        if sep and key.startswith("Gitreg-"):
            values[key[len("Gitreg-"):]] = value.strip()
    action = values.get("Ab-Action")
    if action not in AB_ACTIONS or not values.get("Model") or not values.get("Stage"):
        return None
    extra = {key[len("Ab-"):]: value for key, value in values.items() if key.startswith("Ab-") and key != "Ab-Action"}
    return AbTrailers(action, values["Model"], values["Stage"], values.get("Experiment", ""), extra)


def subject(action: str, record: Experiment, verdict: str | None = None) -> str:
    if action == START:
        return (f"Start A/B test of {record.model} in {record.stage}: v{record.candidate} on {record.split:g}% "
                f"against v{record.control}")
    if action == STOP:
        return f"Stop A/B test of {record.model} in {record.stage}: v{record.control} stays"
    return f"Conclude A/B test of {record.model} in {record.stage}: promote v{record.candidate}" + (
        f" ({verdict})" if verdict else "")
