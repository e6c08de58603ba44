"""``.gitreg.yaml``: the ordered stages, their branches and their gates."""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from typing import Any

from gitreg.domain import formats, yamlio
from gitreg.domain.refs import check_stage
from gitreg.domain.signing import SigningPolicy, parse_policy
from gitreg.domain.thresholds import Threshold
from gitreg.errors import InvalidInputError

CONFIG_FILE = ".gitreg.yaml"
LOWER_WORDS = ("lower", "min", "minimize")
DIRECTIONS = (*LOWER_WORDS, "higher", "max", "maximize")
GATE_KEYS = ("requires", "metrics", "no_regression")
TOP_KEYS = ("schema", "stages", "metrics", "overrides", "ci", "serialization", "load", "signing")
LOAD_KEYS = ("pickle",)
STAGE_KEYS = ("name", "branch", "gates")
CI_KEYS = ("install",)
TOP_LEVEL = "the top level"
RESERVED_BRANCHES = ("main", "master", "HEAD")
LOWER_NAMES = ("loss", "error", "err", "mae", "mse", "rmse", "mape", "latency")
BRANCH_PREFIX = "stage/"

DEFAULT_CONFIG = """\
# gitreg registry configuration (see the README, "Stages and gates").
# Stages are ordered; each is a branch (default stage/<name>). Gates are opt-in.
schema: 1
stages:
  - name: dev
  - name: staging
    # gates:
    #   requires: dev              # the version must currently be in dev
    #   metrics:
    #     accuracy: ">= 0.85"
  - name: production
    # branch: stage/production     # the default
    # gates:
    #   requires: staging
    #   metrics:
    #     accuracy: ">= 0.90"
    #     loss: "< 0.3"
    #   no_regression: [accuracy]  # not worse than the version it replaces
# Direction of each metric for no_regression and compare (default: lower for names that say
# loss or error, such as val_loss, mae, error_rate; higher for the rest).
# metrics:
#   loss: lower
# Python objects are saved with skops (loads only the types recorded at registration); joblib
# pickles run any code they hold when loaded: allow, warn (the default) or refuse them.
# serialization: skops
# load:
#   pickle: warn
"""


@dataclass(frozen=True)
class Stage:
    name: str
    branch: str
    gates: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"refs/heads/{self.branch}"


@dataclass(frozen=True)
class Config:
    stages: tuple[Stage, ...]
    metric_directions: dict[str, str] = field(default_factory=dict)
    overrides: tuple[str, ...] = ()  # identities ("Name <email>" or "email") the server lets force gates
    ci_install: str | None = None  # the pip requirement the generated workflows install
    serialization: str = "skops"  # how register saves a Python object
    pickle_policy: str = "warn"  # load of a pickle-based artifact: allow, warn or refuse
    signing: SigningPolicy | None = None  # `signing:`: which events must be signed (None: none)

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        known = ", ".join(s.name for s in self.stages)
        raise InvalidInputError(f"unknown stage {name!r}: use one of {known} (or add it to {CONFIG_FILE})")

    @classmethod
    def parse(cls, text: str | bytes | None) -> Config:
        try:
            data = yamlio.load(text or DEFAULT_CONFIG, f"{CONFIG_FILE} on the main branch")
            data = {} if data is None else data
        except yamlio.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}: " if mark else ""
            raise _invalid(f"it is not valid YAML ({where}{getattr(exc, 'problem', None) or exc})") from exc
        return _validated(data)


def _invalid(reason: str) -> InvalidInputError:
    return InvalidInputError(f"{CONFIG_FILE} on the main branch is invalid: {reason}; fix it and commit")


def _validated(data: Any) -> Config:
    if not isinstance(data, dict):
        raise _invalid("it must be a mapping with a 'stages' list")
    _known_keys(data, TOP_KEYS, TOP_LEVEL)
    if data.get("schema", 1) != 1:
        raise _invalid(f"schema {data['schema']!r} is not supported (this gitreg reads schema 1)")
    items = data.get("stages")
    if not isinstance(items, list) or not items:
        raise _invalid("'stages' must be a non-empty list of stages")
    stages = tuple(_stage(item) for item in items)
    for attribute in ("name", "branch"):
        values = [getattr(stage, attribute) for stage in stages]
        duplicates = sorted({value for value in values if values.count(value) > 1})
        if duplicates:
            raise _invalid(f"two stages share the {attribute} {duplicates[0]!r}")
    names = {stage.name for stage in stages}
    for stage in stages:
        unknown = [r for r in _as_list(stage.gates.get("requires")) if r not in names]
        if unknown:
            raise _invalid(f"the gates of {stage.name} require the unknown stage {unknown[0]!r}")
    return Config(stages=stages, metric_directions=_directions(data.get("metrics") or {}),
                  overrides=_overrides(data.get("overrides") or []), ci_install=_ci_install(data.get("ci") or {}),
                  serialization=_serialization(data.get("serialization", "skops")),
                  pickle_policy=_pickle_policy(data.get("load") or {}), signing=_signing(data, stages))


def _signing(data: dict, stages: tuple[Stage, ...]) -> SigningPolicy | None:
    if "signing" not in data:
        return None
    try:
        return parse_policy(data["signing"], tuple(stage.name for stage in stages))
    except ValueError as exc:
        raise _invalid(str(exc)) from exc


def _serialization(value: Any) -> str:
    if value not in formats.SERIALIZATIONS:
        raise _invalid(f"'serialization' must be one of {', '.join(formats.SERIALIZATIONS)} (found {value!r})")
    return value


def _pickle_policy(load: Any) -> str:
    if not isinstance(load, dict):
        raise _invalid("'load' must be a mapping like {pickle: warn}")
    _known_keys(load, LOAD_KEYS, "load")
    policy = load.get("pickle", "warn")
    if policy not in formats.PICKLE_POLICIES:
        raise _invalid(f"load.pickle must be one of {', '.join(formats.PICKLE_POLICIES)} (found {policy!r})")
    return policy


def _directions(directions: Any) -> dict[str, str]:
    if not isinstance(directions, dict) or not all(
            isinstance(metric, str) and str(value).lower() in DIRECTIONS for metric, value in directions.items()):
        raise _invalid("'metrics' must map metric names to 'higher' or 'lower'")
    return dict(directions)


def _overrides(overrides: Any) -> tuple[str, ...]:
    if not isinstance(overrides, list) or not all(isinstance(o, str) and o.strip() for o in overrides):
        raise _invalid("'overrides' must list identities allowed to force gates, e.g. - Ada <ada@example.com>")
    return tuple(o.strip() for o in overrides)


def _ci_install(ci: Any) -> str | None:
    if not isinstance(ci, dict) or not isinstance(ci.get("install", ""), str):
        raise _invalid("'ci' must be a mapping like {install: \"gitreg-dvc==0.1.0\"}")
    _known_keys(ci, CI_KEYS, "ci")
    return ci.get("install") or None


def lower_is_better(metric: str, directions: dict[str, Any]) -> bool:
    """A metric's direction: as ``.gitreg.yaml`` says (``metrics: {loss: lower}``); otherwise lower for
    names that say loss or error (``val_loss``, ``logloss``, ``mae``, ``error_rate``), else higher."""
    if metric in directions:
        return str(directions[metric]).lower() in LOWER_WORDS
    words = re.split(r"[^a-z0-9]+", metric.lower())
    return any(word in LOWER_NAMES or word.endswith(("loss", "error")) for word in words)


def _stage(item: Any) -> Stage:
    if isinstance(item, str):
        item = {"name": item}
    if isinstance(item, dict) and "name" not in item:
        _known_keys(item, STAGE_KEYS, "a stage")  # `nmae: dev` is a typo, not a missing name
    if not isinstance(item, dict) or "name" not in item:
        raise _invalid(f"each stage needs a name, e.g. '- name: staging' (found {item!r})")
    try:
        name = check_stage(str(item["name"]))
    except InvalidInputError as exc:
        raise _invalid(str(exc)) from exc
    branch = str(item.get("branch") or f"{BRANCH_PREFIX}{name}")
    if branch in RESERVED_BRANCHES or branch.startswith(("refs/", "promote/")) or not _ref_name(branch):
        raise _invalid(f"stage {name} cannot use the branch {branch!r}: give it its own, e.g. stage/{name}")
    _known_keys(item, STAGE_KEYS, f"stage {name}")
    gates = item.get("gates") or {}
    if not isinstance(gates, dict):
        raise _invalid(f"the gates of {name} must be a mapping of {', '.join(GATE_KEYS)}")
    _known_keys(gates, GATE_KEYS, f"the gates of {name}")
    for key in ("requires", "no_regression"):
        value = gates.get(key)
        if value is not None and not _names(value):
            raise _invalid(f"the gates of {name}: {key} must name one or more "
                           f"{'stages' if key == 'requires' else 'metrics'}, e.g. {key}: [{'dev' if key == 'requires' else 'accuracy'}]")
    _check_conditions(name, gates.get("metrics") or {})
    return Stage(name=name, branch=branch, gates=dict(gates))


def _known_keys(mapping: dict, valid: tuple[str, ...], place: str) -> None:
    """A key gitreg does not know is a typo until proven otherwise: ignoring it could drop a gate."""
    for key in mapping:
        if key in valid:
            continue
        close = difflib.get_close_matches(str(key), valid, n=1)
        if close:
            where = "at the top level" if place == TOP_LEVEL else f"in {place}"
            raise _invalid(f"unknown key {key!r} {where}: did you mean {close[0]!r}?")
        raise _invalid(f"{place} may only set {', '.join(valid)} (found the unknown key {key!r})")


def _names(value: Any) -> bool:
    items = value if isinstance(value, list) else [value]
    return bool(items) and all(isinstance(item, str) and item.strip() for item in items)


def _check_conditions(stage: str, conditions: Any) -> None:
    """Metric gates parse now: a condition that cannot be read must never become a silent pass."""
    if not isinstance(conditions, dict):
        raise _invalid(f"the metric gates of {stage} must map metrics to conditions, e.g. accuracy: '>= 0.9'")
    for metric, condition in conditions.items():
        if not isinstance(metric, str) or not isinstance(condition, str):
            raise _invalid(f"the metric gate {metric!r} of {stage} must be a quoted condition, e.g. '>= 0.9'")
        try:
            threshold = Threshold.parse(metric, condition)
        except InvalidInputError as exc:
            raise _invalid(f"the metric gate {metric} of {stage}: {exc}") from exc
        if not math.isfinite(threshold.value):
            raise _invalid(f"the metric gate {metric} of {stage} compares with {threshold.value}: use a finite number")


_BAD_REF = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//")


def _ref_name(branch: str) -> bool:
    """What ``git check-ref-format --branch`` accepts, checked without running Git."""
    parts = branch.split("/")
    return not _BAD_REF.search(branch) and all(
        part and not part.startswith(".") and not part.endswith((".lock", ".")) for part in parts)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]
